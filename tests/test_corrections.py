"""Detector corrections (``ferrotem.corrections``) against numpy.

The oracle is written here, independently of the engine: ``(frame - dark) * gain`` in float64,
then every excluded pixel set to the mean of its in-frame, non-excluded 8-neighbours (LiberTEM's
rule). Every UDF of a run - native (SumUDF, SumSigUDF) and Python (frame, tile, partition) -
must see the corrected data, on every executor.
"""

from __future__ import annotations

import itertools
import pickle

import distributed
import numpy as np
import pytest
from ferrotem import _core
from ferrotem.api import Context
from ferrotem.corrections import CorrectionSet
from ferrotem.corrections import coordinates as coords
from ferrotem.corrections.corrset import RepairValueError
from ferrotem.corrections.detector import RepairDescriptor, correct, correct_dot_masks
from ferrotem.executor.dask import DaskJobExecutor
from ferrotem.udf.base import UDF
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF
from hypothesis import given
from hypothesis import strategies as st

# -- the oracle ------------------------------------------------------------------------------------


def oracle(data, dark=None, gain=None, excluded=None):
    """Corrected frames in float64 (complex128 for complex data), ``data`` is (..., sy, sx)."""
    out = np.asarray(data).astype(np.result_type(data.dtype, np.float64))
    if dark is not None:
        out = out - dark
    if gain is not None:
        out = out * gain
    if excluded is None:
        return out
    sy, sx = excluded.shape
    patched = out.copy()
    for y, x in zip(*np.nonzero(excluded), strict=True):
        around = [
            (y + dy, x + dx)
            for dy, dx in itertools.product((-1, 0, 1), repeat=2)
            if (dy, dx) != (0, 0)
            and 0 <= y + dy < sy
            and 0 <= x + dx < sx
            and not excluded[y + dy, x + dx]
        ]
        if around:
            patched[..., y, x] = np.mean([out[..., a, b] for a, b in around], axis=0)
    return patched


def test_oracle_patches_a_corner_from_three_neighbours():
    frame = np.arange(12.0).reshape(1, 3, 4)
    excluded = np.zeros((3, 4), bool)
    excluded[0, 0] = True
    assert oracle(frame, excluded=excluded)[0, 0, 0] == (1 + 4 + 5) / 3


# -- UDFs that record what they see ----------------------------------------------------------------


class FrameUDF(UDF):
    """Each frame as it is given to process_frame."""

    def get_result_buffers(self):
        sig = tuple(self.meta.dataset_shape.sig)
        return {"f": self.buffer(kind="nav", extra_shape=sig, dtype=self.meta.input_dtype)}

    def process_frame(self, frame):
        self.results.f[:] = frame


class TileSumUDF(UDF):
    """Per-pixel sum from process_tile (tiles may cut frames)."""

    def get_result_buffers(self):
        return {"s": self.buffer(kind="sig", dtype="float64")}

    def process_tile(self, tile):
        self.results.s[:] += tile.sum(axis=0)

    def merge(self, dest, src):
        dest.s[:] += src.s


class PartitionSumSigUDF(UDF):
    def get_result_buffers(self):
        return {"s": self.buffer(kind="nav", dtype="float64")}

    def process_partition(self, partition):
        self.results.s[:] = partition.reshape(partition.shape[0], -1).sum(axis=1)


