"""The UDF interface (spec §2): buffers and their uses, lifecycle hooks, task data, aux data,
meta, input dtypes, several UDFs per run, run_udf_iter, result containers and ROI forms.
Every test checks results against numpy."""

from __future__ import annotations

import asyncio
import warnings

import numpy as np
import pytest
from conftest import assert_close, expand_nav, make_data
from ferrotem.common.progress import ProgressReporter
from ferrotem.common.shape import Shape
from ferrotem.common.slice import Slice
from ferrotem.udf.base import UDF, NoOpUDF, UseDiscouragedWarning
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF

NAV, SIG = (4, 5), (3, 4)


@pytest.fixture
def arr():
    return make_data(3, NAV + SIG, "u2")


@pytest.fixture
def ds(ctx, arr):
    return ctx.load("memory", data=arr, sig_dims=2, num_partitions=3)


def frame_sums(arr, roi=None):
    frames = arr.reshape((-1,) + SIG).astype(np.float64)
    if roi is not None:
        frames = frames[np.asarray(roi).reshape(-1)]
    return frames.reshape(len(frames), -1).sum(axis=1)


def random_roi(seed=0, p=0.5):
    return np.random.default_rng(seed).random(NAV) < p


# -- buffer uses -------------------------------------------------------------------------------
class ResultOnlyUDF(UDF):
    def get_result_buffers(self):
        return {
            "acc": self.buffer(kind="nav", dtype="float64"),
            "hidden": self.buffer(kind="nav", dtype="float64", use="private"),
            "scaled": self.buffer(kind="nav", dtype="float64", use="result_only"),
            "ratio": self.buffer(kind="single", dtype="float64", use="result_only"),
            "absent": self.buffer(kind="sig", dtype="float64", use="result_only"),
        }

    def process_frame(self, frame):
        with pytest.raises(AttributeError, match="result_only"):
            self.results.scaled  # noqa: B018
        self.results.acc[:] = frame.sum()
        self.results.hidden[:] = frame.max()

    def get_results(self):
        return {
            "scaled": self.results.acc * 2,
            "ratio": np.array([self.results.acc.sum() / max(1.0, self.results.hidden.sum())]),
        }


@pytest.mark.parametrize("use_roi", [False, True])
def test_result_only_private_and_get_results(ctx, ds, arr, use_roi):
    roi = random_roi(1) if use_roi else None
    res = ctx.run_udf(ds, ResultOnlyUDF(), roi=roi)
    # use=None buffers are added automatically, private ones never returned, result_only ones
    # exist only if get_results produced them
    assert set(res) == {"acc", "scaled", "ratio"}
    sums = frame_sums(arr, roi)
    maxes = arr.reshape((-1,) + SIG).astype(np.float64).max(axis=(1, 2))
    if roi is not None:
        maxes = maxes[roi.reshape(-1)]
    assert_close(res["acc"].data, expand_nav(sums, NAV, roi, np.nan))
    assert_close(res["scaled"].data, expand_nav(2 * sums, NAV, roi, np.nan))
    assert res["scaled"].kind == "nav"
    assert_close(res["ratio"].data, [sums.sum() / max(1.0, maxes.sum())])


class PrePostUDF(UDF):
    """preprocess initialises buffers on the main node and on every worker; postprocess fixes
    up each partition's results."""

    def get_result_buffers(self):
        return {
            "untouched": self.buffer(kind="nav", dtype="float32"),
            "doubled": self.buffer(kind="nav", dtype="float32"),
            "minimum": self.buffer(kind="sig", dtype="float32"),
        }

    def preprocess(self):
        self.results.untouched[:] = -1
        self.results.minimum[:] = np.inf

    def process_frame(self, frame):
        self.results.doubled[:] = frame.sum()
        self.results.minimum[:] = np.minimum(self.results.minimum, frame)

    def postprocess(self):
        assert self.results.doubled.shape == (self.meta.partition_shape[0],)
        self.results.doubled[:] *= 2

    def merge(self, dest, src):
        dest.untouched[:] = src.untouched
        dest.doubled[:] = src.doubled
        dest.minimum[:] = np.minimum(dest.minimum, src.minimum)


