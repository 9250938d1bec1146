"""'hdf5' (spec §4.6): real EMD/py4DSTEM files with their known values, and files written here
with every filter ferrotem decodes (and some it leaves to h5py), odd chunk shapes, chunks never
written, reshaping, sync_offset, ROIs, executors and bad input — each checked against h5py's own
read of the same file."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np
import pytest
from conftest import assert_close, input_dtype_for, make_data
from ferrotem.api import Context
from ferrotem.common.exceptions import (
    CorruptFileError,
    DataSetException,
    InvalidDataSetParameter,
    MissingFileError,
    TruncatedFileError,
)
from ferrotem.contrib.daskadapter import make_dask_array
from ferrotem.udf.base import UDF
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF
from hypothesis import given, settings
from hypothesis import strategies as st

REAL = Path("/work/shared/data/real")
if not REAL.exists():  # the checkout's own copy, when the tests run elsewhere
    REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"

#: filters as h5py keyword arguments, by name
FILTERS = {
    "none": {},
    "gzip1": {"compression": "gzip", "compression_opts": 1},
    "gzip9": {"compression": "gzip", "compression_opts": 9},
    "shuffle+gzip": {"compression": "gzip", "compression_opts": 4, "shuffle": True},
    "lz4": dict(hdf5plugin.LZ4(nbytes=64)),
    "bitshuffle+lz4": dict(hdf5plugin.Bitshuffle(cname="lz4")),
    "bitshuffle": dict(hdf5plugin.Bitshuffle(cname="none")),
}


class CopyUDF(UDF):
    """Every frame unchanged, in the dataset's dtype (a Python UDF)."""

    def get_preferred_input_dtype(self):
        return self.USE_NATIVE_DTYPE

    def get_result_buffers(self):
        sig = tuple(self.meta.dataset_shape.sig)
        return {"frames": self.buffer(kind="nav", extra_shape=sig, dtype=self.meta.input_dtype)}

    def process_tile(self, tile):
        self.results.frames[:] = tile


def write_h5(path, data, name="data", chunks=None, filters="none", **kwargs) -> Path:
    with h5py.File(path, "w") as f:
        f.create_dataset(name, data=data, chunks=chunks, **FILTERS[filters], **kwargs)
    return Path(path)


def h5_read(path, name="data") -> np.ndarray:
    with h5py.File(path, "r") as f:
        return f[name][()]


def check_against(ctx, ds, expected: np.ndarray, roi=None) -> None:
    """Frames (Python UDF), SumUDF and SumSigUDF (native) against ``expected``, shaped like the
    dataset."""
    res = ctx.run_udf(ds, [CopyUDF(), SumUDF(), SumSigUDF()], roi=roi)
    nav = tuple(res[2]["intensity"].data.shape)
    frames = expected.reshape((-1, *expected.shape[len(nav) :]))
    mask = np.ones(len(frames), bool) if roi is None else np.asarray(roi).reshape(-1)
    got = res[0]["frames"]
    np.testing.assert_array_equal(got.raw_data, frames[mask])
    in_dtype = input_dtype_for(expected.dtype)
    wide = np.complex128 if in_dtype.kind == "c" else np.float64
    assert_close(res[1]["intensity"].data, frames[mask].astype(wide).sum(axis=0), in_dtype)
    per_frame = frames.reshape(len(frames), -1).astype(wide).sum(axis=1)
    per_frame[~mask] = np.nan  # nav results outside the ROI
    assert_close(res[2]["intensity"].data, per_frame.reshape(nav), in_dtype)


