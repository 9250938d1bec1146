"""'empad' (EMPAD detector): synthetic acquisitions (tests/helpers/empad_writer.py: the .xml
naming the .raw, scans of mode acquire and search, series) read back against numpy — the
2-row footer of every frame dropped; bad input."""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import assert_close
from ferrotem.common.exceptions import (
    CorruptFileError,
    DataSetTypeError,
    InvalidDataSetParameter,
    MissingFileError,
    TruncatedFileError,
)
from ferrotem.io.dataset.empad import EMPADDataSet, get_params_from_xml
from ferrotem.udf.base import UDF
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF
from helpers.empad_writer import series_xml, write_empad, write_raw

RECORD = 130 * 128 * 4


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


def frames(seed, nav):
    """float32 frames with values exact in float32 sums."""
    rng = np.random.default_rng(seed)
    return rng.integers(-50, 200, nav + (128, 128)).astype(np.float32) / 4


def numpy_oracle(raw, n):
    """numpy's reading of a .raw: 130 rows per frame, the first 128 the frame."""
    return np.fromfile(raw, dtype="<f4").reshape(n, 130, 128)[:, :128]


@pytest.mark.parametrize("io", ["mmap", "pread"])
@pytest.mark.parametrize("mode", ["acquire", "search"])
def test_scan_modes(ctx, tmp_path, monkeypatch, mode, io):
    monkeypatch.setenv("FERROTEM_IO", io)
    data = frames(3, (3, 4))
    xml = write_empad(tmp_path, "scan", data, mode=mode)
    ds = ctx.load("empad", path=xml, num_partitions=3)
    # search mode: the acquire scan (4 x 4) does not fit the raw file, the search scan does
    assert tuple(ds.shape) == (3, 4, 128, 128) and ds.dtype == np.float32
    out = read_back(ctx, ds)
    np.testing.assert_array_equal(out, data)
    np.testing.assert_array_equal(
        out.reshape(12, 128, 128), numpy_oracle(tmp_path / "scan.raw", 12)
    )
    roi = np.random.default_rng(1).random((3, 4)) < 0.5
    total, per_frame = ctx.run_udf(ds, [SumUDF(), SumSigUDF()], roi=roi)
    assert_close(total["intensity"].data, data[roi].sum(axis=0, dtype=np.float64))
    assert_close(per_frame["intensity"].data[roi], data[roi].sum(axis=(1, 2), dtype=np.float64))
    diag = {d["name"]: d["value"] for d in ds.get_diagnostics()}
    assert diag["Scan from"] == mode and diag["Frames"] == "12"


def test_series(inline_ctx, tmp_path):
    data = frames(4, (5,))
    xml = write_empad(tmp_path, "series", data, mode="series")
    ds = inline_ctx.load("empad", path=xml)
    assert tuple(ds.shape) == (5, 128, 128)
    np.testing.assert_array_equal(read_back(inline_ctx, ds), data)
    assert get_params_from_xml(str(xml)) == (str(tmp_path / "series.raw"), (5,))


def test_raw_path_and_parameters(inline_ctx, tmp_path):
    data = frames(5, (2, 3))
    xml = write_empad(tmp_path, "p", data)
    raw = tmp_path / "p.raw"
    # the raw file alone needs nav_shape
    with pytest.raises(DataSetTypeError, match="nav_shape: missing"):
        inline_ctx.load("empad", path=raw)
    ds = inline_ctx.load("empad", path=raw, nav_shape=(6,), sig_shape=(64, 256), sync_offset=1)
    out = read_back(inline_ctx, ds)
    np.testing.assert_array_equal(out[:5], data.reshape(6, 64, 256)[1:])
    assert not out[5].any()
    ds = inline_ctx.load("empad", path=xml, nav_shape=(3, 2), sync_offset=-2)
    out = read_back(inline_ctx, ds).reshape(6, 128, 128)
    np.testing.assert_array_equal(out[2:], data.reshape(6, 128, 128)[:4])
    assert get_params_from_xml(str(xml)) == (str(raw), (2, 3))
    assert get_params_from_xml(str(xml), "search") == (str(raw), (2, 2))
    with pytest.warns(FutureWarning, match="scan_size"):
        ds = EMPADDataSet(path=raw, scan_size=(2, 3))
    with pytest.warns(FutureWarning, match="scan_size"):
        ds = inline_ctx.load("empad", path=raw, scan_size=(2, 3))
    assert tuple(ds.shape.nav) == (2, 3)
    params = EMPADDataSet.detect_params(str(xml), None)
    assert params["parameters"]["nav_shape"] == (2, 3)
    assert EMPADDataSet.detect_params(str(raw), None) is False