def test_preprocess_and_postprocess(ctx, ds, arr):
    res = ctx.run_udf(ds, PrePostUDF())
    np.testing.assert_array_equal(res["untouched"].data, np.full(NAV, -1, np.float32))
    assert_close(res["doubled"].data, 2 * frame_sums(arr).reshape(NAV))
    # main-node preprocess matters: without it the merged minimum would start at 0
    assert_close(res["minimum"].data, arr.reshape((-1,) + SIG).min(axis=0).astype(np.float32))


class TaskDataUDF(UDF):
    def get_task_data(self):
        sig = tuple(self.meta.dataset_shape.sig)
        return {
            "weights": np.arange(np.prod(sig), dtype=np.float64).reshape(sig),
            "count": np.zeros(1, dtype=np.int64),
        }

    def get_result_buffers(self):
        return {
            "dot": self.buffer(kind="nav", dtype="float64"),
            "nframes": self.buffer(kind="single", dtype="int64"),
        }

    def process_frame(self, frame):
        self.results.dot[:] = (frame * self.task_data.weights).sum()
        self.task_data.count[:] += 1

    def postprocess(self):
        self.results.nframes[:] = self.task_data.count

    def merge(self, dest, src):
        dest.dot[:] = src.dot
        dest.nframes[:] += src.nframes


def test_get_task_data(ctx, ds, arr):
    roi = random_roi(2)
    res = ctx.run_udf(ds, TaskDataUDF(), roi=roi)
    w = np.arange(np.prod(SIG), dtype=np.float64).reshape(SIG)
    frames = arr.reshape((-1,) + SIG)[roi.reshape(-1)].astype(np.float64)
    dots = (frames * w).sum(axis=(1, 2))
    assert_close(res["dot"].data, expand_nav(dots, NAV, roi, np.nan))
    np.testing.assert_array_equal(res["nframes"].data, [roi.sum()])


# -- aux data ----------------------------------------------------------------------------------
class AuxFrameUDF(UDF):
    def __init__(self, vec, scalar):
        super().__init__(vec=vec, scalar=scalar)

    def get_result_buffers(self):
        return {"out": self.buffer(kind="nav", extra_shape=(2,), dtype="float32")}

    def process_frame(self, frame):
        assert self.params.vec.shape == (2,)
        assert self.params.scalar.shape == (1,)
        self.results.out[:] = frame.sum() * self.params.vec + self.params.scalar


class AuxTileUDF(UDF):
    def __init__(self, vec):
        super().__init__(vec=vec)

    def get_result_buffers(self):
        return {"out": self.buffer(kind="nav", extra_shape=(2,), dtype="float32")}

    def process_tile(self, tile):
        assert self.params.vec.shape == (tile.shape[0], 2)
        self.results.out[:] += tile.reshape(len(tile), -1).sum(axis=1)[:, None] * self.params.vec


@pytest.mark.parametrize("use_roi", [False, True])
def test_aux_data_views(ctx, arr, use_roi):
    roi = random_roi(3) if use_roi else None
    ds = ctx.load("memory", data=arr, sig_dims=2, num_partitions=3, tileshape=(2, 2, 4))
    vec = np.arange(np.prod(NAV) * 2, dtype=np.float32).reshape(NAV + (2,))
    scalar = np.arange(np.prod(NAV), dtype=np.float32).reshape(NAV) * 10
    sums = frame_sums(arr)
    expected_frame = sums[:, None] * vec.reshape(-1, 2) + scalar.reshape(-1, 1)
    expected_tile = sums[:, None] * vec.reshape(-1, 2)
    if roi is not None:
        expected_frame = expected_frame[roi.reshape(-1)]
        expected_tile = expected_tile[roi.reshape(-1)]
    res = ctx.run_udf(
        ds,
        [
            AuxFrameUDF(
                vec=UDF.aux_data(vec, kind="nav", extra_shape=(2,), dtype="float32"),
                scalar=UDF.aux_data(scalar, kind="nav", extra_shape=(1,), dtype="float32"),
            ),
        ],
        roi=roi,
    )[0]
    assert_close(res["out"].data, expand_nav(expected_frame.astype(np.float32), NAV, roi, np.nan))
    res = ctx.run_udf(
        ds,
        AuxTileUDF(vec=UDF.aux_data(vec, kind="nav", extra_shape=(2,), dtype="float32")),
        roi=roi,
    )
    assert_close(res["out"].data, expand_nav(expected_tile.astype(np.float32), NAV, roi, np.nan))


