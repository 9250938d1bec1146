"""The ``'dask'`` dataset against a numpy oracle (spec §4.3, §10.2, §13.1).

Every test builds a small numpy array, wraps it with ``dask.array.from_array`` in some
chunking, loads it with ``ctx.load('dask', ...)`` and compares UDF results (native Sum/SumSig
and Python UDFs) with plain numpy on the same array. The rechunking rules are checked through
the public ``ds.array.chunks`` / ``ds.get_num_partitions()`` and through what each partition's
task actually sees.
"""

from __future__ import annotations

import itertools
import math
import warnings

import dask
import dask.array as da
import numpy as np
import pytest
from ferrotem.api import Context
from ferrotem.common.exceptions import DataSetException
from ferrotem.contrib.daskadapter import make_dask_array
from ferrotem.executor.delayed import DelayedJobExecutor
from ferrotem.executor.inline import InlineJobExecutor
from ferrotem.io.dataset.dask import DaskDataSet, DaskRechunkWarning
from ferrotem.udf.base import UDF
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = [
    pytest.mark.filterwarnings("ignore::ferrotem.io.dataset.dask.DaskRechunkWarning"),
    pytest.mark.timeout(60),
]

DTYPES = ["u1", "u2", "i4", "f4", "f8", "c8"]
EXECUTORS = ["inline", "threads", "delayed"]
HYP = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


# -- helpers ------------------------------------------------------------------------------------
def make_data(seed: int, shape: tuple[int, ...], dtype) -> np.ndarray:
    """Small values, exactly representable, so float32 sums are exact."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    vals = rng.integers(0, 8, size=shape)
    if dtype.kind == "i":
        vals = vals - 4
    if dtype.kind == "c":
        return (vals + 1j * rng.integers(-3, 4, size=shape)).astype(dtype)
    if dtype.kind == "f":
        return (vals + rng.integers(0, 4, size=shape) / 4).astype(dtype)
    return vals.astype(dtype)


def input_dtype(dtype) -> np.dtype:
    """Spec §2.9: float32 promoted with the dataset dtype."""
    return np.result_type(np.float32, np.dtype(dtype))


def frames_of(data: np.ndarray, sig_dims: int, roi=None) -> np.ndarray:
    sig = data.shape[data.ndim - sig_dims :]
    frames = data.reshape((-1,) + sig)
    if roi is not None:
        frames = frames[np.asarray(roi, dtype=bool).reshape(-1)]
    return frames


def flat2d(frames: np.ndarray) -> np.ndarray:
    return frames.reshape(len(frames), math.prod(frames.shape[1:]))


def expand(values: np.ndarray, nav_shape, roi, fill) -> np.ndarray:
    n = math.prod(nav_shape)
    full = np.full((n,) + values.shape[1:], fill, dtype=values.dtype)
    mask = np.ones(n, bool) if roi is None else np.asarray(roi, bool).reshape(-1)
    full[mask] = values
    return full.reshape(tuple(nav_shape) + values.shape[1:])


def assert_close(actual, expected) -> None:
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    if expected.dtype.kind in "fc":
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5, equal_nan=True)
    else:
        np.testing.assert_array_equal(actual, expected)


def load(ctx: Context, arr, **kwargs) -> DaskDataSet:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DaskRechunkWarning)
        return ctx.load("dask", arr, **kwargs)


def rechunk_warnings(fn) -> tuple[object, list[str]]:
    """``fn()`` and the messages of the DaskRechunkWarnings it emitted."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    return out, [str(w.message) for w in caught if issubclass(w.category, DaskRechunkWarning)]


# -- Python UDFs --------------------------------------------------------------------------------
class TileSumUDF(UDF):
    """Sum of frames via process_tile; custom merge."""

    def get_result_buffers(self):
        return {"intensity": self.buffer(kind="sig", dtype=self.meta.input_dtype)}

    def process_tile(self, tile):
        self.results.intensity[:] += tile.sum(axis=0)

    def merge(self, dest, src):
        dest.intensity[:] += src.intensity


class FrameSumSigUDF(UDF):
    """Per-frame sum via process_frame (nav buffer, default merge)."""

    def get_result_buffers(self):
        return {"s": self.buffer(kind="nav", dtype=self.meta.input_dtype)}

    def process_frame(self, frame):
        self.results.s[:] = frame.sum()


