"""'tvips' (TVIPS camera series): the real files of shared/data/real (one file, and the same
series split over three) with their known total and first pixels, and synthetic series
(tests/helpers/tvips_writer.py: 8 and 16 bit, versions 1 and 2, split, with scan positions)
read back against numpy; the scan detected from the frames' positions; bad input."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_close
from ferrotem.common.exceptions import (
    CorruptFileError,
    InvalidDataSetParameter,
    MissingFileError,
    TruncatedFileError,
)
from ferrotem.io.dataset.tvips import (
    DetectionError,
    TVIPSDataSet,
    detect_shape,
    frames_in_file,
    get_filenames,
    get_image_count_and_sig_shape,
    read_series_header,
)
from ferrotem.udf.base import UDF
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF
from helpers.tvips_writer import raster_positions, write_tvips

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "tvips"
SINGLE = REAL / "test_tvips_2345_000.tvips"
SPLIT = [REAL / f"test_tvips_2345_split_{i:03d}.tvips" for i in range(3)]


class CopyUDF(UDF):
    def get_preferred_input_dtype(self):
        return self.USE_NATIVE_DTYPE

    def get_result_buffers(self):
        sig = tuple(self.meta.dataset_shape.sig)
        return {"frames": self.buffer(kind="nav", extra_shape=sig, dtype=self.meta.input_dtype)}

    def process_tile(self, tile):
        self.results.frames[:] = tile


def read_back(ctx, ds, roi=None):
    return ctx.run_udf(ds, CopyUDF(), roi=roi)["frames"].data


def real_records(path: Path, header: int) -> np.ndarray:
    """numpy's reading of the real files: 60-byte frame headers, 4 x 5 little-endian uint16."""
    record = np.dtype([("head", "V60"), ("data", "<u2", (4, 5))])
    return np.fromfile(path, dtype=record, offset=header)["data"]


def needs_real():
    if not SINGLE.exists() or not all(p.exists() for p in SPLIT):
        pytest.skip(f"{REAL} not found")


def test_real_single_file(ctx):
    needs_real()
    # LiberTEM 0.16 fails this file (it reads scan positions past the end of the series)
    ds = ctx.load("tvips", path=SINGLE)
    # its 60-byte frame headers hold no scan positions: all frames as a line
    assert tuple(ds.shape) == (6, 4, 5) and ds.dtype == np.uint16
    total, per_frame = ctx.run_udf(ds, [SumUDF(), SumSigUDF()])
    assert total["intensity"].data.sum() == 7140 == per_frame["intensity"].data.sum()
    data = read_back(ctx, ds)
    assert data.reshape(-1)[:3].tolist() == [0, 1, 2]
    np.testing.assert_array_equal(data, real_records(SINGLE, 256))
    diag = {d["name"]: d["value"] for d in ds.get_diagnostics()}
    assert diag["Bits per pixel"] == "16" and diag["File Format Version"] == "2"
    assert diag["High tension (kV)"] == "200"


