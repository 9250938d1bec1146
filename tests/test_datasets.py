"""Datasets (spec §4): 'memory', 'raw' and 'npy', read back and compared with numpy, including
byte order, sync_offset, Fortran-ordered .npy files, shape overrides, partitioning, and files
that shrink after loading."""

from __future__ import annotations

import itertools
import pickle

import numpy as np
import pytest
from conftest import ALL_DTYPES, EXECUTORS, assert_close, input_dtype_for, make_data
from ferrotem.common.exceptions import DataSetException, TruncatedFileError
from ferrotem.udf.base import UDF, NoOpUDF
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF
from hypothesis import given, settings
from hypothesis import strategies as st


class CopyUDF(UDF):
    """Returns every frame unchanged, in the dataset's own dtype."""

    def get_preferred_input_dtype(self):
        return self.USE_NATIVE_DTYPE

    def get_result_buffers(self):
        sig = tuple(self.meta.dataset_shape.sig)
        return {"frames": self.buffer(kind="nav", extra_shape=sig, dtype=self.meta.input_dtype)}

    def process_tile(self, tile):
        self.results.frames[:] = tile


def read_back(ctx, ds, roi=None):
    """The dataset's frames as the engine delivers them, shaped like the dataset."""
    return ctx.run_udf(ds, CopyUDF(), roi=roi)["frames"].data


def shifted(frames: np.ndarray, offset: int, n: int) -> np.ndarray:
    """Oracle for sync_offset: dataset frame i is file frame i + offset, blank if outside."""
    out = np.zeros((n,) + frames.shape[1:], dtype=frames.dtype)
    for i in range(n):
        j = i + offset
        if 0 <= j < len(frames):
            out[i] = frames[j]
    return out


# -- memory ------------------------------------------------------------------------------------
def test_memory_datashape_gives_float32_zeros(ctx):
    ds = ctx.load("memory", datashape=(4, 3, 5, 6), sig_dims=2)
    assert tuple(ds.shape) == (4, 3, 5, 6)
    assert ds.shape.sig_dims == 2 and tuple(ds.shape.nav) == (4, 3)
    assert ds.dtype == np.float32
    res = ctx.run_udf(ds, [SumUDF(), SumSigUDF()])
    np.testing.assert_array_equal(res[0]["intensity"].data, np.zeros((5, 6), np.float32))
    np.testing.assert_array_equal(res[1]["intensity"].data, np.zeros((4, 3), np.float32))


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_memory_roundtrip(ctx, dtype):
    data = make_data(11, (3, 4, 2, 5), dtype)
    ds = ctx.load("memory", data=data, sig_dims=2, num_partitions=3)
    assert ds.dtype == np.dtype(dtype)
    out = read_back(ctx, ds)
    np.testing.assert_array_equal(out, data)
    assert out.dtype == np.dtype(dtype).newbyteorder("=")


def test_memory_nav_sig_shape_reinterpret(ctx):
    data = make_data(12, (6, 20), "f4")
    ds = ctx.load("memory", data=data, nav_shape=(2, 3), sig_shape=(4, 5))
    assert tuple(ds.shape) == (2, 3, 4, 5) and ds.shape.sig_dims == 2
    np.testing.assert_array_equal(read_back(ctx, ds), data.reshape(2, 3, 4, 5))
    # sig_dims inferred from nav_shape
    ds = ctx.load("memory", data=data.reshape(2, 3, 20), nav_shape=(2, 3))
    assert tuple(ds.shape.sig) == (20,)
    # a subset: fewer frames than the data holds
    ds = ctx.load("memory", data=data, nav_shape=(4,), sig_shape=(20,))
    np.testing.assert_array_equal(read_back(ctx, ds), data[:4])


@pytest.mark.parametrize("offset", [-3, -1, 0, 2, 5])
def test_memory_sync_offset(ctx, offset):
    data = make_data(13, (6, 3, 3), "u2")
    ds = ctx.load("memory", data=data, sig_dims=2, sync_offset=offset, num_partitions=2)
    np.testing.assert_array_equal(read_back(ctx, ds), shifted(data, offset, 6))


