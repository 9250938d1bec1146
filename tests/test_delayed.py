"""``DelayedJobExecutor``: UDF results as Dask arrays (spec §2.5, §6, §7, §10.1, §13).

The oracle is twofold: plain numpy on the source array, and the same run on the inline
executor. Graph-shape claims (one chunk per partition, balanced merge tree, one read per
partition for several UDFs, computed-once ``.data``) are checked on the graphs and by counting
task calls in this process.
"""

from __future__ import annotations

import asyncio
import math
import re
import threading
from collections import Counter

import dask
import dask.array as da
import numpy as np
import pytest
from ferrotem.api import Context
from ferrotem.executor.delayed import DelayedJobExecutor
from ferrotem.executor.inline import InlineJobExecutor
from ferrotem.udf.base import UDF
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF
from ferrotem.udf.task import UDFTask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.filterwarnings("ignore::ferrotem.io.dataset.dask.DaskRechunkWarning"),
]


# -- helpers ------------------------------------------------------------------------------------
def make_data(seed: int, shape: tuple[int, ...], dtype="f4") -> np.ndarray:
    rng = np.random.default_rng(seed)
    vals = rng.integers(0, 8, size=shape) + rng.integers(0, 4, size=shape) / 4
    return vals.astype(dtype)


def assert_close(actual, expected) -> None:
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    if expected.dtype.kind in "fc" or actual.dtype.kind in "fc":
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5, equal_nan=True)
    else:
        np.testing.assert_array_equal(actual, expected)


def expand(values: np.ndarray, nav_shape, roi, fill) -> np.ndarray:
    n = math.prod(nav_shape)
    full = np.full((n,) + values.shape[1:], fill, dtype=values.dtype)
    mask = np.ones(n, bool) if roi is None else np.asarray(roi, bool).reshape(-1)
    full[mask] = values
    return full.reshape(tuple(nav_shape) + values.shape[1:])


def graph_of(arr) -> dict:
    return dict(arr.__dask_graph__())


def longest_path(arr) -> int:
    """Number of nodes on the longest dependency chain of ``arr``'s graph."""
    from dask.core import get_dependencies

    dsk = graph_of(arr)
    memo: dict = {}

    def depth(key) -> int:
        if key not in memo:
            deps = [d for d in get_dependencies(dsk, key) if d in dsk]
            memo[key] = 1 + max((depth(d) for d in deps), default=0)
        return memo[key]

    return max(depth(k) for k in dsk)


class CallCounter:
    """Counts ``UDFTask.__call__`` (one call = one partition read) in this process."""

    def __init__(self, monkeypatch):
        self.n = 0
        self._lock = threading.Lock()
        original = UDFTask.__call__

        def counting(task, *args, **kwargs):
            with self._lock:
                self.n += 1
            return original(task, *args, **kwargs)

        monkeypatch.setattr(UDFTask, "__call__", counting)


# -- UDFs ---------------------------------------------------------------------------------------
class NavSumUDF(UDF):
    """nav buffer, default merge → concatenation path."""

    def get_result_buffers(self):
        return {"s": self.buffer(kind="nav", dtype="float32")}

    def process_tile(self, tile):
        self.results.s[:] += tile.reshape(tile.shape[0], -1).sum(axis=1)


class SigSumMergeUDF(UDF):
    """sig buffer and custom merge only → merge tree."""

    def get_result_buffers(self):
        return {"intensity": self.buffer(kind="sig", dtype=self.meta.input_dtype)}

    def process_tile(self, tile):
        self.results.intensity[:] += tile.sum(axis=0)

    def merge(self, dest, src):
        dest.intensity[:] += src.intensity


class SigSumMergeAllUDF(SigSumMergeUDF):
    """The seed's MySumMergeUDF: merge plus merge_all."""

    def merge_all(self, ordered_results):
        chunks = [b.intensity for b in ordered_results.values()]
        return {"intensity": np.stack(chunks).sum(axis=0)}