def test_real_split_series_reads_as_the_single_file(inline_ctx):
    needs_real()
    # any file of the series finds the others; the series header is only in _000
    ds = inline_ctx.load("tvips", path=SPLIT[1], nav_shape=(2, 3))
    assert tuple(ds.shape) == (2, 3, 4, 5)
    assert ds.meta["frames_per_file"] == [1, 3, 2]
    stored = np.concatenate([real_records(SPLIT[0], 256)] + [real_records(p, 0) for p in SPLIT[1:]])
    single = real_records(SINGLE, 256)
    np.testing.assert_array_equal(stored, single)
    np.testing.assert_array_equal(read_back(inline_ctx, ds), single.reshape(2, 3, 4, 5))
    total = inline_ctx.run_udf(ds, SumUDF())["intensity"].data.sum()
    assert total == 7140
    # the two series share a prefix but are not mixed (LiberTEM's glob would take both)
    assert get_filenames(str(SINGLE)) == [str(SINGLE)]
    assert get_filenames(str(SPLIT[2])) == [str(p) for p in SPLIT]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_synthetic_series_detects_its_scan(ctx, tmp_path, dtype):
    blank, rows, width, trailing = 3, 4, 5, 2
    n = blank + rows * width + trailing
    rng = np.random.default_rng(n)
    frames = rng.integers(0, np.iinfo(dtype).max, (n, 6, 7), endpoint=True).astype(dtype)
    positions = raster_positions(blank, rows, width, trailing)
    paths = write_tvips(tmp_path, "scan", frames, split=[7, 11, 7], positions=positions)
    ds = ctx.load("tvips", path=paths[1], num_partitions=3)
    # the scan starts at the frame at (0, 0) followed by (0, 1); rows = (n - start) // width
    assert ds.meta.sync_offset == blank
    assert tuple(ds.shape) == ((n - blank) // width, width, 6, 7) and ds.dtype == dtype
    expected = frames[blank : blank + rows * width].reshape(rows, width, 6, 7)
    np.testing.assert_array_equal(read_back(ctx, ds), expected)
    roi = rng.random((rows, width)) < 0.5
    total, per_frame = ctx.run_udf(ds, [SumUDF(), SumSigUDF()], roi=roi)
    assert_close(total["intensity"].data, expected[roi].sum(axis=0, dtype=np.float64))
    assert_close(per_frame["intensity"].data[roi], expected[roi].sum(axis=(1, 2)))
    assert detect_shape(str(paths[0])) == (blank, (rows, width))
    assert get_image_count_and_sig_shape(str(paths[2])) == (n, (6, 7))
    header = read_series_header(str(paths[0]))
    assert (header.bpp, header.xdim, header.ydim) == (np.dtype(dtype).itemsize * 8, 7, 6)
    assert [frames_in_file(str(p), header) for p in paths] == [7, 11, 7]
    params = TVIPSDataSet.detect_params(str(paths[0]), None)
    assert params["parameters"]["nav_shape"] == (rows, width)
    assert params["parameters"]["sync_offset"] == blank


def test_scan_without_a_row_end_is_a_line(inline_ctx, tmp_path):
    # one row of positions and no second: the width is not known, the scan is all frames
    frames = np.arange(5 * 4 * 4, dtype=np.uint16).reshape(5, 4, 4)
    positions = [(3.0, 3.0), (0.0, 0.0), (0.0, 1.0), (0.0, 2.0), (0.0, 3.0)]
    (path,) = write_tvips(tmp_path, "line", frames, positions=positions)
    ds = inline_ctx.load("tvips", path=path)
    assert ds.meta.sync_offset == 1 and tuple(ds.shape) == (5, 4, 4)
    np.testing.assert_array_equal(read_back(inline_ctx, ds)[:4], frames[1:])
    assert not read_back(inline_ctx, ds)[4].any()


@pytest.mark.parametrize(
    ("version", "header_bytes"), [(1, 12), (2, 60), (2, 0)], ids=["v1", "short-header", "none"]
)
def test_series_without_positions(inline_ctx, tmp_path, version, header_bytes):
    frames = np.random.default_rng(version).integers(0, 255, (6, 3, 5)).astype(np.uint8)
    paths = write_tvips(
        tmp_path, "s", frames, split=[2, 4], version=version, frame_header_bytes=header_bytes
    )
    ds = inline_ctx.load("tvips", path=paths[0])
    assert tuple(ds.shape) == (6, 3, 5) and ds.meta.sync_offset == 0
    np.testing.assert_array_equal(read_back(inline_ctx, ds), frames)
    with pytest.raises(DetectionError, match="cannot detect the scan"):
        detect_shape(str(paths[0]))
    # detect_params falls back to all frames, as a square where their count is one (LiberTEM)
    assert TVIPSDataSet.detect_params(str(paths[0]), None)["parameters"]["nav_shape"] == (6,)
    square = write_tvips(
        tmp_path, "q", frames[:4], version=version, frame_header_bytes=header_bytes
    )
    assert TVIPSDataSet.detect_params(str(square[0]), None)["parameters"]["nav_shape"] == (2, 2)


@pytest.mark.parametrize("io", ["mmap", "pread"])
def test_shape_parameters(inline_ctx, tmp_path, monkeypatch, io):
    monkeypatch.setenv("FERROTEM_IO", io)
    frames = np.random.default_rng(5).integers(0, 999, (12, 4, 6)).astype(np.uint16)
    paths = write_tvips(tmp_path, "p", frames, split=[5, 5, 2])
    ds = inline_ctx.load("tvips", path=paths[0], nav_shape=(3, 4), sig_shape=(24,), sync_offset=2)
    out = read_back(inline_ctx, ds).reshape(12, 24)
    np.testing.assert_array_equal(out[:10], frames[2:].reshape(10, 24))
    assert not out[10:].any()
    ds = inline_ctx.load("tvips", path=paths[2], nav_shape=(12,), sync_offset=-3)
    out = read_back(inline_ctx, ds)
    np.testing.assert_array_equal(out[3:], frames[:9])
    assert not out[:3].any()
    roi = np.zeros(12, bool)
    roi[[0, 4, 5, 11]] = True
    picked = read_back(inline_ctx, ds, roi=roi)[roi]
    np.testing.assert_array_equal(picked, np.concatenate([np.zeros((1, 4, 6)), frames[[1, 2, 8]]]))


# -- bad input -----------------------------------------------------------------------------------
@pytest.fixture
def series(tmp_path):
    frames = np.arange(9 * 2 * 3, dtype=np.uint16).reshape(9, 2, 3)
    return write_tvips(tmp_path, "bad", frames, split=[3, 3, 3])


def test_missing_file_in_the_middle(inline_ctx, series):
    os.remove(series[1])
    with pytest.raises(MissingFileError, match=r"file 1 of the series .*bad_001\.tvips"):
        inline_ctx.load("tvips", path=series[0])


def test_missing_first_file(inline_ctx, series):
    os.remove(series[0])
    with pytest.raises(MissingFileError, match=r"series header.*bad_000\.tvips"):
        inline_ctx.load("tvips", path=series[2])


@pytest.mark.parametrize("which", [0, 1, 2])
def test_truncated_file(inline_ctx, series, which):
    os.truncate(series[which], os.path.getsize(series[which]) - 5)
    with pytest.raises(TruncatedFileError, match=r"frame record") as info:
        inline_ctx.load("tvips", path=series[0])
    assert str(series[which]) in str(info.value)


def test_header_only(inline_ctx, series):
    os.truncate(series[0], 100)
    with pytest.raises(TruncatedFileError, match="series header is cut off") as info:
        inline_ctx.load("tvips", path=series[0])
    assert str(series[0]) in str(info.value)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (0, 1024, r"ISize\) is 1024"),
        (1, 3, r"IVersion\) is 3"),
        (2, 0, r"IXDim\) is 0"),
        (4, 12, r"IBPP\) is 12"),
        (12, -8, r"IImgHeaderBytes\) is -8"),
    ],
)
def test_corrupt_series_header(inline_ctx, series, field, value, message):
    with open(series[0], "r+b") as f:
        f.seek(field * 4)
        f.write(np.array([value], "<i4").tobytes())
    with pytest.raises(CorruptFileError, match=message) as info:
        inline_ctx.load("tvips", path=series[0])
    assert str(series[0]) in str(info.value)


