"""'mrc': the Direct Electron movies of shared/data/real with their known totals and first pixels
(LiberTEM 0.16 fails them), synthetic files of every mode and byte order, with and without a
machine stamp and an extended header (tests/helpers/mrc_writer.py) read back against numpy, the
scan shape from an _info.txt, and bad input."""

from __future__ import annotations

import shutil
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
from ferrotem.io.dataset.mrc import (
    IncompleteDataWarning,
    MRCDataSet,
    info_path_for,
    scan_shape_from_info,
)
from ferrotem.udf.base import UDF
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF
from helpers.mrc_writer import write_mrc

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "mrc"


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


@pytest.mark.parametrize(
    ("name", "frames", "total", "first", "why"),
    [
        ("Custom_movie.mrc", 30, 9006430, [726, 690, 698], "'XY File'"),
        ("ROI_Random_Scan_movie.mrc", 348, 104477835, [727, 692, 696], "'Random'"),
    ],
)
def test_real_de_movies(ctx, name, frames, total, first, why):
    path = REAL / name
    if not path.exists():
        pytest.skip(f"{path} not found")
    ds = ctx.load("mrc", path=path)
    assert tuple(ds.shape) == (frames, 16, 16) and ds.dtype == np.uint16
    data = read_back(ctx, ds)
    assert data[0, 0, :3].tolist() == first
    sums, per_frame = ctx.run_udf(ds, [SumUDF(), SumSigUDF()])
    assert int(sums["intensity"].data.sum(dtype=np.float64)) == total
    assert int(per_frame["intensity"].data.sum(dtype=np.float64)) == total
    # independent oracle: numpy reads the frames after the 1024-byte header
    stored = np.fromfile(path, dtype="<u2", offset=1024).reshape(frames, 16, 16)
    np.testing.assert_array_equal(data, stored)
    # the _info.txt is read; its scan is not a raster, so the frames stay one axis
    assert ds.meta.metadata["de_info"]["Scan - Points"] == str(frames)
    diag = {d["name"]: d["value"] for d in ds.get_diagnostics()}
    assert why in diag["Scan shape"] and "raster" in diag["Scan shape"]


def test_real_movie_with_a_raster_info(inline_ctx, tmp_path):
    """The real ROI movie with its _info.txt edited to a raster scan: the ROI's 29 x 12."""
    src = REAL / "ROI_Random_Scan_movie.mrc"
    if not src.exists():
        pytest.skip(f"{src} not found")
    path = tmp_path / "scan_movie.mrc"
    shutil.copy(src, path)
    info = (REAL / "ROI_Random_Scan_info.txt").read_text()
    lines = [
        "Scan - Type = Raster" if line.startswith("Scan - Type ") else line
        for line in info.splitlines()
    ]
    (tmp_path / "scan_info.txt").write_text("\n".join(lines))
    ds = inline_ctx.load("mrc", path=path)
    assert tuple(ds.shape) == (29, 12, 16, 16)
    total = inline_ctx.run_udf(ds, SumUDF())["intensity"].data
    assert int(total.sum(dtype=np.float64)) == 104477835


@pytest.mark.parametrize("mode", [0, 1, 2, 4, 6, 12])
@pytest.mark.parametrize("byteorder", ["<", ">"])
def test_every_mode_and_byte_order(inline_ctx, tmp_path, mode, byteorder):
    rng = np.random.default_rng(mode)
    frames = rng.random((12, 5, 7)) * 100 - (50 if mode in (0, 1, 2, 4, 12) else 0)
    if mode == 4:
        frames = frames + 1j * frames[::-1]
    kinds = {0: "i1", 1: "i2", 2: "f4", 4: "c8", 6: "u2", 12: "f2"}
    frames = frames.astype(kinds[mode])
    path = tmp_path / "m.mrc"
    write_mrc(path, frames, mode, byteorder=byteorder, nsymbt=300 if mode % 2 else 0)
    ds = inline_ctx.load("mrc", path=path, nav_shape=(3, 4), num_partitions=2)
    expected = frames.astype(np.float32) if mode == 12 else frames
    assert tuple(ds.shape) == (3, 4, 5, 7)
    assert ds.dtype.kind == expected.dtype.kind and ds.dtype.itemsize == expected.dtype.itemsize
    np.testing.assert_array_equal(read_back(inline_ctx, ds).reshape(12, 5, 7), expected)


