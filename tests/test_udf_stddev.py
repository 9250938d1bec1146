"""``ferrotem.udf.stddev`` against a float64 two-pass numpy oracle.

The oracle casts the selected frames to the run's input dtype (numpy promotion of float32 and
the stored dtype, as the engine promises), then computes in float64 (complex128):
``sum = Σx``, ``varsum = Σ|x - mean|²``, ``var = varsum / n``. The native path (Rust) and the
Python path (a subclass overriding ``process_tile``) are both checked, on every executor, with
ROIs that leave partitions empty, an empty ROI, 1-3-D navigation, signal-cut tiles, corrections,
and a long run (10^6 frames) whose large offset defeats the naive ``Σx² - (Σx)²/n``.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import input_dtype_for, selected
from ferrotem import _core
from ferrotem.api import Context
from ferrotem.corrections import CorrectionSet
from ferrotem.executor.dask import DaskJobExecutor, cluster_spec
from ferrotem.udf.stddev import (
    StdDevUDF,
    consolidate_result,
    merge,
    merge_ndarray,
    merge_single,
    process_tile,
    process_tile_ndarray,
    run_stddev,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = [pytest.mark.timeout(180)]

DTYPES = ["u1", "u2", ">u2", "i2", "i4", "f4", "f8", "c8", "c16"]


class PythonStdDevUDF(StdDevUDF):
    """The numpy path of the same UDF (an override disables the native one)."""

    def process_tile(self, tile):
        super().process_tile(tile)


@pytest.fixture(scope="module")
def cluster_ctx():
    spec = cluster_spec(cpus=[0, 1], cudas=[], has_cupy=False, num_service=0)
    ctx = Context(executor=DaskJobExecutor.make_local(spec=spec))
    yield ctx
    ctx.close()


@pytest.fixture(scope="module")
def executors(contexts):
    delayed = Context.make_with("delayed")
    yield {**contexts, "delayed": delayed}
    delayed.close()


def values(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Random values of ``dtype`` around an offset (so that the mean is not zero)."""
    dt = np.dtype(dtype)
    if dt.kind in "ui":
        hi = min(np.iinfo(dt).max, 60000)
        return rng.integers(0 if dt.kind == "u" else -hi, hi, size=shape).astype(dt)
    if dt.kind == "c":
        return (rng.random(shape) * 90 + 10 + 1j * (rng.random(shape) - 3)).astype(dt)
    return (rng.random(shape) * 900 + 100).astype(dt)


def oracle(data: np.ndarray, sig_dims: int, roi: np.ndarray | None) -> dict[str, np.ndarray]:
    frames = selected(data, sig_dims, roi).astype(input_dtype_for(data.dtype))
    wide = frames.astype(np.complex128 if frames.dtype.kind == "c" else np.float64)
    n = len(wide)
    total = wide.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / n
        varsum = (np.abs(wide - mean) ** 2).sum(axis=0)
        var = varsum / n
    return {"sum": total, "varsum": varsum, "var": var, "std": np.sqrt(var), "mean": mean}


def check(res, want: dict[str, np.ndarray], n: int, rtol: float = 1e-10) -> None:
    assert res["num_frames"].data.dtype == np.int64
    assert int(res["num_frames"].data[0]) == n
    for name, w in want.items():
        got = np.asarray(res[name].data)
        assert got.shape == w.shape, (name, got.shape, w.shape)
        scale = np.abs(w).max(initial=0) if n else 0
        np.testing.assert_allclose(
            got, w, rtol=rtol, atol=rtol * scale, equal_nan=True, err_msg=name
        )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("executor", ["inline", "threads", "delayed"])
@pytest.mark.parametrize("udf_cls", [StdDevUDF, PythonStdDevUDF])
def test_matches_two_pass_oracle(executors, executor, dtype, udf_cls):
    ctx = executors[executor]
    rng = np.random.default_rng(3)
    data = values(rng, (3, 4, 5, 7, 6), dtype)  # 3-D navigation
    roi = rng.random((3, 4, 5)) < 0.5
    roi[1] = False  # a partition (of three) with no selected frame
    ds = ctx.load("memory", data=data, sig_dims=2, num_partitions=3)
    res = ctx.run_udf(ds, udf_cls(), roi=roi)
    check(res, oracle(data, 2, roi), int(roi.sum()))
    # LiberTEM's dtypes: float64 statistics, a complex128 sum and mean for complex data
    wide = np.complex128 if np.dtype(dtype).kind == "c" else np.float64
    assert {k: res[k].data.dtype for k in ("varsum", "var", "std")} == dict.fromkeys(
        ("varsum", "var", "std"), np.dtype(np.float64)
    )
    assert res["sum"].data.dtype == res["mean"].data.dtype == wide
    assert res["num_frames"].kind == "single" and res["sum"].kind == "sig"


