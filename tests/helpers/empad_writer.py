"""An EMPAD writer in numpy, for the tests of ``'empad'``: the ``.raw`` (per frame 130 rows of
128 little-endian float32, the last two rows a footer) and the ``.xml`` naming it, with the scan
of mode ``acquire`` (and a ``search`` scan), or a series ``count``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FRAME = (128, 128)
STORED = (130, 128)


def write_raw(path: Path, frames: np.ndarray, seed: int = 0) -> None:
    """Writes ``frames`` (``(..., 128, 128)``) with random footers (values no reader may show)."""
    flat = frames.reshape(-1, *FRAME).astype("<f4")
    footer = np.random.default_rng(seed).uniform(1e6, 2e6, (flat.shape[0], 2, 128)).astype("<f4")
    np.concatenate([flat, footer], axis=1).tofile(path)


def scan_xml(
    raw_name: str,
    acquire: tuple[int, int],
    search: tuple[int, int] | None = None,
    raw_dir: str = "C:\\acquisitions\\",
) -> str:
    """The ``.xml`` of a scan: ``acquire`` and ``search`` are ``(y, x)``; the raw file named
    with the directory ``raw_dir`` it was written to (only its name counts)."""

    def params(mode: str, yx: tuple[int, int]) -> str:
        return (
            f'  <scan_parameters mode="{mode}">\n'
            f"    <scan_resolution_x>{yx[1]}</scan_resolution_x>\n"
            f"    <scan_resolution_y>{yx[0]}</scan_resolution_y>\n"
            "    <dwell_time>1e-3</dwell_time>\n"
            "  </scan_parameters>\n"
        )

    search_part = params("search", search) if search is not None else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        "<!-- written by the ferrotem tests -->\n"
        "<root>\n"
        f'  <raw_file filename="{raw_dir}{raw_name}" />\n'
        "  <type>scan</type>\n"
        f"{search_part}{params('acquire', acquire)}"
        "</root>\n"
    )


def series_xml(raw_name: str, count: int) -> str:
    """The ``.xml`` of a series of ``count`` frames."""
    return (
        '<?xml version="1.0"?>\n<root>\n'
        f"  <raw_file filename='{raw_name}'/>\n  <type>series</type>\n  <count>{count}</count>\n"
        "</root>\n"
    )


def write_empad(
    directory: Path,
    name: str,
    frames: np.ndarray,
    mode: str = "acquire",
    seed: int = 0,
    raw_dir: str = "C:\\acquisitions\\",
) -> Path:
    """Writes ``frames`` as ``<name>.raw`` and its ``<name>.xml``; returns the ``.xml``'s path.

    ``mode``: ``'acquire'`` (the acquire scan is ``frames.shape[:2]``, a search scan of 2 x 2
    besides), ``'search'`` (the search scan is ``frames.shape[:2]``, the acquire scan one row
    more, which the raw file does not fit), ``'series'`` (``frames`` is ``(n, 128, 128)``).
    """
    raw = directory / f"{name}.raw"
    write_raw(raw, frames, seed)
    if mode == "series":
        text = series_xml(raw.name, frames.shape[0])
    elif mode == "acquire":
        text = scan_xml(raw.name, frames.shape[:2], search=(2, 2), raw_dir=raw_dir)
    elif mode == "search":
        ny, nx = frames.shape[:2]
        text = scan_xml(raw.name, (ny + 1, nx), search=(ny, nx), raw_dir=raw_dir)
    else:
        raise ValueError(mode)
    xml = directory / f"{name}.xml"
    xml.write_text(text)
    return xml
