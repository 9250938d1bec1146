"""Benchmark files in detector formats, written from the pixels of a raw benchmark file, and
their numpy references.

Merlin ``.mib`` (``Dataset.mib`` set): 12-bit frames hold the raw file's pixels as they are,
6-bit frames the pixels modulo 64, RAW 1-bit frames the pixels modulo 2 (packed as the chips
deliver them). The references are computed from the raw file's pixels with the same
arithmetic, not by reading the ``.mib`` file back, so they check the readers' decoding too.
Headers come from the test suite's writer (``tests/helpers/mib_writer.py``).
"""

from __future__ import annotations

import os
import sys

import numpy as np
from common import ROOT, Dataset, reference_path

#: bytes of each frame header (single chip)
MIB_HEADER_BYTES = 384


def _writer():
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from helpers import mib_writer

    return mib_writer


def decoded(ds: Dataset, pixels: np.ndarray) -> np.ndarray:
    """What the frames of ``ds`` hold, given the raw file's ``pixels``."""
    if ds.mib == "12":
        return pixels
    if ds.mib == "6":
        return pixels % 64
    if ds.mib == "r1":
        return pixels % 2
    raise ValueError(f"mib: got {ds.mib!r}, expected '12', '6' or 'r1'")


def _payload(ds: Dataset, block: np.ndarray) -> np.ndarray:
    """The stored pixels of a block of frames, one row of bytes per frame."""
    m = len(block)
    values = decoded(ds, block).reshape(m, -1)
    if ds.mib == "12":
        return values.astype(">u2").view(np.uint8)
    if ds.mib == "6":
        return values.astype(np.uint8)
    # RAW 1-bit: 64 pixels per big-endian word, pixel k in bit k
    packed = np.packbits(values.astype(np.uint8), axis=-1, bitorder="little")
    return packed.reshape(m, -1, 8)[:, :, ::-1].reshape(m, -1)


def ensure_mib(ds: Dataset, source: Dataset, chunk: int = 256) -> str:
    """Writes ``ds`` once from the pixels of the raw file ``source`` (same scan and frame
    shape); returns its path."""
    n = int(np.prod(ds.nav))
    payload = {"12": 2, "6": 1, "r1": 1 / 8}[ds.mib] * int(np.prod(ds.sig))
    size = n * (MIB_HEADER_BYTES + int(payload))
    if os.path.exists(ds.path) and os.path.getsize(ds.path) == size:
        return ds.path
    w = _writer()
    depth = {"12": 12, "6": 6, "r1": 1}[ds.mib]
    pixel_type = "R64" if ds.mib == "r1" else w.PIXEL_TYPES[depth]
    height, width = ds.sig
    src = np.memmap(source.path, dtype=source.dtype, mode="r", shape=(n,) + ds.sig)
    record = np.dtype([("header", f"S{MIB_HEADER_BYTES}"), ("data", "u1", (int(payload),))])
    tmp = ds.path + ".part"
    with open(tmp, "wb") as f:
        for start in range(0, n, chunk):
            block = np.asarray(src[start : start + chunk])
            out = np.empty(len(block), record)
            out["header"] = [
                w.header(start + i + 1, width, height, pixel_type, depth) for i in range(len(block))
            ]
            out["data"] = _payload(ds, block)
            out.tofile(f)
    del src
    os.replace(tmp, ds.path)
    return ds.path


def ensure_mib_references(ds: Dataset, source: Dataset) -> str:
    """float64 sums of what ``ds``'s frames hold (see ``decoded``), kept beside the file like
    ``common.ensure_references``; returns the ``.npz`` path."""
    out = reference_path(ds)
    st = os.stat(ds.path)
    ident = np.array([st.st_size, st.st_mtime_ns], dtype=np.int64)
    if os.path.exists(out):
        with np.load(out) as z:
            if np.array_equal(z["ident"], ident):
                return out
    n = int(np.prod(ds.nav))
    src = np.memmap(source.path, dtype=source.dtype, mode="r", shape=(n, int(np.prod(ds.sig))))
    total = np.zeros(src.shape[1], np.float64)
    per_frame = np.empty(n, np.float64)
    for start in range(0, n, 256):
        block = decoded(ds, np.asarray(src[start : start + 256])).astype(np.float64)
        total += block.sum(axis=0)
        per_frame[start : start + len(block)] = block.sum(axis=1)
    del src
    tmp = out + ".part.npz"
    np.savez(tmp, ident=ident, sum=total.reshape(ds.sig), sumsig=per_frame.reshape(ds.nav))
    os.replace(tmp, out)
    return out