class MergeAllOnlyUDF(UDF):
    """sig buffer with merge_all but no merge: delayed only (spec §2.5)."""

    def get_result_buffers(self):
        return {"intensity": self.buffer(kind="sig", dtype="float32")}

    def process_tile(self, tile):
        self.results.intensity[:] += tile.sum(axis=0)

    def merge_all(self, ordered_results):
        return {"intensity": np.stack([b.intensity for b in ordered_results.values()]).sum(0)}


class BadMergeAllUDF(MergeAllOnlyUDF):
    def merge_all(self, ordered_results):
        return {"not_declared": np.zeros(3)}


class ScalarMergeAllUDF(UDF):
    """A 'single' buffer of shape (1,), merge_all returns a 0-d value."""

    def get_result_buffers(self):
        return {"total": self.buffer(kind="single", dtype="float64")}

    def process_tile(self, tile):
        self.results.total[:] += tile.sum()

    def merge(self, dest, src):
        dest.total[:] += src.total

    def merge_all(self, ordered_results):
        return {"total": np.stack([b.total for b in ordered_results.values()]).sum()}


class MixedMergeUDF(UDF):
    """nav (with extra shape), sig and single buffers with a custom merge → merge tree that
    also carries nav buffers."""

    def get_result_buffers(self):
        return {
            "stats": self.buffer(kind="nav", extra_shape=(2,), dtype="float64"),
            "sum": self.buffer(kind="sig", dtype="float64"),
            "count": self.buffer(kind="single", dtype="int64"),
            "extra": self.buffer(kind="single", extra_shape=(3,), dtype="float64"),
        }

    def process_frame(self, frame):
        self.results.stats[:] = (frame.sum(), frame.max())
        self.results.sum[:] += frame
        self.results.count[:] += 1
        self.results.extra[:] += (frame.min(), frame.max(), frame.mean())

    def merge(self, dest, src):
        dest.stats[:] = src.stats
        dest.sum[:] += src.sum
        dest.count[:] += src.count
        dest.extra[:] += src.extra


class CountUDF(UDF):
    """int32 nav buffer plus a result_only total computed in get_results."""

    def get_result_buffers(self):
        return {
            "nonzero": self.buffer(kind="nav", dtype="int32"),
            "total": self.buffer(kind="single", dtype="int64", use="result_only"),
        }

    def process_frame(self, frame):
        self.results.nonzero[:] = np.count_nonzero(frame)

    def get_results(self):
        return {"nonzero": self.results.nonzero, "total": np.sum(self.results.nonzero)}


# -- oracles ------------------------------------------------------------------------------------
def oracle(name: str, data: np.ndarray, roi) -> dict[str, np.ndarray]:
    """numpy results (``.data`` layout) of each UDF above on ``data`` (4-D, sig_dims=2)."""
    nav = data.shape[:2]
    frames = data.reshape((-1,) + data.shape[2:])
    if roi is not None:
        frames = frames[np.asarray(roi, bool).reshape(-1)]
    f64 = frames.astype(np.float64)
    flat = f64.reshape(len(f64), math.prod(data.shape[2:]))
    if name in ("SumUDF", "SigSumMergeUDF", "SigSumMergeAllUDF"):
        return {"intensity": f64.sum(axis=0)}
    if name in ("SumSigUDF", "NavSumUDF"):
        key = "intensity" if name == "SumSigUDF" else "s"
        return {key: expand(flat.sum(axis=1), nav, roi, np.nan)}
    if name == "MixedMergeUDF":
        stats = np.stack([flat.sum(axis=1), flat.max(axis=1, initial=-np.inf)], axis=1)
        extra = np.array(
            [
                flat.min(axis=1, initial=np.inf).sum(),
                flat.max(axis=1, initial=-np.inf).sum(),
                flat.mean(axis=1).sum() if len(flat) else 0.0,
            ]
        )
        return {
            "stats": expand(stats, nav, roi, np.nan),
            "sum": f64.sum(axis=0),
            "count": np.array(len(flat)),
            "extra": extra if len(flat) else np.zeros(3),
        }
    if name == "CountUDF":
        nz = np.count_nonzero(flat, axis=1).astype(np.int32)
        return {"nonzero": expand(nz, nav, roi, 0), "total": np.array(nz.sum())}
    raise AssertionError(name)


