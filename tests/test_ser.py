"""'ser' (TIA series files): the two real files of shared/data/real (old and new version) with
their known totals and first pixels, synthetic files of both versions, every TIA type, 1-D and
2-D elements and elements out of order or with gaps (tests/helpers/ser_writer.py), read back
against numpy; the .emi metadata; bad input."""

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
from ferrotem.io.dataset.ser import IncompleteDataWarning, SERDataSet, emi_path_for
from ferrotem.udf.base import UDF
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF
from helpers.ser_writer import write_ser

TIA = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "tia"
NEW = TIA / "128x128x5-diffraction_preview_1.ser"
OLD = TIA / "64x64x5_TEM_preview_1.ser"


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


def numpy_frames(path: Path, header: dict) -> np.ndarray:
    """Independent oracle: each element's pixels at its listed offset, read by numpy; images
    are stored bottom row first (ncempy and RosettaSciIO flip them too)."""
    two_d = header["data_type_id"] == 0x4122
    skip = 50 if two_d else 26
    count = int(np.prod(header["sig_shape"]))
    frames = np.stack(
        [
            np.fromfile(path, dtype=header["dtype"], count=count, offset=o + skip)
            for o in header["data_offsets"]
        ]
    ).reshape(-1, *header["sig_shape"])
    return frames[:, ::-1] if two_d else frames


@pytest.mark.parametrize(
    ("path", "dtype", "version", "total", "first"),
    [
        (NEW, np.int32, 0x0220, 9416326, [128, 126, 250]),
        (OLD, np.float32, 0x0210, 42890461.5, [2624.0969, 2379.6768, 2419.3054]),
    ],
    ids=["new-version", "old-version"],
)
def test_real_files(ctx, path, dtype, version, total, first):
    if not path.exists():
        pytest.skip(f"{path} not found")
    ds = ctx.load("ser", path=path)
    h = ds.header
    assert h["version"] == version and h["offset_bytes"] == (8 if version >= 0x0220 else 4)
    assert tuple(ds.shape.nav) == (5,) and ds.dtype == dtype
    data = read_back(ctx, ds)
    np.testing.assert_allclose(data[0, 0, :3], first, rtol=1e-7)
    sums, per_frame = ctx.run_udf(ds, [SumUDF(), SumSigUDF()])
    # the README's totals are rounded to the first decimal
    assert np.isclose(data.astype(np.float64).sum(), total, rtol=1e-8)
    assert np.isclose(float(sums["intensity"].data.astype(np.float64).sum()), total, rtol=1e-6)
    assert np.isclose(float(per_frame["intensity"].data.sum()), total, rtol=1e-6)
    np.testing.assert_array_equal(data, numpy_frames(path, h))
    emi = ds.meta.metadata["emi"]
    assert emi["path"] == str(path.with_name(path.name.replace("_1.ser", ".emi")))
    assert "High tension" in emi["description"]
    diag = {d["name"]: d["value"] for d in ds.get_diagnostics()}
    assert diag["Valid / total elements"] == "5 / 5"


def test_real_file_without_its_emi_still_loads(inline_ctx, tmp_path):
    if not OLD.exists():
        pytest.skip(f"{OLD} not found")
    copy = tmp_path / OLD.name
    shutil.copy(OLD, copy)
    ds = inline_ctx.load("ser", path=copy)
    assert ds.meta.metadata["emi"] == {}
    assert np.isclose(read_back(inline_ctx, ds).astype(np.float64).sum(), 42890461.5)
    with pytest.raises(MissingFileError, match=r"emipath: .*nothere\.emi' does not exist"):
        inline_ctx.load("ser", path=copy, emipath=tmp_path / "nothere.emi")