class PartitionUDF(UDF):
    """process_partition with sig, single and nav buffers; custom merge."""

    def get_result_buffers(self):
        dt = self.meta.input_dtype
        return {
            "sum": self.buffer(kind="sig", dtype=dt),
            "count": self.buffer(kind="single", dtype="int64"),
            "first": self.buffer(kind="nav", dtype=dt),
        }

    def process_partition(self, partition):
        self.results.sum[:] += partition.sum(axis=0)
        self.results.count[:] += partition.shape[0]
        self.results.first[:] = partition.reshape(partition.shape[0], -1)[:, 0]

    def merge(self, dest, src):
        dest.sum[:] += src.sum
        dest.count[:] += src.count
        dest.first[:] = src.first


class PartitionExtentUDF(UDF):
    """Records, for every frame, the flat start and the length of the partition it was in."""

    def get_result_buffers(self):
        return {
            "start": self.buffer(kind="nav", dtype="int64"),
            "size": self.buffer(kind="nav", dtype="int64"),
        }

    def process_partition(self, partition):
        self.results.start[:] = self.meta.slice.origin[0]
        self.results.size[:] = partition.shape[0]


# -- fixtures -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def contexts():
    ctxs = {
        "inline": Context(executor=InlineJobExecutor()),
        "threads": Context(),
        "delayed": Context(executor=DelayedJobExecutor()),
    }
    yield ctxs
    for c in ctxs.values():
        c.close()


@pytest.fixture(scope="module")
def inline_ctx(contexts):
    return contexts["inline"]


@pytest.fixture(params=EXECUTORS)
def ctx(request, contexts):
    return contexts[request.param]


# -- hypothesis strategies ----------------------------------------------------------------------
@st.composite
def axis_chunks(draw, size: int):
    """-1 (unchunked) or an irregular chunking of one axis."""
    if size == 1 or draw(st.booleans()):
        return -1 if draw(st.booleans()) else size
    cuts = sorted(draw(st.sets(st.integers(1, size - 1), min_size=1, max_size=size - 1)))
    edges = [0, *cuts, size]
    return tuple(b - a for a, b in itertools.pairwise(edges))


@st.composite
def dask_cases(draw):
    nav_dims = draw(st.integers(1, 3))
    sig_dims = draw(st.integers(1, 2))
    nav = tuple(draw(st.lists(st.integers(1, 4), min_size=nav_dims, max_size=nav_dims)))
    sig = tuple(draw(st.lists(st.integers(1, 5), min_size=sig_dims, max_size=sig_dims)))
    shape = nav + sig
    chunks = tuple(draw(axis_chunks(s)) for s in shape)
    dtype = draw(st.sampled_from(DTYPES))
    n = math.prod(nav)
    roi_kind = draw(st.sampled_from(["none", "random", "empty", "single"]))
    if roi_kind == "none":
        roi = None
    elif roi_kind == "empty":
        roi = np.zeros(nav, bool)
    elif roi_kind == "single":
        roi = np.zeros(n, bool)
        roi[draw(st.integers(0, n - 1))] = True
        roi = roi.reshape(nav)
    else:
        roi = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), bool).reshape(nav)
    frame_bytes = math.prod(sig) * np.dtype(dtype).itemsize
    min_size = draw(st.sampled_from([None, 0, frame_bytes, 3 * frame_bytes, math.inf]))
    seed = draw(st.integers(0, 2**16))
    return shape, sig_dims, chunks, dtype, roi, min_size, seed


# -- numpy oracle across chunkings, dtypes, ROIs, executors --------------------------------------
def check_native(ctx, data, sig_dims, chunks, roi, min_size):
    arr = da.from_array(data, chunks=chunks)
    ds = load(ctx, arr, sig_dims=sig_dims, min_size=min_size)
    assert tuple(ds.shape) == data.shape
    assert ds.dtype == data.dtype
    nav = data.shape[: data.ndim - sig_dims]
    idt = input_dtype(data.dtype)
    frames = frames_of(data, sig_dims, roi).astype(idt)
    res_sum, res_sumsig = ctx.run_udf(ds, [SumUDF(), SumSigUDF()], roi=roi)
    assert res_sum["intensity"].data.dtype == idt
    assert_close(res_sum["intensity"].data, frames.sum(axis=0))
    sumsig = flat2d(frames).sum(axis=1)
    sumsig_dt = np.result_type(idt, np.float32)
    assert res_sumsig["intensity"].data.dtype == sumsig_dt
    assert_close(res_sumsig["intensity"].data, expand(sumsig.astype(sumsig_dt), nav, roi, np.nan))
    assert_close(res_sumsig["intensity"].raw_data, sumsig)
    return ds