# -- meta --------------------------------------------------------------------------------------
class MetaUDF(UDF):
    def get_result_buffers(self):
        meta = self.meta
        assert meta.dataset_shape == Shape(NAV + SIG, sig_dims=2)
        self._check_common()
        return {
            "flags": self.buffer(kind="single", extra_shape=(3,), dtype="int64"),
            "idx": self.buffer(kind="nav", dtype="int64"),
        }

    def _check_common(self):
        meta = self.meta
        assert tuple(meta.dataset_shape) == NAV + SIG
        assert meta.dataset_shape.sig_dims == 2
        assert meta.dataset_dtype == np.dtype(self.params.ds_dtype)
        assert meta.input_dtype == np.dtype("float32")
        expected_roi = self.params.roi
        if expected_roi is None:
            assert meta.roi is None
        else:
            assert meta.roi.shape == NAV
            np.testing.assert_array_equal(meta.roi, expected_roi)
        assert meta.device_class == "cpu"
        assert meta.array_backend == "numpy"

    def process_partition(self, partition):
        self._check_common()
        s = self.meta.slice
        assert isinstance(s, Slice)
        assert tuple(s.shape) == (partition.shape[0],) + SIG
        assert isinstance(self.meta.sig_slice, Slice)
        assert tuple(self.meta.sig_slice.shape) == SIG
        assert self.meta.tiling_scheme_idx == 0
        coords = self.meta.coordinates
        self.results.idx[:] = np.ravel_multi_index(tuple(coords.T), NAV)
        self.results.flags[:] += (partition.shape[0], partition.dtype == np.float32, 1)

    def merge(self, dest, src):
        dest.idx[:] = src.idx
        dest.flags[:] += src.flags


@pytest.mark.parametrize("use_roi", [False, True])
def test_meta_fields(ctx, ds, use_roi):
    roi = random_roi(4) if use_roi else None
    res = ctx.run_udf(ds, MetaUDF(ds_dtype="u2", roi=roi), roi=roi)
    n_sel = int(np.prod(NAV)) if roi is None else int(roi.sum())
    flags = res["flags"].data
    assert flags[0] == n_sel and flags[1] == flags[2] >= 1
    expected_idx = np.arange(np.prod(NAV))
    if roi is not None:
        expected_idx = expected_idx[roi.reshape(-1)]
    np.testing.assert_array_equal(res["idx"].raw_data, expected_idx)
    np.testing.assert_array_equal(res["idx"].data, expand_nav(expected_idx, NAV, roi, 0))


class ThreadsUDF(UDF):
    def get_result_buffers(self):
        return {"t": self.buffer(kind="single", dtype="int64")}

    def process_partition(self, partition):
        self.results.t[:] = (
            -1 if self.meta.threads_per_worker is None else (self.meta.threads_per_worker)
        )

    def merge(self, dest, src):
        dest.t[:] = src.t


def test_threads_per_worker(contexts, arr):
    from ferrotem.executor.base import physical_cores

    for name, expected in [("inline", physical_cores()), ("threads", 1)]:
        ctx = contexts[name]
        ds = ctx.load("memory", data=arr, sig_dims=2)
        assert ctx.run_udf(ds, ThreadsUDF())["t"].data[0] == expected