UDF_COMBOS = {
    "native": [SumUDF, SumSigUDF],
    "nav_concat": [NavSumUDF],
    "merge_tree": [SigSumMergeUDF],
    "merge_all": [SigSumMergeAllUDF],
    "mixed_tree": [MixedMergeUDF],
    "result_only": [CountUDF],
    "all": [SumSigUDF, NavSumUDF, SigSumMergeUDF, SigSumMergeAllUDF, MixedMergeUDF, CountUDF],
}
LAYOUTS = {
    "1part": dict(num_partitions=1),
    "2part": dict(num_partitions=2),
    "7part_partial_sig": dict(num_partitions=7, tileshape=(2, 2, 3)),
}


@pytest.fixture(scope="module")
def inline_ctx():
    ctx = Context(executor=InlineJobExecutor())
    yield ctx
    ctx.close()


@pytest.fixture(scope="module", params=["constructor", "make_with"])
def delayed_ctx(request):
    if request.param == "constructor":
        ctx = Context(executor=DelayedJobExecutor())
    else:
        ctx = Context.make_with("delayed")
    assert isinstance(ctx.executor, DelayedJobExecutor)
    yield ctx
    ctx.close()


@pytest.fixture(scope="module")
def data():
    return make_data(0, (4, 6, 5, 6))


def check_result(res, inline_res, expected):
    assert set(expected) <= set(res)
    for key, exp in expected.items():
        buf = res[key]
        assert isinstance(buf.delayed_data, da.Array), key
        assert isinstance(buf.delayed_raw_data, da.Array), key
        assert isinstance(buf.data, np.ndarray), key
        assert isinstance(buf.raw_data, np.ndarray), key
        assert_close(buf.data, inline_res[key].data)
        assert_close(buf.raw_data, inline_res[key].raw_data)
        assert buf.data.dtype == inline_res[key].data.dtype
        assert_close(np.asarray(buf.data).reshape(np.shape(exp)), exp)
        # the lazy arrays compute to the same values
        assert_close(buf.delayed_data.compute(), buf.data)
        assert_close(buf.delayed_raw_data.compute(), buf.raw_data)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("combo", UDF_COMBOS)
@pytest.mark.parametrize("with_roi", [False, True])
def test_results_equal_inline_and_numpy(delayed_ctx, inline_ctx, data, layout, combo, with_roi):
    roi = None
    if with_roi:
        roi = np.random.default_rng(1).random(data.shape[:2]) > 0.5
        roi[:2] = False  # whole partitions without selected frames
    classes = UDF_COMBOS[combo]
    kw = dict(data=data, sig_dims=2, **LAYOUTS[layout])
    ds_d = delayed_ctx.load("memory", **kw)
    ds_i = inline_ctx.load("memory", **kw)
    res_d = delayed_ctx.run_udf(ds_d, [c() for c in classes], roi=roi)
    res_i = inline_ctx.run_udf(ds_i, [c() for c in classes], roi=roi)
    for cls, rd, ri in zip(classes, res_d, res_i, strict=True):
        check_result(rd, ri, oracle(cls.__name__, data, roi))


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    nav=st.tuples(st.integers(1, 5), st.integers(1, 5)),
    sig=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    parts=st.integers(1, 6),
    roi_kind=st.sampled_from(["none", "random", "empty", "single"]),
    seed=st.integers(0, 1000),
)
def test_random_layouts(inline_ctx, nav, sig, parts, roi_kind, seed):
    data = make_data(seed, nav + sig)
    rng = np.random.default_rng(seed)
    roi = {
        "none": None,
        "random": rng.random(nav) > 0.5,
        "empty": np.zeros(nav, bool),
        "single": np.arange(math.prod(nav)).reshape(nav) == seed % math.prod(nav),
    }[roi_kind]
    parts = min(parts, math.prod(nav))
    dctx = Context(executor=DelayedJobExecutor())
    ds_d = dctx.load("memory", data=data, sig_dims=2, num_partitions=parts)
    ds_i = inline_ctx.load("memory", data=data, sig_dims=2, num_partitions=parts)
    classes = [SumUDF, SumSigUDF, SigSumMergeUDF, MixedMergeUDF, CountUDF]
    res_d = dctx.run_udf(ds_d, [c() for c in classes], roi=roi)
    res_i = inline_ctx.run_udf(ds_i, [c() for c in classes], roi=roi)
    for cls, rd, ri in zip(classes, res_d, res_i, strict=True):
        exp = oracle(cls.__name__, data, roi)
        for key in exp:
            assert_close(rd[key].data, ri[key].data)
            assert_close(np.asarray(rd[key].data).reshape(np.shape(exp[key])), exp[key])