@given(
    nav=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
    sig=st.lists(st.integers(1, 9), min_size=1, max_size=2).map(tuple),
    parts=st.integers(1, 4),
    roi_kind=st.sampled_from(["none", "random", "empty"]),
    dtype=st.sampled_from(["u2", "f4", "c8"]),
    python=st.booleans(),
    seed=st.integers(0, 2**16),
)
@settings(
    max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
def test_shapes_partitions_rois_tiles(nav, sig, parts, roi_kind, dtype, python, seed):
    rng = np.random.default_rng(seed)
    data = values(rng, nav + sig, dtype)
    n_all = int(np.prod(nav))
    roi = None
    if roi_kind == "random":
        roi = rng.random(nav) < 0.5
    elif roi_kind == "empty":
        roi = np.zeros(nav, bool)
    # tiles of one frame cut along the first signal axis (Python path)
    tileshape = (1, max(1, sig[0] // 2), *sig[1:])
    ctx = Context.make_with("inline")
    ds = ctx.load(
        "memory",
        data=data,
        sig_dims=len(sig),
        num_partitions=min(parts, n_all),
        tileshape=tileshape,
    )
    udf = PythonStdDevUDF() if python else StdDevUDF()
    res = ctx.run_udf(ds, udf, roi=roi)
    n = n_all if roi is None else int(roi.sum())
    check(res, oracle(data, len(sig), roi), n)


@pytest.mark.parametrize("executor", ["inline", "delayed"])
def test_empty_roi_gives_nan_statistics_and_zero_sums(executors, executor):
    # LiberTEM 0.16: num_frames 0, sum and varsum 0, var/std/mean NaN
    ctx = executors[executor]
    data = values(np.random.default_rng(0), (3, 4, 5, 6), "u2")
    ds = ctx.load("memory", data=data, sig_dims=2)
    for udf in (StdDevUDF(), PythonStdDevUDF()):
        res = ctx.run_udf(ds, udf, roi=np.zeros((3, 4), bool))
        assert int(res["num_frames"].data[0]) == 0
        assert not res["sum"].data.any() and not res["varsum"].data.any()
        for name in ("var", "std", "mean"):
            assert np.isnan(res[name].data).all(), name


@pytest.mark.parametrize("executor", ["inline", "delayed"])
def test_float32_base_dtype(executors, executor):
    # dtype=float32: varsum and (for float32 input) sum in float32; var/std/mean are divided
    # by the int64 count, which numpy promotes to float64 (as in LiberTEM)
    ctx = executors[executor]
    data = values(np.random.default_rng(1), (4, 5, 6, 7), "u2")
    ds = ctx.load("memory", data=data, sig_dims=2, num_partitions=2)
    want = oracle(data, 2, None)
    for udf in (StdDevUDF(dtype=np.float32), PythonStdDevUDF(dtype=np.float32)):
        res = ctx.run_udf(ds, udf)
        assert res["varsum"].data.dtype == res["sum"].data.dtype == np.float32
        assert res["var"].data.dtype == np.float64
        check(res, want, 20, rtol=1e-6)


def test_dask_cluster(cluster_ctx):
    rng = np.random.default_rng(5)
    data = values(rng, (6, 5, 8, 9), ">u2")
    roi = rng.random((6, 5)) < 0.7
    ds = cluster_ctx.load("memory", data=data, sig_dims=2, num_partitions=4)
    for udf in (StdDevUDF(), PythonStdDevUDF()):
        check(cluster_ctx.run_udf(ds, udf, roi=roi), oracle(data, 2, roi), int(roi.sum()))


@pytest.mark.parametrize("executor", ["inline", "delayed"])
def test_corrections_apply_on_the_native_path(executors, executor):
    ctx = executors[executor]
    rng = np.random.default_rng(7)
    data = values(rng, (4, 5, 6, 7), "u2")
    dark = rng.random((6, 7)).astype(np.float32) * 50
    gain = (rng.random((6, 7)) + 0.5).astype(np.float32)
    cs = CorrectionSet(dark=dark, gain=gain)
    corrected = (data.astype(np.float32) - dark) * gain
    ds = ctx.load("memory", data=data, sig_dims=2, num_partitions=2)
    calls = []
    real = _core.run_native_partition

    def spy(*args):
        calls.append(list(args[4].names))
        return real(*args)

    _core.run_native_partition = spy
    try:
        res = ctx.run_udf(ds, StdDevUDF(), corrections=cs)
        got = {k: np.asarray(res[k].data) for k in ("var", "sum", "mean")}
    finally:
        _core.run_native_partition = real
    assert calls and all(names == ["stddev"] for names in calls), calls
    want = oracle(corrected, 2, None)
    for name, w in got.items():
        np.testing.assert_allclose(w, want[name], rtol=1e-5, err_msg=name)


def test_large_offset_over_a_million_frames_is_stable():
    """10^6 frames of 2x2 pixels: 10^4 plus noise of variance ~1 (uint16) or 1/12 (float32).

    The native result is compared with a float64 two-pass oracle; the naive float64
    ``Σx² - (Σx)²/n`` over the same values is shown to be far less accurate.
    """
    ctx = Context.make_with("inline")
    rng = np.random.default_rng(11)
    n = 1_000_000
    cases = {
        "u2": (10_000 + rng.integers(0, 4, size=(n, 2, 2))).astype(np.uint16),
        "f4": (10_000 + rng.random((n, 2, 2))).astype(np.float32),
    }
    for name, data in cases.items():
        ds = ctx.load("memory", data=data, sig_dims=2, num_partitions=3)
        res = ctx.run_udf(ds, StdDevUDF())
        x = data.astype(np.float64)
        mean = x.mean(axis=0)
        want = ((x - mean) ** 2).sum(axis=0)
        ours = np.abs(res["varsum"].data - want) / want
        naive = np.abs((x * x).sum(axis=0) - x.sum(axis=0) ** 2 / n - want) / want
        assert ours.max() < 1e-10, (name, ours)
        assert naive.max() > 100 * max(ours.max(), 1e-16), (name, naive, ours)
        np.testing.assert_allclose(res["std"].data, np.sqrt(want / n), rtol=1e-10)


def test_merge_all_of_partials_with_an_empty_one():
    # the delayed executor's merge: partials of 15, 0 and 25 frames at once
    from ferrotem.udf.base import MergeAttrMapping

    rng = np.random.default_rng(8)
    frames = rng.random((40, 3, 4)) * 10 + 500
    parts = [frames[:15], frames[:0], frames[15:]]
    udf = StdDevUDF()
    ordered = {
        i: MergeAttrMapping(
            {
                "num_frames": np.array([len(p)]),
                "sum": p.sum(axis=0),
                "varsum": p.var(axis=0) * len(p) if len(p) else np.zeros((3, 4)),
            }
        )
        for i, p in enumerate(parts)
    }
    out = udf.merge_all(ordered)
    assert int(out["num_frames"][0]) == 40
    np.testing.assert_allclose(out["sum"], frames.sum(axis=0), rtol=1e-13)
    np.testing.assert_allclose(out["varsum"], frames.var(axis=0) * 40, rtol=1e-10)


def test_module_helpers_merge_like_the_whole():
    rng = np.random.default_rng(2)
    frames = rng.random((40, 12)) * 100 + 1e3
    a, b = frames[:15], frames[15:]
    # process_tile / process_tile_ndarray: a tile merged into buffers that hold earlier frames
    s, v = np.zeros(12), np.zeros(12)
    n = process_tile(a, 0, s, v)
    n = process_tile_ndarray(b, n, s, v)
    assert n == 40
    np.testing.assert_allclose(s, frames.sum(axis=0), rtol=1e-13)
    np.testing.assert_allclose(v, frames.var(axis=0) * 40, rtol=1e-10)
    # merge / merge_ndarray of two partial results; an empty source changes nothing
    sa, va = a.sum(axis=0), a.var(axis=0) * 15
    sb, vb = b.sum(axis=0), b.var(axis=0) * 25
    assert merge(15, sa, va, 0, sb, vb, sb / 25) == 15
    ds_, dv = np.zeros(12), np.zeros(12)
    assert merge_ndarray(0, ds_, dv, 15, sa, va, sa / 15) == 15
    assert merge(15, ds_, dv, 25, sb, vb, sb / 25) == 40
    np.testing.assert_allclose(dv, frames.var(axis=0) * 40, rtol=1e-10)
    total, vs = merge_single(40, 15, sa[0], va[0], 25, sb[0], vb[0], sb[0] / 25)
    assert total == pytest.approx(frames[:, 0].sum(), rel=1e-14)
    assert vs == pytest.approx(frames[:, 0].var() * 40, rel=1e-10)


def test_run_stddev_and_consolidate_result(inline_ctx):
    data = values(np.random.default_rng(4), (3, 4, 5, 6), "f4")
    ds = inline_ctx.load("memory", data=data, sig_dims=2)
    roi = np.zeros((3, 4), bool)
    roi[1:] = True
    out = run_stddev(inline_ctx, ds, roi=roi)
    want = oracle(data, 2, roi)
    assert out["num_frames"] == 8 and isinstance(out["num_frames"], int)
    assert set(out) == {"num_frames", "varsum", "sum", "var", "std", "mean"}
    for name in ("varsum", "sum", "var", "std", "mean"):
        assert isinstance(out[name], np.ndarray)
        np.testing.assert_allclose(out[name], want[name], rtol=1e-10, err_msg=name)
    again = consolidate_result(inline_ctx.run_udf(ds, StdDevUDF(), roi=roi))
    np.testing.assert_array_equal(again["var"], out["var"])


def test_bad_dtype_parameter_is_a_clear_error(inline_ctx):
    ds = inline_ctx.load("memory", data=np.zeros((2, 2, 3, 3), np.float32), sig_dims=2)
    with pytest.raises(TypeError, match="dtype"):
        inline_ctx.run_udf(ds, StdDevUDF(dtype="not a dtype"))
