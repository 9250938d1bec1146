"""``ferrotem.udf.logsum`` against a float64 numpy oracle: ``Σ log(frame - min(frame) + 1)``.

The oracle casts the selected frames to the run's input dtype (numpy promotion of float32 and
the stored dtype) and computes in float64; the engine computes each frame's scaling in the
input dtype and sums into a float32 buffer, so results agree to float32 precision.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import input_dtype_for, selected
from ferrotem.api import Context
from ferrotem.executor.dask import DaskJobExecutor, cluster_spec
from ferrotem.udf.logsum import LogsumUDF, run_logsum

pytestmark = [pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def executors(contexts):
    delayed = Context.make_with("delayed")
    yield {**contexts, "delayed": delayed}
    delayed.close()


def values(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    dt = np.dtype(dtype)
    if dt.kind in "ui":
        hi = min(np.iinfo(dt).max, 60000)
        return rng.integers(0 if dt.kind == "u" else -hi, hi, size=shape).astype(dt)
    return (rng.random(shape) * 2000 - 500).astype(dt)


def oracle(data: np.ndarray, sig_dims: int, roi: np.ndarray | None) -> np.ndarray:
    frames = selected(data, sig_dims, roi).astype(input_dtype_for(data.dtype)).astype(np.float64)
    sig = frames.shape[1:]
    flat = frames.reshape(len(frames), -1)
    scaled = np.log(flat - flat.min(axis=1, keepdims=True) + 1)
    return scaled.sum(axis=0).reshape(sig)


def check(res, want: np.ndarray) -> None:
    got = res["logsum"].data
    assert got.dtype == np.float32 and res["logsum"].kind == "sig"
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-4)


@pytest.mark.parametrize("dtype", ["u1", "u2", ">u2", "i4", "f4", "f8"])
@pytest.mark.parametrize("executor", ["inline", "threads", "delayed"])
def test_matches_float64_oracle(executors, executor, dtype):
    ctx = executors[executor]
    rng = np.random.default_rng(1)
    data = values(rng, (3, 4, 5, 6, 7), dtype)  # 3-D navigation
    roi = rng.random((3, 4, 5)) < 0.6
    roi[0] = False  # a partition (of three) without selected frames
    ds = ctx.load("memory", data=data, sig_dims=2, num_partitions=3)
    check(ctx.run_udf(ds, LogsumUDF(), roi=roi), oracle(data, 2, roi))


def test_no_roi_signal_cut_tiles_and_run_logsum(inline_ctx):
    data = values(np.random.default_rng(2), (5, 6, 8, 9), "u2")
    ds = inline_ctx.load("memory", data=data, sig_dims=2, num_partitions=2, tileshape=(2, 3, 9))
    check(run_logsum(inline_ctx, ds), oracle(data, 2, None))


def test_empty_roi_gives_zeros(inline_ctx):
    data = values(np.random.default_rng(3), (3, 4, 5, 6), "f4")
    ds = inline_ctx.load("memory", data=data, sig_dims=2)
    res = inline_ctx.run_udf(ds, LogsumUDF(), roi=np.zeros((3, 4), bool))
    np.testing.assert_array_equal(res["logsum"].data, np.zeros((5, 6), np.float32))


def test_constant_frames_sum_to_zero(inline_ctx):
    # log(x - min + 1) is 0 wherever a frame equals its minimum
    data = np.full((4, 3, 5, 5), 7, dtype=np.uint16)
    ds = inline_ctx.load("memory", data=data, sig_dims=2)
    np.testing.assert_array_equal(inline_ctx.run_udf(ds, LogsumUDF())["logsum"].data, 0)


def test_complex_input_is_refused_as_in_libertem(inline_ctx):
    # the float32 buffer cannot take complex logarithms: numpy's casting error, as LiberTEM
    data = (np.ones((2, 2, 3, 3)) + 1j).astype(np.complex64)
    ds = inline_ctx.load("memory", data=data, sig_dims=2)
    with pytest.raises(TypeError, match="complex"):
        inline_ctx.run_udf(ds, LogsumUDF())


def test_dask_cluster():
    spec = cluster_spec(cpus=[0, 1], cudas=[], has_cupy=False, num_service=0)
    ctx = Context(executor=DaskJobExecutor.make_local(spec=spec))
    try:
        rng = np.random.default_rng(4)
        data = values(rng, (6, 5, 8, 9), ">u2")
        roi = rng.random((6, 5)) < 0.7
        ds = ctx.load("memory", data=data, sig_dims=2, num_partitions=4)
        check(ctx.run_udf(ds, LogsumUDF(), roi=roi), oracle(data, 2, roi))
    finally:
        ctx.close()