def test_memory_default_partitions_and_partition_layout(ctx):
    import psutil

    data = make_data(14, (10, 7, 2, 2), "f4")
    ds = ctx.load("memory", data=data, sig_dims=2)
    cores = psutil.cpu_count(logical=False) or 1
    assert ds.get_num_partitions() == min(cores, 70)
    for n in (1, 3, 7, 70):
        ds = ctx.load("memory", data=data, sig_dims=2, num_partitions=n)
        parts = list(ds.get_partitions())
        assert len(parts) == n == ds.get_num_partitions()
        # contiguous, in order, covering every frame exactly once
        assert parts[0].start == 0 and parts[-1].stop == 70
        for a, b in itertools.pairwise(parts):
            assert a.stop == b.start and a.stop > a.start
        assert [p.index for p in parts] == list(range(n))
        assert all(tuple(p.shape) == (p.stop - p.start, 2, 2) for p in parts)
        assert parts[0].get_locations() is None


def test_more_partitions_than_frames_warns(ctx):
    data = make_data(15, (3, 2, 2), "f4")
    ds = ctx.load("memory", data=data, sig_dims=2, num_partitions=10)
    with pytest.warns(RuntimeWarning, match="num_partitions"):
        res = ctx.run_udf(ds, SumSigUDF())
    assert_close(res["intensity"].data, data.sum(axis=(1, 2)))


# -- raw -------------------------------------------------------------------------------------
@given(
    dtype=st.sampled_from(ALL_DTYPES),
    nav_dims=st.integers(1, 3),
    sig_dims=st.integers(1, 2),
    executor=st.sampled_from(EXECUTORS),
    offset_frac=st.floats(-0.9, 0.9),
    seed=st.integers(0, 1000),
    data=st.data(),
)
@settings(max_examples=30)
def test_raw_matches_numpy(
    contexts, tmp_path_factory, dtype, nav_dims, sig_dims, executor, offset_frac, seed, data
):
    nav = tuple(data.draw(st.lists(st.integers(1, 4), min_size=nav_dims, max_size=nav_dims)))
    sig = tuple(data.draw(st.lists(st.integers(1, 5), min_size=sig_dims, max_size=sig_dims)))
    n = int(np.prod(nav))
    arr = make_data(seed, nav + sig, dtype)
    path = tmp_path_factory.mktemp("raw") / "data.raw"
    arr.tofile(path)
    offset = int(offset_frac * n)
    num_partitions = data.draw(st.integers(1, n))
    ctx = contexts[executor]
    ds = ctx.load(
        "raw",
        path=str(path),
        nav_shape=nav,
        sig_shape=sig,
        dtype=dtype,
        sync_offset=offset,
        num_partitions=num_partitions,
    )
    assert tuple(ds.shape) == nav + sig and ds.shape.sig_dims == sig_dims
    assert ds.dtype == np.dtype(dtype)
    frames = shifted(arr.reshape((n,) + sig), offset, n)
    np.testing.assert_array_equal(read_back(ctx, ds), frames.reshape(nav + sig))
    in_dtype = input_dtype_for(dtype)
    wide = np.complex128 if in_dtype.kind == "c" else np.float64
    res = ctx.run_udf(ds, [SumUDF(), SumSigUDF()])
    assert_close(res[0]["intensity"].data, frames.astype(wide).sum(axis=0), in_dtype)
    per_frame = frames.reshape(n, -1).astype(wide).sum(axis=1).reshape(nav)
    assert_close(res[1]["intensity"].data, per_frame, in_dtype)


def test_raw_big_endian_differs_from_little(ctx, tmp_path):
    arr = (np.arange(2 * 3 * 4, dtype="u2").reshape(2, 3, 4) * 257 + 1).astype(">u2")
    path = tmp_path / "be.raw"
    arr.tofile(path)
    be = ctx.load("raw", path=path, nav_shape=(2,), sig_shape=(3, 4), dtype=">u2")
    le = ctx.load("raw", path=path, nav_shape=(2,), sig_shape=(3, 4), dtype="<u2")
    np.testing.assert_array_equal(read_back(ctx, be), arr)
    np.testing.assert_array_equal(read_back(ctx, le), arr.view("<u2"))


