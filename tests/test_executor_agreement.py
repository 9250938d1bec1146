"""Every executor gives the inline executor's results.

The inline executor is the reference: partitions run one after the other and are merged, in
order, into the buffers that ``preprocess`` initialised on the main node. Threads (the embedded
default ``Context()``), delayed (``Context.make_with('delayed')``, results computed) and a local
Dask cluster must give the same ``.data`` and ``.raw_data``, bit for bit, for every buffer of
every UDF: the data are small multiples of 0.25, so every sum is exact in any order. The inline
result is itself checked against a numpy oracle.

The property test combines navigation shapes of 1-3 dimensions, partition counts, ROIs (none,
random, empty, one frame, whole partitions left empty), negative data, partial-signal tiles, and
UDFs that start buffers away from zero in ``preprocess``, use a custom ``merge`` or
``merge_all``, ``kind='single'``, ``kind='sig'`` and ``kind='nav'`` buffers with extra shape,
``process_frame``/``tile``/``partition``, and the native ``SumUDF``/``SumSigUDF``.
"""

from __future__ import annotations

import functools
import operator

import numpy as np
import pytest
from conftest import assert_close, expand_nav, tileshapes
from ferrotem.api import Context
from ferrotem.executor.dask import DaskJobExecutor, cluster_spec
from ferrotem.udf.base import UDF
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = [pytest.mark.timeout(120)]

#: reproducible in CI: the same examples on every run
AGREEMENT = settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# -- UDFs (module level: Dask workers unpickle them by reference) ----------------------------------
class SigMaxUDF(UDF):
    """Maxima starting at ``-inf`` in ``preprocess``, merged with ``np.maximum``: the signal-wise
    maximum over frames (``sig``) and each frame's maximum (``nav``); ``process_frame``."""

    def get_result_buffers(self):
        return {
            "sig_max": self.buffer(kind="sig", dtype="float64"),
            "frame_max": self.buffer(kind="nav", dtype="float64"),
        }

    def preprocess(self):
        self.results.sig_max[:] = -np.inf
        self.results.frame_max[:] = -np.inf

    def process_frame(self, frame):
        self.results.sig_max[:] = np.maximum(self.results.sig_max, frame)
        self.results.frame_max[:] = frame.max()

    def merge(self, dest, src):
        dest.sig_max[:] = np.maximum(dest.sig_max, src.sig_max)
        dest.frame_max[:] = np.maximum(dest.frame_max, src.frame_max)


class TileStatsUDF(UDF):
    """``process_tile`` (tiles may cover part of the signal): per-frame (sum, minimum) in a nav
    buffer with extra shape, the sum over frames (``sig``), the frame count and the global
    minimum (``single``, the minimum starting at ``+inf``)."""

    def get_result_buffers(self):
        return {
            "frame_stats": self.buffer(kind="nav", dtype="float64", extra_shape=(2,)),
            "sig_sum": self.buffer(kind="sig", dtype="float64"),
            "count": self.buffer(kind="single", dtype="int64"),
            "minimum": self.buffer(kind="single", dtype="float64"),
            "mean": self.buffer(kind="sig", dtype="float64", use="result_only"),
        }

    def get_results(self):
        # on the delayed executor these are Dask arrays: computed lazily, like the buffers
        return {"mean": self.results.sig_sum / np.maximum(self.results.count, 1)}

    def preprocess(self):
        self.results.frame_stats[:, 1] = np.inf
        self.results.minimum[:] = np.inf

    def process_tile(self, tile):
        flat = tile.reshape(tile.shape[0], -1)
        stats = self.results.frame_stats
        stats[:, 0] += flat.sum(axis=1)
        stats[:, 1] = np.minimum(stats[:, 1], flat.min(axis=1))
        self.results.sig_sum[:] += tile.sum(axis=0)
        if self.meta.tiling_scheme_idx == 0:
            self.results.count[:] += tile.shape[0]
        self.results.minimum[:] = min(self.results.minimum[0], flat.min())

    def merge(self, dest, src):
        dest.frame_stats[:] = src.frame_stats
        dest.sig_sum[:] += src.sig_sum
        dest.count[:] += src.count
        dest.minimum[:] = np.minimum(dest.minimum, src.minimum)


