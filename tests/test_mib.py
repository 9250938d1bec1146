"""'mib' (Quantum Detectors Merlin): the real files of shared/data/real with their known totals,
RAW mode checked against an independent numpy decode and against the plain acquisition, and
synthetic files (tests/helpers/mib_writer.py) for every depth, RAW mode, quads, ROI readouts,
scans split over files and acquisitions cut short — each read back against numpy."""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_close
from ferrotem import _core
from ferrotem.common.exceptions import DataSetException
from ferrotem.io.dataset.mib import IncompleteDataWarning, MIBDataSet
from ferrotem.udf.base import UDF
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF
from helpers.mib_writer import random_frames, write_acquisition, write_mib

ZIP = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "real"
    / "quantumdetector"
    / "Merlin_Single_Quad.zip"
)

#: SumUDF totals of the real files (shared/data/real/README.md)
TOTALS = {
    "Single_1_Frame_CounterDepth_1_Rows_256": 2398,
    "Single_1_Frame_CounterDepth_6_Rows_256": 24336,
    "Single_1_Frame_CounterDepth_12_Rows_256": 28911,
    "Single_1_Frame_CounterDepth_24_Rows_256": 29416,
    "Single_9_Frame_CounterDepth_1_Rows_256": 21614,
    "Single_9_Frame_CounterDepth_6_Rows_256": 217684,
    "Single_9_Frame_CounterDepth_12_Rows_256": 260753,
    "Single_9_Frame_CounterDepth_24_Rows_256": 258156,
    "Quad_1_Frame_CounterDepth_1_Rows_256": 10331,
    "Quad_1_Frame_CounterDepth_6_Rows_256": 115263,
    "Quad_1_Frame_CounterDepth_12_Rows_256": 845907,
    "Quad_1_Frame_CounterDepth_24_Rows_256": 778764,
    "Quad_9_Frame_CounterDepth_1_Rows_256": 92639,
    "Quad_9_Frame_CounterDepth_6_Rows_256": 1032369,
    "Quad_9_Frame_CounterDepth_12_Rows_256": 7229086,
    "Quad_9_Frame_CounterDepth_24_Rows_256": 7285037,
}
DTYPES = {"1": "u1", "6": "u1", "12": ">u2", "24": ">u4"}
RAW_FILES = [
    "Single_1_Frame_CounterDepth_1_Rows_256RAW",
    "Single_9_Frame_CounterDepth_1_Rows_256RAW",
    "Quad_1_Frame_CounterDepth_1_Rows_256RAW",
    "Quad_9_Frame_CounterDepth_1_Rows_256RAW",
]


class CopyUDF(UDF):
    """Every frame in the dataset's own dtype (a Python UDF: the tile path, not the native one)."""

    def get_preferred_input_dtype(self):
        return self.USE_NATIVE_DTYPE

    def get_result_buffers(self):
        sig = tuple(self.meta.dataset_shape.sig)
        return {"frames": self.buffer(kind="nav", extra_shape=sig, dtype=self.meta.input_dtype)}

    def process_tile(self, tile):
        self.results.frames[:] = tile


def read_back(ctx, ds, roi=None):
    return ctx.run_udf(ds, CopyUDF(), roi=roi)["frames"].data


def sums(ctx, ds, roi=None):
    """(SumUDF, SumSigUDF) results, run natively together."""
    total, per_frame = ctx.run_udf(ds, [SumUDF(), SumSigUDF()], roi=roi)
    return total["intensity"].data, per_frame["intensity"].data


@pytest.fixture(scope="module")
def real_dir(tmp_path_factory):
    """The real Merlin files, extracted (shared/ is never written)."""
    if not ZIP.exists():
        pytest.skip(f"{ZIP} not found")
    d = tmp_path_factory.mktemp("merlin")
    with zipfile.ZipFile(ZIP) as z:
        z.extractall(d)
    return d


def numpy_frames(path: Path, header_bytes: int, dtype: str, shape: tuple[int, int]) -> np.ndarray:
    """Independent oracle: the file as a numpy structured array of (header, pixels) records."""
    record = np.dtype([("header", f"S{header_bytes}"), ("data", dtype, shape)])
    return np.fromfile(path, dtype=record)["data"]