# -- real files --------------------------------------------------------------------------------
def test_py4dstem_file_known_values(ctx):
    ds = ctx.load("hdf5", path=REAL / "emd" / "py4DSTEM_size2x3x4x5.h5")
    assert tuple(ds.shape) == (2, 3, 4, 5) and ds.dtype == np.float32
    assert ds.meta["ds_path"] == "/datacube_root/datacube/data"
    total = ctx.run_udf(ds, SumUDF())["intensity"].data.astype(np.float64).sum()
    assert total == pytest.approx(28255.9, abs=0.05)
    first = ctx.run_udf(ds, CopyUDF())["frames"].data.reshape(-1)[:3]
    np.testing.assert_allclose(first, [472.5212, 138.30124, 228.78024], rtol=1e-6)


def test_emd_two_datacubes_known_total(ctx):
    path = REAL / "emd" / "Si100_4D.emd"
    total = 0.0
    for depth in (0, 1):
        ds_path = f"4DSTEM_simulation/data/datacubes/CBED_array_depth000{depth}/datacube"
        ds = ctx.load("hdf5", path=path, ds_path=ds_path)
        assert tuple(ds.shape) == (11, 11, 8, 8)
        assert "Rust" in ds.meta["reader"]
        check_against(ctx, ds, h5_read(path, ds_path))
        total += ctx.run_udf(ds, SumUDF())["intensity"].data.astype(np.float64).sum()
    assert total == pytest.approx(221.276, abs=5e-4)


def test_arina_data_file_decodes(ctx):
    ds = ctx.load("hdf5", path=REAL / "arina" / "test_00_data_000001.h5")
    assert tuple(ds.shape) == (16, 192, 192) and ds.dtype == np.uint32
    assert "Rust" in ds.meta["reader"] and "bitshuffle" in ds.meta["filters"]
    check_against(ctx, ds, np.zeros((16, 192, 192), np.uint32))


# -- every filter, odd chunks ------------------------------------------------------------------
@pytest.mark.parametrize("filters", list(FILTERS))
@pytest.mark.parametrize(
    "chunks",
    [(1, 1, 6, 5), (2, 3, 4, 5), (3, 1, 6, 2), None],
    ids=["frame", "spanning", "partial-frames", "contiguous-or-auto"],
)
def test_every_filter_matches_h5py(ctx, tmp_path, filters, chunks):
    data = make_data(1, (4, 5, 6, 5), "u2") * np.uint16(997)
    if chunks is None and filters != "none":
        chunks = True  # filters need chunks: h5py picks a shape
    path = write_h5(tmp_path / "f.h5", data, chunks=chunks, filters=filters)
    ds = ctx.load("hdf5", path=path, num_partitions=3)
    assert "Rust" in ds.meta["reader"], ds.meta["reader"]
    check_against(ctx, ds, h5_read(path))