def test_bad_parameters(inline_ctx, series, tmp_path):
    with pytest.raises(InvalidDataSetParameter, match=r"sig_shape: got \(7,\)"):
        inline_ctx.load("tvips", path=series[0], sig_shape=(7,))
    with pytest.raises(InvalidDataSetParameter, match="sync_offset"):
        inline_ctx.load("tvips", path=series[0], sync_offset=99)
    other = tmp_path / "bad_000.dat"
    other.write_bytes(series[0].read_bytes())
    with pytest.raises(InvalidDataSetParameter, match=r"expected a \.tvips file"):
        inline_ctx.load("tvips", path=other)
    with pytest.raises(MissingFileError, match="does not exist"):
        inline_ctx.load("tvips", path=tmp_path / "nope_000.tvips")


def test_auto_detects_every_file_of_a_series(inline_ctx, series):
    for path in series:
        ds = inline_ctx.load("auto", path=path)
        assert isinstance(ds, TVIPSDataSet) and tuple(ds.shape) == (9, 2, 3)


@pytest.mark.parametrize("io", ["mmap", "pread"])
def test_file_shrinking_during_a_run(inline_ctx, series, monkeypatch, io):
    monkeypatch.setenv("FERROTEM_IO", io)
    ds = inline_ctx.load("tvips", path=series[0])
    inline_ctx.run_udf(ds, SumUDF())
    os.truncate(series[1], 10)
    with pytest.raises(TruncatedFileError) as info:
        inline_ctx.run_udf(ds, SumUDF())
    assert str(series[1]) in str(info.value)
