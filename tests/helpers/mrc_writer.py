"""An MRC writer in numpy, for the tests of ``'mrc'``: modes 0, 1, 2, 4, 6 and 12, either byte
order (with the matching machine stamp, or none), an extended header of any size.

Layout: a 1024-byte header (``NX``, ``NY``, ``NZ``, ``MODE``, …, ``NSYMBT`` at word 23,
``EXTTYP`` at byte 104, ``NVERSION`` at 108, ``MAP `` at 208, the machine stamp at 212, labels
from 224), the extended header, then the frames.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: numpy kinds of the MRC modes
MODE_DTYPES = {0: "i1", 1: "i2", 2: "f4", 4: "c8", 6: "u2", 12: "f2"}


def write_mrc(
    path: Path,
    frames: np.ndarray,
    mode: int,
    byteorder: str = "<",
    nsymbt: int = 0,
    stamp: bool = True,
    map_word: bool = True,
) -> None:
    """Writes ``frames`` (``(nz, ny, nx)``) as an MRC file of ``mode``."""
    nz, ny, nx = frames.shape
    e = byteorder
    words = np.zeros(256, e + "i4")
    words[:4] = nx, ny, nz, mode
    words[7:10] = nx, ny, 1  # an image stack: one section per image (mrcfile: mz = 1)
    words[23] = nsymbt
    words[27] = 20140
    words[55] = 1
    head = bytearray(words.tobytes())
    head[40:52] = np.array([nx, ny, nz], e + "f4").tobytes()
    head[104:108] = b"SERI" if nsymbt else b"\0\0\0\0"
    if map_word:
        head[208:212] = b"MAP "
    if stamp:
        head[212:216] = b"\x44\x44\0\0" if e == "<" else b"\x11\x11\0\0"
    head[224:236] = b"ferrotem test"[:12]
    kind = MODE_DTYPES[mode]
    dtype = np.dtype(kind if kind == "i1" else e + kind)
    with open(path, "wb") as f:
        f.write(bytes(head))
        f.write(bytes(range(256)) * (nsymbt // 256) + bytes(nsymbt % 256))
        f.write(frames.astype(dtype).tobytes())