def test_raw_larger_file_reads_prefix_and_deprecated_aliases(ctx, tmp_path):
    arr = make_data(16, (10, 3, 3), "f4")
    path = tmp_path / "big.raw"
    arr.tofile(path)
    ds = ctx.load("raw", path=path, nav_shape=(2, 2), sig_shape=(3, 3), dtype="float32")
    np.testing.assert_array_equal(read_back(ctx, ds), arr[:4].reshape(2, 2, 3, 3))
    with (
        pytest.warns(FutureWarning, match="scan_size"),
        pytest.warns(FutureWarning, match="detector_size"),
    ):
        ds = ctx.load("raw", path=path, scan_size=(5,), detector_size=(3, 3), dtype="f4")
    np.testing.assert_array_equal(read_back(ctx, ds), arr[:5])


def test_raw_with_roi(ctx, tmp_path):
    arr = make_data(17, (4, 4, 3, 2), "i2")
    path = tmp_path / "roi.raw"
    arr.tofile(path)
    ds = ctx.load(
        "raw", path=path, nav_shape=(4, 4), sig_shape=(3, 2), dtype="i2", num_partitions=3
    )
    roi = np.random.default_rng(0).random((4, 4)) < 0.4
    out = ctx.run_udf(ds, CopyUDF(), roi=roi)["frames"]
    np.testing.assert_array_equal(out.raw_data, arr[roi])
    np.testing.assert_array_equal(out.data[~roi], 0)


@pytest.mark.parametrize(
    "udf_factory",
    [SumUDF, SumSigUDF, lambda: SumUDF(dtype=UDF.USE_NATIVE_DTYPE), CopyUDF, NoOpUDF],
    ids=["sum-native", "sumsig-native", "sum-int", "python", "noop"],
)
def test_raw_truncated_after_load_raises(ctx, tmp_path, udf_factory):
    arr = make_data(18, (6, 4, 4), "u2")
    path = tmp_path / "trunc.raw"
    arr.tofile(path)
    ds = ctx.load("raw", path=path, nav_shape=(6,), sig_shape=(4, 4), dtype="u2", num_partitions=2)
    with open(path, "r+b") as f:
        f.truncate(5 * 4 * 4 * 2 - 3)
    with pytest.raises(TruncatedFileError, match=r"trunc.raw") as info:
        ctx.run_udf(ds, udf_factory())
    assert isinstance(info.value, OSError)
    assert isinstance(info.value, DataSetException)
    # the engine is still usable afterwards
    arr.tofile(path)
    res = ctx.run_udf(ds, SumSigUDF())
    assert_close(res["intensity"].data, arr.reshape(6, -1).sum(axis=1).astype(np.float32))


def test_raw_deleted_after_load_raises(ctx, tmp_path):
    arr = make_data(19, (4, 2, 2), "f4")
    path = tmp_path / "gone.raw"
    arr.tofile(path)
    ds = ctx.load("raw", path=path, nav_shape=(4,), sig_shape=(2, 2), dtype="f4")
    ds2 = pickle.loads(pickle.dumps(ds))  # a fresh copy must reopen the file
    path.unlink()
    with pytest.raises(OSError):
        ctx.run_udf(ds2, SumSigUDF())


# -- npy -------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("order", ["C", "F"])
def test_npy_c_and_fortran_order(ctx, tmp_path, dtype, order):
    arr = make_data(20, (3, 4, 5, 2), dtype)
    stored = np.asfortranarray(arr) if order == "F" else arr
    path = tmp_path / "data.npy"
    np.save(path, stored)
    ds = ctx.load("npy", path=path, num_partitions=3)
    assert tuple(ds.shape) == (3, 4, 5, 2)
    assert ds.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(read_back(ctx, ds), arr)
    in_dtype = input_dtype_for(dtype)
    res = ctx.run_udf(ds, SumSigUDF())
    wide = np.complex128 if in_dtype.kind == "c" else np.float64
    assert_close(res["intensity"].data, arr.astype(wide).sum(axis=(2, 3)), in_dtype)