def numpy_raw_1bit(path: Path, header_bytes: int, quad: bool) -> np.ndarray:
    """Independent oracle for RAW 1-bit frames: each 8-byte group is one big-endian 64-bit word,
    pixel k in bit k; quads deliver rows of [bottom-right, bottom-left, top-right, top-left],
    the bottom chips turned by 180 degrees."""
    rows, width = 256, (1024 if quad else 256)
    frame_bytes = rows * width // 8
    records = numpy_frames(path, header_bytes, "u1", (frame_bytes,))
    words = records.reshape(len(records), -1, 8)[:, :, ::-1]  # least significant byte first
    bits = np.unpackbits(words, axis=-1, bitorder="little").reshape(-1, rows, width)
    if not quad:
        return bits
    q4, q3, q2, q1 = (bits[:, :, i * 256 : (i + 1) * 256] for i in range(4))
    top = np.concatenate([q1, q2], axis=2)
    bottom = np.concatenate([q4, q3], axis=2)[:, ::-1, ::-1]
    return np.concatenate([top, bottom], axis=1)


# -- the real files ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(TOTALS))
def test_real_files_totals_and_pixels(real_dir, inline_ctx, name):
    quad = name.startswith("Quad")
    frames = 9 if "_9_" in name else 1
    depth = name.split("CounterDepth_")[1].split("_")[0]
    side = 512 if quad else 256
    ds = inline_ctx.load("mib", path=real_dir / f"{name}.hdr")
    assert tuple(ds.shape.sig) == (side, side)
    assert int(np.prod(tuple(ds.shape.nav))) == frames
    assert ds.dtype == np.dtype(DTYPES[depth])
    total, per_frame = sums(inline_ctx, ds)
    assert total.sum() == TOTALS[name] == per_frame.sum()
    data = read_back(inline_ctx, ds).reshape(frames, side, side)
    oracle = numpy_frames(
        real_dir / f"{name}.mib", 768 if quad else 384, DTYPES[depth], (side,) * 2
    )
    np.testing.assert_array_equal(data, oracle)
    if depth != "1":
        # Stored order, as LiberTEM reads it: the first row starts 10, 10, 10. (The README's
        # "10, 10, 0" of single chips is RosettaSciIO's, which flips frames upside down.)
        assert data[0, 0, :3].tolist() == [10, 10, 10]
        assert data[0, -1, :3].tolist() == ([10, 10, 10] if quad else [10, 10, 0])
    diag = {d["name"]: d["value"] for d in ds.get_diagnostics()}
    assert diag["Bits per pixel"] == depth and diag["Data kind"] == "u"
    assert diag["Layout"] == ("(2, 2)" if quad else "(1, 1)")


def test_real_file_found_from_the_mib_path(real_dir, inline_ctx):
    name = "Single_9_Frame_CounterDepth_12_Rows_256"
    by_hdr = inline_ctx.load("mib", path=real_dir / f"{name}.hdr")
    by_mib = inline_ctx.load("mib", path=str(real_dir / f"{name}.mib"))
    assert tuple(by_mib.shape) == tuple(by_hdr.shape) == (1, 9, 256, 256)
    # the RAW file beside it (same prefix, no sequence number) is not part of the acquisition
    one_bit = inline_ctx.load("mib", path=real_dir / "Single_9_Frame_CounterDepth_1_Rows_256.mib")
    assert one_bit.meta["files"] == [str(real_dir / "Single_9_Frame_CounterDepth_1_Rows_256.mib")]


@pytest.mark.parametrize("name", RAW_FILES)
def test_real_raw_files_match_a_numpy_decode(real_dir, inline_ctx, name):
    quad = name.startswith("Quad")
    ds = inline_ctx.load("mib", path=real_dir / f"{name}.hdr")
    assert ds.dtype == np.uint8
    oracle = numpy_raw_1bit(real_dir / f"{name}.mib", 768 if quad else 384, quad)
    assert tuple(ds.shape.sig) == oracle.shape[1:]
    data = read_back(inline_ctx, ds).reshape(oracle.shape)
    np.testing.assert_array_equal(data, oracle)
    total, per_frame = sums(inline_ctx, ds)
    assert total.sum() == oracle.sum() == per_frame.sum()
    diag = {d["name"]: d["value"] for d in ds.get_diagnostics()}
    assert (diag["Bits per pixel"], diag["Data kind"]) == ("1", "r")