def _maps(sig, seed=1):
    rng = np.random.default_rng(seed)
    dark = rng.random(sig) * 20
    gain = rng.random(sig) + 0.5
    excluded = np.zeros(sig, bool)
    sy, sx = sig
    # corners, an edge pixel, and a pair of adjacent pixels in the middle
    for y, x in [(0, 0), (sy - 1, sx - 1), (0, sx // 2), (sy // 2, 1), (sy // 2, 2)]:
        excluded[y, x] = True
    return dark, gain, excluded


def _check_all_udfs(ctx, data, cs, expected, roi=None, tileshape=None, **load):
    ds = ctx.load("memory", data=data, sig_dims=2, tileshape=tileshape, **load)
    res = ctx.run_udf(
        ds,
        [FrameUDF(), TileSumUDF(), PartitionSumSigUDF(), SumUDF(), SumSigUDF()],
        roi=roi,
        corrections=cs,
    )
    sel = expected.reshape(-1, *expected.shape[-2:])
    if roi is not None:
        sel = sel[roi.reshape(-1)]
    frames = res[0]["f"].raw_data
    tol = {"rtol": 1e-5, "atol": 1e-3}
    np.testing.assert_allclose(frames, sel, **tol)
    np.testing.assert_allclose(res[1]["s"].data, sel.sum(axis=0), rtol=1e-5, atol=1e-2)
    np.testing.assert_allclose(res[2]["s"].raw_data, sel.sum(axis=(1, 2)), rtol=1e-5, atol=1e-2)
    np.testing.assert_allclose(res[3]["intensity"].data, sel.sum(axis=0), rtol=1e-4, atol=1e-2)
    np.testing.assert_allclose(res[4]["intensity"].raw_data, sel.sum(axis=(1, 2)), rtol=1e-4)
    # the built-in UDFs alone run natively in Rust (the tiles above were Python's): count the
    # calls into the native partition runner, which is where corrections meet the Rust kernels
    calls = []
    real = _core.run_native_partition

    def spy(*args):
        calls.append(list(args[4].names))
        return real(*args)

    _core.run_native_partition = spy
    try:
        s, ss = ctx.run_udf(ds, [SumUDF(), SumSigUDF()], roi=roi, corrections=cs)
        # read inside the spy: the delayed executor computes here, not in run_udf
        s_data, ss_raw = np.asarray(s["intensity"].data), np.asarray(ss["intensity"].raw_data)
    finally:
        _core.run_native_partition = real
    assert calls and all(names == ["sum", "sumsig"] for names in calls), calls
    np.testing.assert_allclose(s_data, sel.sum(axis=0), rtol=1e-4, atol=1e-2)
    np.testing.assert_allclose(ss_raw, sel.sum(axis=(1, 2)), rtol=1e-4)
    return res


@pytest.mark.parametrize("dtype", ["u2", ">u2", "f4", ">f4", "f8", "u1", "i4"])
def test_all_udfs_see_corrected_data(ctx, dtype):
    rng = np.random.default_rng(0)
    data = (rng.random((5, 6, 9, 11)) * 1000).astype(dtype)
    dark, gain, excluded = _maps((9, 11))
    cs = CorrectionSet(dark=dark, gain=gain, excluded_pixels=excluded)
    res = _check_all_udfs(ctx, data, cs, oracle(data, dark, gain, excluded), num_partitions=3)
    # integers are promoted as LiberTEM does: result_type(float32, stored dtype)
    assert res[0]["f"].data.dtype == np.result_type(np.float32, np.dtype(dtype))


def test_roi_and_tiles_that_cut_frames(ctx):
    rng = np.random.default_rng(2)
    data = rng.integers(0, 4000, (4, 7, 10, 12)).astype(np.uint16)
    dark, gain, excluded = _maps((10, 12), seed=3)
    # excluded pixels on tile borders of the (2, 3, 5) tiles below
    excluded[3, 4] = excluded[3, 5] = excluded[2, 4] = True
    cs = CorrectionSet(dark=dark, gain=gain, excluded_pixels=excluded)
    roi = rng.random((4, 7)) > 0.4
    _check_all_udfs(ctx, data, cs, oracle(data, dark, gain, excluded), roi=roi, tileshape=(2, 3, 5))


@pytest.mark.parametrize("which", ["dark", "gain", "excluded", "dark+excluded"])
def test_each_correction_alone(ctx, which):
    rng = np.random.default_rng(4)
    data = rng.random((3, 4, 6, 5)).astype(np.float32)
    dark, gain, excluded = _maps((6, 5), seed=5)
    kw = {
        "dark": dark if "dark" in which else None,
        "gain": gain if "gain" in which else None,
        "excluded": excluded if "excluded" in which else None,
    }
    cs = CorrectionSet(dark=kw["dark"], gain=kw["gain"], excluded_pixels=kw["excluded"])
    _check_all_udfs(ctx, data, cs, oracle(data, **kw))


def test_complex_data():
    ctx = Context.make_with("inline")
    rng = np.random.default_rng(6)
    data = (rng.random((3, 3, 5, 6)) + 1j * rng.random((3, 3, 5, 6))).astype(np.complex64)
    dark, gain, excluded = _maps((5, 6))
    cs = CorrectionSet(dark=dark, gain=gain, excluded_pixels=excluded)
    ds = ctx.load("memory", data=data, sig_dims=2)
    res = ctx.run_udf(ds, [FrameUDF(), SumUDF()], corrections=cs)
    expected = oracle(data, dark, gain, excluded)
    np.testing.assert_allclose(res[0]["f"].data, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(res[1]["intensity"].data, expected.sum(axis=(0, 1)), rtol=1e-4)


@pytest.mark.parametrize("with_excluded", [False, True])
def test_native_tiles_cut_large_frames(with_excluded):
    """Frames over 1 MiB are cut into pixel ranges by the native runner; dark and gain follow
    the range, and excluded pixels make it read whole frames instead."""
    ctx = Context.make_with("inline")
    rng = np.random.default_rng(7)
    sig = (600, 512)
    data = rng.integers(0, 100, (2, 2, *sig)).astype(np.uint16)
    dark = rng.random(sig) * 5
    gain = rng.random(sig) + 0.5
    excluded = None
    if with_excluded:
        excluded = np.zeros(sig, bool)
        excluded[511, 0] = excluded[512, 0] = excluded[300, 256] = excluded[599, 511] = True
    cs = CorrectionSet(dark=dark, gain=gain, excluded_pixels=excluded)
    ds = ctx.load("memory", data=data, sig_dims=2)
    s, ss = ctx.run_udf(ds, [SumUDF(), SumSigUDF()], corrections=cs)
    expected = oracle(data, dark, gain, excluded)
    np.testing.assert_allclose(s["intensity"].data, expected.sum(axis=(0, 1)), rtol=1e-5)
    np.testing.assert_allclose(ss["intensity"].data, expected.sum(axis=(2, 3)), rtol=1e-5)


@given(
    sig=st.tuples(st.integers(1, 7), st.integers(1, 7)),
    n=st.integers(1, 9),
    seed=st.integers(0, 2**16),
    fraction=st.floats(0.0, 0.5),
    tiles=st.booleans(),
)
def test_random_excluded_pixels(contexts, sig, n, seed, fraction, tiles):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 1000, (n, *sig)).astype(np.uint16)
    excluded = rng.random(sig) < fraction
    dark = rng.random(sig) * 10
    cs = CorrectionSet(dark=dark, excluded_pixels=excluded, allow_empty=True)
    roi = rng.random(n) > 0.3
    roi[0] = True
    tileshape = (2, 1, sig[1]) if tiles else None
    ctx = contexts["threads" if seed % 2 else "inline"]
    expected = oracle(data, dark, None, excluded)
    parts = min(n, 3)
    _check_all_udfs(ctx, data, cs, expected, roi=roi, tileshape=tileshape, num_partitions=parts)


# -- executors that run tasks elsewhere --------------------------------------------------------


def _small_case():
    rng = np.random.default_rng(8)
    data = rng.integers(0, 1000, (4, 5, 6, 7)).astype(">u2")
    dark, gain, excluded = _maps((6, 7))
    cs = CorrectionSet(dark=dark, gain=gain, excluded_pixels=excluded)
    return data, cs, oracle(data, dark, gain, excluded)


def test_delayed_executor():
    ctx = Context.make_with("delayed")
    try:
        data, cs, expected = _small_case()
        roi = np.ones((4, 5), bool)
        roi[1, 2] = False
        _check_all_udfs(ctx, data, cs, expected, roi=roi, num_partitions=3)
    finally:
        ctx.close()


@pytest.mark.dist
@pytest.mark.timeout(90)
def test_dask_cluster():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address="127.0.0.1:0"
    )
    client = distributed.Client(cluster, set_as_default=False)
    try:
        ctx = Context(executor=DaskJobExecutor(client))
        data, cs, expected = _small_case()
        _check_all_udfs(ctx, data, cs, expected, num_partitions=4)
        ctx.close()
    finally:
        client.close()
        cluster.close()


def test_pickled_set_applies_the_same():
    data, cs, expected = _small_case()
    cs.prepare((6, 7))  # the cached Rust object must not travel
    again = pickle.loads(pickle.dumps(cs))
    _check_all_udfs(Context.make_with("inline"), data, again, expected)


# -- where corrections come from, and the input dtype -----------------------------------------


def test_dataset_corrections_apply_unless_overridden(inline_ctx):
    data, cs, expected = _small_case()
    ds = inline_ctx.load("memory", data=data, sig_dims=2)
    ds.get_correction_data = lambda: cs
    res = inline_ctx.run_udf(ds, FrameUDF())
    np.testing.assert_allclose(res["f"].data, expected, rtol=1e-5, atol=1e-3)
    other = CorrectionSet(dark=np.ones((6, 7)))
    res = inline_ctx.run_udf(ds, FrameUDF(), corrections=other)
    np.testing.assert_allclose(res["f"].data, data.astype(np.float64) - 1, rtol=1e-6)


def test_native_dtype_udf_is_promoted_with_corrections(inline_ctx):
    class NativeFrame(FrameUDF):
        def get_preferred_input_dtype(self):
            return self.USE_NATIVE_DTYPE

    data, cs, expected = _small_case()
    ds = inline_ctx.load("memory", data=data, sig_dims=2)
    assert inline_ctx.run_udf(ds, NativeFrame())["f"].data.dtype == np.dtype(">u2").newbyteorder()
    res = inline_ctx.run_udf(ds, NativeFrame(), corrections=cs)
    assert res["f"].data.dtype == np.float32
    np.testing.assert_allclose(res["f"].data, expected, rtol=1e-5, atol=1e-3)


def test_empty_set_changes_nothing(inline_ctx):
    data, _, _ = _small_case()
    ds = inline_ctx.load("memory", data=data, sig_dims=2)
    cs = CorrectionSet()
    assert not cs.have_corrections()
    res = inline_ctx.run_udf(ds, FrameUDF(), corrections=cs)
    np.testing.assert_array_equal(res["f"].data, data.astype(np.float32))


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"dark": np.zeros((6, 6))}, ValueError, r"dark: got shape \(6, 6\), expected"),
        ({"gain": np.zeros((7, 6))}, ValueError, r"gain: got shape \(7, 6\)"),
        ({"gain": np.full((6, 7), np.nan)}, ValueError, "gain: got NaN"),
        ({"dark": np.full((6, 7), np.inf)}, ValueError, "dark: got inf"),
        ({"excluded_pixels": np.zeros((5, 7), bool)}, ValueError, "excluded_pixels: got shape"),
        ({"dark": np.zeros((6, 7), complex)}, TypeError, "dark: got ndarray of dtype complex"),
        ({"excluded_pixels": "all"}, TypeError, "excluded_pixels: got str"),
    ],
)
def test_bad_maps_name_the_parameter(inline_ctx, kwargs, exc, match):
    data, _, _ = _small_case()
    ds = inline_ctx.load("memory", data=data, sig_dims=2)
    with pytest.raises(exc, match=match):
        inline_ctx.run_udf(ds, SumUDF(), corrections=CorrectionSet(**kwargs))


