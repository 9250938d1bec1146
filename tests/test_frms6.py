"""'frms6' (PNDetector pnCCD): synthetic acquisitions (tests/helpers/frms6_writer.py) at binning
1, 2 and 4, with new and old file headers, over several data files, read back against the numpy
oracle of the unfolding; the mean dark frame of ``_000`` and a gain map (.csv, .mat) applied as
the dataset's corrections; every executor with an ROI; LiberTEM as a second oracle where its venv
exists; bad input."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import hypothesis.strategies as st
import numpy as np
import pytest
from ferrotem.api import Context
from ferrotem.common.exceptions import (
    CorruptFileError,
    DataSetException,
    InvalidDataSetParameter,
    MissingFileError,
    TruncatedFileError,
)
from ferrotem.corrections import CorrectionSet
from ferrotem.io.dataset.frms6 import FRMS6DataSet, IncompleteDataWarning, get_filenames
from ferrotem.udf.base import UDF
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF
from helpers.frms6_writer import unfold, write_acquisition, write_frms6_file
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


def stored(seed: int, n: int, h: int = 3, w: int = 8) -> np.ndarray:
    return np.random.default_rng(seed).integers(100, 4000, (n, h, w)).astype(np.uint16)


def acquisition(tmp_path: Path, binning: int, old_header: bool = False, split=(4, 2)):
    """Dark frames and 6 data frames over two files; returns (hdr, dark, data) stored."""
    dark = stored(1, 5)
    data = stored(2, sum(split))
    parts = np.split(data, np.cumsum(split)[:-1])
    hdr = write_acquisition(tmp_path, "pn", dark, parts, binning, (2, 3), old_header)
    return hdr, dark, data


def dark_oracle(dark: np.ndarray, binning: int) -> np.ndarray:
    return unfold(dark, binning).astype(np.float64).mean(axis=0).astype(np.float32)


@pytest.mark.parametrize("binning", [1, 2, 4])
@pytest.mark.parametrize("old_header", [False, True])
def test_unfolding_binning_and_files(ctx, tmp_path, binning, old_header):
    hdr, _dark, data = acquisition(tmp_path, binning, old_header)
    ds = ctx.load("frms6", path=hdr, enable_offset_correction=False)
    assert tuple(ds.shape) == (2, 3, 6 * binning, 4) and ds.dtype == np.uint16
    assert ds.get_correction_data() is None
    want = unfold(data, binning).reshape(2, 3, 6 * binning, 4)
    np.testing.assert_array_equal(read_back(ctx, ds), want)
    total, per_frame = ctx.run_udf(ds, [SumUDF(), SumSigUDF()])
    np.testing.assert_array_equal(total["intensity"].data, want.sum(axis=(0, 1)))
    np.testing.assert_array_equal(per_frame["intensity"].data, want.sum(axis=(2, 3)))


@pytest.mark.parametrize("binning", [1, 2])
def test_dark_frames_and_gain_map_are_the_corrections(ctx, tmp_path, binning):
    _hdr, dark, data = acquisition(tmp_path, binning)
    sig = (6 * binning, 4)
    gain = 0.5 + np.random.default_rng(9).random(sig)
    csv_path = tmp_path / "gain.csv"
    # stored transposed, ';'-separated with a trailing separator
    csv_path.write_text("\n".join(";".join(repr(float(v)) for v in row) + ";" for row in gain.T))
    path = tmp_path / "pn_001.frms6"  # any data file names the acquisition too
    ds = ctx.load("frms6", path=path, gain_map_path=str(csv_path))
    corr = ds.get_correction_data()
    assert isinstance(corr, CorrectionSet)
    np.testing.assert_allclose(corr.get_dark_frame(), dark_oracle(dark, binning), rtol=1e-6)
    np.testing.assert_allclose(corr.get_gain_map(), gain, rtol=1e-12)
    want = (unfold(data, binning) - dark_oracle(dark, binning).astype(np.float64)) * gain
    got = read_back(ctx, ds)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-5, atol=1e-3)
    total = ctx.run_udf(ds, SumUDF())["intensity"].data
    np.testing.assert_allclose(total, want.sum(axis=0), rtol=1e-5)
    diag = {d["name"]: d["value"] for d in ds.get_diagnostics()}
    assert diag["Offset correction available and enabled"] == "True"
    assert diag["stemimagesize"] == "(2, 3)"


def test_mat_gain_map_nav_and_sig_shape_sync_offset(inline_ctx, tmp_path):
    scipy_io = pytest.importorskip("scipy.io")
    hdr, dark, data = acquisition(tmp_path, 2)
    gain = np.arange(48, dtype=np.float64).reshape(12, 4) / 10 + 1
    scipy_io.savemat(tmp_path / "g.mat", {"GainMap": gain})
    ds = inline_ctx.load(
        "frms6",
        path=hdr,
        gain_map_path=tmp_path / "g.mat",
        nav_shape=(6,),
        sig_shape=(48,),
        sync_offset=1,
    )
    want = ((unfold(data, 2) - dark_oracle(dark, 2).astype(np.float64)) * gain).reshape(6, 48)
    got = read_back(inline_ctx, ds)
    np.testing.assert_allclose(got[:5], want[1:], rtol=1e-5, atol=1e-3)
    # missing frames are zero before correction: (0 - dark) * gain
    np.testing.assert_allclose(got[5], (-dark_oracle(dark, 2) * gain).reshape(48), rtol=1e-5)


def test_cut_short_and_file_discovery(inline_ctx, tmp_path):
    hdr, _dark, data = acquisition(tmp_path, 1, split=(3,))
    assert get_filenames(str(hdr)) == [
        str(tmp_path / "pn_000.frms6"),
        str(tmp_path / "pn_001.frms6"),
    ]
    with pytest.warns(IncompleteDataWarning, match="3 frames"):
        ds = inline_ctx.load("frms6", path=hdr, enable_offset_correction=False)
    got = read_back(inline_ctx, ds).reshape(6, 6, 4)
    np.testing.assert_array_equal(got[:3], unfold(data, 1))
    assert not got[3:].any()


@pytest.mark.parametrize("executor", ["inline", "threads", "delayed"])
def test_every_executor_with_roi(tmp_path, executor):
    hdr, dark, data = acquisition(tmp_path, 4)
    want = unfold(data, 4) - dark_oracle(dark, 4).astype(np.float64)
    want = want.reshape(2, 3, 24, 4)
    roi = np.array([[True, False, True], [True, True, False]])
    ctx = {"inline": Context.make_with("inline"), "threads": Context(),
           "delayed": Context.make_with("delayed")}[executor]  # fmt: skip
    try:
        ds = ctx.load("frms6", path=hdr, num_partitions=2)
        total, per_frame = ctx.run_udf(ds, [SumUDF(), SumSigUDF()], roi=roi)
        np.testing.assert_allclose(total["intensity"].data, want[roi].sum(axis=0), rtol=1e-5)
        got = np.asarray(per_frame["intensity"].data)[roi]
        np.testing.assert_allclose(got, want[roi].sum(axis=(-1, -2)), rtol=1e-5)
    finally:
        ctx.close()


def test_auto_detects_frms6(inline_ctx, tmp_path):
    hdr, _dark, _data = acquisition(tmp_path, 1)
    for path in (hdr, tmp_path / "pn_002.frms6"):
        ds = inline_ctx.load("auto", path=path)
        assert isinstance(ds, FRMS6DataSet) and tuple(ds.shape) == (2, 3, 6, 4)
    params = FRMS6DataSet.detect_params(str(hdr))
    assert params["parameters"]["sig_shape"] == (6, 4)
    assert FRMS6DataSet.detect_params(str(tmp_path / "nope.hdr")) is False


# -- bad input ------------------------------------------------------------------------------------
def test_bad_hdr_files_raise_naming_the_file(inline_ctx, tmp_path):
    hdr, *_ = acquisition(tmp_path, 1)
    good = hdr.read_text()
    for text, exc, match in [
        ("[other]\nx=1\n", CorruptFileError, "no \\[measurementInfo\\]"),
        (good.replace('"bin: 1,', '"bin: one,'), CorruptFileError, "readoutmode="),
        (good.replace('"bin: 1,', '"bin: 3,'), CorruptFileError, "binning is 3"),
        (good.replace("stemimagesize=2x3", "stemimagesize=2y3"), CorruptFileError, "2y3"),
        (good.replace("signalframes=6", "signalframes=six"), CorruptFileError, "signalframes"),
        ("no section at all", CorruptFileError, "not a readable .hdr"),
    ]:
        hdr.write_text(text)
        with pytest.raises(exc, match=match) as info:
            inline_ctx.load("frms6", path=hdr)
        assert "pn.hdr" in str(info.value)
    os.remove(hdr)
    with pytest.raises(MissingFileError, match=r"pn.hdr"):
        inline_ctx.load("frms6", path=tmp_path / "pn_001.frms6")


def test_bad_frms6_files_raise_naming_the_file(inline_ctx, tmp_path):
    hdr, dark, _data = acquisition(tmp_path, 1)
    first = tmp_path / "pn_001.frms6"
    original = first.read_bytes()
    for raw, exc, match in [
        (original[:500], TruncatedFileError, "header is cut off"),
        (original[:7] + b"\x05" + original[8:], CorruptFileError, "version 5"),
        (original[:88] + (7).to_bytes(2, "little") + original[90:], CorruptFileError, "even"),
        (original[:-10], TruncatedFileError, "pn_001.frms6"),
    ]:
        first.write_bytes(raw)
        with pytest.raises(exc, match=match) as info:
            inline_ctx.load("frms6", path=hdr)
        assert "pn_001.frms6" in str(info.value)
    first.write_bytes(original)
    write_frms6_file(tmp_path / "pn_002.frms6", stored(3, 2, h=3, w=10))
    with pytest.raises(CorruptFileError, match=r"pn_002.frms6: its frames are 3 x 10"):
        inline_ctx.load("frms6", path=hdr)
    write_frms6_file(tmp_path / "pn_002.frms6", stored(3, 2), old_header=True)
    with open(tmp_path / "pn_002.frms6", "ab") as f:
        f.write(b"\0" * 7)
    with pytest.raises(CorruptFileError, match=r"pn_002.frms6.*cannot tell how many"):
        inline_ctx.load("frms6", path=hdr)
    os.remove(tmp_path / "pn_002.frms6")
    for name in ("pn_000.frms6", "pn_001.frms6"):
        os.rename(tmp_path / name, tmp_path / (name + ".bak"))
    write_frms6_file(tmp_path / "pn_000.frms6", dark)
    with pytest.raises(MissingFileError, match=r"found 1 .frms6 file"):
        inline_ctx.load("frms6", path=hdr)


def test_bad_gain_maps_and_parameters(inline_ctx, tmp_path):
    hdr, *_ = acquisition(tmp_path, 1)
    with pytest.raises(MissingFileError, match="gain_map_path"):
        inline_ctx.load("frms6", path=hdr, gain_map_path=str(tmp_path / "none.csv"))
    (tmp_path / "g.txt").write_text("1")
    with pytest.raises(InvalidDataSetParameter, match=r".mat or .csv"):
        inline_ctx.load("frms6", path=hdr, gain_map_path=str(tmp_path / "g.txt"))
    (tmp_path / "g.csv").write_text("1;2\n3;4\n")
    with pytest.raises(CorruptFileError, match=r"g.csv: the gain map is \(2, 2\)"):
        inline_ctx.load("frms6", path=hdr, gain_map_path=str(tmp_path / "g.csv"))
    (tmp_path / "g.csv").write_text("1;x\n")
    with pytest.raises(CorruptFileError, match=r"g.csv: not a gain map"):
        inline_ctx.load("frms6", path=hdr, gain_map_path=str(tmp_path / "g.csv"))
    with pytest.raises(DataSetException, match="sig_shape"):
        inline_ctx.load("frms6", path=hdr, sig_shape=(5, 5))
    with pytest.raises(InvalidDataSetParameter, match=r"expected the acquisition's .hdr"):
        inline_ctx.load("frms6", path=tmp_path / "g.txt")
    with pytest.raises(InvalidDataSetParameter, match="enable_offset_correction"):
        FRMS6DataSet(path=str(hdr), enable_offset_correction="yes")
    with pytest.warns(DeprecationWarning, match="dest_dtype"):
        FRMS6DataSet(path=str(hdr), dest_dtype=np.float32)


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
from libertem.udf.sumsigudf import SumSigUDF
ctx = Context.make_with("inline")
ds = ctx.load("frms6", path=sys.argv[1], gain_map_path=sys.argv[2])
total, per_frame = ctx.run_udf(ds, [SumUDF(), SumSigUDF()])
np.savez(sys.argv[3], total=total["intensity"].data, per_frame=per_frame["intensity"].data)
"""


