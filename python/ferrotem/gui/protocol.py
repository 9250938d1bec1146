"""The wire format: JSON text messages both ways, and binary frames for arrays.

A binary frame is ``u32 little-endian header length`` + the JSON header (UTF-8, padded with
spaces so that the array starts at a multiple of 8 bytes) + the array's bytes, C order, little
endian. The header names ``dtype`` (a numpy name such as ``"float32"``) and ``shape``, so the
browser wraps the bytes in a typed array without copying and without base64.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np

__all__ = [
    "MAX_MESSAGE_BYTES",
    "ProtocolError",
    "decode_binary_frame",
    "encode_binary_frame",
    "parse_request",
]

#: the largest text message a client may send (requests are small; a file path is the longest)
MAX_MESSAGE_BYTES = 64 * 1024
#: dtypes a frame may carry (what a JavaScript typed array can view)
_WIRE_DTYPES = {
    "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64",
}  # fmt: skip
_LENGTH = struct.Struct("<I")


class ProtocolError(ValueError):
    """A request the server cannot act on; its text goes back to the client as the error,
    with ``param``, the request parameter it is about, when there is one."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.param = param


def parse_request(text: str | bytes) -> dict[str, Any]:
    """A client's text message as a dict with a string ``type``; raises :class:`ProtocolError`
    for binary messages, oversized ones, bad JSON, or anything but a JSON object with ``type``."""
    if isinstance(text, bytes):
        raise ProtocolError("binary messages from the client are not understood; send JSON text")
    if len(text) > MAX_MESSAGE_BYTES:
        raise ProtocolError(
            f"message of {len(text)} characters refused; the limit is {MAX_MESSAGE_BYTES}"
        )
    try:
        message = json.loads(text)
    except json.JSONDecodeError as e:
        raise ProtocolError(f"bad JSON: {e.msg} at character {e.pos}") from None
    if not isinstance(message, dict):
        raise ProtocolError(f"expected a JSON object, got {type(message).__name__}")
    kind = message.get("type")
    if not isinstance(kind, str):
        raise ProtocolError(f"type: got {kind!r}, expected the message type as a string")
    return message


def wire_array(array: np.ndarray) -> np.ndarray:
    """``array`` as a C-ordered little-endian array of a type the browser can view: booleans
    become uint8, 64-bit integers float64; complex data has no typed array and is refused."""
    array = np.asarray(array)
    if np.iscomplexobj(array):
        raise ProtocolError("complex results cannot be sent yet; choose a real-valued analysis")
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    elif array.dtype.name not in _WIRE_DTYPES:
        array = array.astype(np.float64)
    # asarray, not ascontiguousarray: that one turns a 0-d array into 1-d
    return np.asarray(array, dtype=array.dtype.newbyteorder("<"), order="C")


def encode_binary_frame(header: dict[str, Any], array: np.ndarray) -> bytes:
    """One binary frame: ``header`` (plus ``dtype`` and ``shape``) and ``array``'s bytes."""
    array = wire_array(array)
    full = {**header, "dtype": array.dtype.name, "shape": list(array.shape)}
    head = json.dumps(full, separators=(",", ":")).encode()
    pad = (-(_LENGTH.size + len(head))) % 8
    head += b" " * pad
    return _LENGTH.pack(len(head)) + head + array.tobytes()


def decode_binary_frame(frame: bytes) -> tuple[dict[str, Any], np.ndarray]:
    """The inverse of :func:`encode_binary_frame` (the browser's job; here for tests)."""
    if len(frame) < _LENGTH.size:
        raise ProtocolError("frame shorter than its length prefix")
    (n,) = _LENGTH.unpack_from(frame)
    header = json.loads(frame[_LENGTH.size : _LENGTH.size + n])
    dtype = np.dtype(header["dtype"]).newbyteorder("<")
    data = np.frombuffer(frame, dtype=dtype, offset=_LENGTH.size + n)
    return header, data.reshape(header["shape"])