@pytest.mark.parametrize("version", [0x0210, 0x0220])
@pytest.mark.parametrize(
    "dtype", ["u1", "<u2", "<u4", "i1", "<i2", "<i4", "<f4", "<f8", "<c8", "<c16"]
)
def test_every_type_and_version(inline_ctx, tmp_path, version, dtype):
    rng = np.random.default_rng(version + len(dtype))
    data = (rng.random((3, 4, 5, 6)) * 100).astype(dtype)
    if np.dtype(dtype).kind == "c":
        data = data + 1j * data[::-1]
    path = tmp_path / "s.ser"
    write_ser(path, data, version=version)
    ds = inline_ctx.load("ser", path=path, num_partitions=2)
    assert tuple(ds.shape) == (3, 4, 5, 6) and ds.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(read_back(inline_ctx, ds), data)


@pytest.mark.parametrize("version", [0x0210, 0x0220])
def test_elements_out_of_order_with_gaps(ctx, tmp_path, version):
    """Elements placed in the file in a shuffled order, with filler between them: the frames
    still come in the order of the offset array."""
    rng = np.random.default_rng(7)
    data = rng.integers(0, 1000, (4, 5, 8, 8)).astype("<u2")
    order = rng.permutation(20)
    path = tmp_path / "shuffled.ser"
    write_ser(path, data, version=version, order=order, gap=13, position_tags=True)
    ds = ctx.load("ser", path=path, num_partitions=3)
    np.testing.assert_array_equal(read_back(ctx, ds), data)
    roi = rng.random((4, 5)) < 0.5
    total, per_frame = ctx.run_udf(ds, [SumUDF(), SumSigUDF()], roi=roi)
    assert_close(total["intensity"].data, data[roi].sum(axis=0, dtype=np.float64))
    assert_close(per_frame["intensity"].data[roi], data[roi].sum(axis=(1, 2)))


def test_spectra_and_shape_parameters(inline_ctx, tmp_path):
    rng = np.random.default_rng(3)
    data = rng.random((6, 40)).astype("<f4")
    path = tmp_path / "spectra.ser"
    write_ser(path, data, nav_dims=1, version=0x0210)
    ds = inline_ctx.load("ser", path=path)
    assert tuple(ds.shape) == (6, 40)
    np.testing.assert_array_equal(read_back(inline_ctx, ds), data)
    ds = inline_ctx.load("ser", path=path, nav_shape=(2, 3), sig_shape=(5, 8), sync_offset=1)
    out = read_back(inline_ctx, ds).reshape(6, 40)
    np.testing.assert_array_equal(out[:5], data[1:])
    assert not out[5:].any()
    with pytest.raises(InvalidDataSetParameter, match=r"sig_shape: got \(7,\)"):
        inline_ctx.load("ser", path=path, sig_shape=(7,))


def test_fewer_valid_elements_than_the_scan(inline_ctx, tmp_path):
    data = np.arange(3 * 4 * 4 * 4, dtype="<i4").reshape(3, 4, 4, 4)
    path = tmp_path / "cut.ser"
    write_ser(path, data[:2].reshape(8, 4, 4), nav_dims=1, total=12)
    # the header's dimension says 8; a scan of 12 positions is asked for
    with pytest.warns(IncompleteDataWarning, match=r"holds 8 frames"):
        ds = inline_ctx.load("ser", path=path, nav_shape=(3, 4))
    out = read_back(inline_ctx, ds)
    np.testing.assert_array_equal(out[:2], data[:2])
    assert not out[2:].any()


def test_emi_path_naming():
    assert emi_path_for("/d/name_1.ser") == "/d/name.emi"
    assert emi_path_for("/d/name.ser") == "/d/name.emi"
    assert emi_path_for("/d/a_12_3.ser") == "/d/a_12.emi"


# -- bad input -----------------------------------------------------------------------------------
def small(tmp_path, **kw):
    data = np.arange(2 * 3 * 4 * 4, dtype="<u2").reshape(2, 3, 4, 4)
    path = tmp_path / "s.ser"
    offsets = write_ser(path, data, **kw)
    return path, offsets


def patch(path, offset, new: bytes):
    b = bytearray(path.read_bytes())
    b[offset : offset + len(new)] = new
    path.write_bytes(bytes(b))