@pytest.mark.parametrize("binning", [1, 2, 4])
@pytest.mark.slow
@pytest.mark.skipif(LIBERTEM_PY is None, reason="needs .venv-libertem (make bench-libertem)")
def test_libertem_reads_the_same(inline_ctx, tmp_path, binning):
    hdr, _dark, _data = acquisition(tmp_path, binning)
    gain = 0.5 + np.random.default_rng(9).random((6 * binning, 4))
    (tmp_path / "g.csv").write_text(
        "\n".join(";".join(repr(float(v)) for v in row) for row in gain.T)
    )
    out = tmp_path / "lt.npz"
    proc = subprocess.run(
        [str(LIBERTEM_PY), "-c", _LIBERTEM_SCRIPT, str(hdr), str(tmp_path / "g.csv"), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    if proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr:
        pytest.skip(f"LiberTEM's venv lacks a module: {proc.stderr.splitlines()[-1]}")
    assert proc.returncode == 0, proc.stderr
    lt = np.load(out)
    ds = inline_ctx.load("frms6", path=hdr, gain_map_path=str(tmp_path / "g.csv"))
    total, per_frame = inline_ctx.run_udf(ds, [SumUDF(), SumSigUDF()])
    np.testing.assert_allclose(total["intensity"].data, lt["total"], rtol=1e-5, atol=1e-2)
    np.testing.assert_allclose(per_frame["intensity"].data, lt["per_frame"], rtol=1e-5)


# -- random acquisitions, partitions and ROIs ----------------------------------------------------
@given(
    h=st.integers(1, 5),
    half=st.integers(1, 5),
    binning=st.sampled_from([1, 2, 4]),
    split=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    old_header=st.booleans(),
    data=st.data(),
)
@settings(max_examples=20)
def test_random_acquisitions_partitions_and_rois(
    contexts, tmp_path_factory, h, half, binning, split, old_header, data
):
    d = tmp_path_factory.mktemp("frms6")
    dark = stored(h + half, 3, h=h, w=2 * half)
    frames = stored(len(split), sum(split), h=h, w=2 * half)
    parts = np.split(frames, np.cumsum(split)[:-1])
    n = len(frames)
    hdr = write_acquisition(d, "r", dark, parts, binning, (1, n), old_header)
    ctx = contexts[data.draw(st.sampled_from(["inline", "threads"]))]
    ds = ctx.load("frms6", path=hdr, num_partitions=data.draw(st.integers(1, n)))
    want = unfold(frames, binning) - dark_oracle(dark, binning).astype(np.float64)
    roi = np.random.default_rng(n).random((1, n)) < 0.6
    roi[0, n // 2] = True
    got = read_back(ctx, ds, roi=roi)
    np.testing.assert_allclose(got[roi], want[roi[0]], rtol=1e-5, atol=1e-3)
