"""'seq' (Norpix / DE StreamPix): synthetic files of each header generation, bit depth and footer
size (tests/helpers/seq_writer.py), read back against numpy; the dark/gain MRC references and
the bad-pixel map of the XML configuration applied as the dataset's corrections, against a numpy
oracle of ``(frame - dark) * gain`` with each bad pixel the mean of its good neighbours; every
executor with an ROI; LiberTEM as a second oracle where its venv exists; bad input."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import hypothesis.strategies as st
import numpy as np
import pytest
from conftest import assert_close
from ferrotem.api import Context
from ferrotem.common.exceptions import CorruptFileError, DataSetException, TruncatedFileError
from ferrotem.corrections import CorrectionSet
from ferrotem.io.dataset.seq import IncompleteDataWarning, SEQDataSet, bad_pixel_map
from ferrotem.udf.base import UDF
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF
from helpers.seq_writer import (
    mark_defects,
    write_bad_pixel_xml,
    write_metadata,
    write_mrc,
    write_seq,
)
from hypothesis import given, settings

ROOT = Path(__file__).resolve().parents[1]


class CopyUDF(UDF):
    def get_preferred_input_dtype(self):
        return self.USE_NATIVE_DTYPE

    def get_result_buffers(self):
        sig = tuple(self.meta.dataset_shape.sig)
        return {"frames": self.buffer(kind="nav", extra_shape=sig, dtype=self.meta.input_dtype)}

    def process_tile(self, tile):
        self.results.frames[:] = tile


def read_back(ctx, ds, roi=None, corrections=None):
    return ctx.run_udf(ds, CopyUDF(), roi=roi, corrections=corrections)["frames"].data


def frames_of(dtype: str, shape: tuple[int, ...], seed: int) -> np.ndarray:
    info = np.iinfo(dtype)
    high = min(int(info.max), 60000)
    return np.random.default_rng(seed).integers(0, high, shape, endpoint=True).astype(dtype)


def patched(frames: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """The oracle of the bad-pixel repair: each bad pixel the mean of its good 8-neighbours."""
    out = frames.copy()
    rows, cols = bad.shape
    for r, c in zip(*np.nonzero(bad), strict=True):
        good = [
            (rr, cc)
            for rr in range(max(r - 1, 0), min(r + 2, rows))
            for cc in range(max(c - 1, 0), min(c + 2, cols))
            if (rr, cc) != (r, c) and not bad[rr, cc]
        ]
        out[..., r, c] = np.mean([frames[..., rr, cc] for rr, cc in good], axis=0)
    return out


@pytest.mark.parametrize(
    ("version", "dtype", "footer"),
    [(3, "u1", 0), (4, "u2", 16), (5, "u2", 8), (6, "u4", 40), (5, "u1", 3), (5, "u8", 8)],
)
def test_header_versions_depths_and_footers(ctx, tmp_path, version, dtype, footer):
    data = frames_of(dtype, (12, 6, 10), version)
    path = tmp_path / "scan.seq"
    write_seq(path, data, version=version, footer=footer)
    ds = ctx.load("seq", path=path, nav_shape=(3, 4))
    assert tuple(ds.shape) == (3, 4, 6, 10) and ds.dtype == np.dtype(dtype)
    assert ds.header["image_offset"] == (8192 if version >= 5 else 1024)
    assert ds.header["footer_size"] == footer and ds.get_correction_data() is None
    np.testing.assert_array_equal(read_back(ctx, ds).reshape(data.shape), data)
    total, per_frame = ctx.run_udf(ds, [SumUDF(), SumSigUDF()])
    assert_close(total["intensity"].data, data.sum(axis=0, dtype=np.float64))
    assert_close(per_frame["intensity"].data.reshape(-1), data.sum(axis=(1, 2), dtype=np.float64))


def test_defaults_seq_seq_name_sync_offset_and_cut_short(ctx, tmp_path):
    data = frames_of("u2", (9, 4, 4), 1)
    path = tmp_path / "a.seq.seq"
    write_seq(path, data, trailing=b"\x01" * 20)  # a record cut off at the end is not counted
    ds = ctx.load("seq", path=path)
    assert tuple(ds.shape) == (3, 3, 4, 4) and ds.meta.image_count == 9
    ds = ctx.load("seq", path=path, nav_shape=(9,), sig_shape=(16,), sync_offset=2)
    got = read_back(ctx, ds)
    np.testing.assert_array_equal(got[:7], data[2:].reshape(7, 16))
    assert not got[7:].any()
    with pytest.warns(IncompleteDataWarning, match="9 frames"):
        ds = ctx.load("seq", path=path, nav_shape=(4, 3))
    got = read_back(ctx, ds).reshape(12, 4, 4)
    np.testing.assert_array_equal(got[:9], data)
    assert not got[9:].any()
    with pytest.warns(FutureWarning, match="scan_size"):
        SEQDataSet(path=str(path), scan_size=(9,))


def write_corrected_acquisition(tmp_path: Path, binning: int = 1):
    """A 16-bit scan with dark, gain, and a bad-pixel XML holding an unbinned and a binned map,
    cropped by the .metadata region; returns (path, data, dark, gain, bad)."""
    data = frames_of("u2", (2, 3, 8, 12), 7).astype(np.uint16)
    rng = np.random.default_rng(3)
    dark = rng.random((8, 12)).astype(np.float32) * 50
    gain = (0.5 + rng.random((8, 12))).astype(np.float32)
    path = tmp_path / "acq.seq"
    write_seq(path, data.reshape(6, 8, 12), version=5, footer=8)
    write_mrc(tmp_path / "acq.seq.dark.mrc", dark, mode=2)
    write_mrc(tmp_path / "acq.seq.gain.mrc", gain, mode=2, big_endian=True)
    unbinned = [{"Row": "3", "Column": "5"}, {"Columns": "12-13"}, {"Row": "9"}]
    binned = [{"Row": "2", "Column": "2"}, {"Rows": "6-6"}, {"Column": "9"}]
    # unbinned: the 20 x 20 map cropped to the acquired 8 x 12 at (2, 4); binned by 2: the
    # 8 x 12 map, the region 16 x 24 at (0, 0) divided by the binning
    if binning == 1:
        write_metadata(tmp_path / "acq.seq.metadata", unbinned=(8, 12), offset=(2, 4))
        full = mark_defects(20, 20, unbinned)
        bad = full[2:10, 4:16]
    else:
        write_metadata(tmp_path / "acq.seq.metadata", unbinned=(16, 24), offset=(0, 0), binning=2)
        bad = mark_defects(8, 12, binned)
    write_bad_pixel_xml(
        tmp_path / "acq.seq.Config.Metadata.xml",
        [(20, 20, None, unbinned), (8, 12, 2, binned), (4, 6, 1, [{"Row": "1"}])],
    )
    return path, data, dark, gain, bad


@pytest.mark.parametrize("binning", [1, 2])
def test_dark_gain_and_bad_pixels_are_the_datasets_corrections(ctx, tmp_path, binning):
    path, data, dark, gain, bad = write_corrected_acquisition(tmp_path, binning)
    assert bad.any()
    ds = ctx.load("seq", path=path, nav_shape=(2, 3))
    corr = ds.get_correction_data()
    assert isinstance(corr, CorrectionSet)
    np.testing.assert_array_equal(corr.get_dark_frame(), dark)
    np.testing.assert_array_equal(corr.get_gain_map(), gain)
    coords = corr.get_excluded_coordinates()
    np.testing.assert_array_equal(np.sort(np.ravel_multi_index(tuple(coords), bad.shape)),
                                  np.flatnonzero(bad))  # fmt: skip
    want = patched((data.astype(np.float64) - dark) * gain, bad)
    got = read_back(ctx, ds)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3)
    total = ctx.run_udf(ds, SumUDF())["intensity"].data
    np.testing.assert_allclose(total, want.sum(axis=(0, 1)), rtol=1e-5, atol=1e-2)
    # an explicit (empty) CorrectionSet replaces the dataset's own
    raw = read_back(ctx, ds, corrections=CorrectionSet())
    np.testing.assert_array_equal(raw, data)
    diag = {d["name"]: d["value"] for d in ds.get_diagnostics()}
    assert diag["Dark frame included"] == diag["Gain map included"] == "True"


def test_corrections_are_optional_and_follow_sig_shape(ctx, tmp_path):
    path, data, dark, _gain, _bad = write_corrected_acquisition(tmp_path)
    os.remove(tmp_path / "acq.seq.gain.mrc")
    os.remove(tmp_path / "acq.seq.metadata")  # without it the XML is not used (as LiberTEM)
    ds = ctx.load("seq", path=path, nav_shape=(6,), sig_shape=(96,))
    corr = ds.get_correction_data()
    assert corr.get_gain_map() is None and corr.get_excluded_coordinates() is None
    got = read_back(ctx, ds)
    np.testing.assert_allclose(got, (data.astype(np.float64) - dark).reshape(6, 96), rtol=1e-6)


def test_bad_pixel_map_chooses_the_binning_and_crops(tmp_path):
    xml = tmp_path / "c.xml"
    maps = [
        (10, 16, None, [{"Row": "1", "Column": "2"}]),
        (12, 20, 1, [{"Columns": "3-4"}]),  # most columns among the unbinned maps
        (5, 8, 2, [{"Row": "4"}]),
    ]
    write_bad_pixel_xml(xml, maps)
    meta = {"UnbinnedFrameSizeY": 12, "UnbinnedFrameSizeX": 20, "OffsetY": 0, "OffsetX": 0}
    got = bad_pixel_map(str(xml), {**meta, "HardwareBinning": 1})
    np.testing.assert_array_equal(got, mark_defects(12, 20, [{"Columns": "3-4"}]))
    got = bad_pixel_map(str(xml), {**meta, "HardwareBinning": 2})
    np.testing.assert_array_equal(got, mark_defects(5, 8, [{"Row": "4"}]))  # too big: uncropped
    small = {"UnbinnedFrameSizeY": 6, "UnbinnedFrameSizeX": 8, "OffsetY": 2, "OffsetX": 4}
    got = bad_pixel_map(str(xml), {**small, "HardwareBinning": 2})
    np.testing.assert_array_equal(got, mark_defects(5, 8, [{"Row": "4"}])[1:4, 2:6])


@pytest.mark.parametrize("executor", ["inline", "threads", "delayed"])
def test_every_executor_with_roi(tmp_path, executor):
    path, data, dark, gain, bad = write_corrected_acquisition(tmp_path)
    want = patched((data.astype(np.float64) - dark) * gain, bad)
    roi = np.array([[True, False, True], [False, True, True]])
    ctx = {"inline": Context.make_with("inline"), "threads": Context(),
           "delayed": Context.make_with("delayed")}[executor]  # fmt: skip
    try:
        ds = ctx.load("seq", path=path, nav_shape=(2, 3), num_partitions=2)
        total, per_frame = ctx.run_udf(ds, [SumUDF(), SumSigUDF()], roi=roi)
        np.testing.assert_allclose(total["intensity"].data, want[roi].sum(axis=0), rtol=1e-5)
        got = np.asarray(per_frame["intensity"].data)[roi]
        np.testing.assert_allclose(got, want[roi].sum(axis=(-1, -2)), rtol=1e-5)
    finally:
        ctx.close()


def test_auto_detects_seq(inline_ctx, tmp_path):
    data = frames_of("u2", (4, 4, 4), 2)
    path = tmp_path / "renamed.bin"
    write_seq(path, data)
    ds = inline_ctx.load("auto", path=path)
    assert isinstance(ds, SEQDataSet) and tuple(ds.shape) == (2, 2, 4, 4)
    params = SEQDataSet.detect_params(str(path))
    assert params["parameters"]["sig_shape"] == (4, 4)
    assert SEQDataSet.detect_params(str(tmp_path / "missing.seq")) is False


# -- bad input ------------------------------------------------------------------------------------
def _patch(path: Path, at: int, raw: bytes) -> None:
    b = bytearray(path.read_bytes())
    b[at : at + len(raw)] = raw
    path.write_bytes(bytes(b))


def test_bad_seq_files_raise_clearly(inline_ctx, tmp_path):
    data = frames_of("u2", (4, 4, 4), 2)
    good = tmp_path / "good.seq"
    write_seq(good, data)
    cases = {
        "magic": (0, b"\0\0\0\0", CorruptFileError, "magic number is 0x0"),
        "depth": (556, (12).to_bytes(4, "little"), CorruptFileError, "bit depth is 12"),
        "format": (568, (200).to_bytes(4, "little"), CorruptFileError, "image format is 200"),
        "compressed": (620, (1).to_bytes(4, "little"), CorruptFileError, "compressed"),
        "record": (580, (8).to_bytes(4, "little"), CorruptFileError, "true_image_size"),
        "empty": (548, b"\0\0\0\0", CorruptFileError, "0 x 4 pixels"),
    }
    for name, (at, raw, exc, match) in cases.items():
        p = tmp_path / f"{name}.seq"
        p.write_bytes(good.read_bytes())
        _patch(p, at, raw)
        with pytest.raises(exc, match=match) as info:
            inline_ctx.load("seq", path=p, nav_shape=(4,))
        assert str(p) in str(info.value)
    cut = tmp_path / "cut.seq"
    cut.write_bytes(good.read_bytes()[:300])
    with pytest.raises(TruncatedFileError, match=r"cut.seq"):
        inline_ctx.load("seq", path=cut, nav_shape=(4,))
    nothing = tmp_path / "nothing.seq"
    nothing.write_bytes(good.read_bytes()[: 8192 + 10])
    with pytest.raises(DataSetException, match=r"nothing.seq"):
        inline_ctx.load("seq", path=nothing, nav_shape=(4,))
    with pytest.raises(DataSetException, match="sig_shape"):
        inline_ctx.load("seq", path=good, nav_shape=(4,), sig_shape=(5, 5))
    with pytest.raises(DataSetException, match=r"does not exist|not found|No such"):
        inline_ctx.load("seq", path=tmp_path / "missing.seq", nav_shape=(4,))


def test_bad_companions_raise_naming_the_file(inline_ctx, tmp_path):
    path, *_ = write_corrected_acquisition(tmp_path)
    dark = tmp_path / "acq.seq.dark.mrc"
    original = dark.read_bytes()
    for raw, exc, match in [
        (original[:1200], TruncatedFileError, "cut off"),
        (original[:8] + (2).to_bytes(4, "little") + original[12:], CorruptFileError, "nz"),
        (original[:12] + (4).to_bytes(4, "little") + original[16:], CorruptFileError, "mode is 4"),
        (b"short", CorruptFileError, "not an MRC file"),
    ]:
        dark.write_bytes(raw)
        with pytest.raises(exc, match=match) as info:
            inline_ctx.load("seq", path=path, nav_shape=(6,))
        assert "acq.seq.dark.mrc" in str(info.value)
    write_mrc(dark, np.zeros((4, 4), np.float32))
    with pytest.raises(CorruptFileError, match=r"dark.mrc: the reference image is \(4, 4\)"):
        inline_ctx.load("seq", path=path, nav_shape=(6,))
    os.remove(dark)
    xml = tmp_path / "acq.seq.Config.Metadata.xml"
    for text, match in [
        ("<Configuration><BadPixelMap", "not a readable XML"),
        ("<C><BadPixelMap Rows='8' Columns='x'/></C>", "Columns='x'"),
        ("<C><BadPixelMap Rows='8' Columns='12'><Defect Row='20'/></BadPixelMap></C>", "outside"),
        ("<C><BadPixelMap Rows='8' Columns='12'><Defect Foo='1'/></BadPixelMap></C>", "Foo"),
        ("<C><BadPixelMap Rows='8' Columns='12' Binning='2'/></C>", "no <BadPixelMap> for"),
        ("<C><BadPixelMap Rows='5' Columns='5'/></C>", r"bad-pixel map is \(5, 5\)"),
    ]:
        xml.write_text(text)
        with pytest.raises(CorruptFileError, match=match) as info:
            inline_ctx.load("seq", path=path, nav_shape=(6,))
        assert "acq.seq.Config.Metadata.xml" in str(info.value)
    (tmp_path / "acq.seq.metadata").write_bytes(b"\0" * 100)
    with pytest.raises(CorruptFileError, match=r"acq.seq.metadata.*fewer than"):
        inline_ctx.load("seq", path=path, nav_shape=(6,))


# -- LiberTEM as a second oracle -----------------------------------------------------------------
LIBERTEM_PY = next(
    (
        p
        for p in (
            ROOT / ".venv-libertem" / "bin" / "python",
            ROOT.parent / "main" / ".venv-libertem" / "bin" / "python",
        )
        if p.exists()
    ),
    None,
)

_LIBERTEM_SCRIPT = """
import sys, numpy as np
from libertem.api import Context
from libertem.udf.sum import SumUDF
from libertem.udf.raw import PickUDF
ctx = Context.make_with("inline")
ds = ctx.load("seq", path=sys.argv[1], nav_shape=(2, 3))
total = ctx.run_udf(ds, SumUDF())["intensity"].data
roi = np.zeros((2, 3), bool); roi[1, 2] = True
pick = ctx.run_udf(ds, PickUDF(), roi=roi)["intensity"].data
np.savez(sys.argv[2], total=total, pick=pick)
"""


@pytest.mark.slow
@pytest.mark.skipif(LIBERTEM_PY is None, reason="needs .venv-libertem (make bench-libertem)")
def test_libertem_reads_the_same(inline_ctx, tmp_path):
    path, _data, _dark, gain, _bad = write_corrected_acquisition(tmp_path)
    write_mrc(tmp_path / "acq.seq.gain.mrc", gain)  # ncempy reads little-endian MRC files only
    out = tmp_path / "lt.npz"
    proc = subprocess.run(
        [str(LIBERTEM_PY), "-c", _LIBERTEM_SCRIPT, str(path), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    if proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr:
        pytest.skip(f"LiberTEM's venv lacks a module: {proc.stderr.splitlines()[-1]}")
    assert proc.returncode == 0, proc.stderr
    lt = np.load(out)
    ds = inline_ctx.load("seq", path=path, nav_shape=(2, 3))
    total = inline_ctx.run_udf(ds, SumUDF())["intensity"].data
    np.testing.assert_allclose(total, lt["total"], rtol=1e-5, atol=1e-2)
    mine = read_back(inline_ctx, ds)[1, 2]
    np.testing.assert_allclose(mine, lt["pick"].reshape(mine.shape), rtol=1e-5, atol=1e-3)


def test_no_warning_on_a_complete_file(inline_ctx, tmp_path):
    write_seq(tmp_path / "w.seq", frames_of("u1", (4, 2, 2), 0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        inline_ctx.load("seq", path=tmp_path / "w.seq", nav_shape=(2, 2))
    assert sys.byteorder in ("little", "big")


# -- random files, partitions and ROIs -----------------------------------------------------------
@given(
    n=st.integers(1, 12),
    sig=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    dtype=st.sampled_from(["u1", "u2", "u4"]),
    version=st.sampled_from([3, 4, 5, 6]),
    footer=st.integers(0, 33),
    data=st.data(),
)
@settings(max_examples=25)
def test_random_files_partitions_and_rois(
    contexts, tmp_path_factory, n, sig, dtype, version, footer, data
):
    frames = frames_of(dtype, (n, *sig), n + footer)
    path = tmp_path_factory.mktemp("seq") / "r.seq"
    write_seq(path, frames, version=version, footer=footer)
    offset = data.draw(st.integers(-(n - 1), n - 1))
    ctx = contexts[data.draw(st.sampled_from(["inline", "threads"]))]
    parts = data.draw(st.integers(1, n))
    ds = ctx.load("seq", path=path, nav_shape=(n,), sync_offset=offset, num_partitions=parts)
    want = np.zeros_like(frames)
    if offset >= 0:
        want[: n - offset] = frames[offset:]
    else:
        want[-offset:] = frames[: n + offset]
    roi = np.random.default_rng(n).random(n) < 0.6
    roi[n // 2] = True
    got = read_back(ctx, ds, roi=roi)
    np.testing.assert_array_equal(got[roi], want[roi])
    total = ctx.run_udf(ds, SumUDF(), roi=roi)["intensity"].data
    assert_close(total, want[roi].sum(axis=0, dtype=np.float64))
