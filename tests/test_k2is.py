"""'k2is' (Gatan K2 IS): synthesised sector files (tests/helpers/k2is_writer.py) with a
shutter-closed lead-in, a sector that starts a frame later than the others, an incomplete last
frame; numpy holds the frames that were packed and is the oracle. Sync, sync_offset, time
series, sig_shape, ROI on every executor, 'auto', and bad input naming the file and problem."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import warnings
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
from ferrotem.io.dataset.k2is import IncompleteBlockWarning, K2ISDataSet
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF
from helpers.executors import FrameMaxUDF, every_executor
from helpers.k2is_writer import BLOCK_SIZE, random_frames, write_k2is
from hypothesis import given, settings
from hypothesis import strategies as st

N_WRITTEN = 8
#: sector 4 starts in frame 1, so frame 1 is incomplete; sector 6 lacks the last 10 blocks, so
#: frame 7 is: the complete frames are written frames 2..6
SKIP = (5, 5, 5, 40, 5, 5, 5, 5)
CUT = (0, 0, 0, 0, 0, 10, 0, 0)
COMPLETE = slice(2, 7)
#: frames 0..2 with the shutter closed: the first shutter-active frame is complete frame 1
INACTIVE = 3


@pytest.fixture(scope="module")
def frames():
    return random_frames(np.random.default_rng(10), N_WRITTEN)


def _write(directory, frames, nav_shape):
    return write_k2is(
        directory,
        frames,
        n_frames=N_WRITTEN,
        inactive=INACTIVE,
        skip=SKIP,
        cut=CUT,
        nav_shape=nav_shape,
    )


@pytest.fixture(scope="module")
def scan(tmp_path_factory, frames):
    """A 2 x 2 scan (the .gtg says so)."""
    return _write(tmp_path_factory.mktemp("k2scan"), frames, (2, 2))


@pytest.fixture(scope="module")
def series(tmp_path_factory, frames):
    """A time series (no scan shape in the .gtg)."""
    return _write(tmp_path_factory.mktemp("k2series"), frames, None)


def _expected(frames, first, n):
    """Frames ``first .. first + n`` of the complete ones (zeros outside)."""
    complete = frames[COMPLETE]
    out = np.zeros((n, *complete.shape[1:]), np.float64)
    for i in range(n):
        k = first + i
        if 0 <= k < len(complete):
            out[i] = complete[k]
    return out


def _check(ctx, ds, expected, roi=None):
    total, per_frame, frame_max = ctx.run_udf(ds, [SumUDF(), SumSigUDF(), FrameMaxUDF()], roi=roi)
    flat = np.ones(len(expected), bool) if roi is None else roi.reshape(-1)
    sig = tuple(ds.shape.sig)
    assert_close(total["intensity"].data, expected[flat].sum(axis=0).reshape(sig))
    assert_close(
        np.asarray(per_frame["intensity"].data).reshape(-1)[flat],
        expected[flat].sum(axis=(1, 2)),
    )
    np.testing.assert_array_equal(
        np.asarray(frame_max["max"].data).reshape(-1)[flat], expected[flat].max(axis=(1, 2))
    )


@pytest.mark.parametrize("which", [0, 4, "gtg"])
def test_a_scan_starts_one_frame_before_the_shutter_flag(inline_ctx, scan, frames, which):
    paths, gtg = scan
    path = gtg if which == "gtg" else paths[which]
    ds = inline_ctx.load("k2is", path=str(path))
    assert tuple(ds.shape) == (2, 2, 1860, 2048)
    assert ds.dtype == np.uint16
    # complete frames: written 2..6; the first active one is complete frame 1 (written 3)
    assert ds.meta.image_count == 5
    assert ds.meta.sync_offset == 1
    _check(inline_ctx, ds, _expected(frames, 0, 4))
    names = {d["name"]: d["value"] for d in ds.diagnostics}
    assert names["first frame id"] == "102" and names["last frame id"] == "106"


def test_a_time_series_starts_at_the_shutter_flag(inline_ctx, series, frames):
    paths, _ = series
    ds = inline_ctx.load("k2is", path=str(paths[2]))
    assert tuple(ds.shape.nav) == (4,)  # shutter-active complete frames
    _check(inline_ctx, ds, _expected(frames, 1, 4))
    picked = inline_ctx.run_udf(ds, FrameMaxUDF())  # noqa: F841 (runs per frame)
    pick = inline_ctx.create_pick_analysis(dataset=ds, x=2)
    frame = inline_ctx.run(pick).intensity.raw_data
    np.testing.assert_array_equal(frame, frames[COMPLETE][3])


@pytest.mark.parametrize(
    ("sync_offset", "first"),
    [(3, 2), (1, 0), (-1, -2), (4, 3)],
)
def test_sync_offset_counts_from_the_first_complete_frame(
    inline_ctx, scan, frames, sync_offset, first
):
    ds = inline_ctx.load("k2is", path=str(scan[0][0]), sync_offset=sync_offset, nav_shape=(4,))
    _check(inline_ctx, ds, _expected(frames, first, 4))


def test_sig_shape_of_as_many_pixels(inline_ctx, scan, frames):
    ds = inline_ctx.load("k2is", path=str(scan[1]), sig_shape=(3720, 1024), nav_shape=(2, 2))
    expected = _expected(frames, 0, 4).reshape(4, 3720, 1024)
    _check(inline_ctx, ds, expected)


@pytest.fixture(scope="module")
def contexts():
    yield from every_executor()


@pytest.mark.dist
@pytest.mark.timeout(180)
@pytest.mark.parametrize("executor", ["inline", "threads", "delayed", "dask"])
def test_every_executor_with_an_roi(contexts, scan, frames, executor):
    ctx = contexts[executor]
    ds = ctx.load("k2is", path=str(scan[0][0]), num_partitions=3)
    roi = np.array([[True, False], [True, True]])
    _check(ctx, ds, _expected(frames, 0, 4), roi=roi)


def test_pread_reads_as_the_map_does(inline_ctx, scan, frames, monkeypatch):
    monkeypatch.setenv("FERROTEM_IO", "pread")
    ds = inline_ctx.load("k2is", path=str(scan[0][3]), nav_shape=(4,))
    _check(inline_ctx, ds, _expected(frames, 0, 4))


def test_auto_detects_sector_files_and_the_gtg(inline_ctx, scan):
    paths, gtg = scan
    for p in (paths[5], gtg):
        ds = inline_ctx.load("auto", path=str(p))
        assert isinstance(ds, K2ISDataSet)
    assert K2ISDataSet.get_supported_extensions() == {"gtg", "bin"}
    params = K2ISDataSet.detect_params(str(paths[0]), None)
    assert params["parameters"]["nav_shape"] == (2, 2)
    assert params["parameters"]["sync_offset"] == 1


# -- bad input -------------------------------------------------------------------------------


@pytest.fixture
def copy(tmp_path, scan):
    """A fresh copy of the scan to spoil."""
    paths, gtg = scan
    for p in [*paths, gtg]:
        shutil.copy(p, tmp_path / p.name)
    return [tmp_path / p.name for p in paths], tmp_path / gtg.name


def test_a_missing_sector_file_is_named(inline_ctx, copy):
    paths, _ = copy
    os.remove(paths[3])
    with pytest.raises(MissingFileError, match=r"expected 8 K2IS sector files.*found 7"):
        inline_ctx.load("k2is", path=str(paths[0]))


def test_a_missing_gtg_is_named(inline_ctx, copy):
    paths, gtg = copy
    os.remove(gtg)
    with pytest.raises(MissingFileError, match=r"k2_\.gtg.*missing"):
        inline_ctx.load("k2is", path=str(paths[0]))


def test_a_sector_of_another_acquisition_is_named(inline_ctx, copy, tmp_path_factory, frames):
    paths, _ = copy
    other, _ = write_k2is(
        tmp_path_factory.mktemp("other"), frames[:3], n_frames=3, first_frame_id=900
    )
    shutil.copy(other[6], paths[6])
    with pytest.raises(CorruptFileError, match=r"k2_7\.bin.*(block count|frame id)"):
        inline_ctx.load("k2is", path=str(paths[0]))


def test_a_bad_sync_word_is_named(inline_ctx, copy):
    paths, _ = copy
    data = bytearray(paths[2].read_bytes())
    # block 7 of written frame 4 (complete frame 2): only checked when read (the file lacks 5)
    data[(4 * 32 - 5 + 7) * BLOCK_SIZE] = 0x12
    paths[2].write_bytes(bytes(data))
    ds = inline_ctx.load("k2is", path=str(paths[0]), nav_shape=(4,))
    with pytest.raises(CorruptFileError, match=r"k2_3\.bin.*sync word 0x12FF0055"):
        inline_ctx.run_udf(ds, SumUDF())
    data[0] = 0x00  # the very first block: refused at load
    paths[2].write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match=r"k2_3\.bin.*first block.*sync word"):
        inline_ctx.load("k2is", path=str(paths[0]))


def test_a_cut_block_warns_and_a_shrunk_file_is_truncated(inline_ctx, copy, frames):
    paths, _ = copy
    size = paths[0].stat().st_size
    with open(paths[0], "r+b") as f:
        f.truncate(size - 1000)  # the last block is cut: it drops with the last frame
    with pytest.warns(IncompleteBlockWarning, match=r"k2_1\.bin.*cut block"):
        ds = inline_ctx.load("k2is", path=str(paths[0]), nav_shape=(3,))
    _check(inline_ctx, ds, _expected(frames, 0, 3))
    with open(paths[0], "r+b") as f:
        f.truncate(BLOCK_SIZE * 80)  # shrinks after loading, inside the data
    with pytest.raises(TruncatedFileError, match=r"k2_1\.bin"):
        inline_ctx.run_udf(ds, SumUDF())
    with open(paths[0], "r+b") as f:
        f.truncate(100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IncompleteBlockWarning)
        with pytest.raises(CorruptFileError, match=r"k2_1\.bin.*no complete block"):
            inline_ctx.load("k2is", path=str(paths[0]))


def test_bad_parameters_are_named(inline_ctx, scan):
    path = str(scan[0][0])
    with pytest.raises(InvalidDataSetParameter, match=r"sig_shape.*3809280 pixels"):
        inline_ctx.load("k2is", path=path, sig_shape=(100, 100))
    with pytest.raises(InvalidDataSetParameter, match=r"sync_offset: got 5.*\(-5, 5\)"):
        inline_ctx.load("k2is", path=path, sync_offset=5)
    with pytest.raises(InvalidDataSetParameter, match=r"path.*\.bin.*\.gtg"):
        inline_ctx.load("k2is", path=path + ".txt")
    with pytest.raises(InvalidDataSetParameter, match="io_backend"):
        K2ISDataSet(path=path, io_backend="mmap")


@settings(max_examples=40, deadline=None)
@given(
    first=st.integers(0, 3),
    count=st.integers(1, 4),
    start=st.integers(0, 1860 * 2048 - 1),
    length=st.integers(1, 3 * 2048 * 931),
)
def test_any_pixel_range_of_any_frames_decodes_as_packed(scan, frames, first, count, start, length):
    """Pixel ranges cutting block rows and block boundaries anywhere, through the core's read
    (what the runner asks of the source for each tile)."""
    count = min(count, 4 - first)
    stop = min(start + length, 1860 * 2048)
    ds = K2ISDataSet(path=str(scan[0][0])).initialize(None)
    out = np.zeros((count, stop - start), np.uint16)
    ds.get_source().read(first, count, out.view(np.uint8).reshape(-1), "=u2", start, stop)
    expected = _expected(frames, first, count).reshape(count, -1)[:, start:stop]
    np.testing.assert_array_equal(out, expected)


LIBERTEM_PY = Path(__file__).resolve().parents[1] / ".venv-libertem" / "bin" / "python"
LIBERTEM_SCRIPT = """
import json, sys
import numpy as np
import libertem.api as lt
from libertem.udf.sum import SumUDF
from libertem.udf.sumsigudf import SumSigUDF
ctx = lt.Context.make_with("inline")
ds = ctx.load("k2is", path=sys.argv[1])
total, per_frame = ctx.run_udf(ds, [SumUDF(), SumSigUDF()])
np.save(sys.argv[2], total["intensity"].data)
np.save(sys.argv[3], per_frame["intensity"].data)
print(json.dumps([list(ds.shape), int(ds._meta.image_count)]))
"""


@pytest.mark.slow
@pytest.mark.skipif(not LIBERTEM_PY.exists(), reason="needs .venv-libertem (make bench-libertem)")
def test_libertem_reads_the_synthesised_files_as_we_do(inline_ctx, frames, tmp_path):
    """LiberTEM 0.16 as a second oracle of the writer and the sync. (It reads a time series
    without a shutter-closed lead-in only: its search for the shutter flag looks 400 frames
    ahead, past the end of a small file.)"""
    paths, _ = write_k2is(tmp_path, frames, n_frames=N_WRITTEN, skip=SKIP, cut=CUT)
    out = subprocess.run(
        [str(LIBERTEM_PY), "-c", LIBERTEM_SCRIPT, str(paths[0]), str(tmp_path / "t.npy"),
         str(tmp_path / "f.npy")],
        capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    shape, image_count = json.loads(out.stdout.strip().splitlines()[-1])
    ds = inline_ctx.load("k2is", path=str(paths[0]))
    assert tuple(shape) == tuple(ds.shape) == (5, 1860, 2048)
    assert image_count == ds.meta.image_count == 5
    total, per_frame = inline_ctx.run_udf(ds, [SumUDF(), SumSigUDF()])
    expected = _expected(frames, 0, 5)
    for theirs, ours, want in (
        (np.load(tmp_path / "t.npy"), total["intensity"].data, expected.sum(axis=0)),
        (np.load(tmp_path / "f.npy"), per_frame["intensity"].data, expected.sum(axis=(1, 2))),
    ):
        assert_close(ours, want)
        np.testing.assert_allclose(theirs, want, rtol=1e-5)


@pytest.mark.slow
@pytest.mark.skipif(not LIBERTEM_PY.exists(), reason="needs .venv-libertem (make bench-libertem)")
def test_libertem_reads_the_scan_shape_of_our_gtg(scan):
    """LiberTEM (through ncempy's DM reader) finds the scan shape our .gtg lookup finds."""
    _, gtg = scan
    code = (
        "import sys; from libertem.io.dataset.k2is import _get_nav_shape as g; "
        "print(g(sys.argv[1]))"
    )
    out = subprocess.run(
        [str(LIBERTEM_PY), "-c", code, str(gtg)], capture_output=True, text=True, timeout=300,
        check=True,
    )  # fmt: skip
    assert out.stdout.strip().splitlines()[-1] == "(2, 2)"