@given(
    nav=st.lists(st.integers(1, 5), min_size=1, max_size=3),
    sig=st.lists(st.integers(1, 7), min_size=2, max_size=2),
    dtype=st.sampled_from(["u1", "u2", ">u2", "i4", "f4", ">f8"]),
    filters=st.sampled_from(list(FILTERS)),
    data=st.data(),
)
@settings(max_examples=25)
def test_random_chunkings_match_h5py(contexts, tmp_path_factory, nav, sig, dtype, filters, data):
    shape = (*nav, *sig)
    chunks = tuple(data.draw(st.integers(1, n)) for n in shape)
    arr = make_data(data.draw(st.integers(0, 99)), shape, dtype)
    path = write_h5(tmp_path_factory.mktemp("h5") / "r.h5", arr, chunks=chunks, filters=filters)
    n = int(np.prod(nav))
    offset = data.draw(st.integers(-(n - 1), n - 1))
    roi = data.draw(st.sampled_from([None, "random"]))
    if roi == "random":
        roi = np.random.default_rng(n).random(nav) < 0.5
        roi.flat[n // 2] = True  # (an empty ROI is the executors' business, tested elsewhere)
    ctx = contexts[data.draw(st.sampled_from(["inline", "threads"]))]
    ds = ctx.load(
        "hdf5",
        path=path,
        ds_path="data",
        sync_offset=offset,
        num_partitions=data.draw(st.integers(1, n)),
    )
    frames = h5_read(path).reshape(n, *sig)
    shifted = np.zeros_like(frames)
    for i in range(n):
        if 0 <= i + offset < n:
            shifted[i] = frames[i + offset]
    check_against(ctx, ds, shifted.reshape(shape), roi=roi)


def test_large_frames_read_in_pixel_ranges(ctx, tmp_path):
    # 1 MiB float32 tiles: a 600x600 frame is processed in parts; each chunk decoded once per
    # part needs the per-thread cache to give the right values.
    data = make_data(2, (3, 600, 600), "f4")
    path = write_h5(tmp_path / "big.h5", data, chunks=(2, 600, 600), filters="bitshuffle+lz4")
    ds = ctx.load("hdf5", path=path)
    check_against(ctx, ds, data)


def test_never_written_chunks_read_as_fill_value(ctx, tmp_path):
    path = tmp_path / "sparse.h5"
    with h5py.File(path, "w") as f:
        d = f.create_dataset(
            "data",
            shape=(4, 3, 8, 8),
            dtype="i2",
            chunks=(1, 2, 4, 8),
            fillvalue=-7,
            **FILTERS["gzip1"],
        )
        d[1, 0] = np.arange(64).reshape(8, 8)
        d[3, 2, 4:] = 5
    expected = h5_read(path)
    assert (expected == -7).sum() > 0
    ds = ctx.load("hdf5", path=path)
    check_against(ctx, ds, expected)
    # Contiguous storage never written: all fill value.
    with h5py.File(path, "w") as f:
        f.create_dataset("data", shape=(2, 4, 4), dtype="f4", fillvalue=1.5)
    check_against(ctx, ctx.load("hdf5", path=path), np.full((2, 4, 4), 1.5, np.float32))


# -- filters left to h5py ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "plugin",
    [hdf5plugin.Zstd(), hdf5plugin.Blosc(cname="lz4"), hdf5plugin.Bitshuffle(cname="zstd")],
    ids=["zstd", "blosc", "bitshuffle+zstd"],
)
def test_filters_not_decoded_fall_back_to_h5py(ctx, tmp_path, plugin):
    data = make_data(3, (3, 4, 10, 9), "u2")
    path = tmp_path / "plugin.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=data, chunks=(2, 3, 5, 9), **plugin)
    ds = ctx.load("hdf5", path=path, num_partitions=2)
    assert "h5py" in ds.meta["reader"]
    check_against(ctx, ds, data)
    roi = np.zeros((3, 4), bool)
    roi[1, 1:3] = roi[2, 0] = True
    check_against(ctx, ds, data, roi=roi)
    arr, _ = make_dask_array(ds)
    np.testing.assert_array_equal(arr.compute(), data.astype(np.float32))


def test_virtual_dataset_falls_back_to_h5py(ctx, tmp_path):
    parts = [make_data(i, (2, 5, 4), "f4") for i in range(3)]
    layout = h5py.VirtualLayout(shape=(6, 5, 4), dtype="f4")
    for i, part in enumerate(parts):
        write_h5(tmp_path / f"part{i}.h5", part)
        layout[2 * i : 2 * i + 2] = h5py.VirtualSource(tmp_path / f"part{i}.h5", "data", (2, 5, 4))
    with h5py.File(tmp_path / "vds.h5", "w") as f:
        f.create_virtual_dataset("data", layout)
    ds = ctx.load("hdf5", path=tmp_path / "vds.h5", sync_offset=1)
    assert "virtual" in ds.meta["reader"]
    expected = np.concatenate(parts)
    check_against(ctx, ds, np.concatenate([expected[1:], np.zeros_like(expected[:1])]))