def check_python(ctx, data, sig_dims, chunks, roi, min_size):
    arr = da.from_array(data, chunks=chunks)
    ds = load(ctx, arr, sig_dims=sig_dims, min_size=min_size)
    nav = data.shape[: data.ndim - sig_dims]
    idt = input_dtype(data.dtype)
    frames = frames_of(data, sig_dims, roi).astype(idt)
    tile, frame, part = ctx.run_udf(ds, [TileSumUDF(), FrameSumSigUDF(), PartitionUDF()], roi=roi)
    assert_close(tile["intensity"].data, frames.sum(axis=0))
    per_frame = flat2d(frames).sum(axis=1).astype(idt)
    assert_close(frame["s"].data, expand(per_frame, nav, roi, np.nan))
    assert_close(part["sum"].data, frames.sum(axis=0))
    assert_close(part["count"].data, np.array([len(frames)]).reshape(part["count"].data.shape))
    assert int(np.asarray(part["count"].data).reshape(-1)[0]) == len(frames)
    first = flat2d(frames)[:, 0]
    assert_close(part["first"].data, expand(first, nav, roi, np.nan))


@HYP
@given(case=dask_cases(), executor=st.sampled_from(EXECUTORS))
def test_oracle_native_udfs(contexts, case, executor):
    shape, sig_dims, chunks, dtype, roi, min_size, seed = case
    data = make_data(seed, shape, dtype)
    check_native(contexts[executor], data, sig_dims, chunks, roi, min_size)


@HYP
@given(case=dask_cases(), executor=st.sampled_from(EXECUTORS))
def test_oracle_python_udfs(contexts, case, executor):
    shape, sig_dims, chunks, dtype, roi, min_size, seed = case
    data = make_data(seed, shape, dtype)
    check_python(contexts[executor], data, sig_dims, chunks, roi, min_size)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "chunks",
    [(2, 3, -1, -1), (1, -1, 2, 3), (-1, -1, -1, -1), ((1, 3, 2), (2, 4), 4, (1, 5))],
    ids=["nav2d", "rows_sigchunked", "unchunked", "irregular"],
)
def test_oracle_fixed_cases(ctx, dtype, chunks):
    """Deterministic 2-D-nav cases for every dtype and executor, random ROI included."""
    data = make_data(7, (6, 6, 4, 6), dtype)
    roi = np.random.default_rng(3).random((6, 6)) > 0.4
    for r in (None, roi):
        check_native(ctx, data, 2, chunks, r, 0)
    check_python(ctx, data, 2, chunks, roi, 0)


@pytest.mark.parametrize(
    "shape,sig_dims,chunks",
    [
        ((7, 5, 6), 2, (2, -1, 3)),  # 1-D nav
        ((3, 4, 5, 6), 1, (1, 2, 3, -1)),  # 3-D nav, 1 sig axis
        ((6, 3, 4, 5), 3, (2, -1, 2, 2)),  # 1-D nav, 3 sig axes
        ((3, 2, 4, 3, 4), 2, (1, 1, 2, -1, 2)),  # 3-D nav
        ((2, 3, 2, 2, 3, 3), 2, (1, 2, 1, 2, -1, -1)),  # 4-D nav
    ],
)
def test_dimensionalities(ctx, shape, sig_dims, chunks):
    data = make_data(11, shape, "f4")
    nav = shape[: len(shape) - sig_dims]
    roi = (np.arange(math.prod(nav)) % 3 != 1).reshape(nav)
    for r in (None, roi):
        ds = check_native(ctx, data, sig_dims, chunks, r, 0)
        # every signal axis is one chunk
        assert all(len(c) == 1 for c in ds.array.chunks[len(nav) :])
    check_python(ctx, data, sig_dims, chunks, roi, 0)


def test_sum_with_sig_chunked_input_matches_dask(ctx):
    """test_sum_udf / test_sumsig_udf: results equal dask's own reductions."""
    a = da.from_array(make_data(5, (8, 6, 10, 12), "f8"), chunks=(2, 3, 5, 4))
    ds = load(ctx, a, sig_dims=2, min_size=0)
    res_sum, res_sumsig = ctx.run_udf(ds, [SumUDF(), SumSigUDF()])
    assert_close(res_sum["intensity"].data, a.sum(axis=(0, 1)).compute())
    assert_close(res_sumsig["intensity"].data, a.sum(axis=(2, 3)).compute())


