"""Results as files: ``/download/<session>/<analysis>.<npz|h5|tiff|png>[?channel=...]``.

The session id is the one the tab got when its websocket connected (see :mod:`.tabs`); the
analysis id is the one its ``run`` named. Each format is written in memory on a request thread:

- ``npz``: every channel, one array each, under the channel's name;
- ``h5``: one dataset per channel, and attributes with the analysis (type, parameters as JSON)
  and how the dataset was opened (filetype, parameters as JSON);
- ``tiff``: one channel as float32, the analysis and the channel in the TIFF's description;
- ``png``: one channel, colour-mapped to 8 bits (:mod:`.colormap`), with the value range and
  the channel in PNG text chunks (``vmin``, ``vmax``, ``channel``, ``analysis``).
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

import numpy as np

from ferrotem.gui.results import CompletedResult

__all__ = ["FORMATS", "DownloadError", "encode_result", "find_result"]

#: format -> (MIME type, whether it holds every channel)
FORMATS: dict[str, tuple[str, bool]] = {
    "npz": ("application/octet-stream", True),
    "h5": ("application/x-hdf5", True),
    "tiff": ("image/tiff", False),
    "png": ("image/png", False),
}
#: characters kept in a download's file name (the rest become ``_``)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class DownloadError(Exception):
    """A download that cannot be served: ``status`` (404 or 400) and a message in words."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def find_result(tabs: Any, session_id: str, analysis_id: str) -> CompletedResult:
    """The last complete result of ``analysis_id`` in the tab ``session_id``; 404 when either
    is unknown or the analysis has not completed yet."""
    session = tabs.get(session_id)
    if session is None:
        raise DownloadError(404, f"session: {session_id!r} is not a connected tab")
    result = session.results.get(analysis_id)
    if result is None:
        raise DownloadError(404, f"analysis: {analysis_id!r} has no complete result in this tab")
    return result  # type: ignore[no-any-return]


def file_name(analysis_id: str, fmt: str, channel: str | None = None) -> str:
    """The name offered to the browser: the analysis id (and channel), made safe."""
    stem = analysis_id if channel is None else f"{analysis_id}-{channel}"
    return f"{_UNSAFE.sub('_', stem)}.{fmt}"


def _metadata(result: CompletedResult) -> dict[str, Any]:
    return {
        "analysis": result.analysis,
        "dataset": {"filetype": result.dataset.filetype, "parameters": result.dataset.parameters},
    }


def _one_channel(result: CompletedResult, channel: str | None) -> tuple[str, np.ndarray]:
    """The channel a single-image format writes: the one named, or the only one there is."""
    names = sorted(result.channels)
    if channel is None:
        if len(names) != 1:
            raise DownloadError(400, f"channel: this analysis has {names}; name one (?channel=)")
        channel = names[0]
    if channel not in result.channels:
        raise DownloadError(400, f"channel: got {channel!r}, expected one of {names}")
    image = np.asarray(result.channels[channel])
    if np.iscomplexobj(image):
        raise DownloadError(400, f"channel: {channel!r} is complex; download it as npz or h5")
    if image.ndim == 1:
        image = image[np.newaxis, :]
    if image.ndim != 2:
        raise DownloadError(
            400,
            f"channel: {channel!r} has shape {image.shape}; images need two dimensions "
            "(download it as npz or h5)",
        )
    return channel, image


def encode_result(result: CompletedResult, fmt: str, channel: str | None = None) -> bytes:
    """``result`` written as ``fmt`` (see the module's text); raises :class:`DownloadError`."""
    if fmt not in FORMATS:
        raise DownloadError(404, f"format: got {fmt!r}, expected one of {sorted(FORMATS)}")
    if not result.channels:
        raise DownloadError(404, "analysis: its result holds no image")
    buffer = io.BytesIO()
    if fmt == "npz":
        if channel is not None and channel not in result.channels:
            raise DownloadError(
                400, f"channel: got {channel!r}, expected one of {sorted(result.channels)}"
            )
        chosen = result.channels if channel is None else {channel: result.channels[channel]}
        arrays: dict[str, Any] = {k: np.asarray(v) for k, v in chosen.items()}
        np.savez_compressed(buffer, **arrays)
    elif fmt == "h5":
        _write_hdf5(buffer, result, channel)
    elif fmt == "tiff":
        import tifffile

        name, image = _one_channel(result, channel)
        description = json.dumps({**_metadata(result), "channel": name})
        tifffile.imwrite(buffer, image.astype(np.float32), description=description, metadata=None)
    else:
        from PIL import Image
        from PIL.PngImagePlugin import PngInfo

        from ferrotem.gui.colormap import apply_colormap

        name, image = _one_channel(result, channel)
        rgb, vmin, vmax = apply_colormap(image)
        info = PngInfo()
        info.add_text("channel", name)
        info.add_text("vmin", repr(vmin))
        info.add_text("vmax", repr(vmax))
        info.add_text("analysis", json.dumps(_metadata(result)))
        Image.fromarray(rgb, "RGB").save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def _write_hdf5(buffer: io.BytesIO, result: CompletedResult, channel: str | None) -> None:
    import h5py

    names = sorted(result.channels) if channel is None else [channel]
    for name in names:
        if name not in result.channels:
            raise DownloadError(
                400, f"channel: got {name!r}, expected one of {sorted(result.channels)}"
            )
    with h5py.File(buffer, "w") as f:
        f.attrs["analysis_type"] = str(result.analysis.get("type"))
        f.attrs["analysis_parameters"] = json.dumps(result.analysis.get("parameters", {}))
        f.attrs["dataset_filetype"] = result.dataset.filetype
        f.attrs["dataset_parameters"] = json.dumps(result.dataset.parameters)
        for name in names:
            f.create_dataset(name, data=np.asarray(result.channels[name]))