# -- input dtype ------------------------------------------------------------------------------
class DtypeUDF(UDF):
    def __init__(self, pref):
        super().__init__(pref=pref)

    def get_preferred_input_dtype(self):
        return self.params.pref

    def get_result_buffers(self):
        return {"copy": self.buffer(kind="nav", extra_shape=SIG, dtype=self.meta.input_dtype)}

    def process_tile(self, tile):
        assert tile.dtype == self.meta.input_dtype
        self.results.copy[:] = tile


@pytest.mark.parametrize("dtype", ["u1", "u2", "i4", "f8", "c8", ">u2", ">f4"])
def test_use_native_dtype(ctx, dtype):
    data = make_data(5, NAV + SIG, dtype)
    ds = ctx.load("memory", data=data, sig_dims=2, num_partitions=2)
    res = ctx.run_udf(ds, DtypeUDF(pref=UDF.USE_NATIVE_DTYPE))["copy"]
    native = np.dtype(dtype).newbyteorder("=")
    assert res.dtype == native
    np.testing.assert_array_equal(res.data, data.astype(native))
    # all UDFs of one run share the promoted input dtype
    both = ctx.run_udf(ds, [DtypeUDF(pref=UDF.USE_NATIVE_DTYPE), DtypeUDF(pref=np.float64)])
    promoted = np.result_type(np.float64, native)
    for r in both:
        assert r["copy"].dtype == promoted
        np.testing.assert_array_equal(r["copy"].data, data.astype(promoted))


def test_several_udfs_return_tuple_in_order(ctx, ds, arr):
    udfs = [SumSigUDF(), SumUDF(), ResultOnlyUDF(), SumSigUDF()]
    res = ctx.run_udf(ds, udfs)
    assert isinstance(res, tuple) and len(res) == 4
    assert res[0]["intensity"].kind == "nav" and res[3]["intensity"].kind == "nav"
    assert res[1]["intensity"].kind == "sig"
    assert_close(res[0]["intensity"].data, frame_sums(arr).reshape(NAV).astype(np.float32))
    assert_close(res[1]["intensity"].data, arr.reshape((-1,) + SIG).sum(axis=0).astype("f4"))
    assert_close(res[2]["scaled"].data, 2 * frame_sums(arr).reshape(NAV))
    single = ctx.run_udf(ds, SumSigUDF())
    assert isinstance(single, dict)
    generator_input = ctx.run_udf(ds, (u for u in [SumSigUDF()]))
    assert isinstance(generator_input, tuple) and len(generator_input) == 1


# -- run_udf_iter -----------------------------------------------------------------------------
@pytest.mark.parametrize("use_roi", [False, True])
@pytest.mark.parametrize("native", [False, True])
def test_run_udf_iter(ctx, arr, use_roi, native):
    roi = random_roi(6, p=0.7) if use_roi else None
    ds = ctx.load("memory", data=arr, sig_dims=2, num_partitions=4)
    udfs = [SumSigUDF(), SumUDF()] if native else [PrePostUDF()]
    name = "intensity" if native else "doubled"
    final = ctx.run_udf(ds, udfs, roi=roi)
    sums = frame_sums(arr) * (1 if native else 2)
    partitions_with_frames = [
        p for p in ds.get_partitions() if roi is None or roi.reshape(-1)[p.start : p.stop].any()
    ]
    prev = np.zeros(NAV, dtype=bool)
    steps = []
    # buffers are computed lazily from the live state: inspect each step before advancing
    for step in ctx.run_udf_iter(ds, udfs, roi=roi):
        steps.append(step)
        assert isinstance(step.buffers, tuple) and len(step.buffers) == len(udfs)
        damage = step.damage.data
        assert damage.shape == NAV and damage.dtype == bool
        assert (damage >= prev).all() and damage.sum() > prev.sum()
        if roi is not None:
            assert not (damage & ~roi).any()
        values = step.buffers[0][name].data
        assert_close(values[damage], sums.reshape(NAV)[damage].astype(values.dtype))
        np.testing.assert_array_equal(step.buffers[0][name].valid_mask, damage)
        prev = damage
    assert len(steps) == len(partitions_with_frames)
    expected_final = np.ones(NAV, bool) if roi is None else roi
    np.testing.assert_array_equal(prev, expected_final)
    for a, b in zip(steps[-1].buffers, final, strict=True):
        assert set(a) == set(b)
        for k in a:
            assert_close(a[k].data, b[k].data)