# -- parameters --------------------------------------------------------------------------------
def test_default_ds_path_is_the_largest_3d_dataset(ctx, tmp_path):
    path = tmp_path / "many.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("small", data=np.ones((2, 3, 3), "u1"))
        f.create_dataset("group/big", data=make_data(4, (3, 4, 5, 6), "u2"), chunks=(1, 2, 5, 6))
        f.create_dataset("image", data=np.ones((100, 100), "f4"))
    ds = ctx.load("hdf5", path=path)
    assert ds.meta["ds_path"] == "/group/big" and ds.ds_path == "/group/big"
    diag = ds.get_diagnostics()
    assert {d["name"] for d in diag} >= {"dtype", "chunks", "compression", "datasets"}
    names = [d["name"] for d in next(d for d in diag if d["name"] == "datasets")["value"]]
    assert names == ["/group/big", "/small"]


def test_nav_and_sig_reshaping(ctx, tmp_path):
    data = make_data(5, (4, 6, 3, 4), "i4")
    path = write_h5(tmp_path / "r.h5", data, chunks=(2, 4, 3, 4), filters="gzip1")
    ds = ctx.load("hdf5", path=path, nav_shape=(24,), sig_shape=(12,))
    assert tuple(ds.shape) == (24, 12)
    check_against(ctx, ds, data.reshape(24, 12))
    ds = ctx.load("hdf5", path=path, nav_shape=(5, 5))  # more frames than stored: zeros after
    expected = np.zeros((25, 3, 4), "i4")
    expected[:24] = data.reshape(24, 3, 4)
    check_against(ctx, ds, expected.reshape(5, 5, 3, 4))
    ds = ctx.load("hdf5", path=path, sig_dims=3)
    assert tuple(ds.shape) == (4, 6, 3, 4) and tuple(ds.shape.sig) == (6, 3, 4)
    check_against(ctx, ds, data)
    with pytest.raises(InvalidDataSetParameter, match="sig_shape"):
        ctx.load("hdf5", path=path, sig_shape=(5, 5))


