"""Writes the chunk fixtures of tests/decode_fuzz.rs: chunks encoded by the reference encoders
(HDF5 with hdf5plugin's filters), read back raw with h5py's read_direct_chunk.

Run from this directory with the project's venv: ``../../../../.venv/bin/python make_fixtures.py``.
The decoded values follow formulas the Rust tests recompute (see `expected_*` there).
"""

import os
import tempfile

import h5py
import hdf5plugin
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ARINA = "/work/shared/data/real/arina/test_00_data_000001.h5"


def values(shape, dtype, mult):
    """The fixture's data: element i holds (i * mult) % 65521, in `dtype`."""
    n = int(np.prod(shape))
    return ((np.arange(n, dtype=np.uint64) * mult) % 65521).astype(dtype).reshape(shape)


def raw_chunk(data, **filters):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "f.h5")
        with h5py.File(path, "w") as f:
            f.create_dataset("d", data=data, chunks=data.shape, **filters)
        with h5py.File(path, "r") as f:
            mask, chunk = f["d"].id.read_direct_chunk((0,) * data.ndim)
            assert mask == 0
            return chunk


def write(name, chunk):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(chunk)
    print(name, len(chunk))


# 40x13 = 520 uint16 elements: shorter than the default block (4096 elements), so the chunk is
# one short block of 520 elements (a multiple of 8) and no tail.
write(
    "bshuf_lz4_u16_40x13.bin",
    raw_chunk(values((40, 13), "<u2", 7), **hdf5plugin.Bitshuffle(cname="lz4")),
)
# 5x13 = 65 uint32 elements: one short block of 64 and a tail of one element.
write(
    "bshuf_lz4_u32_5x13.bin",
    raw_chunk(values((5, 13), "<u4", 40503), **hdf5plugin.Bitshuffle(cname="lz4")),
)
# 300x30 = 9000 uint16 elements with a block of 1024: whole blocks, a short one, a tail.
write(
    "bshuf_lz4_u16_300x30_b1024.bin",
    raw_chunk(values((300, 30), "<u2", 7), **hdf5plugin.Bitshuffle(nelems=1024, cname="lz4")),
)
write("h5lz4_u16_40x13.bin", raw_chunk(values((40, 13), "<u2", 7), **hdf5plugin.LZ4()))
write(
    "gzip_shuffle_u16_40x13.bin",
    raw_chunk(values((40, 13), "<u2", 7), compression="gzip", compression_opts=1, shuffle=True),
)
with h5py.File(ARINA, "r") as f:
    write("arina_frame0.bin", f["entry/data/data"].id.read_direct_chunk((0, 0, 0))[1])
