"""Property-based tests: every UDF result checked against the plain numpy computation over
many nav/sig shapes, dtypes, partition counts, tile shapes, ROIs and both executors."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import (
    ALL_DTYPES,
    EXECUTORS,
    assert_close,
    dataset_shapes,
    expand_nav,
    input_dtype_for,
    make_data,
    rois,
    selected,
    tileshapes,
)
from ferrotem.udf.base import UDF
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF
from hypothesis import given, settings
from hypothesis import strategies as st


def _wide(dtype: np.dtype) -> np.dtype:
    return np.dtype(np.complex128 if np.dtype(dtype).kind == "c" else np.float64)


def _flat(frames: np.ndarray) -> np.ndarray:
    """``(n, *sig)`` as ``(n, sig_size)`` (also for n == 0)."""
    return frames.reshape(frames.shape[0], int(np.prod(frames.shape[1:])))


def _load(ctx, arr, sig, num_partitions, tileshape):
    return ctx.load(
        "memory",
        data=arr,
        sig_dims=len(sig),
        num_partitions=num_partitions,
        tileshape=tileshape,
    )


# -- built-in UDFs -------------------------------------------------------------------------------
@given(
    shapes=dataset_shapes(),
    dtype=st.sampled_from(ALL_DTYPES),
    executor=st.sampled_from(EXECUTORS),
    which=st.sampled_from(["sum", "sumsig", "both"]),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
@settings(max_examples=40)
def test_sum_and_sumsig_match_numpy(contexts, shapes, dtype, executor, which, seed, data):
    nav, sig = shapes
    arr = make_data(seed, nav + sig, dtype)
    n = int(np.prod(nav))
    num_partitions = data.draw(st.integers(1, n), label="num_partitions")
    tileshape = data.draw(tileshapes(sig), label="tileshape")
    roi = data.draw(rois(nav), label="roi")
    ctx = contexts[executor]
    ds = _load(ctx, arr, sig, num_partitions, tileshape)
    assert tuple(ds.shape) == nav + sig
    assert ds.dtype == np.dtype(dtype)

    udfs = {"sum": [SumUDF()], "sumsig": [SumSigUDF()], "both": [SumUDF(), SumSigUDF()]}[which]
    results = ctx.run_udf(ds, udfs, roi=roi)
    assert isinstance(results, tuple) and len(results) == len(udfs)

    in_dtype = input_dtype_for(dtype)
    frames = selected(arr, len(sig), roi)
    for udf, res in zip(udfs, results, strict=True):
        assert list(res) == ["intensity"]
        buf = res["intensity"]
        if isinstance(udf, SumUDF):
            assert buf.kind == "sig"
            assert buf.dtype == in_dtype
            expected = frames.astype(_wide(in_dtype)).sum(axis=0)
            assert buf.data.shape == sig
            assert buf.raw_data.shape == sig
            assert_close(buf.data, expected, in_dtype)
            assert buf.valid_mask.all()
        else:
            out_dtype = np.result_type(in_dtype, np.float32)
            assert buf.kind == "nav"
            assert buf.dtype == out_dtype
            per_frame = _flat(frames).astype(_wide(in_dtype)).sum(axis=1)
            assert buf.raw_data.shape == (len(frames),)
            assert_close(buf.raw_data, per_frame, out_dtype)
            assert_close(buf.data, expand_nav(per_frame, nav, roi, np.nan), out_dtype)
            assert_close(np.array(buf), buf.data)
            expected_mask = np.ones(nav, bool) if roi is None else np.asarray(roi, bool)
            np.testing.assert_array_equal(buf.valid_mask, expected_mask)


@pytest.mark.parametrize("dtype", ["u1", "u2", "i2", "i4", "u4", "f4", "f8", "c8", ">u2", ">f4"])
@pytest.mark.parametrize("udf_dtype", ["float64", UDF.USE_NATIVE_DTYPE, "float32"])
def test_sumudf_dtype_parameter_sets_input_dtype(ctx, dtype, udf_dtype):
    """SumUDF(dtype=...) is the preferred input dtype; ``intensity`` has the input dtype."""
    arr = make_data(7, (5, 3, 4, 2), dtype)
    ds = ctx.load("memory", data=arr, sig_dims=2, num_partitions=3)
    res = ctx.run_udf(ds, SumUDF(dtype=udf_dtype))
    expected_dtype = input_dtype_for(dtype, udf_dtype)
    buf = res["intensity"]
    assert buf.dtype == expected_dtype
    if udf_dtype is UDF.USE_NATIVE_DTYPE:
        assert buf.dtype.kind == np.dtype(dtype).kind
        assert buf.dtype.itemsize == np.dtype(dtype).itemsize
    expected = arr.reshape(15, 4, 2).astype(_wide(expected_dtype)).sum(axis=0)
    assert_close(
        buf.data, expected.astype(expected_dtype) if expected_dtype.kind in "ui" else expected
    )


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        ("u1", "float32"),
        ("u2", "float32"),
        ("i2", "float32"),
        ("u4", "float64"),
        ("i4", "float64"),
        ("i8", "float64"),
        ("f4", "float32"),
        ("f8", "float64"),
        ("c8", "complex64"),
        ("c16", "complex128"),
        (">u2", "float32"),
        (">f4", "float32"),
    ],
)
def test_input_dtype_rules(ctx, dtype, expected):
    """Spec §2.9 examples: what a default (float32-preferring) UDF receives."""
    arr = make_data(1, (2, 2, 3, 3), dtype)
    ds = ctx.load("memory", data=arr, sig_dims=2)
    res = ctx.run_udf(ds, [SumUDF(), _DtypeProbeUDF()])
    assert res[0]["intensity"].dtype == np.dtype(expected)
    np.testing.assert_array_equal(
        res[1]["kind_size"].data, [ord(np.dtype(expected).kind), np.dtype(expected).itemsize]
    )


class _DtypeProbeUDF(UDF):
    """Records the dtype of the tiles it is given."""

    def get_result_buffers(self):
        return {"kind_size": self.buffer(kind="single", extra_shape=(2,), dtype="int64")}

    def process_tile(self, tile):
        assert tile.dtype == self.meta.input_dtype
        self.results.kind_size[:] = (ord(tile.dtype.kind), tile.dtype.itemsize)

    def merge(self, dest, src):
        dest.kind_size[:] = src.kind_size


# -- Python UDFs ---------------------------------------------------------------------------------
class TileOracleUDF(UDF):
    """Reconstructs every tile into a nav buffer and records meta facts per tile."""

    def get_result_buffers(self):
        shape = self.meta.dataset_shape
        nav_dims = len(tuple(shape.nav))
        in_dt = self.meta.input_dtype
        return {
            "frames": self.buffer(kind="nav", extra_shape=tuple(shape.sig), dtype=in_dt),
            "pixsum": self.buffer(kind="sig", dtype=in_dt),
            "framesum": self.buffer(kind="nav", dtype=in_dt),
            "cover": self.buffer(kind="sig", dtype="int64"),
            "tileidx": self.buffer(kind="sig", dtype="int64"),
            "order": self.buffer(kind="nav", dtype="int64"),
            "coords": self.buffer(kind="nav", extra_shape=(nav_dims,), dtype="int64"),
        }

    def process_tile(self, tile):
        meta = self.meta
        n = tile.shape[0]
        sig_slice = meta.sig_slice
        assert tile.shape[1:] == tuple(sig_slice.shape)
        assert meta.slice.shape[0] == n
        assert tuple(meta.slice.shape)[1:] == tuple(sig_slice.shape)
        self.results.frames[(slice(None),) + sig_slice.get()] = tile
        self.results.pixsum[:] += tile.sum(axis=0)
        self.results.framesum[:] += tile.reshape(n, -1).sum(axis=1)
        self.results.cover[:] += n
        self.results.tileidx[:] = meta.tiling_scheme_idx
        self.results.order[:] = meta.slice.origin[0] + np.arange(n)
        self.results.coords[:] = meta.coordinates

    def merge(self, dest, src):
        dest.frames[:] = src.frames
        dest.framesum[:] = src.framesum
        dest.order[:] = src.order
        dest.coords[:] = src.coords
        dest.pixsum[:] += src.pixsum
        dest.cover[:] += src.cover
        dest.tileidx[:] = src.tileidx


class FrameOracleUDF(UDF):
    """process_frame with nav (with and without extra_shape), sig and single buffers."""

    def get_result_buffers(self):
        return {
            "total": self.buffer(kind="nav", dtype=self.meta.input_dtype),
            "stats": self.buffer(kind="nav", extra_shape=(2,), dtype="float64"),
            "maxabs": self.buffer(kind="sig", dtype="float64"),
            "count": self.buffer(kind="single", dtype="int64"),
        }

    def process_frame(self, frame):
        assert frame.shape == tuple(self.meta.dataset_shape.sig)
        assert self.results.total.shape == (1,)
        assert self.results.stats.shape == (2,)
        assert self.meta.coordinates.shape == (1, len(tuple(self.meta.dataset_shape.nav)))
        self.results.total[:] = frame.sum()
        self.results.stats[:] = (np.abs(frame).sum(), np.abs(frame).max())
        self.results.maxabs[:] = np.maximum(self.results.maxabs, np.abs(frame))
        self.results.count[:] += 1

    def merge(self, dest, src):
        dest.total[:] = src.total
        dest.stats[:] = src.stats
        dest.maxabs[:] = np.maximum(dest.maxabs, src.maxabs)
        dest.count[:] += src.count


class PartitionOracleUDF(UDF):
    """process_partition: the whole partition (ROI-selected frames) as one array."""

    def get_result_buffers(self):
        return {
            "means": self.buffer(kind="nav", dtype=np.result_type(self.meta.input_dtype, "f8")),
            "total": self.buffer(kind="single", extra_shape=(1,), dtype="complex128"),
            "nframes": self.buffer(kind="single", dtype="int64"),
        }

    def process_partition(self, partition):
        n = partition.shape[0]
        assert partition.shape[1:] == tuple(self.meta.dataset_shape.sig)
        assert self.meta.partition_shape[0] == n
        assert self.meta.slice.shape[0] == n
        self.results.means[:] = partition.reshape(n, -1).mean(axis=1)
        self.results.total[:] += partition.sum()
        self.results.nframes[:] += n

    def merge(self, dest, src):
        dest.means[:] = src.means
        dest.total[:] += src.total
        dest.nframes[:] += src.nframes


def _expected_tileidx(sig, tileshape, tile_only):
    if tileshape is None or not tile_only:
        return np.zeros(sig, dtype=np.int64)
    part = tileshape[1:]
    grid = tuple(-(-s // p) for s, p in zip(sig, part, strict=True))
    if int(np.prod(grid)) == 1:
        return np.zeros(sig, dtype=np.int64)
    idx = np.indices(sig)
    cells = tuple(i // p for i, p in zip(idx, part, strict=True))
    return np.ravel_multi_index(cells, grid).astype(np.int64)


@given(
    shapes=dataset_shapes(),
    dtype=st.sampled_from(ALL_DTYPES),
    executor=st.sampled_from(EXECUTORS),
    combo=st.sampled_from(["tile", "frame", "partition", "all"]),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
@settings(max_examples=40)
def test_python_udfs_match_numpy(contexts, shapes, dtype, executor, combo, seed, data):
    nav, sig = shapes
    arr = make_data(seed, nav + sig, dtype)
    n = int(np.prod(nav))
    num_partitions = data.draw(st.integers(1, n), label="num_partitions")
    tileshape = data.draw(tileshapes(sig), label="tileshape")
    roi = data.draw(rois(nav), label="roi")
    ctx = contexts[executor]
    ds = _load(ctx, arr, sig, num_partitions, tileshape)
    classes = {
        "tile": [TileOracleUDF],
        "frame": [FrameOracleUDF],
        "partition": [PartitionOracleUDF],
        "all": [TileOracleUDF, FrameOracleUDF, PartitionOracleUDF],
    }[combo]
    udfs = [cls() for cls in classes]
    results = ctx.run_udf(ds, udfs, roi=roi)

    in_dtype = input_dtype_for(dtype)
    frames = selected(arr, len(sig), roi).astype(in_dtype)
    k = len(frames)
    wide = _wide(in_dtype)
    flat_roi = None if roi is None else np.asarray(roi).reshape(-1)
    for udf, res in zip(udfs, results, strict=True):
        if isinstance(udf, TileOracleUDF):
            assert set(res) == {
                "frames",
                "pixsum",
                "framesum",
                "cover",
                "tileidx",
                "order",
                "coords",
            }
            assert res["frames"].data.shape == nav + sig
            assert_close(res["frames"].raw_data, frames)
            assert_close(res["frames"].data, expand_nav(frames, nav, roi, np.nan))
            assert_close(res["pixsum"].data, frames.astype(wide).sum(axis=0), in_dtype)
            per_frame = _flat(frames).astype(wide).sum(axis=1)
            assert_close(res["framesum"].data, expand_nav(per_frame, nav, roi, np.nan), in_dtype)
            np.testing.assert_array_equal(res["cover"].data, np.full(sig, k))
            if k:
                np.testing.assert_array_equal(
                    res["tileidx"].data, _expected_tileidx(sig, tileshape, combo == "tile")
                )
            order = res["order"]
            assert order.dtype == np.int64
            np.testing.assert_array_equal(order.raw_data, np.arange(k))
            np.testing.assert_array_equal(order.data, expand_nav(np.arange(k), nav, roi, 0))
            all_coords = np.stack(np.unravel_index(np.arange(n), nav), axis=-1)
            sel_coords = all_coords if flat_roi is None else all_coords[flat_roi]
            np.testing.assert_array_equal(res["coords"].raw_data, sel_coords)
            assert res["coords"].data.shape == nav + (len(nav),)
        elif isinstance(udf, FrameOracleUDF):
            totals = _flat(frames).astype(wide).sum(axis=1)
            assert res["total"].dtype == in_dtype
            assert_close(res["total"].data, expand_nav(totals, nav, roi, np.nan), in_dtype)
            absf = _flat(np.abs(frames.astype(wide)))
            stats = np.stack([absf.sum(axis=1), absf.max(axis=1, initial=0)], axis=-1)
            assert res["stats"].data.shape == nav + (2,)
            assert_close(res["stats"].raw_data, stats, in_dtype)
            assert_close(res["stats"].data, expand_nav(stats, nav, roi, np.nan), in_dtype)
            maxabs = np.abs(frames.astype(wide)).max(axis=0, initial=0)
            assert_close(res["maxabs"].data, maxabs, in_dtype)
            np.testing.assert_array_equal(res["count"].data, [k])
        else:
            means = _flat(frames).astype(wide).mean(axis=1)
            assert_close(res["means"].raw_data, means, in_dtype)
            assert_close(res["means"].data, expand_nav(means, nav, roi, np.nan), in_dtype)
            assert res["total"].data.shape == (1,)
            assert_close(res["total"].data, [frames.astype(np.complex128).sum()], in_dtype)
            np.testing.assert_array_equal(res["nframes"].data, [k])


@given(
    shapes=dataset_shapes(),
    executor=st.sampled_from(EXECUTORS),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
@settings(max_examples=25)
def test_ctx_map_matches_numpy(contexts, shapes, executor, seed, data):
    nav, sig = shapes
    arr = make_data(seed, nav + sig, "u2")
    roi = data.draw(rois(nav), label="roi")
    ctx = contexts[executor]
    ds = ctx.load("memory", data=arr, sig_dims=len(sig), num_partitions=min(3, int(np.prod(nav))))
    buf = ctx.map(ds, lambda frame: np.array([frame.max(), frame.min()]), roi=roi)
    frames = selected(arr, len(sig), roi).astype(np.float32).reshape(-1, int(np.prod(sig)))
    expected = np.stack([frames.max(axis=1, initial=0), frames.min(axis=1, initial=99)], -1)
    assert buf.dtype == np.float32
    assert_close(buf.data, expand_nav(expected.astype(np.float32), nav, roi, np.nan))