def test_partitions_follow_compressed_chunks(inline_ctx, tmp_path):
    data = make_data(6, (40, 4, 4), "u2")
    path = write_h5(tmp_path / "c.h5", data, chunks=(8, 4, 4), filters="bitshuffle+lz4")
    ds = inline_ctx.load("hdf5", path=path, num_partitions=3)
    starts = [p.start for p in ds.get_partitions()]
    assert starts[0] == 0 and all(s % 8 == 0 for s in starts) and len(starts) == 3
    ds = inline_ctx.load("hdf5", path=path, num_partitions=3, sync_offset=3)
    assert all((p.start + 3) % 8 == 0 for p in list(ds.get_partitions())[1:])
    ds = inline_ctx.load("hdf5", path=path, target_size=40 * 16 * 2 // 5)
    assert ds.get_num_partitions() == 5


def test_dataset_pickles_and_reads_without_h5py_metadata_again(ctx, tmp_path):
    data = make_data(7, (3, 3, 5, 5), "f4")
    path = write_h5(tmp_path / "p.h5", data, chunks=(1, 3, 5, 5), filters="shuffle+gzip")
    ds = ctx.load("hdf5", path=path)
    check_against(ctx, pickle.loads(pickle.dumps(ds)), data)


def test_hyperspy_nexus_and_emd_layouts(ctx, tmp_path):
    data = make_data(8, (3, 4, 6, 5), "u2")
    # HyperSpy .hspy: the signal under Experiments/<title>/data, with metadata beside it.
    hspy = tmp_path / "s.hspy"
    with h5py.File(hspy, "w") as f:
        f.attrs["file_format"] = "HyperSpy"
        g = f.create_group("Experiments/scan")
        g.create_dataset("data", data=data, chunks=(1, 4, 6, 5), **FILTERS["gzip1"])
        g.create_group("metadata").create_dataset("axes", data=np.arange(4))
    # NeXus: NXentry/NXdata with the signal named by an attribute.
    nxs = tmp_path / "s.nxs"
    with h5py.File(nxs, "w") as f:
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        nxdata = entry.create_group("data")
        nxdata.attrs.update({"NX_class": "NXdata", "signal": "counts"})
        nxdata.create_dataset("counts", data=data, chunks=(1, 1, 6, 5), **FILTERS["lz4"])
    # EMD (Berkeley): a data group with dim vectors.
    emd = tmp_path / "s.emd"
    with h5py.File(emd, "w") as f:
        f.attrs["version_major"] = 0
        g = f.create_group("data/scan")
        g.attrs["emd_group_type"] = 1
        g.create_dataset("data", data=data)
        for i, n in enumerate(data.shape):
            g.create_dataset(f"dim{i + 1}", data=np.arange(n, dtype="f4"))
    for path, ds_path in [
        (hspy, "/Experiments/scan/data"),
        (nxs, "/entry/data/counts"),
        (emd, "/data/scan/data"),
    ]:
        ds = ctx.load("hdf5", path=path)
        assert ds.meta["ds_path"] == ds_path
        check_against(ctx, ds, data)


def test_hspy_written_by_hyperspy(ctx, tmp_path):
    hs = pytest.importorskip("hyperspy.api")
    data = make_data(9, (3, 4, 8, 7), "u2")
    path = tmp_path / "real.hspy"
    hs.signals.Signal2D(data).save(path, chunks=(1, 2, 8, 7), compression="gzip")
    ds = ctx.load("hdf5", path=path)
    assert "Rust" in ds.meta["reader"]
    check_against(ctx, ds, data)


# -- executors, dask arrays ----------------------------------------------------------------------
def test_delayed_and_dask_array(tmp_path):
    data = make_data(10, (4, 4, 6, 6), "u2")
    path = write_h5(tmp_path / "d.h5", data, chunks=(1, 2, 6, 6), filters="bitshuffle+lz4")
    ctx = Context.make_with("delayed")
    try:
        ds = ctx.load("hdf5", path=path, num_partitions=2)
        roi = np.random.default_rng(1).random((4, 4)) < 0.5
        check_against(ctx, ds, data, roi=roi)
    finally:
        ctx.close()
    arr, _ = make_dask_array(ds, dtype="uint16")
    np.testing.assert_array_equal(arr.compute(), data)


@pytest.mark.slow
def test_dask_cluster(tmp_path):
    from ferrotem.executor.dask import DaskJobExecutor, cluster_spec

    data = make_data(11, (4, 5, 6, 6), "f4")
    native = write_h5(tmp_path / "n.h5", data, chunks=(1, 5, 6, 6), filters="gzip1")
    plugin = tmp_path / "z.h5"
    with h5py.File(plugin, "w") as f:
        f.create_dataset("data", data=data, chunks=(1, 5, 6, 6), **hdf5plugin.Zstd())
    spec = cluster_spec(cpus=[0, 1], cudas=[], has_cupy=False, num_service=0)
    ctx = Context(executor=DaskJobExecutor.make_local(spec=spec))
    try:
        for path in (native, plugin):
            ds = ctx.load("hdf5", path=path, num_partitions=3)
            check_against(ctx, ds, data, roi=np.eye(4, 5, dtype=bool))
    finally:
        ctx.close()


# -- bad input -------------------------------------------------------------------------------
def test_bad_paths_and_datasets(ctx, tmp_path):
    data = make_data(12, (3, 4, 5), "u2")
    path = write_h5(tmp_path / "ok.h5", data)
    with h5py.File(path, "a") as f:
        f.create_dataset("image", data=np.ones((4, 4)))
        f.create_group("group")
    with pytest.raises(InvalidDataSetParameter, match=r"ds_path: '/nope' does not exist.*ok\.h5"):
        ctx.load("hdf5", path=path, ds_path="/nope")
    with pytest.raises(InvalidDataSetParameter, match=r"ds_path: '/image'.*shape \(4, 4\)"):
        ctx.load("hdf5", path=path, ds_path="/image")
    with pytest.raises(InvalidDataSetParameter, match="not a dataset"):
        ctx.load("hdf5", path=path, ds_path="/group")
    with pytest.raises(MissingFileError, match=r"missing\.h5"):
        ctx.load("hdf5", path=tmp_path / "missing.h5")
    with pytest.raises(IsADirectoryError, match="directory"):
        ctx.load("hdf5", path=tmp_path)
    (tmp_path / "not.h5").write_bytes(b"plain text, not HDF5" * 10)
    with pytest.raises(CorruptFileError, match=r"not\.h5.*HDF5"):
        ctx.load("hdf5", path=tmp_path / "not.h5")
    with pytest.raises(InvalidDataSetParameter, match="sync_offset"):
        ctx.load("hdf5", path=path, ds_path="data", sync_offset=3)
    with h5py.File(tmp_path / "empty.h5", "w") as f:
        f.create_dataset("image", data=np.ones((4, 4)))
    with pytest.raises(DataSetException, match="no dataset with 3 or more axes"):
        ctx.load("hdf5", path=tmp_path / "empty.h5")


def test_truncated_file(ctx, tmp_path):
    data = make_data(13, (6, 16, 16), "u2")
    path = write_h5(tmp_path / "t.h5", data, chunks=(1, 16, 16), filters="gzip1")
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    with pytest.raises(TruncatedFileError, match=r"t\.h5.*truncated"):
        ctx.load("hdf5", path=path)


@pytest.mark.parametrize("io", ["mmap", "pread"])
def test_file_cut_after_loading(ctx, tmp_path, monkeypatch, io):
    monkeypatch.setenv("FERROTEM_IO", io)
    data = make_data(16, (6, 32, 32), "u2")
    path = write_h5(tmp_path / "cut.h5", data, chunks=(1, 32, 32), filters="gzip1")
    ds = ctx.load("hdf5", path=path)
    with h5py.File(path, "r") as f:
        last = f["data"].id.get_chunk_info(5)
    with open(path, "r+b") as f:
        f.truncate(last.byte_offset + 3)
    with pytest.raises(TruncatedFileError, match=r"cut\.h5"):
        ctx.run_udf(ds, SumUDF())


def test_corrupt_chunk_names_file_dataset_and_chunk(ctx, tmp_path):
    data = make_data(14, (4, 16, 16), "u2") * np.uint16(301)
    path = write_h5(tmp_path / "c.h5", data, chunks=(1, 16, 16), filters="bitshuffle+lz4")
    with h5py.File(path, "r") as f:
        info = f["data"].id.get_chunk_info(2)
    with open(path, "r+b") as f:
        f.seek(info.byte_offset + 16)
        f.write(b"\xff" * (info.size - 16))
    ds = ctx.load("hdf5", path=path)
    with pytest.raises(CorruptFileError, match=r"c\.h5: dataset /data: chunk at \[2, 0, 0\]"):
        ctx.run_udf(ds, SumUDF())
    roi = np.array([True, True, False, True])
    check_against(ctx, ds, data, roi=roi)  # the other chunks still read


def test_external_link_to_missing_file(ctx, tmp_path):
    data = make_data(15, (3, 4, 5), "f4")
    write_h5(tmp_path / "target.h5", data)
    with h5py.File(tmp_path / "links.h5", "w") as f:
        f["linked"] = h5py.ExternalLink("target.h5", "/data")
        f["dangling"] = h5py.ExternalLink("gone.h5", "/data")
    ds = ctx.load("hdf5", path=tmp_path / "links.h5", ds_path="linked")
    check_against(ctx, ds, data)
    with pytest.raises(MissingFileError, match=r"links\.h5.*gone\.h5"):
        ctx.load("hdf5", path=tmp_path / "links.h5", ds_path="dangling")