def test_pixel_without_neighbours():
    excluded = np.zeros((4, 4), bool)
    excluded[:2, :2] = True  # (0, 0) has only excluded neighbours
    with pytest.raises(RepairValueError, match=r"excluded_pixels: .*\(0, 0\)"):
        CorrectionSet(excluded_pixels=excluded)
    cs = CorrectionSet(excluded_pixels=excluded, allow_empty=True)
    data = np.arange(2 * 16, dtype=np.float32).reshape(2, 1, 4, 4)
    ds = Context.make_with("inline").load("memory", data=data, sig_dims=2)
    res = Context.make_with("inline").run_udf(ds, FrameUDF(), corrections=cs)
    expected = oracle(data, excluded=excluded)
    assert expected[0, 0, 0, 0] == data[0, 0, 0, 0]  # left as it is
    np.testing.assert_allclose(res["f"].data, expected, rtol=1e-6)


def test_sparse_excluded_pixels():
    sparse = pytest.importorskip("sparse")
    import scipy.sparse

    dense = np.zeros((6, 7), bool)
    dense[2, 3] = dense[0, 6] = True
    pts = np.array([[2, 0], [3, 6]])
    for given_as in (
        sparse.COO(coords=pts, data=True, shape=(6, 7)),
        scipy.sparse.coo_matrix(dense),
        dense.astype(np.uint8),
    ):
        cs = CorrectionSet(excluded_pixels=given_as)
        np.testing.assert_array_equal(cs.get_excluded_pixels().todense(), dense)


