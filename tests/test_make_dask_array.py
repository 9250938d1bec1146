"""``ferrotem.contrib.daskadapter.make_dask_array`` against the source arrays (spec §8, §10.3,
§13.5): values, shape, dtype, chunking (one block per partition for small partitions, sub-blocks
that never cross a partition for large ones), ROI, ``workers`` and parameter validation, for
memory, raw, npy and dask datasets."""

from __future__ import annotations

import bisect
import math

import dask
import dask.array as da
import numpy as np
import pytest
from ferrotem.api import Context
from ferrotem.contrib import daskadapter
from ferrotem.contrib.daskadapter import block_frames, make_dask_array, plan_blocks
from ferrotem.executor.inline import InlineJobExecutor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.filterwarnings("ignore::ferrotem.io.dataset.dask.DaskRechunkWarning"),
]

SOURCES = ["memory", "raw", "npy", "dask"]


def make_data(seed: int, shape, dtype) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 1000, size=shape).astype(dtype)


@pytest.fixture(scope="module")
def ctx():
    c = Context(executor=InlineJobExecutor())
    yield c
    c.close()


def load(ctx, source: str, data: np.ndarray, tmp_path, num_partitions: int | None = None):
    """``data`` (sig_dims=2) as a dataset of kind ``source`` with ``num_partitions``."""
    nav, sig = data.shape[:-2], data.shape[-2:]
    parts = {} if num_partitions is None else {"num_partitions": num_partitions}
    if source == "memory":
        return ctx.load("memory", data=data, sig_dims=2, **parts)
    if source == "raw":
        path = tmp_path / "data.raw"
        data.tofile(path)
        return ctx.load(
            "raw", path=str(path), nav_shape=nav, sig_shape=sig, dtype=data.dtype, **parts
        )
    if source == "npy":
        path = tmp_path / "data.npy"
        np.save(path, data)
        return ctx.load("npy", path=str(path), sig_dims=2, **parts)
    if source == "dask":
        n = num_partitions or 1
        rows = nav[0]
        base = rows // n  # the remainder goes to the last chunk, as in the file datasets
        chunks = (base,) * (n - 1) + (rows - base * (n - 1),)
        arr = da.from_array(data, chunks=(chunks,) + (-1,) * (data.ndim - 1))
        return ctx.load("dask", arr, sig_dims=2, min_size=0)
    raise AssertionError(source)


@pytest.mark.parametrize("source", SOURCES)
def test_values_shape_dtype(ctx, tmp_path, source):
    data = make_data(0, (8, 8, 5, 6), "uint16")
    ds = load(ctx, source, data, tmp_path, num_partitions=3)
    arr, workers = make_dask_array(ds)
    assert isinstance(arr, da.Array)
    assert arr.shape == data.shape
    assert arr.dtype == np.float32
    result = arr.compute(workers=workers, scheduler="single-threaded")
    assert result.dtype == np.float32
    np.testing.assert_array_equal(result, data.astype(np.float32))
    # the seed's example
    sums = arr.sum(axis=(-1, -2)).compute(workers=workers)
    np.testing.assert_allclose(sums, data.astype(np.float64).sum(axis=(-1, -2)), rtol=1e-6)


@pytest.mark.parametrize("source", SOURCES)
def test_native_dtype_kept(ctx, tmp_path, source):
    data = make_data(1, (4, 6, 3, 3), "uint16")
    ds = load(ctx, source, data, tmp_path, num_partitions=2)
    arr, _ = make_dask_array(ds, dtype="uint16")
    assert arr.dtype == np.uint16
    out = arr.compute()
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, data)


@pytest.mark.parametrize("dtype", ["float64", np.int32, "complex64", np.dtype("u1")])
def test_dtype_parameter(ctx, tmp_path, dtype):
    data = make_data(2, (3, 5, 4, 4), "uint16") % 200
    ds = load(ctx, "memory", data, tmp_path, num_partitions=2)
    arr, _ = make_dask_array(ds, dtype=dtype)
    assert arr.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(arr.compute(), data.astype(dtype))


