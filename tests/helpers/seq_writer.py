"""A Norpix / DE ``.seq`` writer in numpy, with the companions of a DE acquisition, for the
tests of ``'seq'``.

Layout (little-endian): magic ``0xFEED``, a UTF-16 name, the version, header size, a UTF-16
description, width, height, bit depth, …, ``true_image_size`` (bytes of a frame record) at byte
580, the image format (100: monochrome) at 568 and the compression at 620; the first record at
8192 (version >= 5) or 1024; each record the frame's pixels and a footer. Companions: MRC
images (``.dark.mrc``, ``.gain.mrc``), DE's ``.metadata`` record (eleven int32 and a flag from
byte 282) and the ``.Config.Metadata.xml`` bad-pixel maps.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

#: the header fields as LiberTEM's reader lays them out (632 bytes)
HEADER_DTYPE = np.dtype([
    ("magic", "<u4"), ("name", "V24"), ("version", "<i4"), ("header_size", "<i4"),
    ("description", "V512"), ("width", "<u4"), ("height", "<u4"), ("bit_depth", "<u4"),
    ("bit_depth_real", "<u4"), ("image_size_bytes", "<u4"), ("image_format", "<u4"),
    ("allocated_frames", "<u4"), ("origin", "<u4"), ("true_image_size", "<u4"),
    ("suggested_frame_rate", "<f8"), ("description_format", "<i4"), ("reference_frame", "<u4"),
    ("fixed_size", "<u4"), ("flags", "<u4"), ("bayer_pattern", "<i4"),
    ("time_offset_us", "<i4"), ("extended_header_size", "<i4"), ("compression_format", "<u4"),
    ("reference_time_s", "<i4"), ("reference_time_ms", "<u2"), ("reference_time_us", "<u2"),
])  # fmt: skip
assert HEADER_DTYPE.itemsize == 632


def _utf16(text: str, size: int) -> bytes:
    raw = text.encode("utf-16-le")[: size - 2]
    return raw + b"\0" * (size - len(raw))


def write_seq(
    path: Path,
    frames: np.ndarray,
    version: int = 5,
    footer: int = 8,
    trailing: bytes = b"",
    image_format: int = 100,
    compression: int = 0,
) -> None:
    """Writes ``frames`` (``(n, height, width)``, uint8/16/32/64) as a ``.seq`` file of
    ``version`` (first record at 8192 from version 5, else 1024), each frame followed by a
    ``footer`` of that many bytes (a timestamp pattern), then ``trailing`` bytes."""
    n, height, width = frames.shape
    bits = frames.dtype.itemsize * 8
    offset = 8192 if version >= 5 else 1024
    h = np.zeros(1, dtype=HEADER_DTYPE)
    h["magic"], h["version"], h["header_size"] = 0xFEED, version, offset
    h["name"] = np.void(_utf16("Norpix seq", 24))
    h["description"] = np.void(_utf16("ferrotem test file", 512))
    h["width"], h["height"], h["bit_depth"], h["bit_depth_real"] = width, height, bits, bits
    h["image_size_bytes"] = width * height * bits // 8
    h["image_format"], h["compression_format"] = image_format, compression
    h["allocated_frames"], h["true_image_size"] = n, width * height * bits // 8 + footer
    h["suggested_frame_rate"] = 400.0
    with open(path, "wb") as f:
        f.write(h.tobytes())
        f.write(b"\0" * (offset - HEADER_DTYPE.itemsize))
        for i, frame in enumerate(frames):
            f.write(frame.astype(frame.dtype.newbyteorder("<")).tobytes())
            f.write((np.arange(footer, dtype=np.uint8) + i).astype(np.uint8).tobytes())
        f.write(trailing)


def write_mrc(path: Path, image: np.ndarray, mode: int = 2, big_endian: bool = False) -> None:
    """Writes a 2-D ``image`` as an MRC file of ``mode`` (0 int8, 1 int16, 2 float32, 6 uint16,
    12 float16) with an extended header of 32 bytes."""
    dtype = {0: "i1", 1: "i2", 2: "f4", 6: "u2", 12: "f2"}[mode]
    e = ">" if big_endian else "<"
    ny, nx = image.shape
    header = np.zeros(256, dtype=e + "i4")
    header[:4] = nx, ny, 1, mode
    header[7:10] = nx, ny, 1
    header[23] = 32  # extended header bytes
    raw = bytearray(header.tobytes())
    raw[208:212] = b"MAP "
    raw[212:214] = b"\x11\x11" if big_endian else b"\x44\x44"
    with open(path, "wb") as f:
        f.write(bytes(raw))
        f.write(b"\x07" * 32)
        f.write(image.astype(e + dtype).tobytes())


def write_metadata(
    path: Path,
    unbinned: tuple[int, int],
    offset: tuple[int, int] = (0, 0),
    binning: int = 1,
) -> None:
    """Writes DE's ``.metadata`` record: ``unbinned`` frame size and ``offset`` as ``(y, x)``."""
    values = [512, 1, unbinned[1], unbinned[0], offset[1], offset[0], binning, 16, 400, 0, 0]
    with open(path, "wb") as f:
        f.write(b"\0" * 282)
        f.write(np.array(values, dtype="<i4").tobytes())
        f.write(b"\x00" + b"\0" * 64)


def write_bad_pixel_xml(
    path: Path, maps: Sequence[tuple[int, int, int | None, Sequence[dict[str, str]]]]
) -> None:
    """Writes a ``.Config.Metadata.xml`` with one ``<BadPixelMap>`` per ``(rows, columns,
    binning or None, defects)``; each defect a dict of attributes (``Row``/``Column``,
    ``Rows="a-b"``, ``Columns="a-b"``)."""
    lines = ['<?xml version="1.0" encoding="utf-8"?>', "<Configuration>", "<BadPixels>"]
    for rows, cols, binning, defects in maps:
        b = "" if binning is None else f' Binning="{binning}"'
        lines.append(f'<BadPixelMap Rows="{rows}" Columns="{cols}"{b}>')
        for d in defects:
            attrs = " ".join(f'{k}="{v}"' for k, v in d.items())
            lines.append(f"<Defect {attrs}/>")
        lines.append("</BadPixelMap>")
    lines += ["</BadPixels>", "</Configuration>"]
    Path(path).write_text("\n".join(lines))


def mark_defects(rows: int, cols: int, defects: Sequence[dict[str, str]]) -> np.ndarray:
    """The oracle of a map's excluded pixels: a ``(rows, cols)`` boolean array."""
    out = np.zeros((rows, cols), dtype=bool)
    for d in defects:
        if "Row" in d and "Column" in d:
            out[int(d["Row"]), int(d["Column"])] = True
        else:
            ((key, value),) = d.items()
            a, _, b = value.partition("-")
            lo, hi = int(a), int(b or a)
            if key.startswith("Row"):
                out[lo : hi + 1] = True
            else:
                out[:, lo : hi + 1] = True
    return out
