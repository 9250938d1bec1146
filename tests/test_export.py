"""``ctx.export_dataset`` to npy, raw, HDF5 and Zarr: every output read back by an independent
reader (numpy, h5py with hdf5plugin's filters, zarr) and by ``ctx.load`` where ferrotem reads the
format, against the numpy array the dataset was made from; ROIs, dtypes, chunkings; bad
parameters; the work-item plan checked as a partition of the output."""

from __future__ import annotations

import warnings

import h5py
import hdf5plugin  # registers the bitshuffle filter for h5py's own reads
import numpy as np
import pytest
from conftest import make_data
from ferrotem.api import Context
from ferrotem.common.math import prod
from ferrotem.export.frames import chunk_stack, plan_items
from ferrotem.udf.base import UDF
from hypothesis import given
from hypothesis import strategies as st

zarr = pytest.importorskip("zarr")


class CopyUDF(UDF):
    """Every frame in the dataset's own dtype, through the Python tile path."""

    def get_preferred_input_dtype(self):
        return self.USE_NATIVE_DTYPE

    def get_result_buffers(self):
        sig = tuple(self.meta.dataset_shape.sig)
        return {"frames": self.buffer(kind="nav", extra_shape=sig, dtype=self.meta.input_dtype)}

    def process_tile(self, tile):
        self.results.frames[:] = tile


def frames_of(ctx, ds):
    """The dataset's frames as ferrotem reads them, ``(*nav, *sig)``."""
    return ctx.run_udf(ds, CopyUDF())["frames"].data


def read_independently(path, fmt, shape, dtype, ds_path="/data"):
    """The written array, read without ferrotem."""
    if fmt == "npy":
        return np.load(path)
    if fmt == "raw":
        return np.fromfile(path, dtype=dtype).reshape(shape)
    if fmt == "hdf5":
        with h5py.File(path, "r") as f:
            return f[ds_path][()]
    return zarr.open_array(str(path), mode="r")[...]


def reload(ctx, path, fmt, shape, dtype, sig_dims=2):
    """The written file opened again with ``ctx.load`` (Zarr through a Dask array)."""
    nav, sig = shape[: len(shape) - sig_dims], shape[len(shape) - sig_dims :]
    if fmt == "npy":
        return ctx.load("npy", path=path, sig_dims=sig_dims)
    if fmt == "raw":
        return ctx.load("raw", path=path, nav_shape=nav, sig_shape=sig, dtype=dtype)
    if fmt == "hdf5":
        return ctx.load("hdf5", path=path, ds_path="/data", sig_dims=sig_dims)
    import dask.array as da

    # one block (small test files): a Dask dataset wants runs of frames of some size
    array = da.from_zarr(str(path), chunks=tuple(shape))
    return ctx.load("dask", array, sig_dims=sig_dims)


CASES = [
    ("npy", None),
    ("raw", None),
    ("hdf5", "none"),
    ("hdf5", "bitshuffle-lz4"),
    ("hdf5", "gzip"),
    ("zarr", "none"),
    ("zarr", "bitshuffle-lz4"),
    ("zarr", "gzip"),
]
SUFFIX = {"npy": ".npy", "raw": ".raw", "hdf5": ".h5", "zarr": ".zarr"}


@pytest.mark.parametrize(("fmt", "compression"), CASES)
def test_every_format_round_trips(ctx, tmp_path, fmt, compression):
    data = make_data(1, (5, 7, 12, 10), np.uint16)
    ds = ctx.load("memory", data=data, num_partitions=3)
    path = tmp_path / ("out" + SUFFIX[fmt])
    ctx.export_dataset(ds, path=path, compression=compression, progress=True)
    back = read_independently(path, fmt, data.shape, data.dtype)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, data)
    again = reload(ctx, path, fmt, data.shape, data.dtype)
    assert tuple(again.shape) == data.shape
    np.testing.assert_array_equal(frames_of(ctx, again), data)