class PartitionOffsetUDF(UDF):
    """``process_partition``; a ``single`` buffer that ``preprocess`` starts at 1.5, which is
    not the identity of its ``+=`` merge: every partition's task and the main node each add
    1.5, so an executor that starts a merge from anything else is caught."""

    OFFSET = 1.5

    def get_result_buffers(self):
        return {
            "frame_sum": self.buffer(kind="nav", dtype="float64"),
            "offset_total": self.buffer(kind="single", dtype="float64"),
        }

    def preprocess(self):
        self.results.offset_total[:] = self.OFFSET

    def process_partition(self, partition):
        flat = partition.reshape(partition.shape[0], -1)
        self.results.frame_sum[:] = flat.sum(axis=1)
        self.results.offset_total[:] += flat.sum()

    def merge(self, dest, src):
        dest.frame_sum[:] = src.frame_sum
        dest.offset_total[:] += src.offset_total


class MergeAllSumUDF(UDF):
    """The sum over frames with both ``merge`` and ``merge_all`` (delayed uses the latter)."""

    def get_result_buffers(self):
        return {"sig_sum": self.buffer(kind="sig", dtype="float64")}

    def process_frame(self, frame):
        self.results.sig_sum[:] += frame

    def merge(self, dest, src):
        dest.sig_sum[:] += src.sig_sum

    def merge_all(self, ordered_results):
        parts = [r.sig_sum for r in ordered_results.values()]
        return {"sig_sum": functools.reduce(operator.add, parts)}


class FrameSumUDF(UDF):
    """Only nav buffers (float, and int with its 0 fill outside the ROI) and the default merge
    (delayed: concatenated partition chunks)."""

    def get_result_buffers(self):
        return {
            "frame_sum": self.buffer(kind="nav", dtype="float64"),
            "frame_argmax": self.buffer(kind="nav", dtype="int64"),
        }

    def process_frame(self, frame):
        self.results.frame_sum[:] = frame.sum()
        self.results.frame_argmax[:] = np.argmax(frame)


class AuxWeightUDF(UDF):
    """Per-frame weights as aux data: the weighted sum over frames (``sig``, ``process_frame``),
    and frame sums that ``merge`` weights with the merged frames' entries (spec §2.1)."""

    def __init__(self, weights=None):
        super().__init__(weights=weights)

    @staticmethod
    def weights_for(n_frames: int) -> np.ndarray:
        return (np.arange(n_frames) % 5 - 2).astype(np.float64)

    def get_result_buffers(self):
        return {
            "weighted_sig": self.buffer(kind="sig", dtype="float64"),
            "weighted_frames": self.buffer(kind="nav", dtype="float64"),
        }

    def process_frame(self, frame):
        self.results.weighted_sig[:] += frame * self.params.weights[0]
        self.results.weighted_frames[:] = frame.sum()

    def merge(self, dest, src):
        dest.weighted_sig[:] += src.weighted_sig
        dest.weighted_frames[:] = src.weighted_frames * self.params.weights


UDF_CLASSES = [
    AuxWeightUDF,
    SigMaxUDF,
    TileStatsUDF,
    PartitionOffsetUDF,
    MergeAllSumUDF,
    FrameSumUDF,
    SumUDF,
    SumSigUDF,
]