# -- chunks ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("udf_cls", [SumSigUDF, NavSumUDF])
def test_nav_result_one_chunk_per_partition(delayed_ctx, udf_cls):
    data = make_data(2, (16, 16, 4, 4))
    ds = delayed_ctx.load("memory", data=data, sig_dims=2, num_partitions=4)
    res = delayed_ctx.run_udf(ds, udf_cls())
    key = "intensity" if udf_cls is SumSigUDF else "s"
    raw = res[key].delayed_raw_data
    assert raw.shape == (256,)
    assert len(raw.chunks[0]) == 4
    assert raw.chunks[0] == tuple(p.stop - p.start for p in ds.get_partitions())
    # row-aligned partitions: the user layout keeps one chunk per partition
    lazy = res[key].delayed_data
    assert lazy.shape == (16, 16)
    assert lazy.chunks == ((4, 4, 4, 4), (16,))
    (computed,) = dask.compute(lazy)
    assert_close(computed, data.astype(np.float64).sum(axis=(2, 3)))


def test_nav_chunks_with_roi(delayed_ctx):
    data = make_data(3, (8, 8, 3, 3))
    ds = delayed_ctx.load("memory", data=data, sig_dims=2, num_partitions=4)
    roi = np.zeros((8, 8), bool)
    roi[0, 1] = roi[1, 7] = roi[6, 3] = roi[7, 7] = roi[7, 0] = True  # partition 1 selects none
    res = delayed_ctx.run_udf(ds, SumSigUDF(), roi=roi)
    raw = res["intensity"].delayed_raw_data
    assert raw.shape == (5,)
    assert sum(raw.chunks[0]) == 5
    assert res["intensity"].delayed_data.shape == (8, 8)
    assert_close(res["intensity"].data, expand(data[roi].sum(axis=(1, 2)), (8, 8), roi, np.nan))


def test_roi_fill_values(delayed_ctx, data):
    ds = delayed_ctx.load("memory", data=data, sig_dims=2, num_partitions=3)
    roi = np.zeros(data.shape[:2], bool)
    roi[1, 2] = roi[3, 5] = True
    sumsig, count = delayed_ctx.run_udf(ds, [SumSigUDF(), CountUDF()], roi=roi)
    d = sumsig["intensity"].data
    assert np.isnan(d[~roi]).all()
    assert_close(d[roi], data[roi].sum(axis=(1, 2)))
    c = count["nonzero"].data
    assert c.dtype == np.int32
    assert (c[~roi] == 0).all()
    assert_close(c[roi], np.count_nonzero(data[roi].reshape(2, -1), axis=1))
    lazy = sumsig["intensity"].delayed_data.compute()
    assert np.isnan(lazy[~roi]).all()
    assert_close(count["total"].data, np.count_nonzero(data[roi]))