@pytest.mark.parametrize("byteorder", ["<", ">"])
def test_no_machine_stamp_and_no_map_word(inline_ctx, tmp_path, byteorder):
    frames = np.arange(4 * 6 * 8, dtype="u2").reshape(4, 6, 8)
    path = tmp_path / "old.mrc"
    write_mrc(path, frames, 6, byteorder=byteorder, stamp=False, map_word=False)
    ds = inline_ctx.load("auto", path=path)
    assert isinstance(ds, MRCDataSet) and ds.header["big_endian"] == (byteorder == ">")
    np.testing.assert_array_equal(read_back(inline_ctx, ds), frames)


def test_scan_shape_from_info(ctx, tmp_path):
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 4000, (2 * 3 * 5, 8, 8)).astype("<u2")
    path = tmp_path / "acq_movie.mrc"
    write_mrc(path, frames, 6)
    info = {
        "Scan - Enable": "Enable",
        "Scan - Type": "Raster",
        "Scan - Size X": "5",
        "Scan - Size Y": "3",
        "Scan - Repeats": "2",
        "Scan - ROI Enable": "Disable",
    }
    (tmp_path / "acq_info.txt").write_text("".join(f"{k:<64}= {v}\n" for k, v in info.items()))
    assert info_path_for(str(path)) == str(tmp_path / "acq_info.txt")
    ds = ctx.load("mrc", path=path, num_partitions=3)
    assert tuple(ds.shape) == (2, 3, 5, 8, 8)
    data = frames.reshape(2, 3, 5, 8, 8)
    roi = rng.random((2, 3, 5)) < 0.5
    total, per_frame = ctx.run_udf(ds, [SumUDF(), SumSigUDF()], roi=roi)
    assert_close(total["intensity"].data, data[roi].sum(axis=0))
    assert_close(per_frame["intensity"].data[roi], data[roi].sum(axis=(1, 2)))
    # the rules, one by one
    assert scan_shape_from_info({**info, "Scan - Repeats": "1"}, 15)[0] == (3, 5)
    roi_info = {**info, "Scan - ROI Enable": "Enable", "Scan - ROI Size X": "2"}
    assert scan_shape_from_info({**roi_info, "Scan - ROI Size Y": "4"}, 16)[0] == (2, 4, 2)
    shape, why = scan_shape_from_info(info, 31)
    assert shape is None and "30 positions, the file 31 frames" in why
    shape, why = scan_shape_from_info({**info, "Scan - Type": "Serpentine"}, 30)
    assert shape is None and "'Serpentine'" in why
    assert scan_shape_from_info({**info, "Scan - Enable": "Disable"}, 30)[0] is None
    # nav_shape given wins over the _info.txt
    assert tuple(ctx.load("mrc", path=path, nav_shape=(30,)).shape.nav) == (30,)


def test_shape_parameters_and_cut_short(inline_ctx, tmp_path):
    frames = np.arange(10 * 4 * 4, dtype="<f4").reshape(10, 4, 4)
    path = tmp_path / "m.mrc"
    write_mrc(path, frames, 2)
    ds = inline_ctx.load("mrc", path=path, sig_shape=(16,), sync_offset=-2)
    out = read_back(inline_ctx, ds)
    assert not out[:2].any()
    np.testing.assert_array_equal(out[2:], frames[:8].reshape(8, 16))
    with pytest.raises(InvalidDataSetParameter, match=r"sig_shape: got \(3, 3\)"):
        inline_ctx.load("mrc", path=path, sig_shape=(3, 3))
    with open(path, "r+b") as f:
        f.truncate(1024 + 7 * 64)
    with pytest.warns(IncompleteDataWarning, match=r"holds 7 frames"):
        ds = inline_ctx.load("mrc", path=path)
    out = read_back(inline_ctx, ds)
    np.testing.assert_array_equal(out[:7], frames[:7])
    assert not out[7:].any()