def test_random_roi_sum_matches_dask(ctx):
    a = da.random.default_rng(1).random((6, 10, 5, 7), chunks=(2, 5, -1, -1))
    roi = np.random.default_rng(2).random((6, 10)) > 0.5
    ds = load(ctx, a, sig_dims=2, min_size=0)
    res = ctx.run_udf(ds, SumUDF(), roi=roi)
    expected = a.compute().astype(np.float64)[roi].sum(axis=0)
    assert_close(res["intensity"].data, expected)


def test_preserve_dimensions_false(ctx):
    """preserve_dimensions=False puts the most-chunked nav axis first (dataset shape and flat
    order follow it); nav results come back in the caller's axis order. A ROI is given in the
    dataset's navigation shape."""
    data = make_data(3, (4, 6, 3, 5), "f4")
    a = da.from_array(data, chunks=(4, 2, -1, -1))
    ds = load(ctx, a, sig_dims=2, preserve_dimensions=False, min_size=0)
    assert tuple(ds.shape) == (6, 4, 3, 5)
    assert ds.get_num_partitions() == 3
    reordered = data.transpose(1, 0, 2, 3)
    res = ctx.run_udf(ds, SumSigUDF())
    assert_close(res["intensity"].data, data.sum(axis=(2, 3)))
    assert_close(res["intensity"].raw_data, reordered.sum(axis=(2, 3)).reshape(-1))
    roi = np.zeros((6, 4), bool)
    roi[1, 3] = roi[5, 0] = roi[2, 2] = True
    res_sum, res_sumsig = ctx.run_udf(ds, [SumUDF(), SumSigUDF()], roi=roi)
    assert_close(res_sum["intensity"].data, reordered[roi].sum(axis=0))
    expected = expand(reordered[roi].sum(axis=(1, 2)), (6, 4), roi, np.nan).T
    assert_close(res_sumsig["intensity"].data, expected)
    assert_close(res_sumsig["intensity"].raw_data, reordered[roi].sum(axis=(1, 2)))


# -- partition k reads exactly chunk k ---------------------------------------------------------
@pytest.mark.parametrize(
    "shape,chunks",
    [
        ((6, 8, 3, 3), (2, -1, -1, -1)),
        ((5, 7, 3, 3), ((1, 3, 1), -1, -1, -1)),
        ((4, 6, 3, 3), (1, (2, 1, 3), -1, 2)),
        ((3, 4, 5, 2, 2), (1, 2, -1, -1, -1)),
    ],
)
def test_partition_reads_its_chunk(ctx, shape, chunks):
    data = make_data(2, shape, "f4")
    ds = load(ctx, da.from_array(data, chunks=chunks), sig_dims=2, min_size=0)
    nav_dims = len(shape) - 2
    nav_chunks = ds.array.chunks[:nav_dims]
    assert ds.get_num_partitions() == math.prod(len(c) for c in nav_chunks)
    flat = frames_of(data, 2)
    parts = list(ds.get_partitions())
    assert len(parts) == ds.get_num_partitions()
    # the partitions tile the flat navigation axis in order
    assert parts[0].start == 0 and parts[-1].stop == len(flat)
    for a, b in itertools.pairwise(parts):
        assert a.stop == b.start
    # chunk k of the adapted array is partition k's frames
    blocks = ds.array.to_delayed().reshape(-1)
    assert len(blocks) == len(parts)
    for p, block in zip(parts, blocks, strict=True):
        np.testing.assert_array_equal(
            np.asarray(block.compute()).reshape((-1,) + shape[nav_dims:]), flat[p.start : p.stop]
        )
    # and what each task saw: every frame knows the extent of the partition it was processed in
    res = ctx.run_udf(ds, PartitionExtentUDF())
    starts = res["start"].raw_data
    sizes = res["size"].raw_data
    expected_start = np.concatenate([np.full(p.stop - p.start, p.start) for p in parts])
    expected_size = np.concatenate([np.full(p.stop - p.start, p.stop - p.start) for p in parts])
    np.testing.assert_array_equal(starts, expected_start)
    np.testing.assert_array_equal(sizes, expected_size)
    # the block sizes along the flat nav are the nav chunk products
    block_sizes = [math.prod(c) for c in _block_shapes(nav_chunks)]
    assert [p.stop - p.start for p in parts] == block_sizes


def _block_shapes(nav_chunks):
    return list(itertools.product(*nav_chunks))