def test_empty_roi(delayed_ctx, data):
    ds = delayed_ctx.load("memory", data=data, sig_dims=2, num_partitions=3)
    roi = np.zeros(data.shape[:2], bool)
    s, ss, tree = delayed_ctx.run_udf(ds, [SumUDF(), SumSigUDF(), SigSumMergeUDF()], roi=roi)
    assert_close(s["intensity"].data, np.zeros(data.shape[2:]))
    assert np.isnan(ss["intensity"].data).all()
    assert ss["intensity"].raw_data.shape == (0,)
    assert_close(tree["intensity"].data, np.zeros(data.shape[2:]))


# -- merge_all -------------------------------------------------------------------------------------
def test_merge_all_only_udf(delayed_ctx, inline_ctx, data):
    ds = delayed_ctx.load("memory", data=data, sig_dims=2, num_partitions=3)
    res = delayed_ctx.run_udf(ds, MergeAllOnlyUDF())
    assert_close(res["intensity"].data, data.astype(np.float64).sum(axis=(0, 1)))
    ds_i = inline_ctx.load("memory", data=data, sig_dims=2, num_partitions=3)
    with pytest.raises(NotImplementedError):
        inline_ctx.run_udf(ds_i, MergeAllOnlyUDF())


def test_merge_all_undeclared_key(delayed_ctx, data):
    ds = delayed_ctx.load("memory", data=data, sig_dims=2, num_partitions=2)
    with pytest.raises(ValueError, match="not_declared"):
        delayed_ctx.run_udf(ds, BadMergeAllUDF())


def test_merge_all_scalar_for_single_buffer(delayed_ctx, inline_ctx, data):
    """A 0-d merge_all value for a (1,)-shaped single buffer is coerced (LiberTEM raises)."""
    ds = delayed_ctx.load("memory", data=data, sig_dims=2, num_partitions=3)
    res = delayed_ctx.run_udf(ds, ScalarMergeAllUDF())
    ds_i = inline_ctx.load("memory", data=data, sig_dims=2, num_partitions=3)
    res_i = inline_ctx.run_udf(ds_i, ScalarMergeAllUDF())
    assert res["total"].raw_data.shape == res_i["total"].raw_data.shape
    assert_close(res["total"].data, res_i["total"].data)
    assert np.asarray(res["total"].data).reshape(-1)[0] == pytest.approx(data.sum(dtype=float))


def test_merge_all_receives_ordered_slices(delayed_ctx, data):
    seen = {}

    class Recording(SigSumMergeAllUDF):
        def merge_all(self, ordered_results):
            seen["origins"] = [sl.origin[0] for sl in ordered_results]
            seen["sizes"] = [sl.shape[0] for sl in ordered_results]
            return super().merge_all(ordered_results)

    ds = delayed_ctx.load("memory", data=data, sig_dims=2, num_partitions=3)
    res = delayed_ctx.run_udf(ds, Recording())
    parts = list(ds.get_partitions())
    assert seen["origins"] == [p.start for p in parts]
    assert seen["sizes"] == [p.stop - p.start for p in parts]
    assert_close(res["intensity"].data, data.astype(np.float64).sum(axis=(0, 1)))


# -- balanced merge tree ---------------------------------------------------------------------------
MERGE_KEY = re.compile(r"^ferrotem-merge-[0-9a-f]+-(\d+)-(\d+)-(\d+)$")


@pytest.mark.parametrize("n_parts", [5, 8, 16])
def test_merge_tree_is_balanced(delayed_ctx, n_parts):
    data = make_data(4, (16, 4, 3, 3))
    ds = delayed_ctx.load("memory", data=data, sig_dims=2, num_partitions=n_parts)
    assert ds.get_num_partitions() == n_parts
    res = delayed_ctx.run_udf(ds, SigSumMergeUDF())
    arr = res["intensity"].delayed_raw_data
    levels = Counter()
    for key in graph_of(arr):
        m = MERGE_KEY.match(str(key))
        if m:
            levels[int(m.group(2))] += 1
    depth = math.ceil(math.log2(n_parts))
    assert max(levels) == depth
    assert levels[0] == n_parts
    width = n_parts  # nodes still to be merged at this level (an odd one is carried up)
    for lvl in range(1, depth + 1):
        assert levels[lvl] == width // 2, levels
        width = math.ceil(width / 2)
    assert width == 1
    assert_close(res["intensity"].data, data.astype(np.float64).sum(axis=(0, 1)))


