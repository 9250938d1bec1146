"""A PNDetector ``.frms6`` writer in numpy, for the tests of ``'frms6'``, with the numpy oracle
of the unfolding.

An acquisition: ``<name>.hdr`` (``[measurementInfo]`` with the binning and the scan shape) and
``<name>_000.frms6`` (dark frames), ``<name>_001.frms6``, … (data). Each file: a 1024-byte
header (1024, 64, version 6 at byte 7, width at 88, height at 90, frames at 1020 — 0 in old
files), then per frame a 64-byte header and ``height`` x ``width`` little-endian uint16 pixels,
the two detector halves side by side, the lower one mirrored.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def unfold(stored: np.ndarray, binning: int) -> np.ndarray:
    """The oracle: stored frames ``(n, h, w)`` → unfolded ``(n, 2 * h * binning, w // 2)``.
    The upper half is the left half of the stored rows; the lower half the right half, rows
    and columns reversed; then each row repeated ``binning`` times."""
    w = stored.shape[2]
    upper = stored[:, :, : w // 2]
    lower = stored[:, ::-1, w // 2 :][:, :, ::-1]
    return np.repeat(np.concatenate([upper, lower], axis=1), binning, axis=1)


def write_frms6_file(path: Path, stored: np.ndarray, old_header: bool = False) -> None:
    """Writes stored frames ``(n, h, w)`` as one ``.frms6`` file; ``old_header`` leaves the
    frame count 0 (as older files do)."""
    n, h, w = stored.shape
    head = bytearray(1024)
    head[0:2] = (1024).to_bytes(2, "little")
    head[2:4] = (64).to_bytes(2, "little")
    head[7] = 6
    head[88:90] = w.to_bytes(2, "little")
    head[90:92] = h.to_bytes(2, "little")
    head[1020:1024] = (0 if old_header else n).to_bytes(4, "little")
    with open(path, "wb") as f:
        f.write(bytes(head))
        for i, frame in enumerate(stored):
            fh = bytearray(64)
            fh[12:16] = i.to_bytes(4, "little")
            f.write(bytes(fh))
            f.write(frame.astype("<u2").tobytes())


def write_hdr(path: Path, binning: int, nav_shape: tuple[int, int], dark: int, signal: int) -> None:
    """Writes the acquisition's ``.hdr``."""
    Path(path).write_text(
        "[measurementInfo]\n"
        f"darkframes={dark}\n"
        "dwelltimemicroseconds=100\n"
        "gain=3\n"
        f"signalframes={signal}\n"
        f"stemimagesize={nav_shape[0]}x{nav_shape[1]}\n"
        f'readoutmode="bin: {binning}, windowing: 264 x 264"\n'
    )


def write_acquisition(
    directory: Path,
    name: str,
    dark: np.ndarray,
    data: Sequence[np.ndarray],
    binning: int,
    nav_shape: tuple[int, int],
    old_header: bool = False,
) -> Path:
    """Writes ``<name>.hdr``, the dark frames ``dark`` (stored layout) as ``_000`` and each
    array of ``data`` as the next file; returns the ``.hdr`` path."""
    hdr = Path(directory) / f"{name}.hdr"
    signal = sum(len(d) for d in data)
    write_hdr(hdr, binning, nav_shape, len(dark), signal)
    write_frms6_file(Path(directory) / f"{name}_000.frms6", dark, old_header)
    for k, d in enumerate(data, start=1):
        write_frms6_file(Path(directory) / f"{name}_{k:03d}.frms6", d, old_header)
    return hdr