# -- bad input -----------------------------------------------------------------------------------
def test_bad_files_name_the_file_and_the_problem(inline_ctx, tmp_path):
    frames = np.zeros((3, 4, 4), "<i2")
    path = tmp_path / "bad.mrc"
    write_mrc(path, frames, 1)
    good = path.read_bytes()
    with open(path, "r+b") as f:
        f.truncate(1024 + 40)
    with pytest.raises(TruncatedFileError, match=r"bad\.mrc.*ends inside MRC frame 1"):
        inline_ctx.load("mrc", path=path)
    with open(path, "r+b") as f:
        f.truncate(500)
    with pytest.raises(TruncatedFileError, match=r"bad\.mrc.*MRC header is cut off"):
        inline_ctx.load("mrc", path=path)
    cases = [
        (12, np.array([3], "<i4"), r"MODE is 3 \(complex int16"),
        (12, np.array([101], "<i4"), r"MODE is 101 \(4-bit"),
        (12, np.array([7], "<i4"), r"MODE is 7, expected 0 \(int8\)"),
        (4, np.array([-4], "<i4"), r"NY \(rows\) is -4"),
        (92, np.array([-1], "<i4"), r"NSYMBT"),
    ]
    for at, value, message in cases:
        b = bytearray(good)
        b[at : at + 4] = value.tobytes()
        path.write_bytes(bytes(b))
        with pytest.raises(CorruptFileError, match=rf"bad\.mrc.*{message}"):
            inline_ctx.load("mrc", path=path)
    # an extended header larger than the file: no frame at all
    b = bytearray(good)
    b[92:96] = np.array([10**6], "<i4").tobytes()
    path.write_bytes(bytes(b))
    with pytest.raises(TruncatedFileError, match=r"bad\.mrc"):
        inline_ctx.load("mrc", path=path)
    with pytest.raises(MissingFileError, match=r"path: .*nothere\.mrc' does not exist"):
        inline_ctx.load("mrc", path=tmp_path / "nothere.mrc")
    with pytest.raises(IsADirectoryError):
        inline_ctx.load("mrc", path=tmp_path)


def test_auto_detects_a_renamed_movie(inline_ctx, tmp_path):
    src = REAL / "Custom_movie.mrc"
    if not src.exists():
        pytest.skip(f"{src} not found")
    renamed = tmp_path / "movie.dat"
    shutil.copy(src, renamed)
    ds = inline_ctx.load("auto", path=renamed)
    assert isinstance(ds, MRCDataSet) and tuple(ds.shape) == (30, 16, 16)
    assert int(read_back(inline_ctx, ds).astype(np.int64).sum()) == 9006430
    params = MRCDataSet.detect_params(str(src))
    assert params["parameters"]["nav_shape"] == (30,) and params["info"]["image_count"] == 30


@pytest.mark.parametrize("io", ["pread", "mmap"])
def test_io_modes_read_the_same(inline_ctx, tmp_path, monkeypatch, io):
    monkeypatch.setenv("FERROTEM_IO", io)
    frames = np.random.default_rng(4).integers(0, 60000, (12, 6, 5)).astype(">u2")
    path = tmp_path / "io.mrc"
    write_mrc(path, frames, 6, byteorder=">", nsymbt=77)
    ds = inline_ctx.load("mrc", path=path, nav_shape=(3, 4), num_partitions=2)
    np.testing.assert_array_equal(read_back(inline_ctx, ds).reshape(12, 6, 5), frames)
