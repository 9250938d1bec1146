"""``ferrotem.contrib.daskadapter.make_dask_array`` against the source arrays (spec §8, §10.3,
§13.5): values, shape, dtype, chunking, ROI, ``workers`` and parameter validation, for memory,
raw, npy and dask datasets."""

from __future__ import annotations

import math

import dask
import dask.array as da
import numpy as np
import pytest
from ferrotem.api import Context
from ferrotem.contrib.daskadapter import make_dask_array
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
