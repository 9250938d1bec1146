"""A Gatan K2 IS writer in numpy, for the tests and the benchmark of ``'k2is'``.

Layout (as LiberTEM reads it): eight sector files ``<name>_<s>.bin`` (s = 1..8), each a stream
of blocks of 0x5758 bytes: a 40-byte big-endian header (sync word ``0xFFFF0055``, flags with
bit 0 set while the shutter is open, a running ``block_count``, the sector size 256 x 1860, the
frame id, the block's pixel ranges, the block size) and 930 x 16 pixels packed as little-endian
12-bit numbers. A frame is 32 blocks per sector, block ``i`` in block row ``i // 16`` and
block column ``15 - i % 16`` of its 1860 x 256 sector; sector ``s`` is columns
``256 s .. 256 (s + 1)`` of the 1860 x 2048 frame. The ``<name>_.gtg`` beside them is a DM4 tag
tree; for a scan it holds the root group ``SI Dimensions`` with ``Size X`` and ``Size Y``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

BLOCK_SIZE = 0x5758
HEADER_SIZE = 40
FRAME_SHAPE = (1860, 2048)
SYNC = 0xFFFF0055

_HEADER = np.dtype([
    ("sync", ">u4"), ("pad1", "V4"), ("version", "u1"), ("flags", "u1"), ("pad2", "V6"),
    ("block_count", ">u4"), ("width", ">u2"), ("height", ">u2"), ("frame_id", ">u4"),
    ("x_start", ">u2"), ("y_start", ">u2"), ("x_end", ">u2"), ("y_end", ">u2"),
    ("block_size", ">u4"),
])  # fmt: skip
assert _HEADER.itemsize == HEADER_SIZE


def pack12(values: np.ndarray) -> np.ndarray:
    """Packs numbers below 4096 (an even count) as little-endian 12-bit pairs in 3 bytes."""
    v = values.reshape(-1, 2).astype(np.uint32)
    word = v[:, 0] | (v[:, 1] << 12)
    out = np.empty((len(word), 3), np.uint8)
    out[:, 0] = word & 0xFF
    out[:, 1] = (word >> 8) & 0xFF
    out[:, 2] = word >> 16
    return out.reshape(-1)


def sector_blocks(frame: np.ndarray, sector: int) -> np.ndarray:
    """The 32 blocks' pixels of ``sector`` of ``frame``, in file order: ``(32, 930 * 16)``."""
    sec = frame[:, sector * 256 : (sector + 1) * 256]
    # (block row, pixel row, block column, pixel column) -> block columns right to left
    blocks = sec.reshape(2, 930, 16, 16).transpose(0, 2, 1, 3)[:, ::-1]
    return blocks.reshape(32, 930 * 16)


def frame_blocks(frame: np.ndarray, sector: int, frame_id: int, first_count: int, active: bool):
    """The 32 blocks of ``sector`` of ``frame`` as bytes: ``(32, BLOCK_SIZE)`` uint8."""
    heads = np.zeros(32, _HEADER)
    i = np.arange(32)
    heads["sync"] = SYNC
    heads["version"] = 2
    heads["flags"] = 1 if active else 0
    heads["block_count"] = first_count + i
    heads["width"], heads["height"] = 256, 1860
    heads["frame_id"] = frame_id
    col = 15 - i % 16
    row = i // 16
    heads["x_start"], heads["x_end"] = col * 16, col * 16 + 15
    heads["y_start"], heads["y_end"] = row * 930, row * 930 + 929
    heads["block_size"] = BLOCK_SIZE
    out = np.empty((32, BLOCK_SIZE), np.uint8)
    out[:, :HEADER_SIZE] = heads.view(np.uint8).reshape(32, HEADER_SIZE)
    out[:, HEADER_SIZE:] = pack12(sector_blocks(frame, sector)).reshape(32, -1)
    return out


def write_k2is(
    directory: Path,
    frames: Sequence[np.ndarray] | Iterator[np.ndarray],
    *,
    n_frames: int,
    inactive: int = 0,
    skip: Sequence[int] = (0,) * 8,
    cut: Sequence[int] = (0,) * 8,
    nav_shape: tuple[int, int] | None = None,
    name: str = "k2",
    first_frame_id: int = 100,
) -> tuple[list[Path], Path]:
    """Writes ``n_frames`` frames (each ``(1860, 2048)``, values below 4096) as a K2IS dataset;
    the first ``inactive`` frames with the shutter closed. Sector ``s`` leaves out its first
    ``skip[s]`` and last ``cut[s]`` blocks (a sector that starts later, an incomplete last
    frame). The ``.gtg`` has ``SI Dimensions`` when ``nav_shape`` is given. Returns the sector
    paths and the ``.gtg`` path."""
    directory = Path(directory)
    paths = [directory / f"{name}_{s + 1}.bin" for s in range(8)]
    handles = [open(p, "wb") for p in paths]
    try:
        for f, frame in enumerate(frames):
            assert frame.shape == FRAME_SHAPE
            for s, h in enumerate(handles):
                blocks = frame_blocks(frame, s, first_frame_id + f, 1000 + 32 * f, f >= inactive)
                lo = max(skip[s] - 32 * f, 0)
                hi = min(32 * n_frames - cut[s] - 32 * f, 32)
                if lo < hi:
                    h.write(blocks[lo:hi].tobytes())
    finally:
        for h in handles:
            h.close()
    gtg = directory / f"{name}_.gtg"
    gtg.write_bytes(dm4_tree(nav_shape))
    return paths, gtg


# -- a minimal DM4 writer for the .gtg -------------------------------------------------------


def _dm4_data(name: str, type_code: int, fmt: str, value: float) -> bytes:
    body = b"%%%%" + struct.pack(">QQ", 1, type_code) + struct.pack("<" + fmt, value)
    return (
        b"\x15" + struct.pack(">H", len(name)) + name.encode() + struct.pack(">Q", len(body)) + body
    )


def _dm4_group(name: str | None, tags: list[bytes]) -> bytes:
    body = b"\x00\x01" + struct.pack(">Q", len(tags)) + b"".join(tags)
    if name is None:
        return body
    return (
        b"\x14" + struct.pack(">H", len(name)) + name.encode() + struct.pack(">Q", len(body)) + body
    )


def dm4_tree(nav_shape: tuple[int, int] | None) -> bytes:
    """A DM4 file (little-endian data) with a few tags, and ``SI Dimensions`` for a scan."""
    root = [
        _dm4_group("Acquisition", [_dm4_data("Exposure (s)", 7, "d", 0.0025)]),
        _dm4_group("ImageList", []),
    ]
    if nav_shape is not None:
        y, x = nav_shape
        root.insert(
            1,
            _dm4_group(
                "SI Dimensions", [_dm4_data("Size X", 3, "i", x), _dm4_data("Size Y", 3, "i", y)]
            ),
        )
    body = _dm4_group(None, root)
    return struct.pack(">IQI", 4, len(body), 1) + body + b"\x00" * 8


def random_frames(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` frames of 12-bit numbers."""
    return rng.integers(0, 4096, size=(n, *FRAME_SHAPE), dtype=np.uint16)