def test_run_udf_iter_single_udf_and_empty_roi(ctx, ds, arr):
    steps = list(ctx.run_udf_iter(ds, SumSigUDF(), roi=np.zeros(NAV, bool)))
    assert len(steps) == 1
    assert len(steps[0].buffers) == 1
    assert not steps[0].damage.data.any()
    assert np.isnan(steps[0].buffers[0]["intensity"].data).all()
    assert steps[0].buffers[0]["intensity"].raw_data.shape == (0,)


# -- result containers ----------------------------------------------------------------------
class KindsUDF(UDF):
    def get_result_buffers(self):
        return {
            "f": self.buffer(kind="nav", dtype="float32"),
            "i": self.buffer(kind="nav", extra_shape=(2,), dtype="int32"),
            "u": self.buffer(kind="nav", dtype="uint8"),
            "b": self.buffer(kind="nav", dtype="bool"),
            "c": self.buffer(kind="nav", dtype="complex64"),
            "s": self.buffer(kind="sig", dtype="float64"),
            "one": self.buffer(kind="single", dtype="float64"),
        }

    def process_frame(self, frame):
        self.results.f[:] = frame.sum()
        self.results.i[:] = (frame.max(), frame.min())
        self.results.u[:] = 7
        self.results.b[:] = True
        self.results.c[:] = 1 + 2j
        self.results.s[:] += frame
        self.results.one[:] += 1

    def merge(self, dest, src):
        for k in ("f", "i", "u", "b", "c"):
            getattr(dest, k)[:] = getattr(src, k)
        dest.s[:] += src.s
        dest.one[:] += src.one


def test_result_containers_with_roi_fill(ctx, ds, arr):
    roi = random_roi(7)
    res = ctx.run_udf(ds, KindsUDF(), roi=roi)
    flat = roi.reshape(-1)
    frames = arr.reshape((-1,) + SIG)[flat].astype(np.float32)
    k = len(frames)
    assert res["f"].raw_data.shape == (k,)
    assert res["i"].raw_data.shape == (k, 2)
    assert res["i"].data.shape == NAV + (2,)
    assert res["s"].raw_data.shape == SIG == res["s"].data.shape
    assert res["one"].data.shape == (1,)
    # fills: NaN for float/complex, 0 for ints, False for bool
    assert np.isnan(res["f"].data[~roi]).all()
    assert np.isnan(res["c"].data[~roi]).all()
    assert (res["i"].data[~roi] == 0).all() and (res["u"].data[~roi] == 0).all()
    assert not res["b"].data[~roi].any() and res["b"].data[roi].all()
    assert_close(res["f"].data[roi], frames.sum(axis=(1, 2)))
    np.testing.assert_array_equal(
        res["i"].data[roi], np.stack([frames.max(axis=(1, 2)), frames.min(axis=(1, 2))], -1)
    )
    assert (res["u"].data[roi] == 7).all()
    assert (res["c"].data[roi] == 1 + 2j).all()
    assert_close(res["s"].data, frames.sum(axis=0).astype(np.float64))
    assert res["one"].data[0] == k
    # __array__, valid_mask, masked_data
    np.testing.assert_array_equal(np.array(res["i"]), res["i"].data)
    assert np.asarray(res["f"], dtype=np.float64).dtype == np.float64
    np.testing.assert_array_equal(res["f"].valid_mask, roi)
    np.testing.assert_array_equal(res["i"].valid_mask, np.broadcast_to(roi[..., None], NAV + (2,)))
    assert res["s"].valid_mask.all() and res["s"].valid_mask.shape == SIG
    masked = res["f"].masked_data
    assert isinstance(masked, np.ma.MaskedArray)
    np.testing.assert_array_equal(masked.mask, ~roi)
    assert_close(masked.sum(), frames.sum())
    np.testing.assert_array_equal(res["f"].raw_masked_data.mask, np.zeros(k, bool))
    assert res["f"].kind == "nav" and res["s"].kind == "sig" and res["one"].kind == "single"
    assert res["i"].extra_shape == (2,) and res["i"].dtype == np.int32