# -- numpy oracle ----------------------------------------------------------------------------------
def oracle(udf: UDF, data: np.ndarray, sig_dims: int, roi, n_busy_partitions: int) -> dict:
    """``{buffer name: expected .data}`` from plain numpy (float64)."""
    nav = data.shape[: data.ndim - sig_dims]
    sig = data.shape[data.ndim - sig_dims :]
    frames = data.reshape((-1,) + sig).astype(np.float64)
    sel = frames if roi is None else frames[np.asarray(roi, bool).reshape(-1)]
    axes = tuple(range(1, 1 + sig_dims))
    per_frame_sum = sel.sum(axis=axes)
    per_frame_max = sel.max(axis=axes) if len(sel) else np.zeros(0)
    per_frame_min = sel.min(axis=axes) if len(sel) else np.zeros(0)
    sig_sum = sel.sum(axis=0)

    def nav_of(values):
        return expand_nav(values, nav, roi, np.nan)

    if isinstance(udf, SigMaxUDF):
        sig_max = sel.max(axis=0) if len(sel) else np.full(sig, -np.inf)
        return {"sig_max": sig_max, "frame_max": nav_of(per_frame_max)}
    if isinstance(udf, TileStatsUDF):
        return {
            "frame_stats": nav_of(np.stack([per_frame_sum, per_frame_min], axis=1)),
            "sig_sum": sig_sum,
            "count": np.array([len(sel)]),
            "minimum": np.array([sel.min() if len(sel) else np.inf]),
            "mean": sig_sum / max(len(sel), 1),
        }
    if isinstance(udf, PartitionOffsetUDF):
        offset = PartitionOffsetUDF.OFFSET * (1 + n_busy_partitions)
        return {"frame_sum": nav_of(per_frame_sum), "offset_total": np.array([offset + sel.sum()])}
    if isinstance(udf, AuxWeightUDF):
        w = AuxWeightUDF.weights_for(len(frames))
        w_sel = w if roi is None else w[np.asarray(roi, bool).reshape(-1)]
        weighted = (sel * w_sel.reshape((-1,) + (1,) * sig_dims)).sum(axis=0)
        return {"weighted_sig": weighted, "weighted_frames": nav_of(per_frame_sum * w_sel)}
    if isinstance(udf, MergeAllSumUDF):
        return {"sig_sum": sig_sum}
    if isinstance(udf, FrameSumUDF):
        argmax = sel.reshape(len(sel), int(np.prod(sig))).argmax(axis=1)
        return {"frame_sum": nav_of(per_frame_sum), "frame_argmax": expand_nav(argmax, nav, roi, 0)}
    if isinstance(udf, SumUDF):
        return {"intensity": sig_sum}
    assert isinstance(udf, SumSigUDF)
    return {"intensity": nav_of(per_frame_sum)}


# -- fixtures --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def delayed_ctx():
    ctx = Context.make_with("delayed")
    yield ctx
    ctx.close()


@pytest.fixture(scope="module")
def cluster_ctx():
    """Two single-threaded worker processes on 127.0.0.1, started once for this module."""
    spec = cluster_spec(cpus=[0, 1], cudas=[], has_cupy=False, num_service=0)
    ctx = Context(executor=DaskJobExecutor.make_local(spec=spec))
    yield ctx
    ctx.close()


# -- a run on every executor -----------------------------------------------------------------------
def run_on(ctx, case: dict) -> list[dict]:
    ds = ctx.load(
        "memory",
        data=case["data"],
        sig_dims=case["sig_dims"],
        num_partitions=case["num_partitions"],
        tileshape=case["tileshape"],
    )
    return list(ctx.run_udf(ds, make_udfs(case), roi=case["roi"]))


def make_udfs(case: dict) -> list[UDF]:
    udfs = []
    for cls in case["udfs"]:
        if cls is AuxWeightUDF:
            n = int(np.prod(case["data"].shape[: case["data"].ndim - case["sig_dims"]]))
            weights = UDF.aux_data(AuxWeightUDF.weights_for(n), kind="nav", dtype="float64")
            udfs.append(AuxWeightUDF(weights=weights))
        else:
            udfs.append(cls())
    return udfs


def assert_same(actual: list[dict], reference: list[dict], label: str) -> None:
    """Every buffer of every UDF equal to the reference run's: values, dtype, shape."""
    assert len(actual) == len(reference)
    for i, (got, want) in enumerate(zip(actual, reference, strict=True)):
        assert sorted(got) == sorted(want), (label, i)
        for name in want:
            for attr in ("data", "raw_data"):
                a = np.asarray(getattr(got[name], attr))
                b = np.asarray(getattr(want[name], attr))
                where = f"{label}: UDF {i} buffer {name!r} .{attr}"
                assert a.dtype == b.dtype, (where, a.dtype, b.dtype)
                assert a.shape == b.shape, (where, a.shape, b.shape)
                np.testing.assert_array_equal(a, b, err_msg=where)


def check_inline_against_numpy(case: dict, results: list[dict]) -> None:
    roi = case["roi"]
    parts = case["partitions"]
    flat_roi = None if roi is None else np.asarray(roi, bool).reshape(-1)
    busy = sum(1 for a, b in parts if flat_roi is None or flat_roi[a:b].any())
    for udf, res in zip(make_udfs(case), results, strict=True):
        expected = oracle(udf, case["data"], case["sig_dims"], roi, busy)
        assert sorted(expected) == sorted(res), type(udf).__name__
        for name, value in expected.items():
            assert_close(res[name].data, value, dtype=np.float64)