# -- array functions and coordinates -----------------------------------------------------------


def test_correct_and_apply_match_the_oracle():
    from ferrotem.common.shape import Shape
    from ferrotem.common.slice import Slice

    rng = np.random.default_rng(9)
    data = rng.integers(0, 500, (3, 8, 9)).astype(np.uint16)
    dark, gain, excluded = _maps((8, 9))
    out = correct(data, dark, gain, excluded_pixels=np.nonzero(excluded))
    assert out.dtype == np.float32 and data.dtype == np.uint16
    np.testing.assert_allclose(out, oracle(data, dark, gain, excluded), rtol=1e-5, atol=1e-3)
    # a tile that cuts the frame: patched from neighbours inside the tile, as LiberTEM does
    cs = CorrectionSet(dark=dark, gain=gain, excluded_pixels=excluded)
    tile = data[:, 4:8, 0:5].astype(np.float64)
    cs.apply(tile, Slice((0, 4, 0), Shape((3, 4, 5), sig_dims=2)))
    expected = oracle(data[:, 4:8, 0:5], dark[4:8, 0:5], gain[4:8, 0:5], excluded[4:8, 0:5])
    np.testing.assert_allclose(tile, expected, rtol=1e-12)


def test_repair_descriptor():
    desc = RepairDescriptor((3, 4), excluded_pixels=[[0, 1], [0, 1]])
    np.testing.assert_array_equal(desc.exclude_flat, [0, 5])
    np.testing.assert_array_equal(desc.repair_counts, [2, 7])
    np.testing.assert_array_equal(desc.repair_flat[0, :2], [1, 4])


