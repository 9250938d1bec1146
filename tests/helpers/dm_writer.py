"""Writes Gatan Digital Micrograph files (DM3 and DM4, either byte order) for the tests, from
the published layout of the tag tree (not from any reader's code).

A file is a header (version, root length, byte-order flag), a root tag group and eight zero
bytes. Lengths, counts and type words are big-endian (32-bit in DM3, 64-bit in DM4); values and
image data follow the byte-order flag. The ``ImageList`` begins with an RGB thumbnail, as Gatan
writes it, unless told otherwise.

Layouts of the data image (``order``):

- ``"C"``: the array's C order; DM's dimensions are its shape reversed.
- ``"hybrid"``: how Gatan stores 4-D STEM data and 3-D spectrum images: every scan position's
  value of the first signal pixel, then of the second, …; DM's dimensions list the scan axes
  (fastest first) and then the signal axes (fastest first).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: DM data type numbers of numpy dtypes
DM_TYPES = {
    np.dtype("int16"): 1,
    np.dtype("float32"): 2,
    np.dtype("complex64"): 3,
    np.dtype("uint8"): 6,
    np.dtype("int32"): 7,
    np.dtype("int8"): 9,
    np.dtype("uint16"): 10,
    np.dtype("uint32"): 11,
    np.dtype("float64"): 12,
    np.dtype("complex128"): 13,
}

#: tag type codes of simple values, by numpy dtype character code
_SIMPLE = {
    "h": 2,
    "i": 3,
    "H": 4,
    "I": 5,
    "f": 6,
    "d": 7,
    "?": 8,
    "b": 9,
    "B": 10,
    "q": 11,
    "Q": 12,
}


@dataclass
class Scalar:
    """A simple tag value of ``struct`` format character ``fmt``."""

    fmt: str
    value: Any


@dataclass
class Text:
    """Text stored as an array of 16-bit characters (how DM stores most text)."""

    value: str


@dataclass
class String18:
    """A string tag of type 18 (rare in real files)."""

    value: bytes


@dataclass
class Struct:
    """A struct of simple fields, ``(fmt, value)`` each."""

    fields: list[tuple[str, Any]]


@dataclass
class Array:
    """An array: ``data`` as bytes with element type ``code`` (a simple type) and ``count``, or
    of structs with field codes ``struct_fields``."""

    code: int
    count: int
    data: Any  # bytes, or any buffer (a numpy array's memoryview)
    struct_fields: list[int] = field(default_factory=list)


Group = list[tuple[str, Any]]


class _Encoder:
    def __init__(self, version: int, little_endian: bool):
        self.dm4 = version == 4
        self.order = "<" if little_endian else ">"

    def word(self, n: int) -> bytes:
        return struct.pack(">Q" if self.dm4 else ">I", n)

    def value(self, fmt: str, v: Any) -> bytes:
        return struct.pack(self.order + fmt, v)

    def group(self, entries: Group) -> list[Any]:
        """The group's bytes as a list of pieces (big arrays are not copied)."""
        out: list[Any] = [b"\x00\x01" + self.word(len(entries))]
        for label, tag in entries:
            name = label.encode("latin-1")
            body = self.group(tag) if isinstance(tag, list) else self.data(tag)
            kind = 20 if isinstance(tag, list) else 21
            out.append(bytes([kind]) + struct.pack(">H", len(name)) + name)
            if self.dm4:
                out.append(self.word(_length(body)))
            out += body
        return out

    def data(self, tag: Any) -> list[Any]:
        if isinstance(tag, Scalar):
            words, payload = [_SIMPLE[tag.fmt]], self.value(tag.fmt, tag.value)
        elif isinstance(tag, Text):
            units = tag.value.encode("utf-16-le" if self.order == "<" else "utf-16-be")
            words, payload = [20, 4, len(units) // 2], units
        elif isinstance(tag, String18):
            words, payload = [18, len(tag.value)], tag.value
        elif isinstance(tag, Struct):
            words = [15, 0, len(tag.fields)]
            payload = b""
            for fmt, v in tag.fields:
                words += [0, _SIMPLE[fmt]]
                payload += self.value(fmt, v)
        elif isinstance(tag, Array):
            if tag.struct_fields:
                words = [20, 15, 0, len(tag.struct_fields)]
                for code in tag.struct_fields:
                    words += [0, code]
                words.append(tag.count)
            else:
                words = [20, tag.code, tag.count]
            payload = tag.data
        else:
            raise TypeError(f"not a tag value: {tag!r}")
        head = b"%%%%" + self.word(len(words)) + b"".join(self.word(w) for w in words)
        return [head, payload]


def _length(pieces: list[Any]) -> int:
    return sum(memoryview(p).nbytes for p in pieces)


def _image(
    stored: bytes,
    dims: tuple[int, ...],
    data_type: int,
    element_code: int,
    elements: int,
    meta: Group,
    name: str,
) -> Group:
    calibrations = [
        ("", [("Origin", Scalar("f", 0.0)), ("Scale", Scalar("f", 1.0)), ("Units", Text(""))])
        for _ in dims
    ]
    return [
        (
            "ImageData",
            [
                (
                    "Calibrations",
                    [("Brightness", [("Scale", Scalar("f", 1.0))]), ("Dimension", calibrations)],
                ),
                ("Data", Array(element_code, elements, stored)),
                ("DataType", Scalar("i", data_type)),
                ("Dimensions", [("", Scalar("I", d)) for d in dims]),
                ("PixelDepth", Scalar("I", 1)),
            ],
        ),
        ("ImageTags", [("Meta Data", meta)] if meta else []),
        ("Name", Text(name)),
        ("UniqueID", Struct([("I", 1), ("I", 2), ("I", 3), ("I", 4)])),
    ]


def _bytes_of(a: np.ndarray) -> memoryview:
    """``a``'s bytes in C order, without a copy where it is C-contiguous already."""
    return memoryview(np.ascontiguousarray(a).reshape(-1).view(np.uint8))


def stored_layout(data: np.ndarray, order: str, sig_dims: int = 2) -> tuple[Any, tuple[int, ...]]:
    """The stored bytes (a buffer, in ``data``'s byte order) and DM dimensions of ``data`` in
    ``order``."""
    if order == "C":
        return _bytes_of(data), tuple(reversed(data.shape))
    if order != "hybrid":
        raise ValueError(f"order: {order!r}")
    nav, sig = data.shape[:-sig_dims], data.shape[-sig_dims:]
    flat = data.reshape(int(np.prod(nav)), int(np.prod(sig)))
    return _bytes_of(flat.T), tuple(reversed(nav)) + tuple(reversed(sig))


def write_dm(
    path: Any,
    data: np.ndarray,
    *,
    version: int = 4,
    little_endian: bool = True,
    order: str = "C",
    sig_dims: int = 2,
    thumbnail: bool = True,
    data_type: int | None = None,
    fmt: str | None = "Diffraction image",
    data_order_swapped: bool | None = None,
    extra_images: int = 0,
) -> None:
    """Writes ``data`` as the data image of a DM file (see the module docstring).

    ``data_type`` overrides the DM data type number (to write types ferrotem refuses, say);
    ``extra_images`` appends that many more images (2-D, the data's first frame) after it.
    """
    if version not in (3, 4):
        raise ValueError(f"version: {version}")
    enc = _Encoder(version, little_endian)
    data = np.asarray(data)
    order_char = "<" if little_endian else ">"
    target = data.dtype.newbyteorder(order_char)
    stored, dims = stored_layout(
        data if data.dtype == target else data.astype(target), order, sig_dims
    )
    dt = data_type if data_type is not None else DM_TYPES[data.dtype.newbyteorder("=")]
    if data.dtype.kind == "c":
        element_code, elements = (6 if data.itemsize == 8 else 7), 2 * data.size
    elif data.itemsize == 1:
        element_code, elements = 10, data.size
    else:
        code = {2: 4, 4: 5, 8: 12}[data.itemsize]
        element_code, elements = code, data.size
    meta: Group = []
    if fmt is not None:
        meta.append(("Format", Text(fmt)))
    if data_order_swapped is not None:
        meta.append(("Data Order Swapped", Scalar("?", data_order_swapped)))
    images: list[tuple[str, Any]] = []
    if thumbnail:
        thumb = np.arange(16 * 16, dtype=np.uint32).astype(np.dtype(order_char + "u4"))
        images.append(("", _image(thumb.tobytes(), (16, 16), 23, 5, 256, [], "thumbnail")))
    images.append(("", _image(stored, dims, dt, element_code, elements, meta, "data")))
    for k in range(extra_images):
        frame = data.reshape(-1, *data.shape[-2:])[0] + k + 1
        raw = frame.astype(frame.dtype.newbyteorder(order_char)).tobytes()
        images.append(
            ("", _image(raw, tuple(reversed(frame.shape)), dt, element_code, frame.size, [], "x"))
        )
    title = [("Title", String18(b"dm"))] if version == 3 else []
    root: Group = [
        ("ApplicationBounds", Array(3, 4, struct.pack(enc.order + "4i", 0, 0, 768, 1024))),
        (
            "DocumentObjectList",
            [("", [("AnnotationType", Scalar("i", 20)), ("Rectangle", Struct([("f", 0.0)] * 4))])],
        ),
        ("ImageList", images),
        # (LiberTEM's reader misreads type-18 strings in DM4; real files hardly have them)
        ("Image Behavior", [("ViewDisplayID", Scalar("I", 8))] + title),
        (
            "Thumbnails",
            [("", [("ImageIndex", Scalar("I", 0)), ("SourceSize_Pixels", Array(3, 2, b"\0" * 8))])],
        ),
        ("Annotations", Array(0, 2, b"\0" * 16, struct_fields=[5, 6])),
    ]
    body = enc.group(root)
    header_len = 16 if version == 4 else 12
    total = header_len + _length(body) + 8
    with open(path, "wb") as f:
        f.write(struct.pack(">I", version))
        f.write(enc.word(total - (24 if version == 4 else 16)))
        f.write(struct.pack(">I", 1 if little_endian else 0))
        for piece in body:
            f.write(piece)
        f.write(b"\0" * 8)


__all__ = ["DM_TYPES", "stored_layout", "write_dm"]