def test_truncated_files_name_the_file_and_the_part(inline_ctx, tmp_path):
    path, offsets = small(tmp_path)
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size - 20)
    with pytest.raises(TruncatedFileError, match=r"s\.ser.*SER frame 5 of 32 bytes"):
        inline_ctx.load("ser", path=path)
    with open(path, "r+b") as f:
        f.truncate(offsets["data"][5] + 10)
    with pytest.raises(TruncatedFileError, match=r"header of data element 5"):
        inline_ctx.load("ser", path=path)
    with open(path, "r+b") as f:
        f.truncate(offsets["data"][0] - 10)
    with pytest.raises(TruncatedFileError, match=r"s\.ser.*the offset arrays at offset"):
        inline_ctx.load("ser", path=path)
    with open(path, "r+b") as f:
        f.truncate(12)
    with pytest.raises(TruncatedFileError, match=r"s\.ser.*cut off"):
        inline_ctx.load("ser", path=path)


def test_corrupted_headers_name_the_field(inline_ctx, tmp_path):
    path, offsets = small(tmp_path)
    good = path.read_bytes()
    cases = [
        (0, b"MM", r"byte order mark"),
        (2, b"\x98\x01", r"series id"),
        (6, b"\x99\x99", r"data type id"),
        (18, b"\xff\x00\x00\x00", r"255 valid elements of 6"),
        (offsets["data"][3] + 40, b"\x0b\x00", r"data element 3 .* type code is 11"),
        (offsets["data"][4] + 42, b"\x05\x00\x00\x00", r"element 4 .* \[5, 4\].* element 0"),
    ]
    for at, new, message in cases:
        path.write_bytes(good)
        patch(path, at, new)
        with pytest.raises(CorruptFileError, match=rf"s\.ser.*{message}"):
            inline_ctx.load("ser", path=path)
    path.write_bytes(good)
    patch(path, 18, b"\x00\x00\x00\x00")
    with pytest.raises(CorruptFileError, match=r"0 valid elements"):
        inline_ctx.load("ser", path=path)


def test_not_a_file(inline_ctx, tmp_path):
    with pytest.raises(MissingFileError, match=r"path: .*nothere\.ser' does not exist"):
        inline_ctx.load("ser", path=tmp_path / "nothere.ser")
    with pytest.raises(IsADirectoryError):
        inline_ctx.load("ser", path=tmp_path)
    with pytest.raises(InvalidDataSetParameter, match=r"nav_shape"):
        SERDataSet(path=tmp_path / "x.ser", nav_shape=(0, 2))


def test_auto_detects_a_renamed_series_file(inline_ctx, tmp_path):
    if not NEW.exists():
        pytest.skip(f"{NEW} not found")
    renamed = tmp_path / "data.bin"
    shutil.copy(NEW, renamed)
    ds = inline_ctx.load("auto", path=renamed)
    assert isinstance(ds, SERDataSet) and tuple(ds.shape) == (5, 128, 128)
    assert read_back(inline_ctx, ds).astype(np.int64).sum() == 9416326
    assert SERDataSet.detect_params(str(NEW))["parameters"]["sig_shape"] == (128, 128)
    assert SERDataSet.detect_params(str(renamed)) is False


@pytest.mark.parametrize("io", ["pread", "mmap"])
def test_io_modes_read_the_same(inline_ctx, tmp_path, monkeypatch, io):
    """FERROTEM_IO=pread reads the listed offsets with positioned reads instead of the map."""
    monkeypatch.setenv("FERROTEM_IO", io)
    rng = np.random.default_rng(5)
    data = rng.integers(0, 60000, (3, 4, 6, 5)).astype("<u2")
    path = tmp_path / "io.ser"
    write_ser(path, data, order=rng.permutation(12), gap=3)
    ds = inline_ctx.load("ser", path=path, num_partitions=2)
    np.testing.assert_array_equal(read_back(inline_ctx, ds), data)