class WithMaskUDF(UDF):
    def get_result_buffers(self):
        return {
            "v": self.buffer(kind="nav", dtype="float32"),
            "masked": self.buffer(kind="nav", dtype="float32", use="result_only"),
        }

    def process_frame(self, frame):
        self.results.v[:] = frame.sum()

    def get_results(self):
        v = self.results.v
        return {"masked": self.with_mask(v, v > np.median(v))}


def test_get_results_with_mask(ctx, ds, arr):
    res = ctx.run_udf(ds, WithMaskUDF())
    sums = frame_sums(arr).reshape(NAV)
    np.testing.assert_array_equal(res["masked"].valid_mask, sums > np.median(sums))
    assert_close(res["masked"].data, sums.astype(np.float32))


# -- ROI forms -------------------------------------------------------------------------------
def test_roi_forms(ctx, ds, arr):
    sums = frame_sums(arr).reshape(NAV)
    # a coordinate tuple
    r = ctx.run_udf(ds, SumSigUDF(), roi=(2, 3))["intensity"]
    assert r.raw_data.shape == (1,)
    assert_close(r.raw_data, [sums[2, 3]])
    # the dataset.roi helper
    helper = ds.roi[1, 2]
    assert helper.shape == NAV and helper.sum() == 1 and helper[1, 2]
    r = ctx.run_udf(ds, SumSigUDF(), roi=helper)["intensity"]
    assert_close(r.raw_data, [sums[1, 2]])
    # (coordinate, bool) pairs, True and False variants
    r = ctx.run_udf(ds, SumSigUDF(), roi=[((0, 0), True), ((3, 4), True)])["intensity"]
    assert_close(r.raw_data, [sums[0, 0], sums[3, 4]])
    r = ctx.run_udf(ds, SumSigUDF(), roi=[((0, 0), False)])["intensity"]
    assert_close(r.raw_data, sums.reshape(-1)[1:])
    # flat bool array of the right size
    flat = np.zeros(np.prod(NAV), bool)
    flat[[3, 7]] = True
    r = ctx.run_udf(ds, SumSigUDF(), roi=flat)["intensity"]
    assert_close(r.raw_data, sums.reshape(-1)[[3, 7]])
    # non-bool arrays are cast with a warning
    with pytest.warns(UserWarning, match="ROI dtype"):
        r = ctx.run_udf(ds, SumSigUDF(), roi=flat.astype(np.uint8))["intensity"]
    assert_close(r.raw_data, sums.reshape(-1)[[3, 7]])


def test_roi_is_copied(ctx, ds, arr):
    roi = random_roi(8)
    keep = roi.copy()
    ctx.run_udf(ds, [SumUDF(), KindsUDF()], roi=roi)
    np.testing.assert_array_equal(roi, keep)


# -- misc ------------------------------------------------------------------------------------
def test_sync_false_returns_awaitable(ctx, ds, arr):
    res = asyncio.run(ctx.run_udf(ds, SumSigUDF(), sync=False))
    assert_close(res["intensity"].data, frame_sums(arr).reshape(NAV).astype(np.float32))
    res2 = asyncio.run(ctx.run_udf(ds, [SumSigUDF(), SumUDF()], sync=False))
    assert isinstance(res2, tuple) and len(res2) == 2