def test_partition_chunks_via_make_dask_array(inline_ctx):
    """make_dask_array over a dask dataset: one block per partition, values unchanged."""
    data = make_data(4, (6, 5, 4, 4), "u2")
    ds = load(inline_ctx, da.from_array(data, chunks=(2, -1, 2, -1)), sig_dims=2, min_size=0)
    arr, _ = make_dask_array(ds, dtype="uint16")
    assert arr.chunks[0] == (2, 2, 2)
    np.testing.assert_array_equal(arr.compute(), data)


# -- rechunking rules -----------------------------------------------------------------------------
def test_sig_chunks_merged(inline_ctx):
    a = da.ones((4, 4, 8, 8), chunks=(2, 4, 4, 2), dtype="f4")
    ds, msgs = rechunk_warnings(lambda: inline_ctx.load("dask", a, sig_dims=2, min_size=0))
    assert ds.array.chunks == ((2, 2), (4,), (8,), (8,))
    assert len(msgs) == 1
    assert_close(inline_ctx.run_udf(ds, SumUDF())["intensity"].data, np.full((8, 8), 16.0))


def test_later_nav_axes_merged_for_contiguity(inline_ctx):
    a = da.ones((4, 6, 2, 2), chunks=(2, 3, -1, -1), dtype="f4")
    ds, msgs = rechunk_warnings(lambda: inline_ctx.load("dask", a, sig_dims=2, min_size=0))
    assert ds.array.chunks == ((2, 2), (6,), (2,), (2,))
    assert ds.get_num_partitions() == 2
    assert len(msgs) == 1


def test_leading_unit_chunks_keep_later_axis_chunked(inline_ctx):
    """The first nav axis whose chunks are not all 1 decides: here axis 1."""
    a = da.ones((4, 6, 2, 2), chunks=(1, 3, -1, -1), dtype="f4")
    ds, msgs = rechunk_warnings(lambda: inline_ctx.load("dask", a, sig_dims=2, min_size=0))
    assert ds.array.chunks == ((1, 1, 1, 1), (3, 3), (2,), (2,))
    assert ds.get_num_partitions() == 8
    assert msgs == []


@pytest.mark.parametrize("executor", EXECUTORS)
def test_all_nav_chunks_single_frames(contexts, executor):
    """Every nav axis chunked into single frames (no axis with a chunk != 1): one partition
    per frame with min_size=0, merged along the last nav axis otherwise. (Regression: this
    raised StopIteration.)"""
    ctx = contexts[executor]
    data = make_data(8, (2, 3, 2, 2), "f4")
    a = da.from_array(data, chunks=(1, 1, -1, -1))
    ds, msgs = rechunk_warnings(lambda: ctx.load("dask", a, sig_dims=2, min_size=0))
    assert ds.array.chunks == ((1, 1), (1, 1, 1), (2,), (2,))
    assert ds.get_num_partitions() == 6
    assert msgs == []
    assert_close(ctx.run_udf(ds, SumSigUDF())["intensity"].data, data.sum(axis=(2, 3)))
    ds = load(ctx, a, sig_dims=2, min_size=3 * 2 * 2 * 4)
    assert ds.array.chunks == ((1, 1), (3,), (2,), (2,))
    assert_close(ctx.run_udf(ds, SumUDF())["intensity"].data, data.sum(axis=(0, 1)))
    b = da.from_array(data[:, :1], chunks=(1, 1, -1, -1))  # (2, 1, ...): axis 1 is one chunk
    ds = load(ctx, b, sig_dims=2, min_size=0)
    assert ds.array.chunks == ((1, 1), (1,), (2,), (2,))
    assert_close(ctx.run_udf(ds, SumSigUDF())["intensity"].data, data[:, :1].sum(axis=(2, 3)))


def test_contig_nav_3d(inline_ctx):
    a = da.ones((4, 3, 6, 2, 2), chunks=(2, 1, 2, -1, -1), dtype="f4")
    ds = load(inline_ctx, a, sig_dims=2, min_size=0)
    assert ds.array.chunks == ((2, 2), (3,), (6,), (2,), (2,))


def test_reorient_nav(inline_ctx):
    a = da.ones((8, 6, 4, 4), chunks=(8, 2, -1, -1), dtype="f4")
    ds, msgs = rechunk_warnings(
        lambda: inline_ctx.load("dask", a, sig_dims=2, preserve_dimensions=False, min_size=0)
    )
    assert tuple(ds.shape) == (6, 8, 4, 4)
    assert ds.array.chunks == ((2, 2, 2), (8,), (4,), (4,))
    assert ds.get_num_partitions() == 3
    assert len(msgs) >= 1


