"""``'mrc'``: MRC files — movies, image stacks and 4-D STEM stored as a stack of frames —,
with the scan shape from Direct Electron's ``_info.txt`` where it gives one.

The Rust core parses the header (modes 0, 1, 2, 4, 6 and 12, either byte order, an extended
header of any size) and reads the frames in place from the mapped file. This module reads the
``_info.txt`` and checks the parameters.
"""

from __future__ import annotations

import os
from typing import Any

from ferrotem import _core
from ferrotem.common.math import prod
from ferrotem.common.shape import Shape
from ferrotem.io.dataset._framed import (
    IncompleteDataWarning,
    check_sig_size,
    warn_if_cut_short,
)
from ferrotem.io.dataset._single_file import SingleFileDataSet
from ferrotem.io.dataset.base import DataSetMeta, check_file

__all__ = [
    "IncompleteDataWarning",
    "MRCDataSet",
    "info_path_for",
    "read_de_info",
    "scan_shape_from_info",
]

#: The only DE scan type whose frames come in row-major raster order; the others (serpentine,
#: random, an XY file) need the scan's coordinates to be placed.
_RASTER = "raster"


def info_path_for(mrc_path: str) -> str:
    """The ``_info.txt`` Direct Electron's software writes next to ``name_movie.mrc``
    (``name_info.txt``)."""
    stem = os.path.splitext(mrc_path)[0]
    if stem.endswith("_movie"):
        stem = stem[: -len("_movie")]
    return stem + "_info.txt"


def read_de_info(path: str) -> dict[str, str]:
    """The ``key = value`` lines of a Direct Electron ``_info.txt``."""
    out: dict[str, str] = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            key, sep, value = line.partition("=")
            if sep:
                out[key.strip()] = value.strip()
    return out


def _int_of(info: dict[str, str], key: str) -> int | None:
    try:
        return int(float(info[key]))
    except (KeyError, ValueError):
        return None


def scan_shape_from_info(info: dict[str, str], frames: int) -> tuple[tuple[int, ...] | None, str]:
    """The scan shape an ``_info.txt`` gives for a movie of ``frames`` frames, with the reason
    when it gives none.

    Only a raster scan places frames in row-major order: its shape is ``(Scan - Size Y, Scan -
    Size X)`` — the ROI's size when ``Scan - ROI Enable`` — with ``Scan - Repeats`` as a leading
    axis when more than 1, and it is used when it has as many positions as the file has frames.
    """
    if info.get("Scan - Enable", "").lower() != "enable":
        return None, "the scan is not enabled"
    scan_type = info.get("Scan - Type", "")
    if scan_type.lower() != _RASTER:
        return None, f"scan type {scan_type!r}: frames are not in raster order"
    roi = info.get("Scan - ROI Enable", "").lower() == "enable"
    prefix = "Scan - ROI Size" if roi else "Scan - Size"
    sx, sy = _int_of(info, f"{prefix} X"), _int_of(info, f"{prefix} Y")
    if not sx or not sy or sx < 1 or sy < 1:
        return None, f"no positive '{prefix} X' and '{prefix} Y'"
    repeats = _int_of(info, "Scan - Repeats") or 1
    shape = ((repeats,) if repeats > 1 else ()) + (sy, sx)
    if prod(shape) != frames:
        return None, f"the scan {shape} has {prod(shape)} positions, the file {frames} frames"
    return shape, "from the _info.txt"


class MRCDataSet(SingleFileDataSet):
    """An MRC file: ``ctx.load('mrc', path=...)``.

    ``sig_shape`` defaults to the frames' ``(NY, NX)``. ``nav_shape`` defaults to the raster
    scan that Direct Electron's ``name_info.txt`` next to ``name_movie.mrc`` describes, when it
    matches the frames; otherwise to ``(NZ,)`` (one axis of frames; pass the scan as
    ``nav_shape``). Mode 12 (float16) is read as float32. A file with fewer frames than its
    header says (cut on a frame boundary) loads with an ``IncompleteDataWarning``.
    """

    filetype = "mrc"
    extension = "mrc"

    #: where the scan shape came from (set by ``initialize``, shown in the diagnostics)
    _scan_note = ""

    def _open(self) -> _core.DataSource:
        return _core.open_mrc(
            self._path, list(self.shape.nav), list(self.shape.sig), self._sync_offset
        )

    def _files_for_confinement(self) -> list[str]:
        info = info_path_for(self._path)
        return [self._path, *([info] if os.path.lexists(info) else [])]

    def initialize(self, executor: Any) -> MRCDataSet:
        """Reads the header (and an ``_info.txt``) and checks the parameters against them."""
        self._path = check_file("path", self._path)
        h = _core.mrc_header(self._path)
        self._header = h
        nz = int(h["nz"])
        native_sig = (int(h["ny"]), int(h["nx"]))
        info_path = info_path_for(self._path)
        info = read_de_info(info_path) if os.path.isfile(info_path) else {}
        if self._nav_shape is not None:
            nav_shape = self._nav_shape
            self._scan_note = "given as nav_shape"
        elif info:
            scan, self._scan_note = scan_shape_from_info(info, nz)
            nav_shape = scan or (nz,)
        else:
            nav_shape, self._scan_note = (nz,), "no _info.txt"
        sig_shape = self._sig_shape or native_sig
        check_sig_size(sig_shape, native_sig, f"{self._path!r}")
        frame_bytes = prod(native_sig) * int(h["stored_itemsize"])
        data = max(os.path.getsize(self._path) - int(h["data_offset"]), 0)
        stored = min(data // frame_bytes, nz)
        metadata: dict[str, Any] = {"header": dict(h)}
        if info:
            metadata["de_info"] = {"path": info_path, **info}
        self._meta = DataSetMeta(
            shape=Shape(nav_shape + sig_shape, sig_dims=len(sig_shape)),
            raw_dtype=h["dtype"],
            image_count=stored,
            sync_offset=self._sync_offset,
            metadata=metadata,
        )
        self.get_source()
        warn_if_cut_short(f"the MRC file {self._path!r}", stored, nav_shape)
        return self

    def get_diagnostics(self) -> list[dict[str, str]]:
        """Facts from the header and where the scan shape came from."""
        h = self._header
        order = "big" if h.get("big_endian") else "little"
        return [
            {"name": "Frames (NZ)", "value": str(h.get("nz"))},
            {"name": "Frame (NY, NX)", "value": f"({h.get('ny')}, {h.get('nx')})"},
            {"name": "Mode", "value": str(h.get("mode"))},
            {"name": "Pixel dtype", "value": f"{h.get('dtype')} ({order}-endian)"},
            {"name": "Extended header bytes", "value": str(h.get("nsymbt"))},
            {"name": "Scan shape", "value": f"{tuple(self.shape.nav)}: {self._scan_note}"},
        ]