@pytest.mark.parametrize("layout", ["Single", "Quad"])
def test_real_raw_layout_agrees_with_the_plain_acquisition(real_dir, inline_ctx, layout):
    """The RAW and plain 1-bit files are two acquisitions of the same scene (taken a second
    apart, with different totals): their summed images must agree pixel by pixel, which a wrong
    quadrant order or flip does not (correlation 0.52 for unflipped bottom chips)."""
    name = f"{layout}_9_Frame_CounterDepth_1_Rows_256"
    raw = inline_ctx.load("mib", path=real_dir / f"{name}RAW.hdr")
    plain = inline_ctx.load("mib", path=real_dir / f"{name}.hdr")
    a, b = sums(inline_ctx, raw)[0].ravel(), sums(inline_ctx, plain)[0].ravel()
    assert np.corrcoef(a, b)[0, 1] > 0.99
    assert abs(a.sum() - b.sum()) < 0.001 * b.sum()


# -- synthetic files: every depth, plain and RAW, single chip and quad ---------------------------
def expected_dtype(depth: int, raw: bool) -> np.dtype:
    if raw:
        return np.dtype({1: "u1", 6: "u1", 12: "=u2", 24: "=u4"}[depth])
    return np.dtype(DTYPES[str(depth)])


@pytest.mark.parametrize("depth", [1, 6, 12, 24])
@pytest.mark.parametrize("raw", [False, True])
@pytest.mark.parametrize("quad", [False, True])
def test_synthetic_every_mode_reads_back(ctx, tmp_path, depth, raw, quad):
    sig = (8, 128) if quad else (4, 64)
    data = random_frames(depth * 10 + raw * 2 + quad, (3, 5) + sig, depth)
    write_acquisition(tmp_path, "scan", data, depth, raw=raw, quad=quad, files=2)
    ds = ctx.load("mib", path=tmp_path / "scan.hdr", num_partitions=3)
    assert tuple(ds.shape) == (3, 5) + sig
    assert ds.dtype == expected_dtype(depth, raw)
    np.testing.assert_array_equal(read_back(ctx, ds), data)
    total, per_frame = sums(ctx, ds)
    assert_close(total, data.sum(axis=(0, 1)))
    assert_close(per_frame, data.sum(axis=(2, 3)))


@pytest.mark.parametrize("depth", [1, 6, 12, 24])
@pytest.mark.parametrize("raw", [False, True])
def test_synthetic_64x64_scans_with_roi(ctx, tmp_path, depth, raw):
    """A 64x64 scan (small frames keep the files small), natively and in Python, with an ROI."""
    sig = (2, 64)
    data = random_frames(depth + raw, (64, 64) + sig, depth)
    write_acquisition(tmp_path, "big", data, depth, raw=raw, files=3)
    ds = ctx.load("mib", path=tmp_path / "big2.mib")  # any file of the scan finds the rest
    assert tuple(ds.shape) == (64, 64) + sig
    roi = np.random.default_rng(depth).random((64, 64)) < 0.3
    total, per_frame = sums(ctx, ds, roi=roi)
    assert_close(total, data[roi].sum(axis=0))
    assert_close(per_frame[roi], data[roi].sum(axis=(1, 2)))
    assert np.all(np.isnan(per_frame[~roi]))
    np.testing.assert_array_equal(read_back(ctx, ds, roi=roi)[roi], data[roi])


@pytest.mark.parametrize("rows", [128, 64])
@pytest.mark.parametrize("raw", [False, True])
def test_roi_readouts(inline_ctx, tmp_path, rows, raw):
    """Merlin reads out a band of rows: 256x128 and 256x64 frames (quads: twice as tall)."""
    for quad in (False, True):
        sig = (2 * rows, 512) if quad else (rows, 256)
        data = random_frames(rows, (2, 2) + sig, 12)
        d = tmp_path / f"q{quad}"
        d.mkdir()
        write_acquisition(d, "roi", data, 12, raw=raw, quad=quad)
        ds = inline_ctx.load("mib", path=d / "roi.hdr")
        assert tuple(ds.shape.sig) == sig
        np.testing.assert_array_equal(read_back(inline_ctx, ds), data)