@pytest.mark.parametrize("as_sparse", [False, True])
def test_correct_dot_masks_equals_masks_on_corrected_data(as_sparse):
    rng = np.random.default_rng(10)
    sig = (6, 7)
    masks = rng.random((3, *sig))
    _, gain, excluded = _maps(sig)
    frames = rng.random((5, *sig))
    adjusted = correct_dot_masks(
        masks if not as_sparse else pytest.importorskip("sparse").COO.from_numpy(masks),
        gain,
        excluded_pixels=np.nonzero(excluded),
    )
    adjusted = np.asarray(adjusted.todense() if as_sparse else adjusted)
    on_raw = frames.reshape(5, -1) @ adjusted.reshape(3, -1).T
    on_corrected = (
        oracle(frames, gain=gain, excluded=excluded).reshape(5, -1) @ masks.reshape(3, -1).T
    )
    np.testing.assert_allclose(on_raw, on_corrected, rtol=1e-10)


def test_coordinates_compose_and_decompose():
    a = 0.3
    np.testing.assert_allclose(coords.rotate(a) @ [0, 1], [np.sin(a), np.cos(a)])
    np.testing.assert_allclose(coords.rotate_deg(90) @ [0, 1], [1, 0], atol=1e-15)
    np.testing.assert_array_equal(coords.flip_y() @ [2, 3], [-2, 3])
    np.testing.assert_array_equal(coords.flip_x() @ [2, 3], [2, -3])
    np.testing.assert_array_equal(coords.identity(), np.eye(2))
    np.testing.assert_array_equal(coords.scale(2.5), np.eye(2) * 2.5)
    for s, r, f in [(2.0, 0.3, True), (0.5, -2.0, False), (1.0, 0.0, False)]:
        m = coords.scale(s) @ coords.rotate(r)
        if f:
            m = m @ coords.flip_y()
        got = coords.scale_rotate_flip_y(m)
        assert got[0] == pytest.approx(s) and got[1] == pytest.approx(r) and got[2] is f
    with pytest.raises(ValueError, match="scale"):
        coords.scale_rotate_flip_y(np.diag([1.0, 2.0]))
    with pytest.raises(ValueError, match="shear"):
        coords.scale_rotate_flip_y(np.array([[1.0, 0.5], [0.5, 1.0]]))  # equal norms, sheared


def test_part_runner_applies_corrections(inline_ctx):
    from ferrotem.udf.partrunner import UDFPartRunner

    data, cs, expected = _small_case()
    ds = inline_ctx.load("memory", data=data, sig_dims=2, num_partitions=2)
    p = list(ds.get_partitions())[1]
    (part,) = UDFPartRunner([FrameUDF()]).run_for_partition(p, corrections=cs)
    flat = expected.reshape(-1, 6, 7)[p.start : p.stop]
    np.testing.assert_allclose(part.f, flat, rtol=1e-5, atol=1e-3)


def test_meta_corrections(inline_ctx):
    class SeesCorrections(FrameUDF):
        def get_result_buffers(self):
            seen.append(self.meta.corrections)
            return super().get_result_buffers()

    data, cs, _ = _small_case()
    ds = inline_ctx.load("memory", data=data, sig_dims=2)
    seen: list = []
    inline_ctx.run_udf(ds, SeesCorrections(), corrections=cs)
    assert seen and all(c is cs for c in seen)  # main node and the task (same process)
    seen.clear()
    inline_ctx.run_udf(ds, SeesCorrections())
    assert seen and not any(c.have_corrections() for c in seen)
