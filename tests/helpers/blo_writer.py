"""A NanoMegas blockfile writer in numpy, for the tests of ``'blo'`` (8- and 16-bit, either byte
order).

Layout: ``IMGBLO``, magic (258; 259 with a metadata block from byte 240), the offsets of the
virtual bright-field image and of the first frame, ``DP_SZ``, ``NX``, ``NY`` and calibrations;
then per frame a 6-byte header (``0x55AA`` and the frame's index) and its pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_blo(
    path: Path, data: np.ndarray, endianess: str = "<", bits: int = 8, magic: int | None = None
) -> None:
    """Writes ``data`` (``(ny, nx, dp, dp)``) as a blockfile."""
    ny, nx, dp, dp2 = data.shape
    assert dp == dp2
    if magic is None:
        magic = 259 if bits == 16 else 258
    e = endianess
    metadata = b"Precession angle : 0\r\nBlo Bit Depth: %d bits\r\n" % bits if magic == 259 else b""
    offset_1 = 240 + len(metadata) + 16
    offset_2 = offset_1 + nx * ny
    head = np.zeros(1, dtype=[
        ("ID", "S6"), ("MAGIC", e + "u2"), ("OFF1", e + "u4"), ("OFF2", e + "u4"),
        ("UNKNOWN1", e + "u4"), ("DP_SZ", e + "u2"), ("DP_ROT", e + "u2"), ("NX", e + "u2"),
        ("NY", e + "u2"), ("SCAN_ROT", e + "u2"), ("SX", e + "f8"), ("SY", e + "f8"),
        ("BEAM", e + "u4"), ("SDP", e + "u2"), ("CL", e + "u4"), ("TIME", e + "f8"),
        ("REST", "V176"),
    ])  # fmt: skip
    head["ID"] = b"IMGBLO"
    head["MAGIC"], head["OFF1"], head["OFF2"] = magic, offset_1, offset_2
    head["DP_SZ"], head["NX"], head["NY"] = dp, nx, ny
    head["SX"] = head["SY"] = 1.5
    head["BEAM"], head["CL"] = 200000, 1000
    assert head.itemsize == 240
    pixel = np.dtype("u1" if bits == 8 else e + "u2")
    with open(path, "wb") as f:
        f.write(head.tobytes())
        f.write(metadata)
        f.write(b"\0" * (offset_1 - 240 - len(metadata)))
        f.write(data.reshape(ny * nx, -1).mean(axis=1).astype("u1").tobytes())  # the VBF image
        for i, frame in enumerate(data.reshape(ny * nx, dp, dp)):
            f.write(np.array([0x55AA], e + "u2").tobytes() + np.array([i], e + "u4").tobytes())
            f.write(frame.astype(pixel).tobytes())