def test_noop_udf_and_copy(ctx, ds):
    assert ctx.run_udf(ds, NoOpUDF()) == {}
    u = ResultOnlyUDF(foo=3)
    c = u.copy()
    assert type(c) is ResultOnlyUDF and c is not u and c.params.foo == 3


class DiscouragedMergeUDF(UDF):
    def get_result_buffers(self):
        return {"s": self.buffer(kind="sig", dtype="float64")}

    def process_tile(self, tile):
        self.results.s[:] += tile.sum(axis=0)

    def merge(self, dest, src):
        dest["s"][:] += src.s


def test_dict_access_in_merge_warns_but_works(ctx, ds, arr):
    with pytest.warns(UseDiscouragedWarning):
        res = ctx.run_udf(ds, DiscouragedMergeUDF())
    assert_close(res["s"].data, arr.reshape((-1,) + SIG).sum(axis=0).astype(np.float64))


class SigExtraUDF(UDF):
    """sig buffer with extra_shape, written from partial-signal tiles."""

    def get_result_buffers(self):
        return {"m": self.buffer(kind="sig", extra_shape=Shape((2,), sig_dims=0), dtype="f8")}

    def process_tile(self, tile):
        assert self.results.m.shape == tile.shape[1:] + (2,)
        self.results.m[..., 0] += tile.sum(axis=0)
        self.results.m[..., 1] += (tile.astype(np.float64) ** 2).sum(axis=0)

    def merge(self, dest, src):
        dest.m[:] += src.m


def test_sig_buffer_extra_shape_partial_tiles(ctx, arr):
    ds = ctx.load("memory", data=arr, sig_dims=2, num_partitions=3, tileshape=(3, 2, 3))
    res = ctx.run_udf(ds, SigExtraUDF())["m"]
    assert res.extra_shape == (2,)
    frames = arr.reshape((-1,) + SIG).astype(np.float64)
    expected = np.stack([frames.sum(axis=0), (frames**2).sum(axis=0)], axis=-1)
    assert_close(res.data, expected)


class Recorder(ProgressReporter):
    def __init__(self):
        self.events = []

    def start(self, state):
        self.events.append(("start", state.num_frames_total, state.num_part_total))

    def update(self, state):
        self.events.append(("update", state.num_frames_complete, state.num_part_complete))

    def end(self, state):
        self.events.append(("end", state.num_frames_complete, state.num_part_complete))


@pytest.mark.parametrize("udf_cls", [SumSigUDF, PrePostUDF])
def test_progress_reporter(ctx, arr, udf_cls):
    ds = ctx.load("memory", data=arr, sig_dims=2, num_partitions=4)
    rec = Recorder()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ctx.run_udf(ds, udf_cls(), progress=rec)
    assert rec.events[0] == ("start", 20, 4)
    assert rec.events[-1] == ("end", 20, 4)
    updates = [e for e in rec.events if e[0] == "update"]
    assert updates and updates[-1][1:] == (20, 4)
    frames_done = [e[1] for e in updates]
    assert frames_done == sorted(frames_done)


class AuxMergeUDF(UDF):
    def __init__(self, aux):
        super().__init__(aux=aux)

    def get_result_buffers(self):
        return {"x": self.buffer(kind="nav", dtype="float32")}

    def process_frame(self, frame):
        self.results.x[:] = frame.sum()

    def merge(self, dest, src):
        dest.x[:] = src.x * self.params.aux


def test_aux_data_view_in_merge(ctx, ds, arr):
    aux = np.arange(np.prod(NAV), dtype=np.float32).reshape(NAV)
    res = ctx.run_udf(ds, AuxMergeUDF(aux=UDF.aux_data(aux, kind="nav", dtype="float32")))
    assert_close(res["x"].data, (frame_sums(arr) * aux.reshape(-1)).reshape(NAV).astype("f4"))
