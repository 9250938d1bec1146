"""'blo' (NanoMegas blockfile): the real file of shared/data/real with its known total and first
pixels, and synthetic 8- and 16-bit files of either byte order (tests/helpers/blo_writer.py),
read back against numpy."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_close
from ferrotem.io.dataset.blo import BloDataSet, IncompleteDataWarning
from ferrotem.udf.base import UDF
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF
from helpers.blo_writer import write_blo
from helpers.mib_writer import random_frames

BLO = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "blockfile" / "test1.blo"


class CopyUDF(UDF):
    def get_preferred_input_dtype(self):
        return self.USE_NATIVE_DTYPE

    def get_result_buffers(self):
        sig = tuple(self.meta.dataset_shape.sig)
        return {"frames": self.buffer(kind="nav", extra_shape=sig, dtype=self.meta.input_dtype)}

    def process_tile(self, tile):
        self.results.frames[:] = tile


def read_back(ctx, ds, roi=None):
    return ctx.run_udf(ds, CopyUDF(), roi=roi)["frames"].data


def test_real_blockfile(ctx):
    if not BLO.exists():
        pytest.skip(f"{BLO} not found")
    ds = ctx.load("blo", path=BLO)
    assert tuple(ds.shape) == (3, 2, 144, 144) and ds.dtype == np.uint8
    total, per_frame = ctx.run_udf(ds, [SumUDF(), SumSigUDF()])
    assert total["intensity"].data.sum() == 5164570 == per_frame["intensity"].data.sum()
    data = read_back(ctx, ds)
    assert data[0, 0, 0, :3].tolist() == [17, 21, 24]
    # independent oracle: numpy reads the records after the header's second data offset
    record = np.dtype([("mark", "<u2"), ("index", "<u4"), ("data", "u1", (144, 144))])
    stored = np.fromfile(BLO, dtype=record, offset=ds.header["data_offset_2"])
    assert stored["mark"].tolist() == [0x55AA] * 6 and stored["index"].tolist() == list(range(6))
    np.testing.assert_array_equal(data.reshape(6, 144, 144), stored["data"])
    diag = {d["name"]: d["value"] for d in ds.get_diagnostics()}
    assert diag["Scan (NY, NX)"] == "(3, 2)" and diag["Pattern size (DP_SZ)"] == "144"


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("endianess", ["<", ">"])
def test_synthetic_blockfiles(ctx, tmp_path, bits, endianess):
    data = random_frames(bits, (4, 5, 16, 16), 12 if bits == 16 else 6)
    path = tmp_path / "s.blo"
    write_blo(path, data, endianess=endianess, bits=bits)
    ds = ctx.load("blo", path=path, endianess=endianess, num_partitions=3)
    expected = np.dtype("u1") if bits == 8 else np.dtype(endianess + "u2")
    assert tuple(ds.shape) == (4, 5, 16, 16) and ds.dtype == expected
    np.testing.assert_array_equal(read_back(ctx, ds), data)
    roi = np.random.default_rng(bits).random((4, 5)) < 0.5
    total, per_frame = ctx.run_udf(ds, [SumUDF(), SumSigUDF()], roi=roi)
    assert_close(total["intensity"].data, data[roi].sum(axis=0))
    assert_close(per_frame["intensity"].data[roi], data[roi].sum(axis=(1, 2)))


def test_shape_parameters_and_cut_short(inline_ctx, tmp_path):
    data = random_frames(1, (3, 4, 8, 8), 6)
    path = tmp_path / "s.blo"
    write_blo(path, data)
    ds = inline_ctx.load("blo", path=path, nav_shape=(12,), sig_shape=(64,), sync_offset=2)
    out = read_back(inline_ctx, ds)
    flat = data.reshape(12, 64)
    np.testing.assert_array_equal(out[:10], flat[2:])
    assert not out[10:].any()
    # a file whose last frames were never written: loads, warns, the rest reads as zeros
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size - 2 * (6 + 64))
    with pytest.warns(IncompleteDataWarning, match=r"holds 10 frames"):
        ds = inline_ctx.load("blo", path=path)
    expected = data.copy()
    expected.reshape(12, 8, 8)[10:] = 0
    np.testing.assert_array_equal(read_back(inline_ctx, ds), expected)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        direct = BloDataSet(path=path, nav_shape=(10,))
        total = inline_ctx.run_udf(direct, SumUDF())["intensity"].data
    assert_close(total, flat[:10].reshape(10, 8, 8).sum(axis=0))