def test_reorient_nav_already_ordered(inline_ctx):
    a = da.ones((6, 8, 4, 4), chunks=(2, 8, -1, -1), dtype="f4")
    ds, msgs = rechunk_warnings(
        lambda: inline_ctx.load("dask", a, sig_dims=2, preserve_dimensions=False, min_size=0)
    )
    assert tuple(ds.shape) == (6, 8, 4, 4)
    assert ds.array.chunks == ((2, 2, 2), (8,), (4,), (4,))
    assert msgs == []


def test_reorient_nav_preserve_true_keeps_shape(inline_ctx):
    a = da.ones((8, 6, 4, 4), chunks=(8, 2, -1, -1), dtype="f4")
    ds = load(inline_ctx, a, sig_dims=2, preserve_dimensions=True, min_size=0)
    assert tuple(ds.shape) == (8, 6, 4, 4)
    # axis 0 is the first with chunks != 1, so axis 1 is merged for contiguity
    assert ds.array.chunks == ((8,), (6,), (4,), (4,))
    assert ds.get_num_partitions() == 1
    b = da.ones((8, 6, 4, 4), chunks=(2, 3, -1, -1), dtype="f4")
    ds = load(inline_ctx, b, sig_dims=2, preserve_dimensions=True, min_size=0)
    assert tuple(ds.shape) == (8, 6, 4, 4)
    assert ds.array.chunks == ((2, 2, 2, 2), (6,), (4,), (4,))
    res = inline_ctx.run_udf(ds, SumSigUDF())
    assert_close(res["intensity"].data, np.full((8, 6), 16.0))


def test_size_based_merging_last_chunked_axis(inline_ctx):
    """(12,25,16,16) chunks (1,2,-1,-1), min_size = 4 frames → ((1,)*12, (6,4,4,4,7))."""
    a = da.ones((12, 25, 16, 16), chunks=(1, 2, -1, -1), dtype="f4")
    ds, msgs = rechunk_warnings(
        lambda: inline_ctx.load("dask", a, sig_dims=2, min_size=4 * 16 * 16 * 4)
    )
    assert ds.array.chunks == ((1,) * 12, (6, 4, 4, 4, 7), (16,), (16,))
    assert ds.get_num_partitions() == 60
    assert len(msgs) == 1
    res = inline_ctx.run_udf(ds, [SumUDF(), SumSigUDF()])
    assert_close(res[0]["intensity"].data, np.full((16, 16), 300.0))
    assert_close(res[1]["intensity"].data, np.full((12, 25), 256.0))


def test_size_based_merging_min_size_zero_keeps_chunks(inline_ctx):
    a = da.ones((5, 25, 16, 16), chunks=(2, 5, -1, -1), dtype="f4")
    ds = load(inline_ctx, a, sig_dims=2, min_size=0)
    assert ds.array.chunks == ((2, 2, 1), (25,), (16,), (16,))
    assert ds.get_num_partitions() == 3


def test_size_based_merging_min_size_zero_no_change_no_warning(inline_ctx):
    a = da.ones((6, 5, 3, 3), chunks=((1, 2, 3), -1, -1, -1), dtype="f4")
    ds, msgs = rechunk_warnings(lambda: inline_ctx.load("dask", a, sig_dims=2, min_size=0))
    assert ds.array.chunks == ((1, 2, 3), (5,), (3,), (3,))
    assert msgs == []


def test_size_based_merging_just_under_two_chunks(inline_ctx):
    """min_size just under two chunks: (1,)*6 → (3,3)... merged pairwise until big enough."""
    a = da.ones((6, 4, 4), chunks=(1, -1, -1), dtype="f8")
    frame = 4 * 4 * 8
    ds = load(inline_ctx, a, sig_dims=2, min_size=2 * frame - 1)
    assert all(c * frame >= 2 * frame - 1 for c in ds.array.chunks[0])
    assert sum(ds.array.chunks[0]) == 6
    assert ds.array.chunks[0] == (2, 2, 2)


@pytest.mark.parametrize("min_size", [math.inf, 10**12, None])
def test_size_based_merging_large_min_size_one_chunk(inline_ctx, min_size):
    a = da.ones((12, 25, 4, 4), chunks=(1, 2, -1, -1), dtype="f4")
    ds, msgs = rechunk_warnings(lambda: inline_ctx.load("dask", a, sig_dims=2, min_size=min_size))
    assert ds.array.chunks == ((12,), (25,), (4,), (4,))
    assert ds.get_num_partitions() == 1
    assert len(msgs) == 1
    assert_close(inline_ctx.run_udf(ds, SumUDF())["intensity"].data, np.full((4, 4), 300.0))