def test_merge_tree_depth_grows_logarithmically(delayed_ctx):
    """Walk the dependencies: 4 → 16 partitions adds two levels, not twelve."""
    data = make_data(5, (16, 4, 3, 3))
    depths = {}
    for n in (4, 16):
        ds = delayed_ctx.load("memory", data=data, sig_dims=2, num_partitions=n)
        res = delayed_ctx.run_udf(ds, MixedMergeUDF())
        depths[n] = longest_path(res["sum"].delayed_raw_data)
        assert_close(res["sum"].data, data.astype(np.float64).sum(axis=(0, 1)))
    assert depths[16] - depths[4] == 2, depths
    assert depths[16] <= math.log2(16) + 6, depths


# -- result_only, iteration, async -----------------------------------------------------------------
def test_result_only_via_get_results(delayed_ctx, data):
    ds = delayed_ctx.load("memory", data=data, sig_dims=2, num_partitions=3)
    res = delayed_ctx.run_udf(ds, CountUDF())
    assert isinstance(res["total"].delayed_data, da.Array)
    assert_close(res["total"].data, np.count_nonzero(data))
    assert_close(res["nonzero"].data, np.count_nonzero(data.reshape(4, 6, -1), axis=2))


def test_run_udf_iter_ends_with_run_udf(delayed_ctx, data):
    ds = delayed_ctx.load("memory", data=data, sig_dims=2, num_partitions=3)
    udfs = [SumUDF(), SumSigUDF(), SigSumMergeUDF()]
    steps = list(delayed_ctx.run_udf_iter(ds, udfs))
    assert steps
    final = steps[-1].buffers
    full = delayed_ctx.run_udf(ds, [SumUDF(), SumSigUDF(), SigSumMergeUDF()])
    for a, b in zip(final, full, strict=True):
        for key in b:
            assert_close(a[key].data, b[key].data)
    assert steps[-1].damage.data.all()


def test_run_udf_async(delayed_ctx, data):
    ds = delayed_ctx.load("memory", data=data, sig_dims=2, num_partitions=3)
    res = asyncio.run(delayed_ctx.run_udf(ds, SigSumMergeUDF(), sync=False))
    assert_close(res["intensity"].data, data.astype(np.float64).sum(axis=(0, 1)))


# -- reads counted ---------------------------------------------------------------------------------
@pytest.mark.parametrize("scheduler", ["sync", "threads"])
def test_several_udfs_read_each_partition_once(delayed_ctx, data, monkeypatch, scheduler):
    counter = CallCounter(monkeypatch)
    ds = delayed_ctx.load("memory", data=data, sig_dims=2, num_partitions=4)
    a, b, c = delayed_ctx.run_udf(ds, [SumUDF(), NavSumUDF(), SigSumMergeUDF()])
    assert counter.n == 0  # nothing runs before compute()
    s, n, t = dask.compute(
        a["intensity"].delayed_data,
        b["s"].delayed_data,
        c["intensity"].delayed_data,
        scheduler=scheduler,
    )
    assert counter.n == 4
    expected = data.astype(np.float64).sum(axis=(0, 1))
    assert_close(s, expected)
    assert_close(t, expected)
    assert_close(n, data.astype(np.float64).sum(axis=(2, 3)))


