"""``ApplyMasksUDF`` (``ferrotem.udf.masks``) against a float64 ``np.einsum`` oracle: dense and
sparse masks, 1/16/64 masks, every executor, ROIs, stored dtypes (big-endian and complex
included), LiberTEM's dtype rules, shifts, and the Python path of subclasses."""

from __future__ import annotations

import numpy as np
import pytest
from ferrotem import masks
from ferrotem.api import Context
from ferrotem.executor.dask import DaskJobExecutor, cluster_spec
from ferrotem.udf.base import UDF
from ferrotem.udf.masks import ApplyMasksUDF
from ferrotem.udf.native import native_descriptor
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SIG = (12, 10)


def ring_stack(n: int, sig=SIG) -> np.ndarray:
    """``n`` rings around the centre, bool, as LiberTEM's virtual detectors."""
    fy, fx = sig
    return np.stack(
        [
            masks.ring(fx / 2, fy / 2, fx, fy, radius=1 + (i % 5) + 0.7, radius_inner=i % 5)
            for i in range(n)
        ]
    )


def oracle(data: np.ndarray, stack: np.ndarray, roi=None) -> np.ndarray:
    """float64 (complex128) ``einsum`` over the frames, NaN outside the ROI for floats."""
    wide = np.complex128 if np.iscomplexobj(data) or np.iscomplexobj(stack) else np.float64
    flat_stack = stack.reshape(len(stack), -1).astype(wide)
    nav = data.shape[:2]
    frames = data.reshape(-1, flat_stack.shape[1]).astype(wide)
    out = np.einsum("fp,mp->fm", frames, flat_stack).reshape(*nav, len(stack))
    if roi is not None:
        out[~roi] = np.nan
    return out


def check(got, want, rtol=1e-5) -> None:
    scale = np.nanmax(np.abs(want)) if np.isfinite(want).any() else 1.0
    np.testing.assert_allclose(np.asarray(got), want, rtol=rtol, atol=rtol * scale)


class PythonMasksUDF(ApplyMasksUDF):
    """The Python path of the same UDF (an override disables the native one)."""

    def process_tile(self, tile):
        super().process_tile(tile)


@pytest.fixture(scope="module")
def cluster_ctx():
    spec = cluster_spec(cpus=[0, 1], cudas=[], has_cupy=False, num_service=0)
    ctx = Context(executor=DaskJobExecutor.make_local(spec=spec))
    yield ctx
    ctx.close()


@pytest.fixture(scope="module")
def all_contexts(contexts, cluster_ctx):
    delayed = Context.make_with("delayed")
    yield {**contexts, "delayed": delayed, "dask": cluster_ctx}
    delayed.close()


@pytest.mark.parametrize("executor", ["inline", "threads", "delayed", "dask"])
@pytest.mark.parametrize("use_sparse", [False, "scipy.sparse", "sparse.pydata"])
def test_every_executor_with_roi(all_contexts, executor, use_sparse):
    ctx = all_contexts[executor]
    rng = np.random.default_rng(1)
    data = rng.integers(0, 1000, size=(6, 5, *SIG)).astype(np.uint16)
    roi = rng.random((6, 5)) < 0.6
    stack = ring_stack(16)
    ds = ctx.load("memory", data=data, num_partitions=3)
    udf = ApplyMasksUDF(mask_factories=lambda: stack, use_sparse=use_sparse)
    res = ctx.run_udf(dataset=ds, udf=udf, roi=roi)["intensity"]
    assert res.data.dtype == np.float32 and res.data.shape == (6, 5, 16)
    check(res.data, oracle(data, stack, roi))
    assert res.raw_data.shape == (roi.sum(), 16)


@pytest.mark.parametrize("stored", ["u2", ">u2", "f4", ">f4", "i2", "u1", "f8", "c8", "c16"])
@pytest.mark.parametrize("n_masks", [1, 16, 64])
def test_stored_dtypes_and_mask_counts(ctx, stored, n_masks):
    rng = np.random.default_rng(n_masks)
    data = (rng.random((4, 5, *SIG)) * 200).astype(stored)
    if np.dtype(stored).kind == "c":
        data = data + 1j * (rng.random(data.shape) * 50).astype(stored)
    stack = rng.random((n_masks, *SIG)).astype(np.float32)
    ds = ctx.load("memory", data=data)
    dense = ctx.run_udf(dataset=ds, udf=ApplyMasksUDF(lambda: stack))["intensity"].data
    sparse = ctx.run_udf(dataset=ds, udf=ApplyMasksUDF(lambda: stack, use_sparse=True))
    want = oracle(data, stack)
    assert dense.dtype == np.result_type(np.float32, np.dtype(stored), np.float32)
    check(dense, want, rtol=1e-5 if dense.dtype.itemsize <= 8 else 1e-12)
    check(sparse["intensity"].data, want, rtol=1e-5 if dense.dtype.itemsize <= 8 else 1e-12)