@pytest.mark.parametrize("source", SOURCES)
def test_one_chunk_per_partition_row_aligned(ctx, tmp_path, source):
    """A 16x16 scan in 3 partitions: boundaries on whole rows, so the reshape keeps one chunk
    per partition: ((5, 5, 6), (16,), ...)."""
    data = make_data(3, (16, 16, 2, 3), "float32")
    ds = load(ctx, source, data, tmp_path, num_partitions=3)
    parts = list(ds.get_partitions())
    assert len(parts) == 3
    arr, workers = make_dask_array(ds)
    assert arr.chunks == ((5, 5, 6), (16,), (2,), (3,))
    assert [p.stop - p.start for p in parts] == [80, 80, 96]
    assert arr.numblocks[0] == len(parts)
    for k, p in enumerate(parts):
        block = arr.blocks[k].compute()
        flat = data.reshape((-1, 2, 3))[p.start : p.stop]
        np.testing.assert_array_equal(block.reshape(flat.shape), flat)
    np.testing.assert_array_equal(arr.compute(workers=workers), data)


def test_one_chunk_per_partition_flat_nav(ctx, tmp_path):
    """Along the flat navigation axis (ROI layout) there is exactly one chunk per partition."""
    data = make_data(4, (7, 5, 2, 2), "float32")
    ds = load(ctx, "memory", data, tmp_path, num_partitions=4)
    parts = list(ds.get_partitions())
    roi = np.ones((7, 5), bool)
    arr, _ = make_dask_array(ds, roi=roi)
    assert arr.chunks[0] == tuple(p.stop - p.start for p in parts)
    np.testing.assert_array_equal(arr.compute(), data.reshape((-1, 2, 2)))


@pytest.mark.parametrize("source", SOURCES)
def test_random_roi(ctx, tmp_path, source):
    data = make_data(5, (8, 8, 4, 4), "uint16")
    ds = load(ctx, source, data, tmp_path, num_partitions=3)
    roi = np.random.default_rng(7).random((8, 8)) > 0.6
    roi[:3] = False  # the first partition selects nothing
    arr, workers = make_dask_array(ds, roi=roi)
    count = int(np.count_nonzero(roi))
    assert arr.shape == (count, 4, 4)
    assert arr.dtype == np.float32
    np.testing.assert_array_equal(arr.compute(workers=workers), data[roi].astype(np.float32))


def test_single_frame_roi(ctx, tmp_path):
    data = make_data(6, (16, 16, 4, 4), "float32")
    ds = load(ctx, "memory", data, tmp_path)
    roi = ds.roi[3, 7]
    arr, _ = make_dask_array(ds, roi=roi)
    assert arr.shape == (1, 4, 4)
    np.testing.assert_array_equal(arr.compute()[0], data[3, 7])


@pytest.mark.parametrize("source", ["memory", "dask"])
def test_empty_roi(ctx, tmp_path, source):
    data = make_data(7, (4, 4, 3, 2), "float32")
    ds = load(ctx, source, data, tmp_path, num_partitions=2)
    arr, _ = make_dask_array(ds, roi=np.zeros((4, 4), bool))
    assert arr.shape == (0, 3, 2)
    assert arr.dtype == np.float32
    assert arr.compute().shape == (0, 3, 2)


@pytest.mark.parametrize("scheduler", ["sync", "single-threaded", "threads"])
def test_workers_accepted_by_schedulers(ctx, tmp_path, scheduler):
    data = make_data(8, (6, 4, 3, 3), "float32")
    ds = load(ctx, "raw", data, tmp_path, num_partitions=3)
    arr, workers = make_dask_array(ds)
    assert isinstance(workers, dict)
    out = arr.sum(axis=(-1, -2)).compute(workers=workers, scheduler=scheduler)
    np.testing.assert_allclose(out, data.sum(axis=(-1, -2)), rtol=1e-6)
    (out2,) = dask.compute(arr, workers=workers, scheduler=scheduler)
    np.testing.assert_array_equal(out2, data)


