"""``ferrotem.udf.record``: the dataset written to a ``.npy`` file reads back equal to it.

The inline, threads and Dask executors write through a memory map of the one file the main
node created (the workers of a local cluster share the file system). A run with an ROI raises
``RuntimeError`` before writing anything, as in LiberTEM. (The delayed executor only builds a
graph that computing the results runs; a recording has no results, so it is left out here, as
LiberTEM 0.16 fails on it; ferrotem refuses it with ``UDFException``.)
"""

from __future__ import annotations

import numpy as np
import pytest
from ferrotem.api import Context
from ferrotem.common.exceptions import UDFException
from ferrotem.executor.dask import DaskJobExecutor, cluster_spec
from ferrotem.udf.record import RecordUDF

pytestmark = [pytest.mark.timeout(120)]


def values(seed: int, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind in "ui":
        return rng.integers(0, min(np.iinfo(dt).max, 60000), size=shape).astype(dt)
    if dt.kind == "c":
        return (rng.random(shape) + 1j * rng.random(shape)).astype(dt)
    return rng.random(shape).astype(dt)


def assert_recorded(path, data: np.ndarray) -> None:
    back = np.load(path)
    assert back.shape == data.shape
    assert back.dtype.kind == data.dtype.kind and back.dtype.itemsize == data.dtype.itemsize
    np.testing.assert_array_equal(back, data)


@pytest.mark.parametrize("dtype", ["u1", "u2", ">u2", "i4", "f4", "f8", "c8"])
@pytest.mark.parametrize("executor", ["inline", "threads"])
def test_round_trip(contexts, executor, dtype, tmp_path):
    ctx = contexts[executor]
    data = values(1, (3, 4, 2, 6, 7), dtype)  # 3-D navigation, stored dtype kept
    ds = ctx.load("memory", data=data, sig_dims=2, num_partitions=3)
    path = tmp_path / "rec.npy"
    assert ctx.run_udf(ds, RecordUDF(path)) == {}
    assert_recorded(path, data)


def test_signal_cut_tiles_and_an_existing_file_is_overwritten(inline_ctx, tmp_path):
    path = tmp_path / "rec.npy"
    np.save(path, np.ones((9, 9), np.float64))
    data = values(2, (5, 4, 8, 9), "u2")
    ds = inline_ctx.load("memory", data=data, sig_dims=2, num_partitions=2, tileshape=(3, 2, 9))
    inline_ctx.run_udf(ds, RecordUDF(str(path)))
    assert_recorded(path, data)


@pytest.mark.parametrize("roi_kind", ["all", "some", "empty"])
def test_roi_is_refused(inline_ctx, tmp_path, roi_kind):
    data = values(3, (3, 4, 5, 6), "u2")
    ds = inline_ctx.load("memory", data=data, sig_dims=2)
    roi = np.zeros((3, 4), dtype=bool)
    roi[: {"all": 3, "some": 1, "empty": 0}[roi_kind]] = True
    path = tmp_path / "rec.npy"
    with pytest.raises(RuntimeError, match="ROI"):
        inline_ctx.run_udf(ds, RecordUDF(path), roi=roi)
    assert not path.exists()


def test_delayed_executor_refuses_instead_of_writing_nothing(tmp_path):
    ctx = Context.make_with("delayed")
    try:
        ds = ctx.load("memory", data=values(5, (2, 3, 4, 5), "u2"), sig_dims=2)
        with pytest.raises(UDFException, match="RecordUDF has no result buffers"):
            ctx.run_udf(ds, RecordUDF(tmp_path / "rec.npy"))
    finally:
        ctx.close()


def test_dask_cluster(tmp_path):
    spec = cluster_spec(cpus=[0, 1], cudas=[], has_cupy=False, num_service=0)
    ctx = Context(executor=DaskJobExecutor.make_local(spec=spec))
    try:
        data = values(4, (6, 5, 8, 9), ">u2")
        ds = ctx.load("memory", data=data, sig_dims=2, num_partitions=4)
        path = tmp_path / "rec.npy"
        ctx.run_udf(ds, RecordUDF(path))
        assert_recorded(path, data)
    finally:
        ctx.close()