def test_auto_detects_the_xml(inline_ctx, tmp_path):
    data = frames(6, (2, 2))
    xml = write_empad(tmp_path, "a", data)
    ds = inline_ctx.load("auto", path=xml)
    assert isinstance(ds, EMPADDataSet) and tuple(ds.shape) == (2, 2, 128, 128)


# -- bad input -----------------------------------------------------------------------------------
def test_xml_naming_a_missing_raw(inline_ctx, tmp_path):
    xml = write_empad(tmp_path, "m", frames(7, (1, 2)))
    os.remove(tmp_path / "m.raw")
    with pytest.raises(MissingFileError, match=r"names the raw file .*m\.raw.* does not exist"):
        inline_ctx.load("empad", path=xml)


def test_raw_of_the_wrong_size(inline_ctx, tmp_path):
    xml = write_empad(tmp_path, "w", frames(8, (2, 2)))
    raw = tmp_path / "w.raw"
    os.truncate(raw, 3 * RECORD + 100)
    with pytest.raises(TruncatedFileError, match="search scan") as info:
        inline_ctx.load("empad", path=xml)
    assert str(raw) in str(info.value) and str(xml) in str(info.value)
    with open(raw, "ab") as f:
        f.write(b"\0" * (3 * RECORD))
    with pytest.raises(CorruptFileError, match=r"expected 266240 bytes for the acquire scan"):
        inline_ctx.load("empad", path=xml)
    # the raw file alone: a frame cut off at the end
    with pytest.raises(TruncatedFileError) as info:
        inline_ctx.load("empad", path=raw, nav_shape=(6,))
    assert str(raw) in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<root><raw_file filename='w.raw'/>", "not closed"),
        ("<root><type>scan</type></root>", "raw_file"),
        ("<root><raw_file filename='w.raw'/><type>movie</type></root>", "movie"),
        ("<root><raw_file filename='w.raw'/></root>", "scan_parameters"),
        (
            "<root><raw_file filename='w.raw'/><scan_parameters mode='acquire'>"
            "<scan_resolution_x>two</scan_resolution_x><scan_resolution_y>2</scan_resolution_y>"
            "</scan_parameters></root>",
            "expected a positive integer",
        ),
        ("\udcff", "not UTF-8"),
    ],
)
def test_corrupt_xml(inline_ctx, tmp_path, text, message):
    write_raw(tmp_path / "w.raw", frames(9, (4,)))
    xml = tmp_path / "w.xml"
    xml.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(CorruptFileError, match=message) as info:
        inline_ctx.load("empad", path=xml)
    assert str(xml) in str(info.value)


def test_bad_parameters(inline_ctx, tmp_path):
    data = frames(10, (2,))
    write_raw(tmp_path / "s.raw", data)
    xml = tmp_path / "s.xml"
    xml.write_text(series_xml("s.raw", 2))
    with pytest.raises(InvalidDataSetParameter, match=r"sig_shape: got \(128,\)"):
        inline_ctx.load("empad", path=xml, sig_shape=(128,))
    other = tmp_path / "s.dat"
    other.write_bytes(b"\0" * RECORD)
    with pytest.raises(InvalidDataSetParameter, match=r"expected an EMPAD \.xml"):
        inline_ctx.load("empad", path=other, nav_shape=(1,))
    with pytest.raises(MissingFileError):
        inline_ctx.load("empad", path=tmp_path / "none.xml")
    with pytest.raises(InvalidDataSetParameter, match="scan_parameters_mode"):
        get_params_from_xml(str(xml), "fast")


@pytest.mark.parametrize("io", ["mmap", "pread"])
def test_raw_shrinking_during_a_run(inline_ctx, tmp_path, monkeypatch, io):
    monkeypatch.setenv("FERROTEM_IO", io)
    xml = write_empad(tmp_path, "s", frames(11, (2, 2)))
    ds = inline_ctx.load("empad", path=xml)
    inline_ctx.run_udf(ds, SumUDF())
    os.truncate(tmp_path / "s.raw", RECORD + 7)
    with pytest.raises(TruncatedFileError) as info:
        inline_ctx.run_udf(ds, SumUDF())
    assert str(tmp_path / "s.raw") in str(info.value)