def test_data_computed_once(delayed_ctx, data, monkeypatch):
    counter = CallCounter(monkeypatch)
    ds = delayed_ctx.load("memory", data=data, sig_dims=2, num_partitions=5)
    a, b, c = delayed_ctx.run_udf(ds, [SumUDF(), SumSigUDF(), MixedMergeUDF()])
    assert counter.n == 0
    first = a["intensity"].data
    assert counter.n == 5
    again = a["intensity"].data
    assert counter.n == 5
    np.testing.assert_array_equal(first, again)
    # other results of the same run come from the same computation
    assert_close(b["intensity"].data, data.astype(np.float64).sum(axis=(2, 3)))
    assert_close(c["sum"].raw_data, data.astype(np.float64).sum(axis=(0, 1)))
    assert_close(c["count"].data, [data.shape[0] * data.shape[1]])
    _ = np.asarray(b["intensity"])
    assert counter.n == 5


def test_dask_input_chunks_computed_once(delayed_ctx, monkeypatch):
    """Three UDFs over a 'dask' dataset: each input chunk is computed once, each partition read
    once."""
    data = make_data(6, (6, 4, 3, 3))
    counts = Counter()
    lock = threading.Lock()

    def tag(block, block_info=None):
        with lock:
            counts[block_info[0]["chunk-location"]] += 1
        return block

    arr = da.from_array(data, chunks=(2, -1, -1, -1)).map_blocks(tag, dtype=data.dtype)
    ds = delayed_ctx.load("dask", arr, sig_dims=2, min_size=0)
    assert ds.get_num_partitions() == 3
    counter = CallCounter(monkeypatch)
    counts.clear()
    a, b, c = delayed_ctx.run_udf(ds, [SumUDF(), SumSigUDF(), SigSumMergeUDF()])
    dask.compute(
        a["intensity"].delayed_data,
        b["intensity"].delayed_data,
        c["intensity"].delayed_data,
        scheduler="sync",
    )
    assert counter.n == 3
    assert sorted(counts.values()) == [1, 1, 1], counts
    assert_close(a["intensity"].data, data.astype(np.float64).sum(axis=(0, 1)))
    assert counter.n == 6  # .data is one more full compute (the group), nothing more
    assert_close(c["intensity"].data, data.astype(np.float64).sum(axis=(0, 1)))
    assert counter.n == 6


# -- resources -------------------------------------------------------------------------------------
class NumpyOnlyUDF(NavSumUDF):
    def get_backends(self):
        return (self.BACKEND_NUMPY,)


class CupyOnlyUDF(NavSumUDF):
    def get_backends(self):
        return (self.BACKEND_CUPY,)


class CudaOnlyUDF(NavSumUDF):
    def get_backends(self):
        return (self.BACKEND_CUDA,)


@pytest.mark.parametrize(
    "udfs,user_backends,expected",
    [
        ([SumUDF(), SumSigUDF()], None, {"compute": 1, "ndarray": 1}),
        (SumUDF(), ("cupy",), {"compute": 1, "CUDA": 1, "ndarray": 1}),
        ([NumpyOnlyUDF()], None, {"compute": 1, "CPU": 1, "ndarray": 1}),
        ([CupyOnlyUDF()], None, {"compute": 1, "CUDA": 1, "ndarray": 1}),
        ([CudaOnlyUDF()], None, {"compute": 1, "CUDA": 1}),
        ([CupyOnlyUDF(), CudaOnlyUDF()], None, {"compute": 1, "CUDA": 1, "ndarray": 1}),
        ([SumUDF(), NumpyOnlyUDF()], None, {"compute": 1, "CPU": 1, "ndarray": 1}),
    ],
)
def test_get_resources_from_udfs(udfs, user_backends, expected):
    got = DelayedJobExecutor.get_resources_from_udfs(udfs, user_backends=user_backends)
    assert got == expected


@pytest.mark.parametrize("other", [CupyOnlyUDF, CudaOnlyUDF])
def test_get_resources_no_common_backend(other):
    with pytest.raises(ValueError, match="common"):
        DelayedJobExecutor.get_resources_from_udfs([NumpyOnlyUDF(), other()])