@pytest.mark.parametrize(("fmt", "compression"), CASES)
def test_roi_writes_the_selected_frames_flat(inline_ctx, tmp_path, fmt, compression):
    data = make_data(2, (6, 5, 9, 8), np.float32)
    ds = inline_ctx.load("memory", data=data)
    roi = np.zeros((6, 5), bool)
    roi[1, 2] = roi[3, :] = roi[5, 4] = True
    path = tmp_path / ("out" + SUFFIX[fmt])
    inline_ctx.export_dataset(ds, path=path, roi=roi, compression=compression, chunks=None)
    back = read_independently(path, fmt, (int(roi.sum()), 9, 8), np.float32)
    np.testing.assert_array_equal(back, data[roi])


def test_hdf5_chunks_and_filters_are_as_asked(inline_ctx, tmp_path):
    data = make_data(3, (4, 6, 16, 16), np.uint32)
    ds = inline_ctx.load("memory", data=data)
    inline_ctx.export_dataset(ds, path=tmp_path / "a.h5", chunks=(2, 4, 8, -1), ds_path="g/x")
    with h5py.File(tmp_path / "a.h5", "r") as f:
        d = f["g/x"]
        assert d.chunks == (2, 4, 8, 16)
        assert list(d._filters) == [str(hdf5plugin.BSHUF_ID)]
        np.testing.assert_array_equal(d[()], data)
    inline_ctx.export_dataset(ds, path=tmp_path / "b.h5", compression="gzip", compression_level=7)
    with h5py.File(tmp_path / "b.h5", "r") as f:
        d = f["data"]
        assert d.compression == "gzip" and d.compression_opts == 7
        # the default: whole frames along the last scan axis
        assert d.chunks == (1, 6, 16, 16)
        np.testing.assert_array_equal(d[()], data)


def test_zarr_chunks_and_codecs_are_as_asked(inline_ctx, tmp_path):
    data = make_data(4, (3, 5, 8, 8), np.int16)
    ds = inline_ctx.load("memory", data=data)
    inline_ctx.export_dataset(ds, path=tmp_path / "a.zarr", chunks=2)
    z = zarr.open_array(str(tmp_path / "a.zarr"), mode="r")
    assert z.chunks == (1, 2, 8, 8)
    (codec,) = z.compressors
    assert codec.cname.value == "lz4" and codec.shuffle.value == "bitshuffle"
    np.testing.assert_array_equal(z[...], data)


@given(
    nav=st.lists(st.integers(1, 6), min_size=1, max_size=3).map(tuple),
    sig=st.lists(st.integers(1, 7), min_size=1, max_size=2).map(tuple),
    dtype=st.sampled_from(["u1", "i2", "u4", "f4", "f8", "c8", ">u2", ">f4"]),
    fmt=st.sampled_from(["npy", "raw", "hdf5", "zarr"]),
    compression=st.sampled_from(["none", "bitshuffle-lz4", "gzip"]),
    chunk_seed=st.integers(0, 2**31),
    use_roi=st.booleans(),
    out_dtype=st.sampled_from([None, "f4", "i8"]),
)
def test_random_layouts_round_trip(
    tmp_path_factory, nav, sig, dtype, fmt, compression, chunk_seed, use_roi, out_dtype
):
    tmp = tmp_path_factory.mktemp("x")
    data = make_data(chunk_seed % 100, nav + sig, dtype)
    rng = np.random.default_rng(chunk_seed)
    roi = rng.random(nav) < 0.5 if use_roi else None
    shape = nav + sig if roi is None else (int(roi.sum()),) + sig
    chunked = fmt in ("hdf5", "zarr")
    chunks = tuple(int(rng.integers(1, max(n, 1) + 1)) for n in shape) if chunked else None
    with Context.make_with("inline") as ctx:
        ds = ctx.load("memory", data=data, sig_dims=len(sig))
        path = tmp / ("out" + SUFFIX[fmt])
        ctx.export_dataset(
            ds,
            path=path,
            roi=roi,
            dtype=out_dtype,
            chunks=chunks,
            compression=compression if chunked else None,
        )
    selected = data if roi is None else data[roi]
    with warnings.catch_warnings():  # complex to real drops the imaginary part, as numpy does
        warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
        expected = selected.astype(out_dtype or data.dtype.newbyteorder("="))
    back = read_independently(path, fmt, shape, expected.dtype)
    assert back.dtype == expected.dtype
    np.testing.assert_array_equal(back, expected)