@pytest.mark.parametrize("min_size", [None, 0, 64])
def test_unchunked_is_one_partition(inline_ctx, min_size):
    data = make_data(9, (5, 7, 3, 4), "f8")
    a = da.from_array(data, chunks=-1)
    ds, msgs = rechunk_warnings(lambda: inline_ctx.load("dask", a, sig_dims=2, min_size=min_size))
    assert ds.get_num_partitions() == 1
    assert ds.array.chunks == tuple((s,) for s in data.shape)
    assert msgs == []
    assert_close(inline_ctx.run_udf(ds, SumSigUDF())["intensity"].data, data.sum(axis=(2, 3)))


def test_nav_unchunked_sig_chunked_is_one_partition(inline_ctx):
    a = da.ones((5, 7, 4, 4), chunks=(-1, -1, 2, 2), dtype="f4")
    ds, msgs = rechunk_warnings(lambda: inline_ctx.load("dask", a, sig_dims=2, min_size=0))
    assert ds.get_num_partitions() == 1
    assert len(msgs) == 1


def test_seed_example_is_one_partition(inline_ctx):
    a = da.random.random((23, 42, 17, 19))
    ds = load(inline_ctx, a, sig_dims=2)
    assert ds.get_num_partitions() == 1
    assert_close(
        inline_ctx.run_udf(ds, SumUDF())["intensity"].raw_data, a.sum(axis=(0, 1)).compute()
    )


def test_docstring_example_is_one_partition(inline_ctx):
    """Spec §4.3: (4,4,64,64) chunks (2,...) → 1 partition by default, 2 with min_size=0."""
    a = da.ones((4, 4, 64, 64), chunks=(2, -1, -1, -1), dtype="f4")
    assert load(inline_ctx, a, sig_dims=2).get_num_partitions() == 1
    assert load(inline_ctx, a, sig_dims=2, min_size=0).get_num_partitions() == 2


def test_get_num_partitions(inline_ctx):
    a = da.ones((6, 4, 4, 4), chunks=(2, -1, -1, -1), dtype="f4")
    ds = load(inline_ctx, a, sig_dims=2, min_size=0)
    assert ds.get_num_partitions() == 3
    assert len(list(ds.get_partitions())) == 3


def test_5d_size_based_merging(inline_ctx):
    a = da.ones((4, 4, 6, 4, 4), chunks=(1, 1, 2, -1, -1), dtype="f4")
    frame = 4 * 4 * 4
    ds = load(inline_ctx, a, sig_dims=2, min_size=5 * frame)
    # the last chunked axis merges until every chunk holds >= 5 frames
    assert ds.array.chunks[:2] == ((1,) * 4, (1,) * 4)
    assert ds.array.chunks[2] == (6,)
    res = inline_ctx.run_udf(ds, SumSigUDF())
    assert_close(res["intensity"].data, np.full((4, 4, 6), 16.0))


@pytest.mark.parametrize("executor", EXECUTORS)
def test_rechunk_keeps_values(contexts, executor):
    """A size merge across several chunked axes gives the numpy result on every executor."""
    ctx = contexts[executor]
    data = make_data(13, (4, 9, 3, 3), "i4")
    a = da.from_array(data, chunks=(1, 2, 2, 1))
    ds = load(ctx, a, sig_dims=2, min_size=5 * 9 * 4)
    frames = frames_of(data, 2).astype(np.float64)
    assert_close(ctx.run_udf(ds, SumUDF())["intensity"].data, frames.sum(axis=0))


# -- validation ---------------------------------------------------------------------------------
def test_not_a_dask_array(inline_ctx):
    with pytest.raises(DataSetException, match="dask_array") as e:
        inline_ctx.load("dask", np.ones((4, 4, 4, 4)), sig_dims=2)
    assert isinstance(e.value, TypeError)


@pytest.mark.parametrize("sig_dims", [2.0, "2", None, True])
def test_sig_dims_type(inline_ctx, sig_dims):
    with pytest.raises(DataSetException, match="sig_dims") as e:
        inline_ctx.load("dask", da.ones((4, 4, 4, 4)), sig_dims=sig_dims)
    assert isinstance(e.value, TypeError)


