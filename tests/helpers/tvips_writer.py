"""A TVIPS series writer in numpy, for the tests of ``'tvips'`` (8 and 16 bit, versions 1 and 2,
split over several files, with or without scan positions in the frame headers).

Layout: the ``_000`` file starts with the 256-byte series header (``ISize`` 256, ``IVersion``,
``IXDim``, ``IYDim``, ``IBPP``, offsets, binning, pixel size, high tension, magnification,
``IImgHeaderBytes``); then, in every file, per frame a header (version 1: 12 bytes; version 2:
``IImgHeaderBytes``, with ``Scan_x``/``Scan_y`` as float32 at bytes 68/72 when it is long enough)
and the frame's little-endian pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def series_header(
    width: int, height: int, bpp: int, version: int = 2, frame_header_bytes: int = 108
) -> bytes:
    """The 256-byte series header."""
    fields = [256, version, width, height, bpp, 0, 0, 1, 1, 55, 300, 1000, frame_header_bytes]
    return np.array(fields, "<i4").tobytes().ljust(256, b"\0")


def frame_header(index: int, size: int, position: tuple[float, float] | None) -> bytes:
    """A frame header of ``size`` bytes: the counter, and ``(y, x)`` at bytes 72/68."""
    h = bytearray(size)
    if size >= 4:
        h[0:4] = np.array([index], "<u4").tobytes()
    if position is not None and size >= 76:
        h[68:72] = np.array([position[1]], "<f4").tobytes()
        h[72:76] = np.array([position[0]], "<f4").tobytes()
    return bytes(h[:size])


def raster_positions(
    blank: int, rows: int, width: int, trailing: int = 0
) -> list[tuple[float, float]]:
    """Scan positions of ``blank`` frames at a flyback position, a ``rows`` x ``width`` raster
    (``(y, x)`` from ``(0, 0)``), and ``trailing`` frames of a next raster."""
    out: list[tuple[float, float]] = [(7.0, 9.0)] * blank
    out += [(float(y), float(x)) for y in range(rows) for x in range(width)]
    out += [(0.0, float(x)) for x in range(trailing)]
    return out


def write_tvips(
    directory: Path,
    name: str,
    frames: np.ndarray,
    split: Sequence[int] | None = None,
    version: int = 2,
    frame_header_bytes: int = 108,
    positions: Sequence[tuple[float, float]] | None = None,
) -> list[Path]:
    """Writes ``frames`` (``(n, height, width)``, ``uint8`` or ``uint16``) as the series
    ``<name>_000.tvips``, ``_001``, …, ``split[i]`` frames in file ``i`` (all in one without);
    returns the paths."""
    n, height, width = frames.shape
    bpp = frames.dtype.itemsize * 8
    split = [n] if split is None else list(split)
    assert sum(split) == n
    header_bytes = 12 if version == 1 else frame_header_bytes
    paths = []
    index = 0
    for i, count in enumerate(split):
        path = directory / f"{name}_{i:03d}.tvips"
        with open(path, "wb") as f:
            if i == 0:
                f.write(series_header(width, height, bpp, version, frame_header_bytes))
            for _ in range(count):
                pos = None if positions is None else positions[index]
                f.write(frame_header(index, header_bytes, pos))
                f.write(frames[index].astype(frames.dtype.newbyteorder("<")).tobytes())
                index += 1
        paths.append(path)
    return paths