@pytest.mark.parametrize("order", ["C", "F"])
def test_npy_sig_dims_and_overrides(ctx, tmp_path, order):
    arr = make_data(21, (4, 3, 6), "u2")
    path = tmp_path / "o.npy"
    np.save(path, np.asfortranarray(arr) if order == "F" else arr)
    ds = ctx.load("npy", path=path, sig_dims=1)
    assert tuple(ds.shape.nav) == (4, 3) and tuple(ds.shape.sig) == (6,)
    np.testing.assert_array_equal(read_back(ctx, ds), arr)
    # overrides reinterpret the C-order data from the start
    ds = ctx.load("npy", path=path, nav_shape=(6,), sig_shape=(2, 6))
    np.testing.assert_array_equal(read_back(ctx, ds), arr.reshape(6, 2, 6))
    # a subset
    ds = ctx.load("npy", path=path, nav_shape=(5,), sig_shape=(6,))
    np.testing.assert_array_equal(read_back(ctx, ds), arr.reshape(12, 6)[:5])


@pytest.mark.parametrize("offset", [-2, 3])
def test_npy_sync_offset(ctx, tmp_path, offset):
    arr = make_data(22, (2, 3, 2, 2), "f8")
    path = tmp_path / "s.npy"
    np.save(path, arr)
    ds = ctx.load("npy", path=path, sync_offset=offset)
    expected = shifted(arr.reshape(6, 2, 2), offset, 6).reshape(2, 3, 2, 2)
    np.testing.assert_array_equal(read_back(ctx, ds), expected)


def test_npy_truncated_after_load_raises(ctx, tmp_path):
    arr = make_data(23, (4, 4, 4), "f4")
    path = tmp_path / "t.npy"
    np.save(path, arr)
    ds = ctx.load("npy", path=path, sig_dims=2)
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size - 20)
    with pytest.raises(TruncatedFileError):
        ctx.run_udf(ds, SumUDF())


# -- common behaviour -----------------------------------------------------------------------
def test_dataset_pickles_and_runs_in_other_context(contexts, tmp_path):
    arr = make_data(24, (3, 3, 2, 2), "u2")
    path = tmp_path / "p.npy"
    np.save(path, arr)
    ds = contexts["inline"].load("npy", path=path)
    ds2 = pickle.loads(pickle.dumps(ds))
    res = contexts["threads"].run_udf(ds2, SumSigUDF())
    assert_close(res["intensity"].data, arr.sum(axis=(2, 3)).astype(np.float32))
    res = contexts["threads"].run_udf(ds, SumSigUDF())
    assert_close(res["intensity"].data, arr.sum(axis=(2, 3)).astype(np.float32))


def test_filetype_is_case_insensitive_and_dataset_class_accepted(ctx):
    from ferrotem.io.dataset.memory import MemoryDataSet

    data = make_data(25, (2, 2, 2), "f4")
    a = ctx.load("MEMORY", data=data, sig_dims=1)
    b = ctx.load(MemoryDataSet, data=data, sig_dims=1)
    np.testing.assert_array_equal(read_back(ctx, a), read_back(ctx, b))
    assert tuple(a.shape) == (2, 2, 2)


def test_memory_dataset_says_it_ignores_sparse_array_backends():
    from ferrotem.api import Context
    from ferrotem.udf.sum import SumUDF

    data = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    ctx = Context.make_with("inline")
    with pytest.warns(UserWarning, match=r"array_backends: got \('scipy.sparse.csr_matrix',\)"):
        ds = ctx.load("memory", data=data, sig_dims=2, array_backends=("scipy.sparse.csr_matrix",))
    # the tiles are dense numpy, and the results right
    np.testing.assert_allclose(ctx.run_udf(ds, SumUDF())["intensity"].data, data.sum(axis=(0, 1)))


def test_memory_dataset_takes_numpy_array_backends_silently(recwarn):
    from ferrotem.api import Context

    data = np.zeros((2, 2, 3, 3), dtype=np.float32)
    Context.make_with("inline").load("memory", data=data, sig_dims=2, array_backends=("numpy",))
    assert not [w for w in recwarn if "array_backends" in str(w.message)]