@pytest.mark.parametrize("sig_dims", [-1, 0, 4, 5])
def test_sig_dims_value(inline_ctx, sig_dims):
    """Negative sig_dims is an error naming the parameter (LiberTEM: IndexError)."""
    with pytest.raises(DataSetException, match="sig_dims") as e:
        inline_ctx.load("dask", da.ones((4, 4, 4, 4)), sig_dims=sig_dims)
    assert isinstance(e.value, ValueError)


def test_unknown_chunk_sizes(inline_ctx):
    x = da.from_array(np.arange(2 * 4 * 3 * 3).reshape(8, 3, 3), chunks=(2, -1, -1))
    filtered = x[x[:, 0, 0] > 5]
    assert any(math.isnan(c) for c in filtered.chunks[0])
    with pytest.raises(DataSetException, match="dask_array") as e:
        inline_ctx.load("dask", filtered, sig_dims=2)
    assert isinstance(e.value, ValueError)
    # after compute_chunk_sizes() it loads and computes correctly
    fixed = filtered.compute_chunk_sizes()
    ds = load(inline_ctx, fixed, sig_dims=2, min_size=0)
    assert_close(
        inline_ctx.run_udf(ds, SumUDF())["intensity"].data,
        fixed.compute().astype(np.float64).sum(axis=0),
    )


def test_io_backend_via_load(inline_ctx):
    with pytest.raises(DataSetException, match="io_backend") as e:
        inline_ctx.load("dask", da.ones((4, 4, 4, 4)), sig_dims=2, io_backend="mmap")
    assert isinstance(e.value, ValueError)


def test_io_backend_direct_constructor():
    with pytest.raises(DataSetException, match="io_backend"):
        DaskDataSet(da.ones((4, 4, 4, 4)), sig_dims=2, io_backend=object())


@pytest.mark.parametrize("min_size", [-1, "big"])
def test_bad_min_size(inline_ctx, min_size):
    with pytest.raises(DataSetException, match="min_size"):
        inline_ctx.load("dask", da.ones((4, 4, 4, 4)), sig_dims=2, min_size=min_size)


def test_dask_array_keyword(inline_ctx):
    data = make_data(1, (3, 4, 2, 2), "f4")
    ds = inline_ctx.load("dask", dask_array=da.from_array(data, chunks=-1), sig_dims=2)
    assert_close(inline_ctx.run_udf(ds, SumUDF())["intensity"].data, data.sum(axis=(0, 1)))


# -- distributed: persisted input on a real cluster (spec §13.1) ----------------------------------
@pytest.fixture
def local_cluster():
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        yield client


@pytest.mark.dist
@pytest.mark.timeout(60)
@pytest.mark.filterwarnings("ignore:Port .* is already in use")
def test_persisted_array_on_local_cluster(local_cluster):
    client = local_cluster
    data = make_data(21, (8, 6, 5, 4), "f8")
    with client.as_current():
        assert dask.base.get_scheduler() == client.get  # the cluster is the default scheduler
        persisted = da.from_array(data, chunks=(2, -1, -1, 2)).persist()
        roi = np.random.default_rng(0).random((8, 6)) > 0.5
        expected_sum = data.sum(axis=(0, 1))
        expected_roi_sum = data[roi].sum(axis=0)
        expected_sumsig = data.sum(axis=(2, 3))

        ctx = Context.make_with("dask-integration")
        from ferrotem.executor.dask import DaskJobExecutor

        assert isinstance(ctx.executor, DaskJobExecutor)
        try:
            ds = load(ctx, persisted, sig_dims=2, min_size=0)
            assert ds.get_num_partitions() == 4
            res_sum, res_sumsig = ctx.run_udf(ds, [SumUDF(), SumSigUDF()])
            assert_close(res_sum["intensity"].data, expected_sum)
            assert_close(res_sumsig["intensity"].data, expected_sumsig)
            res = ctx.run_udf(ds, TileSumUDF(), roi=roi)
            assert_close(res["intensity"].data, expected_roi_sum)
        finally:
            ctx.close()
        assert client.status == "running"

        dctx = Context(executor=DelayedJobExecutor())
        ds = load(dctx, persisted, sig_dims=2, min_size=0)
        res_sum, res_sumsig = dctx.run_udf(ds, [SumUDF(), SumSigUDF()])
        s, ss = dask.compute(
            res_sum["intensity"].delayed_data, res_sumsig["intensity"].delayed_data
        )
        assert_close(s, expected_sum)
        assert_close(ss, expected_sumsig)
        res = dctx.run_udf(ds, SumUDF(), roi=roi)
        assert_close(client.compute(res["intensity"].delayed_data).result(), expected_roi_sum)