def test_files_are_ordered_by_sequence_number_not_name(inline_ctx, tmp_path):
    data = random_frames(3, (12, 4, 64), 12)
    # 11 files: lexicographic order would put scan10 and scan11 before scan2
    write_acquisition(tmp_path, "scan", data, 12, files=11, hdr=False)
    ds = inline_ctx.load("mib", path=tmp_path / "scan1.mib", nav_shape=(12,))
    assert len(ds.meta["files"]) == 11
    np.testing.assert_array_equal(read_back(inline_ctx, ds), data)
    # disable_glob: that one file only
    alone = inline_ctx.load("mib", path=tmp_path / "scan10.mib", nav_shape=(1,), disable_glob=True)
    np.testing.assert_array_equal(read_back(inline_ctx, alone)[0], data[10])


def test_shape_parameters_and_sync_offset(inline_ctx, tmp_path):
    data = random_frames(4, (4, 3, 4, 64), 6)
    write_acquisition(tmp_path, "s", data, 6)
    flat = data.reshape(12, 4, 64)
    ds = inline_ctx.load("mib", path=tmp_path / "s.hdr", nav_shape=(12,), sig_shape=(16, 16))
    np.testing.assert_array_equal(read_back(inline_ctx, ds), flat.reshape(12, 16, 16))
    for offset in (-5, 3):
        ds = inline_ctx.load("mib", path=tmp_path / "s.mib", nav_shape=(12,), sync_offset=offset)
        out = read_back(inline_ctx, ds)
        for i in range(12):
            j = i + offset
            np.testing.assert_array_equal(out[i], flat[j] if 0 <= j < 12 else 0)
    with pytest.raises(DataSetException, match=r"sig_shape: got \(5, 5\)"):
        inline_ctx.load("mib", path=tmp_path / "s.hdr", sig_shape=(5, 5))
    with pytest.raises(DataSetException, match=r"sync_offset"):
        inline_ctx.load("mib", path=tmp_path / "s.hdr", sync_offset=12)


def test_an_acquisition_cut_short_loads_with_a_warning(inline_ctx, tmp_path):
    data = random_frames(5, (4, 4, 4, 64), 12)
    write_acquisition(tmp_path, "cut", data, 12)
    # the detector stopped after 13 of the 16 frames the .hdr announces
    write_mib(tmp_path / "cut.mib", data.reshape(16, 4, 64)[:13], 12)
    with pytest.warns(
        IncompleteDataWarning,
        match=r"holds 13 frames, but nav_shape \(4, 4\) has 16.*missing 3 read as zeros",
    ):
        ds = inline_ctx.load("mib", path=tmp_path / "cut.hdr")
    assert tuple(ds.shape.nav) == (4, 4) and ds.meta.image_count == 13
    expected = data.copy()
    expected.reshape(16, 4, 64)[13:] = 0
    np.testing.assert_array_equal(read_back(inline_ctx, ds), expected)
    diag = {d["name"]: d["value"] for d in ds.get_diagnostics()}
    assert diag["Frames missing (read as zeros)"] == "3"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        inline_ctx.load("mib", path=tmp_path / "cut.mib", nav_shape=(13,))  # no warning


def test_make_dask_array_and_pickling(inline_ctx, tmp_path):
    import pickle

    from ferrotem.contrib.daskadapter import make_dask_array

    data = random_frames(6, (3, 4, 8, 128), 1)
    write_acquisition(tmp_path, "d", data, 1, raw=True, quad=True)
    ds = inline_ctx.load("mib", path=tmp_path / "d.hdr")
    arr, _ = make_dask_array(ds, dtype="uint8")
    np.testing.assert_array_equal(arr.compute(), data)
    again = pickle.loads(pickle.dumps(ds))
    np.testing.assert_array_equal(read_back(inline_ctx, again), data)


def test_direct_construction_runs(inline_ctx, tmp_path):
    data = random_frames(7, (2, 2, 4, 64), 24)
    write_acquisition(tmp_path, "c", data, 24)
    ds = MIBDataSet(path=tmp_path / "c.hdr")
    total, _ = sums(inline_ctx, ds)
    assert_close(total, data.sum(axis=(0, 1)))


def test_frame_header_parser_is_exposed(real_dir):
    head = (real_dir / "Quad_1_Frame_CounterDepth_1_Rows_256RAW.mib").read_bytes()[:768]
    h = _core.mib_frame_header(head)
    assert (h["width"], h["height"], h["pixel_type"], h["layout"]) == (1024, 256, "R64", "2x2")
    assert (h["chips"], h["counter_depth"], h["sequence"], h["header_bytes"]) == (4, 1, 1, 768)
    with pytest.raises(ValueError, match=r"field 7"):
        _core.mib_frame_header(head.replace(b"R64", b"X64"))