# -- hypothesis strategies -------------------------------------------------------------------------
def partitions_of(nav: tuple[int, ...], sig: tuple[int, ...], num_partitions: int) -> list:
    """The (start, stop) frame ranges the memory dataset will use (asked from the dataset)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ds = _PROBE.load(
            "memory",
            data=np.zeros(nav + sig, "f4"),
            sig_dims=len(sig),
            num_partitions=num_partitions,
        )
        return [(p.start, p.stop) for p in ds.get_partitions()]


_PROBE = Context.make_with("inline")


@st.composite
def roi_for(draw, nav: tuple[int, ...], parts: list[tuple[int, int]]):
    """None, random, empty, a single frame, or whole partitions left out."""
    n = int(np.prod(nav))
    kind = draw(st.sampled_from(["none", "random", "empty", "single", "drop_partitions"]))
    if kind == "none":
        return None
    roi = np.zeros(n, dtype=bool)
    if kind == "random":
        roi[:] = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    elif kind == "single":
        roi[draw(st.integers(0, n - 1))] = True
    elif kind == "drop_partitions":
        keep = draw(st.lists(st.booleans(), min_size=len(parts), max_size=len(parts)))
        for (a, b), k in zip(parts, keep, strict=True):
            if k:
                roi[a:b] = draw(st.lists(st.booleans(), min_size=b - a, max_size=b - a))
    return roi.reshape(nav)


@st.composite
def cases(draw):
    nav_dims = draw(st.integers(1, 3))
    nav = tuple(draw(st.lists(st.integers(1, 4), min_size=nav_dims, max_size=nav_dims)))
    sig_dims = draw(st.integers(1, 2))
    sig = tuple(draw(st.lists(st.integers(1, 4), min_size=sig_dims, max_size=sig_dims)))
    n = int(np.prod(nav))
    num_partitions = draw(st.integers(1, min(n, 5)))
    parts = partitions_of(nav, sig, num_partitions)
    dtype = draw(st.sampled_from(["f4", "i2"]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    # mostly negative values: a merge that starts from zeros shows
    values = rng.integers(-40, 8, size=nav + sig)
    data = (values / 4 if dtype == "f4" else values).astype(dtype)
    udfs = draw(st.lists(st.sampled_from(UDF_CLASSES), min_size=1, max_size=3, unique=True))
    return {
        "data": data,
        "sig_dims": sig_dims,
        "num_partitions": num_partitions,
        "partitions": parts,
        "tileshape": draw(tileshapes(sig)),
        "roi": draw(roi_for(nav, parts)),
        "udfs": udfs,
    }


# -- regression: delayed merges started from zeros -------------------------------------------------
def _sigmax_case(roi):
    data = -(np.arange(2 * 3 * 4 * 5, dtype="f4").reshape(2, 3, 4, 5) + 1)
    return {
        "data": data,
        "sig_dims": 1,
        "num_partitions": 2,
        "partitions": partitions_of((2, 3, 4), (5,), 2),
        "tileshape": None,
        "roi": roi,
        "udfs": [SigMaxUDF, PartitionOffsetUDF],
    }


@pytest.mark.parametrize("roi_kind", ["one_frame", "none", "empty"])
def test_delayed_merge_starts_from_preprocess(delayed_ctx, inline_ctx, roi_kind):
    """3-D navigation, two partitions, all data negative: the maximum over the ROI is negative,
    and the empty ROI keeps the ``-inf`` that ``preprocess`` set (delayed gave 0)."""
    roi = None
    if roi_kind != "none":
        roi = np.zeros((2, 3, 4), bool)
        if roi_kind == "one_frame":
            roi[1, 2, 1] = True
    case = _sigmax_case(roi)
    reference = run_on(inline_ctx, case)
    check_inline_against_numpy(case, reference)
    assert_same(run_on(delayed_ctx, case), reference, "delayed")


# -- the property ----------------------------------------------------------------------------------
@AGREEMENT
@given(case=cases())
def test_local_executors_agree_with_inline(contexts, delayed_ctx, case):
    reference = run_on(contexts["inline"], case)
    check_inline_against_numpy(case, reference)
    assert_same(run_on(contexts["threads"], case), reference, "threads")
    assert_same(run_on(delayed_ctx, case), reference, "delayed")


@pytest.mark.dist
@settings(AGREEMENT, max_examples=100)
@given(case=cases())
def test_dask_cluster_agrees_with_inline(contexts, cluster_ctx, case):
    reference = run_on(contexts["inline"], case)
    assert_same(run_on(cluster_ctx, case), reference, "dask cluster")
