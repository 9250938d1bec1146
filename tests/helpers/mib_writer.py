"""A Merlin ``.mib``/``.hdr`` writer in numpy, for the tests of ``'mib'``: every counter depth,
plain and RAW mode, single chip and 2x2 quad, any number of files.

RAW mode, as the chips deliver it: each chip row is packed into 64-bit words stored big-endian,
pixel ``k`` of a word in its ``k``-th field (1, 8 or 16 bits wide) counted from the least
significant end. A quad's raw row ``r`` is the rows of its four chips in the order
bottom-right, bottom-left, top-right, top-left; the bottom chips are turned by 180°, so raw row
``r`` holds image row ``2H - 1 - r`` of the bottom half, right to left. 24-bit counters are two
12-bit frames (high bits first) and count double in the header's width.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

PIXEL_TYPES = {1: "U08", 6: "U08", 12: "U16", 24: "U32"}
PLAIN_DTYPES = {"U08": "u1", "U16": ">u2", "U32": ">u4"}
#: bits of the field one RAW counter occupies in a word
RAW_FIELD_BITS = {1: 1, 6: 8, 12: 16, 24: 16}


def header(
    sequence: int,
    width: int,
    height: int,
    pixel_type: str,
    depth: int,
    chips: int = 1,
    layout: str = "1x1",
    header_bytes: int | None = None,
) -> bytes:
    """A frame header with the fields Merlin writes (the DAC values are made up)."""
    if header_bytes is None:
        header_bytes = 384 if chips == 1 else 768
    thresholds = ",".join(["0.000000E+0"] * 8)
    dacs = ",".join(["3RX"] + ["100"] * 27)
    text = (
        f"MQ1,{sequence:06d},{header_bytes:05d},{chips:02d},{width:04d},{height:04d},"
        f"{pixel_type},{layout:>6},{(1 << chips) - 1:02X},2024-01-01 00:00:00.000000,0.001000,"
        f"0,0,0,{thresholds},{dacs},MQ1A,2024-01-01T00:00:00.000000000Z,1000000ns,{depth},"
    ).encode()
    assert len(text) <= header_bytes, "header fields longer than the header"
    return text + b"\0" * (header_bytes - len(text))


def pack_chip_rows(rows: np.ndarray, depth: int) -> bytes:
    """Chip rows (2-D, one chip row per line) packed into big-endian words."""
    bits = RAW_FIELD_BITS[depth]
    per_word = 64 // bits
    n_rows, width = rows.shape
    assert width % per_word == 0
    words = rows.reshape(n_rows, width // per_word, per_word).astype(np.uint64)
    shifts = (np.arange(per_word, dtype=np.uint64) * np.uint64(bits)).astype(np.uint64)
    packed = np.bitwise_or.reduce(words << shifts, axis=-1)
    return packed.astype(">u8").tobytes()


def raw_rows(frame: np.ndarray, quad: bool) -> np.ndarray:
    """The chip rows of a frame in the order the chips deliver them."""
    if not quad:
        return frame
    h, w = frame.shape[0] // 2, frame.shape[1] // 2
    top, bottom = frame[:h], frame[h:][::-1, ::-1]  # bottom half turned by 180 degrees
    # turned by 180°, the bottom-right chip's rows are the left half of `bottom`
    q4, q3 = bottom[:, :w], bottom[:, w:]
    q1, q2 = top[:, :w], top[:, w:]
    return np.concatenate([q4, q3, q2, q1], axis=1)


def encode_frame(frame: np.ndarray, depth: int, raw: bool, quad: bool) -> tuple[bytes, int, int]:
    """The stored pixels of ``frame`` and the header's (width, height)."""
    if not raw:
        dtype = PLAIN_DTYPES[PIXEL_TYPES[depth]]
        return frame.astype(dtype).tobytes(), frame.shape[1], frame.shape[0]
    rows = raw_rows(frame, quad)
    if depth == 24:
        high, low = rows.astype(np.uint64) >> 12, rows.astype(np.uint64) & 0xFFF
        data = pack_chip_rows(high, 24) + pack_chip_rows(low, 24)
        return data, 2 * rows.shape[1], rows.shape[0]
    return pack_chip_rows(rows, depth), rows.shape[1], rows.shape[0]


def write_mib(
    path: Path,
    frames: np.ndarray,
    depth: int,
    raw: bool = False,
    quad: bool = False,
    first_sequence: int = 1,
) -> None:
    """Writes ``frames`` (``(n, height, width)``) as one ``.mib`` file."""
    chips, layout = (4, "2x2") if quad else (1, "1x1")
    pixel_type = "R64" if raw else PIXEL_TYPES[depth]
    with open(path, "wb") as f:
        for i, frame in enumerate(frames):
            data, width, height = encode_frame(frame, depth, raw, quad)
            f.write(header(first_sequence + i, width, height, pixel_type, depth, chips, layout))
            f.write(data)


def write_hdr(path: Path, frames: int, per_trigger: int, depth: int, quad: bool = False) -> None:
    """An acquisition header: ``frames`` in all, ``per_trigger`` frames per trigger (a scan
    row)."""
    lines = [
        "HDR,\t",
        "Time and Date Stamp (day, mnth, yr, hr, min, s):\t01/01/2024 00:00:00",
        f"Assembly Size (NX1, 2X2):\t{'2x2' if quad else '1x1'}",
        f"Counter Depth (number):\t{depth}",
        f"Frames in Acquisition (Number):\t{frames}",
        f"Frames per Trigger (Number):\t{per_trigger}",
        "End\t",
    ]
    path.write_bytes("\r\n".join(lines).encode("latin-1") + b" " * 64)


def write_acquisition(
    directory: Path,
    prefix: str,
    data: np.ndarray,
    depth: int,
    raw: bool = False,
    quad: bool = False,
    files: int = 1,
    hdr: bool = True,
) -> list[Path]:
    """Writes ``data`` (``(*nav, height, width)``) as ``prefix.hdr`` and ``files`` ``.mib`` files
    (``prefix1.mib``, ``prefix2.mib``, ... when more than one; sequence numbers continue from
    file to file); returns the ``.mib`` paths."""
    nav = data.shape[:-2]
    frames = data.reshape((-1,) + data.shape[-2:])
    parts = np.array_split(np.arange(len(frames)), files)
    paths = []
    for i, idx in enumerate(parts):
        name = f"{prefix}{i + 1}.mib" if files > 1 else f"{prefix}.mib"
        path = directory / name
        write_mib(path, frames[idx], depth, raw, quad, first_sequence=1 + int(idx[0]))
        paths.append(path)
    if hdr:
        per_trigger = nav[-1] if len(nav) > 1 else len(frames)
        write_hdr(directory / f"{prefix}.hdr", len(frames), per_trigger, depth, quad)
    return paths


def random_frames(seed: int, shape: tuple[int, ...], depth: int) -> np.ndarray:
    """Counter values of ``depth`` bits."""
    rng = np.random.default_rng(seed)
    high = 2 if depth == 1 else 2**depth
    dtype = np.uint8 if depth <= 8 else np.uint16 if depth <= 16 else np.uint32
    return rng.integers(0, high, size=shape).astype(dtype)