def test_native_and_python_paths_agree(ctx):
    rng = np.random.default_rng(3)
    data = rng.random((5, 6, *SIG)).astype(np.float32)
    stack = rng.random((7, *SIG))
    ds = ctx.load("memory", data=data)
    native = ApplyMasksUDF(lambda: stack, mask_dtype=np.float32)
    python = PythonMasksUDF(lambda: stack, mask_dtype=np.float32)
    a, b = ctx.run_udf(dataset=ds, udf=[native, python])
    assert a["intensity"].data.dtype == b["intensity"].data.dtype == np.float32
    np.testing.assert_allclose(a["intensity"].data, b["intensity"].data, rtol=1e-5)


def test_native_path_is_taken_for_plain_use():
    ctx = Context.make_with("inline")
    ds = ctx.load("memory", data=np.ones((2, 2, *SIG), dtype=np.float32))
    udf = ApplyMasksUDF(lambda: ring_stack(3))
    ctx.run_udf(dataset=ds, udf=udf)
    desc = native_descriptor(udf)
    assert desc is not None and desc.name == "masks"
    assert native_descriptor(PythonMasksUDF(lambda: ring_stack(3))) is None
    assert native_descriptor(ApplyMasksUDF(lambda: ring_stack(3), shifts=(1, 0))) is None


def test_fused_with_sum_and_sumsig_in_one_run(ctx):
    rng = np.random.default_rng(4)
    data = rng.integers(0, 4000, size=(5, 4, *SIG)).astype(np.uint16)
    stack = ring_stack(4)
    ds = ctx.load("memory", data=data)
    s, ss, m = ctx.run_udf(dataset=ds, udf=[SumUDF(), SumSigUDF(), ApplyMasksUDF(lambda: stack)])
    check(s["intensity"].data, data.sum(axis=(0, 1), dtype=np.float64))
    check(ss["intensity"].data, data.sum(axis=(2, 3), dtype=np.float64))
    check(m["intensity"].data, oracle(data, stack))


def test_dtype_rules_as_libertem(ctx):
    data = np.ones((2, 3, *SIG), dtype=np.uint16)
    ds = ctx.load("memory", data=data)

    def run(**kw):
        return ctx.run_udf(dataset=ds, udf=ApplyMasksUDF(**kw))["intensity"].data

    f64 = np.ones((2, *SIG))
    assert run(mask_factories=lambda: f64).dtype == np.float64
    assert run(mask_factories=lambda: f64, mask_dtype=np.float32).dtype == np.float32
    assert run(mask_factories=lambda: f64 > 0).dtype == np.float32
    assert run(mask_factories=lambda: f64.astype(np.complex64)).dtype == np.complex64
    got = run(mask_factories=lambda: f64, preferred_dtype=np.float64)
    assert got.dtype == np.float64
    # integer input and masks: LiberTEM's integer result, on the Python path
    got = run(mask_factories=lambda: f64.astype(np.int64), preferred_dtype=UDF.USE_NATIVE_DTYPE)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, np.full((2, 3, 2), np.prod(SIG)))


def test_factories_as_list_and_stack_as_array(ctx):
    rng = np.random.default_rng(5)
    data = rng.random((3, 4, *SIG)).astype(np.float32)
    stack = ring_stack(3)
    ds = ctx.load("memory", data=data)
    listed = ApplyMasksUDF([lambda i=i: stack[i] for i in range(3)])
    array = ApplyMasksUDF(stack)
    a, b = ctx.run_udf(dataset=ds, udf=[listed, array])
    check(a["intensity"].data, oracle(data, stack))
    np.testing.assert_array_equal(a["intensity"].data, b["intensity"].data)


def test_sparse_factories_stay_sparse(ctx):
    sparse = pytest.importorskip("sparse")
    data = np.random.default_rng(6).random((3, 4, *SIG)).astype(np.float32)
    stack = ring_stack(5)
    ds = ctx.load("memory", data=data)
    udf = ApplyMasksUDF([lambda i=i: sparse.COO.from_numpy(stack[i]) for i in range(5)])
    res = ctx.run_udf(dataset=ds, udf=udf)
    assert udf.masks.use_sparse == "scipy.sparse"
    check(res["intensity"].data, oracle(data, stack))