def test_sync_offset_and_reshape_are_baked_in(inline_ctx, tmp_path):
    data = make_data(5, (29, 6, 4), np.uint16)
    data.tofile(tmp_path / "in.raw")
    ds = inline_ctx.load(
        "raw", path=tmp_path / "in.raw", nav_shape=(3, 9), sig_shape=(6, 4), dtype="uint16",
        sync_offset=2,
    )  # fmt: skip
    expected = np.zeros((27, 6, 4), np.uint16)
    expected[:27] = data[2:29]
    for name in ("out.h5", "out.zarr", "out.raw"):
        inline_ctx.export_dataset(ds, path=tmp_path / name)
        back = read_independently(tmp_path / name, name.split(".")[1].replace("h5", "hdf5"),
                                  (3, 9, 6, 4), np.uint16)  # fmt: skip
        np.testing.assert_array_equal(back, expected.reshape(3, 9, 6, 4))


def test_dask_dataset_exports_through_its_array(inline_ctx, tmp_path):
    import dask.array as da

    data = make_data(6, (4, 6, 5, 5), np.float32)
    # partitions of one scan row each (min_size=1 keeps them apart)
    array = da.from_array(data, chunks=(1, 6, 5, 5))
    ds = inline_ctx.load("dask", array, sig_dims=2, min_size=1)
    assert ds.get_num_partitions() == 4
    roi = np.arange(24).reshape(4, 6) % 3 == 0
    inline_ctx.export_dataset(ds, path=tmp_path / "out.h5", roi=roi)
    with h5py.File(tmp_path / "out.h5", "r") as f:
        np.testing.assert_array_equal(f["data"][()], data[roi])


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"path": "out.txt"}, ValueError, r"path: got .*out.txt.*extension '.txt'"),
        ({"path": "out.h5", "format": "tiff"}, ValueError, r"format: got 'tiff'"),
        ({"path": "out.h5", "compression": "zstd"}, ValueError, r"compression: got 'zstd'"),
        ({"path": "out.npy", "compression": "gzip"}, ValueError, r"compression: got 'gzip' for"),
        ({"path": "out.raw", "chunks": 4}, ValueError, r"chunks: got 4 for format 'raw'"),
        ({"path": "out.h5", "chunks": (1, 2)}, ValueError, r"chunks: got \(1, 2\)"),
        ({"path": "out.h5", "chunks": (1, 0, 4, 4)}, ValueError, r"chunks: got \(1, 0, 4, 4\)"),
        ({"path": "out.h5", "chunks": "big"}, ValueError, r"chunks: got 'big'"),
        ({"path": "out.h5", "chunks": 0}, ValueError, r"chunks: got 0"),
        ({"path": "out.h5", "compression_level": 3}, ValueError, r"compression_level: got 3"),
        (
            {"path": "out.h5", "compression": "gzip", "compression_level": 11},
            ValueError,
            r"compression_level: got 11",
        ),
        ({"path": "out.h5", "dtype": "U3"}, ValueError, r"dtype: got 'U3'"),
        ({"path": "out.h5", "dtype": "nonsense"}, TypeError, r"dtype: got 'nonsense'"),
        ({"path": "out.h5", "ds_path": "/"}, ValueError, r"ds_path: got '/'"),
        ({"path": "out.h5", "roi": (9, 9)}, ValueError, r"roi: coordinate"),
        ({"path": 12}, TypeError, r"path: got int"),
        ({"path": "missing/out.h5"}, FileNotFoundError, r"path: the directory"),
    ],
)
def test_bad_parameters_name_themselves(inline_ctx, tmp_path, monkeypatch, kwargs, exc, match):
    monkeypatch.chdir(tmp_path)
    ds = inline_ctx.load("memory", data=make_data(7, (3, 4, 4, 4), np.uint8))
    with pytest.raises(exc, match=match):
        inline_ctx.export_dataset(ds, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_kept_unless_overwrite(inline_ctx, tmp_path):
    data = make_data(8, (2, 3, 4, 4), np.uint8)
    ds = inline_ctx.load("memory", data=data)
    for name in ("out.h5", "out.zarr", "out.npy"):
        inline_ctx.export_dataset(ds, path=tmp_path / name)
        with pytest.raises(FileExistsError, match="overwrite=True"):
            inline_ctx.export_dataset(ds, path=tmp_path / name)
        other = inline_ctx.load("memory", data=data[::-1].copy())
        inline_ctx.export_dataset(other, path=tmp_path / name, overwrite=True)
        fmt = {"h5": "hdf5"}.get(name.split(".")[1], name.split(".")[1])
        back = read_independently(tmp_path / name, fmt, data.shape, data.dtype)
        np.testing.assert_array_equal(back, data[::-1])


def test_a_failed_read_removes_the_partial_output(inline_ctx, tmp_path):
    data = make_data(9, (4, 8, 4, 4), np.uint16)
    data.tofile(tmp_path / "in.raw")
    ds = inline_ctx.load(
        "raw", path=tmp_path / "in.raw", nav_shape=(4, 8), sig_shape=(4, 4), dtype="uint16"
    )
    with open(tmp_path / "in.raw", "r+b") as f:
        f.truncate(100)  # the file shrinks after loading: reading fails
    for name in ("out.h5", "out.npy", "out.zarr"):
        with pytest.raises(Exception, match=r"in\.raw"):
            inline_ctx.export_dataset(ds, path=tmp_path / name)
        assert not (tmp_path / name).exists()


# -- the work-item plan ------------------------------------------------------------------------
@given(
    nav=st.lists(st.integers(1, 9), min_size=1, max_size=3).map(tuple),
    sig=st.lists(st.integers(1, 5), min_size=1, max_size=2).map(tuple),
    seed=st.integers(0, 2**31),
    item_bytes=st.sampled_from([1, 64, 1 << 20]),
)
def test_items_cover_every_frame_once_in_whole_chunks(nav, sig, seed, item_bytes):
    rng = np.random.default_rng(seed)
    shape = nav + sig
    chunks = tuple(int(rng.integers(1, n + 1)) for n in shape)
    items = plan_items(shape, len(sig), chunks, 2, item_bytes)
    covered = np.zeros(nav, np.int64)
    flat = np.arange(prod(nav)).reshape(nav)
    expected_first = 0
    for item in items:
        # consecutive runs of frames, and the box holds exactly those frames
        assert item.first == expected_first
        expected_first += item.count
        box = item.index[: len(nav)]
        np.testing.assert_array_equal(
            flat[box].reshape(-1), np.arange(item.first, item.first + item.count)
        )
        covered[box] += 1
        # whole chunks: the box starts on chunk boundaries and ends on one or at the array end
        for o, n, c, s in zip(item.origin, item.box_shape, chunks, shape, strict=True):
            assert o % c == 0 and ((o + n) % c == 0 or o + n == s)
        # the chunk stack holds each chunk's elements at its offset, edges padded with zeros
        array = np.arange(1, prod(shape) + 1).reshape(shape)
        stack, offsets = chunk_stack(array[item.index], item, chunks)
        for row, offset in zip(stack, offsets, strict=True):
            region = tuple(slice(o, o + c) for o, c in zip(offset, chunks, strict=True))
            part = array[region]
            expected = np.zeros(chunks, array.dtype)
            expected[tuple(slice(0, n) for n in part.shape)] = part
            np.testing.assert_array_equal(row.reshape(chunks), expected)
    assert expected_first == prod(nav)
    assert (covered == 1).all()
