"""'tvips' and 'empad' on every executor: inline, threads, delayed and a local Dask cluster of
two worker processes (the dataset is pickled to them and reopened there), natively and with a
Python UDF, with an ROI; make_dask_array too. numpy is the oracle."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close
from ferrotem.contrib.daskadapter import make_dask_array
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF
from helpers.empad_writer import write_empad
from helpers.executors import FrameMaxUDF, every_executor
from helpers.tvips_writer import raster_positions, write_tvips

pytestmark = [pytest.mark.dist, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def contexts():
    yield from every_executor()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A 16-bit TVIPS series over three files with a detected 5 x 6 scan after 2 blank frames,
    an 8-bit one without positions, and an EMPAD scan."""
    d = tmp_path_factory.mktemp("tvips_empad")
    rng = np.random.default_rng(10)
    t16 = rng.integers(0, 65535, (2 + 30 + 3, 8, 12)).astype(np.uint16)
    write_tvips(d, "t16", t16, split=[9, 20, 6], positions=raster_positions(2, 5, 6, 3))
    t8 = rng.integers(0, 255, (14, 10, 10)).astype(np.uint8)
    write_tvips(d, "t8", t8, split=[4, 10], frame_header_bytes=60)
    em = (rng.integers(-100, 100, (3, 4, 128, 128)) / 8).astype(np.float32)
    write_empad(d, "em", em, mode="search")
    return {
        "tvips-16": (dict(filetype="tvips", path=d / "t16_002.tvips"), t16[2:32]),
        "tvips-8": (dict(filetype="tvips", path=d / "t8_000.tvips", nav_shape=(2, 7)), t8),
        "empad": (dict(filetype="empad", path=d / "em.xml"), em),
    }


@pytest.mark.parametrize("executor", ["inline", "threads", "delayed", "dask"])
@pytest.mark.parametrize("which", ["tvips-16", "tvips-8", "empad"])
def test_every_executor(contexts, files, executor, which):
    ctx = contexts[executor]
    params, data = files[which]
    params = dict(params)
    ds = ctx.load(params.pop("filetype"), num_partitions=3, **params)
    data = data.reshape(tuple(ds.shape))
    nav = tuple(ds.shape.nav)
    roi = np.random.default_rng(len(which)).random(nav) < 0.6
    total, per_frame, frame_max = ctx.run_udf(ds, [SumUDF(), SumSigUDF(), FrameMaxUDF()], roi=roi)
    assert_close(np.asarray(total["intensity"].data), data[roi].sum(axis=0, dtype=np.float64))
    assert_close(
        np.asarray(per_frame["intensity"].data)[roi],
        data[roi].sum(axis=(-1, -2), dtype=np.float64),
    )
    maxima = np.asarray(frame_max["max"].data)
    np.testing.assert_array_equal(maxima[roi], data[roi].max(axis=(-1, -2)))


@pytest.mark.parametrize("which", ["tvips-16", "empad"])
def test_make_dask_array(contexts, files, which):
    params, data = files[which]
    params = dict(params)
    ds = contexts["inline"].load(params.pop("filetype"), **params)
    arr, _ = make_dask_array(ds)
    np.testing.assert_array_equal(arr.compute(), data.reshape(tuple(ds.shape)).astype(np.float32))