def test_in_dask_computation(ctx, tmp_path):
    """The array composes with other Dask operations."""
    data = make_data(9, (6, 5, 4, 4), "uint16")
    ds = load(ctx, "npy", data, tmp_path, num_partitions=2)
    arr, _ = make_dask_array(ds, dtype="float64")
    lazy = (arr - arr.mean(axis=(0, 1))).max(axis=(2, 3))
    ref = data.astype(np.float64)
    np.testing.assert_allclose(lazy.compute(), (ref - ref.mean(axis=(0, 1))).max(axis=(2, 3)))


def test_1d_nav_and_3d_nav(ctx):
    for shape in [(9, 4, 4), (2, 3, 4, 3, 3)]:
        data = make_data(10, shape, "float32")
        ds = ctx.load("memory", data=data, sig_dims=2, num_partitions=2)
        arr, _ = make_dask_array(ds)
        assert arr.shape == shape
        np.testing.assert_array_equal(arr.compute(), data)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    nav=st.tuples(st.integers(1, 6), st.integers(1, 6)),
    sig=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    parts=st.integers(1, 5),
    roi_kind=st.sampled_from(["none", "random", "empty", "single"]),
    dtype=st.sampled_from(["uint8", "uint16", "int32", "float32", "float64", "complex64"]),
    seed=st.integers(0, 1000),
)
def test_random_memory(ctx, nav, sig, parts, roi_kind, dtype, seed):
    data = make_data(seed, nav + sig, dtype)
    n = math.prod(nav)
    rng = np.random.default_rng(seed)
    roi = {
        "none": None,
        "random": rng.random(nav) > 0.5,
        "empty": np.zeros(nav, bool),
        "single": np.arange(n).reshape(nav) == seed % n,
    }[roi_kind]
    ds = ctx.load("memory", data=data, sig_dims=2, num_partitions=min(parts, n))
    arr, workers = make_dask_array(ds, dtype=dtype, roi=roi)
    expected = data if roi is None else data[roi]
    assert arr.shape == expected.shape
    assert arr.dtype == np.dtype(dtype)
    parts = list(ds.get_partitions())
    if roi is not None:
        flat = roi.reshape(-1)
        selected = [int(flat[p.start : p.stop].sum()) for p in parts]
        assert arr.chunks[0] == tuple(k for k in selected if k) or (not any(selected))
    elif all(p.start % nav[1] == 0 for p in parts):
        # row-aligned partitions: one chunk per partition after the reshape
        assert arr.chunks[0] == tuple((p.stop - p.start) // nav[1] for p in parts)
    np.testing.assert_array_equal(arr.compute(workers=workers), expected)


# -- validation ---------------------------------------------------------------------------------
def test_bad_dtype(ctx):
    ds = ctx.load("memory", data=np.ones((2, 2, 2, 2), "f4"), sig_dims=2)
    with pytest.raises(TypeError, match="dtype"):
        make_dask_array(ds, dtype="not-a-dtype")


def test_unsupported_dtype(ctx):
    ds = ctx.load("memory", data=np.ones((2, 2, 2, 2), "f4"), sig_dims=2)
    with pytest.raises((TypeError, ValueError), match="dtype"):
        make_dask_array(ds, dtype=object)


@pytest.mark.parametrize("backend", ["cupy", "sparse.COO"])
def test_bad_array_backend(ctx, backend):
    ds = ctx.load("memory", data=np.ones((2, 2, 2, 2), "f4"), sig_dims=2)
    with pytest.raises(ValueError, match="array_backend"):
        make_dask_array(ds, array_backend=backend)


def test_numpy_array_backend(ctx):
    data = make_data(11, (3, 3, 2, 2), "float32")
    ds = ctx.load("memory", data=data, sig_dims=2)
    arr, _ = make_dask_array(ds, array_backend="numpy")
    np.testing.assert_array_equal(arr.compute(), data)


def test_not_a_dataset():
    with pytest.raises(TypeError, match="dataset"):
        make_dask_array(np.ones((2, 2, 2, 2)))


def test_bad_roi_shape(ctx):
    ds = ctx.load("memory", data=np.ones((4, 4, 2, 2), "f4"), sig_dims=2)
    with pytest.raises(ValueError, match="roi"):
        make_dask_array(ds, roi=np.ones((3, 3), bool))


# -- sub-blocks -----------------------------------------------------------------------------------
def _small_blocks(monkeypatch, max_bytes: int, min_bytes: int = 1) -> None:
    """Makes the block size small enough that tiny test datasets are split into sub-blocks, and
    the same whatever the machine's core count."""
    monkeypatch.setattr(daskadapter, "MAX_BLOCK_BYTES", max_bytes)
    monkeypatch.setattr(daskadapter, "MIN_BLOCK_BYTES", min_bytes)
    monkeypatch.setattr(daskadapter, "_worker_count", lambda: 1)
    monkeypatch.setattr(daskadapter, "BLOCKS_PER_WORKER", 1)


def _block_frames(arr, nav: tuple[int, ...]) -> list[np.ndarray]:
    """For each block of ``arr`` (in the dataset's shape), the flat navigation indices it
    holds, derived from ``arr.chunks`` alone."""
    n_nav = len(nav)
    offsets = [np.cumsum((0,) + c) for c in arr.chunks[:n_nav]]
    out = []
    for index in np.ndindex(*arr.numblocks[:n_nav]):
        ranges = [np.arange(offsets[a][i], offsets[a][i + 1]) for a, i in enumerate(index)]
        grid = np.meshgrid(*ranges, indexing="ij")
        out.append(np.ravel_multi_index(tuple(g.reshape(-1) for g in grid), nav))
    return out


def _assert_inside_partitions(blocks: list[np.ndarray], parts) -> None:
    """Every block is a contiguous run of frames inside one partition, and every partition
    boundary is a block boundary."""
    starts = np.array([p.start for p in parts])
    boundaries = set()
    for frames in blocks:
        frames = np.sort(frames)
        assert np.array_equal(frames, np.arange(frames[0], frames[-1] + 1)), "not contiguous"
        owner = np.searchsorted(starts, frames, side="right") - 1
        assert (owner == owner[0]).all(), f"block {frames[0]}..{frames[-1]} straddles partitions"
        boundaries.add(int(frames[0]))
    assert {p.start for p in parts} <= boundaries


@pytest.mark.parametrize("source", SOURCES)
def test_sub_blocks_values_and_boundaries(ctx, tmp_path, monkeypatch, source):
    """Partitions of several scan rows become several blocks of whole rows; values are the
    data's, and no block crosses a partition."""
    data = make_data(12, (12, 6, 4, 5), "uint16")
    frame_bytes = 4 * 5 * 4  # float32
    _small_blocks(monkeypatch, 2 * 6 * frame_bytes)  # two scan rows per block
    ds = load(ctx, source, data, tmp_path, num_partitions=3)
    parts = list(ds.get_partitions())
    arr, workers = make_dask_array(ds)
    if source != "dask":
        assert arr.chunks[0] == (2, 2, 2, 2, 2, 2)  # 4 rows per partition, 2 rows per block
    assert arr.numblocks[0] > len(parts)
    _assert_inside_partitions(_block_frames(arr, (12, 6)), parts)
    np.testing.assert_array_equal(arr.compute(workers=workers), data.astype(np.float32))
    np.testing.assert_allclose(
        arr.sum(axis=(0, 1)).compute(), data.astype(np.float64).sum(axis=(0, 1)), rtol=1e-6
    )


def test_rows_larger_than_a_block_are_cut_along_the_row(ctx, tmp_path, monkeypatch):
    """A scan row larger than a block is cut into equal pieces along the row, the same cut in
    every row (a chunk grid)."""
    data = make_data(13, (5, 7, 3, 3), "float32")
    _small_blocks(monkeypatch, 3 * 9 * 4)  # three frames per block
    ds = load(ctx, "raw", data, tmp_path, num_partitions=2)
    arr, _ = make_dask_array(ds)
    assert arr.chunks[:2] == ((1,) * 5, (3, 2, 2))
    _assert_inside_partitions(_block_frames(arr, (5, 7)), list(ds.get_partitions()))
    np.testing.assert_array_equal(arr.compute(), data)


def test_roi_sub_blocks(ctx, tmp_path, monkeypatch):
    data = make_data(14, (9, 7, 2, 3), "int32")
    _small_blocks(monkeypatch, 4 * 6 * 8)  # four frames per block (float64)
    ds = load(ctx, "npy", data, tmp_path, num_partitions=3)
    roi = np.random.default_rng(3).random((9, 7)) > 0.3
    arr, _ = make_dask_array(ds, dtype="float64", roi=roi)
    parts = list(ds.get_partitions())
    selected = [int(roi.reshape(-1)[p.start : p.stop].sum()) for p in parts]
    assert len(arr.chunks[0]) > len(parts)
    assert max(arr.chunks[0]) <= 4
    # the chunks add up to each partition's selection in turn: boundaries stay on partitions
    bounds = set(np.cumsum(arr.chunks[0]).tolist())
    assert set(np.cumsum(selected).tolist()) <= bounds
    np.testing.assert_array_equal(arr.compute(), data[roi].astype(np.float64))


def test_dask_chunk_read_once_for_all_its_blocks(ctx, monkeypatch):
    """A 'dask' dataset's chunk is a dependency of every sub-block of its partition, computed
    once, not once per block."""
    data = make_data(15, (8, 4, 3, 3), "float32")
    calls = []

    def chunk(lo, hi):
        calls.append(lo)
        return data[lo:hi]

    parts = [
        da.from_delayed(dask.delayed(chunk)(lo, lo + 4), shape=(4, 4, 3, 3), dtype=data.dtype)
        for lo in (0, 4)
    ]
    ds = ctx.load("dask", da.concatenate(parts), sig_dims=2, min_size=0)
    _small_blocks(monkeypatch, 4 * 9 * 4)  # one row (4 frames) per block
    arr, _ = make_dask_array(ds)
    assert arr.chunks[0] == (1,) * 8
    np.testing.assert_array_equal(arr.compute(scheduler="threads"), data)
    assert sorted(calls) == [0, 4]


def test_partitions_not_on_rows_keep_one_block_each(ctx, monkeypatch):
    """Fewer scan rows than partitions: partitions are cut mid-row, so no row-aligned grid
    exists; one block per partition, as before sub-blocks."""
    data = make_data(16, (2, 9, 2, 2), "float32")
    _small_blocks(monkeypatch, 4 * 4)
    ds = ctx.load("memory", data=data, sig_dims=2, num_partitions=4)
    assert any(p.start % 9 for p in ds.get_partitions())
    arr, _ = make_dask_array(ds)
    np.testing.assert_array_equal(arr.compute(), data)


def test_real_frames_split_without_patching(ctx, tmp_path):
    """With the shipped sizes, a 16 MiB float32 dataset of 256x256 frames (two partitions) is
    read in blocks of whole rows, several per partition."""
    data = np.arange(8 * 8 * 256 * 256, dtype=np.float32).reshape(8, 8, 256, 256) % 997
    ds = load(ctx, "raw", data, tmp_path, num_partitions=2)
    arr, _ = make_dask_array(ds, dtype="float32")
    assert arr.numblocks[0] > 2
    assert max(arr.chunks[0]) * 8 * 256 * 256 * 4 <= daskadapter.MAX_BLOCK_BYTES
    _assert_inside_partitions(_block_frames(arr, (8, 8)), list(ds.get_partitions()))
    np.testing.assert_array_equal(arr.sum(axis=(0, 1)).compute(), data.sum(axis=(0, 1)))


def test_block_frames_rule():
    mib = 1 << 20
    frame = 256 * 256 * 4
    # the benchmark's 4096 frames: blocks of MAX_BLOCK_BYTES
    assert block_frames(4096, frame, 2) * frame == daskadapter.MAX_BLOCK_BYTES
    # 64 frames on 2 workers: 2 MiB blocks give each worker BLOCKS_PER_WORKER of them
    per = block_frames(64, frame, 2)
    assert math.ceil(64 / per) == 2 * daskadapter.BLOCKS_PER_WORKER
    # never below MIN_BLOCK_BYTES, never below one frame
    assert block_frames(8, frame, 16) * frame == daskadapter.MIN_BLOCK_BYTES
    assert block_frames(3, 64 * mib, 2) == 1


@settings(max_examples=60, deadline=None)
@given(
    nav=st.lists(st.integers(1, 7), min_size=1, max_size=3).map(tuple),
    parts=st.integers(1, 6),
    per_block=st.integers(1, 40),
    roi_density=st.sampled_from([None, 0.0, 0.3, 1.0]),
    seed=st.integers(0, 10_000),
)
def test_plan_covers_each_frame_once_inside_partitions(nav, parts, per_block, roi_density, seed):
    """plan_blocks against an independent walk over the frames: every frame (or selected
    frame) exactly once, in flat order, every block inside one partition, the chunk grid
    consistent with the blocks."""
    from ferrotem import _core

    n = math.prod(nav)
    row = nav[-1] if len(nav) >= 2 else 1
    bounds = [tuple(b) for b in _core.split_frames(n, min(parts, n), row)]
    roi = None
    if roi_density is not None:
        roi = np.random.default_rng(seed).random(n) < roi_density
    plan = plan_blocks(nav, (2,), bounds, per_block, roi)
    starts = [s for s, _ in bounds]
    seen = []
    for block in plan.blocks:
        frames = (
            block.frames
            if block.frames is not None
            else np.arange(block.start, block.start + block.n_frames)
        )
        assert len(frames) == block.n_frames > 0
        owner = {bisect.bisect_right(starts, int(f)) - 1 for f in frames}
        assert owner == {block.partition}
        shape = tuple(c[i] for c, i in zip(plan.chunks, block.grid, strict=True))
        assert math.prod(shape[: len(shape) - 1]) == block.n_frames
        seen.extend(int(f) for f in frames)
    expected = np.arange(n) if roi is None else np.flatnonzero(roi)
    assert sorted(seen) == expected.tolist()
    assert tuple(sum(c) for c in plan.chunks) == plan.shape
    if roi is None and plan.reshape is None:
        assert plan.shape == nav + (2,)
        # blocks laid out on the grid in flat order read the frames in flat order
        by_grid = sorted(plan.blocks, key=lambda b: b.grid)
        assert [b.start for b in by_grid] == sorted(b.start for b in plan.blocks)
    if roi is None and plan.reshape is None and per_block < n:
        assert max(b.n_frames for b in plan.blocks) <= max(per_block, _min_unit(nav, per_block))


def _min_unit(nav: tuple[int, ...], per_block: int) -> int:
    """The smallest run a block can be: whole trailing axes, as the chunk grid needs."""
    for k in range(len(nav)):
        if math.prod(nav[k + 1 :]) <= per_block:
            return math.prod(nav[k + 1 :])
    return 1