@pytest.mark.parametrize("use_sparse", [False, "sparse.pydata"])
def test_shifts_constant_and_per_frame(ctx, use_sparse):
    rng = np.random.default_rng(7)
    data = rng.random((3, 4, *SIG)).astype(np.float32)
    stack = rng.random((2, *SIG))
    ds = ctx.load("memory", data=data)
    per_frame = rng.integers(-4, 5, size=(12, 2))
    per_frame[0] = (SIG[0], 0)  # no overlap: 0

    def shifted_oracle(shift_of):
        out = np.zeros((12, 2))
        for f, frame in enumerate(data.reshape(12, *SIG).astype(np.float64)):
            sy, sx = shift_of(f)
            for m in range(2):
                shifted = np.zeros(SIG)  # mask moved down by sy, right by sx, clipped
                ys, xs = (
                    slice(max(0, sy), SIG[0] + min(0, sy)),
                    slice(max(0, sx), SIG[1] + min(0, sx)),
                )
                src = stack[m][max(0, -sy) : SIG[0] - max(0, sy), max(0, -sx) : SIG[1] - max(0, sx)]
                if src.size:
                    shifted[ys, xs] = src
                out[f, m] = (frame * shifted).sum()
        return out.reshape(3, 4, 2)

    udf = ApplyMasksUDF(lambda: stack, shifts=(2, -3), use_sparse=use_sparse)
    got = ctx.run_udf(dataset=ds, udf=udf)["intensity"].data
    check(got, shifted_oracle(lambda f: (2, -3)))
    aux = ApplyMasksUDF.aux_data(per_frame.ravel(), kind="nav", extra_shape=(2,), dtype=np.int64)
    udf = ApplyMasksUDF(lambda: stack, shifts=aux, use_sparse=use_sparse)
    got = ctx.run_udf(dataset=ds, udf=udf)["intensity"].data
    check(got, shifted_oracle(lambda f: tuple(per_frame[f])))


def test_bad_parameters_are_clear_errors(ctx):
    ds = ctx.load("memory", data=np.ones((2, 2, *SIG), dtype=np.float32))
    with pytest.raises(ValueError, match="use_sparse"):
        ApplyMasksUDF(lambda: ring_stack(1), shifts=(1, 1), use_sparse="scipy.sparse")
    with pytest.raises(ValueError, match="shifts"):
        ApplyMasksUDF(lambda: ring_stack(1), shifts=(1, 1, 1))
    with pytest.raises(ValueError, match="backends"):
        ApplyMasksUDF(lambda: ring_stack(1), backends=("scipy.sparse.csr_array",))
    with pytest.raises(ValueError, match="mask_factories"):
        ctx.run_udf(dataset=ds, udf=ApplyMasksUDF(lambda: np.ones((2, 5, 5))))
    with pytest.raises(ValueError, match="mask_count"):
        ctx.run_udf(dataset=ds, udf=ApplyMasksUDF(lambda: ring_stack(2), mask_count=3))
    with pytest.raises(TypeError, match="mask_factories"):
        ctx.run_udf(dataset=ds, udf=ApplyMasksUDF("not a mask"))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # the context is reused
@given(
    n_masks=st.integers(1, 9),
    frames=st.integers(1, 30),
    partitions=st.integers(1, 4),
    sparse=st.booleans(),
    roi_seed=st.one_of(st.none(), st.integers(0, 100)),
)
def test_property_shapes_partitions_rois(inline_ctx, n_masks, frames, partitions, sparse, roi_seed):
    rng = np.random.default_rng(frames * 31 + n_masks)
    data = rng.integers(0, 255, size=(frames, 1, 9, 7)).astype(np.uint8)
    stack = rng.random((n_masks, 9, 7)) * (rng.random((n_masks, 9, 7)) < 0.3)
    roi = None if roi_seed is None else np.random.default_rng(roi_seed).random((frames, 1)) < 0.5
    ds = inline_ctx.load("memory", data=data, num_partitions=min(partitions, frames))
    udf = ApplyMasksUDF(lambda: stack, use_sparse=sparse)
    got = inline_ctx.run_udf(dataset=ds, udf=udf, roi=roi)["intensity"].data
    check(got, oracle(data, stack, roi), rtol=1e-12)
