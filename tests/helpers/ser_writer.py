"""A TIA series (``.ser``) writer in numpy, for the tests of ``'ser'``: both file versions
(offsets of 4 or 8 bytes), 1-D and 2-D elements of every TIA type, tags of either kind, and
elements laid out with gaps or out of order (the offset array says where each one is).

Layout: the header (``II``, series id 0x0197, version, data type id, tag type id, total and
valid element counts, the offset of the offset arrays, the dimension arrays), the data and tag
offset arrays of ``total`` entries each, then each element — a header (calibrations, the TIA
type code, its size) and its numbers — followed by its tag. All numbers little-endian.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

#: TIA type codes of numpy dtypes
TYPE_CODES = {
    np.dtype("u1"): 1, np.dtype("<u2"): 2, np.dtype("<u4"): 3, np.dtype("i1"): 4,
    np.dtype("<i2"): 5, np.dtype("<i4"): 6, np.dtype("<f4"): 7, np.dtype("<f8"): 8,
    np.dtype("<c8"): 9, np.dtype("<c16"): 10,
}  # fmt: skip


def _dimension(size: int, description: bytes = b"Number", units: bytes = b"") -> bytes:
    return (
        np.array([size], "<u4").tobytes()
        + np.array([0.0, 1.0], "<f8").tobytes()
        + np.array([0, len(description)], "<u4").tobytes()
        + description
        + np.array([len(units)], "<u4").tobytes()
        + units
    )


def write_ser(
    path: Path,
    data: np.ndarray,
    nav_dims: int = 2,
    version: int = 0x0220,
    order: Sequence[int] | None = None,
    gap: int = 0,
    total: int | None = None,
    valid: int | None = None,
    position_tags: bool = False,
) -> dict[str, list[int]]:
    """Writes ``data`` (nav axes, then 1 or 2 signal axes; ``nav_dims`` of them are the scan)
    as a ``.ser`` file and returns the offsets written.

    ``order``: the order the elements are placed in the file (a permutation of the frames;
    the offset array still lists them in frame order); ``gap``: bytes of filler between one
    element's tag and the next element; ``total`` / ``valid``: element counts for the header
    (default: the number of frames; extra offset entries are 0).
    """
    nav = data.shape[:nav_dims]
    sig = data.shape[nav_dims:]
    assert len(sig) in (1, 2)
    frames = data.reshape((-1, *sig))
    n = frames.shape[0]
    total = n if total is None else total
    valid = n if valid is None else valid
    dtype = frames.dtype.newbyteorder("<") if frames.dtype.itemsize > 1 else frames.dtype
    code = TYPE_CODES[np.dtype(dtype)]
    wide = version >= 0x0220
    width = "<u8" if wide else "<u4"
    data_type = 0x4122 if len(sig) == 2 else 0x4120
    tag_type = 0x4142 if position_tags else 0x4152
    dims = b"".join(_dimension(size) for size in reversed(nav))
    head_len = 2 * 3 + 4 * 4 + (8 if wide else 4) + 4 + len(dims)
    arrays_at = head_len
    first_element = arrays_at + 2 * total * np.dtype(width).itemsize
    head = (
        np.array([0x4949, 0x0197, version], "<u2").tobytes()
        + np.array([data_type, tag_type, total, valid], "<u4").tobytes()
        + np.array([arrays_at], width).tobytes()
        + np.array([len(nav)], "<u4").tobytes()
        + dims
    )
    assert len(head) == head_len
    body = bytearray()
    data_offsets = [0] * total
    tag_offsets = [0] * total
    for k in order if order is not None else range(n):
        data_offsets[k] = first_element + len(body)
        if len(sig) == 2:
            element = (
                np.array([0.0, 0.5], "<f8").tobytes() + np.array([0], "<u4").tobytes()
                + np.array([0.0, 0.5], "<f8").tobytes() + np.array([0], "<u4").tobytes()
                + np.array([code], "<u2").tobytes()
                + np.array([sig[1], sig[0]], "<u4").tobytes()
            )  # fmt: skip
            assert len(element) == 50
        else:
            element = (
                np.array([0.0, 0.5], "<f8").tobytes() + np.array([0], "<u4").tobytes()
                + np.array([code], "<u2").tobytes() + np.array([sig[0]], "<u4").tobytes()
            )  # fmt: skip
            assert len(element) == 26
        # TIA stores images bottom row first
        stored = frames[k][::-1] if len(sig) == 2 else frames[k]
        body += element + stored.astype(dtype).tobytes()
        tag_offsets[k] = first_element + len(body)
        tag = np.array([tag_type, 0], "<u2").tobytes() + np.array([1000 + k], "<u4").tobytes()
        if position_tags:
            tag += np.array([0.1 * k, 0.2 * k], "<f8").tobytes()
        body += tag + b"\xee" * gap
    with open(path, "wb") as f:
        f.write(head)
        f.write(np.array(data_offsets, width).tobytes())
        f.write(np.array(tag_offsets, width).tobytes())
        f.write(bytes(body))
    return {"data": data_offsets, "tags": tag_offsets}
