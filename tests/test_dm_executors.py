"""'dm' on every executor: inline, threads, delayed and a local Dask cluster of two worker
processes (the dataset is pickled to them and reopened there), natively and with a Python UDF,
with an ROI; make_dask_array too. numpy is the oracle."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close, make_data
from ferrotem.contrib.daskadapter import make_dask_array
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF
from helpers.dm_writer import write_dm
from helpers.executors import FrameMaxUDF, every_executor

pytestmark = [pytest.mark.dist, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def contexts():
    yield from every_executor()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A transposed 4-D DM4, a big-endian C-ordered 3-D DM3 and a stack of 2-D files."""
    d = tmp_path_factory.mktemp("dm")
    hybrid = make_data(1, (4, 6, 12, 10), "u2")
    write_dm(d / "h.dm4", hybrid, order="hybrid")
    stack = make_data(2, (9, 8, 8), "f4")
    write_dm(d / "s.dm3", stack, version=3, little_endian=False)
    frames = make_data(3, (5, 6, 7), "i2")
    paths = []
    for i, frame in enumerate(frames):
        write_dm(d / f"f{i}.dm4", frame)
        paths.append(str(d / f"f{i}.dm4"))
    return {
        "hybrid": (dict(path=d / "h.dm4"), hybrid),
        "c-big-endian": (dict(path=d / "s.dm3"), stack),
        "stack": (dict(files=paths), frames),
    }


@pytest.mark.parametrize("executor", ["inline", "threads", "delayed", "dask"])
@pytest.mark.parametrize("which", ["hybrid", "c-big-endian", "stack"])
def test_every_executor(contexts, files, executor, which):
    ctx = contexts[executor]
    params, data = files[which]
    ds = ctx.load("dm", num_partitions=3, **params)
    data = data.reshape(tuple(ds.shape))
    nav = tuple(ds.shape.nav)
    roi = np.random.default_rng(len(which)).random(nav) < 0.6
    total, per_frame, frame_max = ctx.run_udf(ds, [SumUDF(), SumSigUDF(), FrameMaxUDF()], roi=roi)
    assert_close(np.asarray(total["intensity"].data), data[roi].sum(axis=0))
    assert_close(np.asarray(per_frame["intensity"].data)[roi], data[roi].sum(axis=(-1, -2)))
    maxima = np.asarray(frame_max["max"].data)
    np.testing.assert_array_equal(maxima[roi], data[roi].max(axis=(-1, -2)))


@pytest.mark.parametrize("which", ["hybrid", "stack"])
def test_make_dask_array(contexts, files, which):
    params, data = files[which]
    ds = contexts["inline"].load("dm", **params)
    arr, _ = make_dask_array(ds)
    np.testing.assert_array_equal(arr.compute(), data.astype(np.float32))
