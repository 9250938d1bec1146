"""``ferrotem convert``: a real Merlin acquisition (shared/data/real) and synthetic raw files
converted to every output format on the command line, each result opened again with
``ctx.load`` and compared with an independent numpy reading of the source; usage errors."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import make_data
from ferrotem.cli import main
from test_export import frames_of, read_independently, reload

ZIP = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "real"
    / "quantumdetector"
    / "Merlin_Single_Quad.zip"
)
MIB_NAME = "Single_9_Frame_CounterDepth_12_Rows_256"


@pytest.fixture(scope="module")
def merlin(tmp_path_factory):
    """One real 12-bit Merlin acquisition (9 frames of 256 x 256), extracted, and its frames
    read with numpy from the ``.mib`` records (384-byte headers, big-endian pixels)."""
    if not ZIP.exists():
        pytest.skip(f"{ZIP} not found")
    d = tmp_path_factory.mktemp("merlin")
    with zipfile.ZipFile(ZIP) as z:
        for name in (f"{MIB_NAME}.hdr", f"{MIB_NAME}.mib"):
            z.extract(name, d)
    record = np.dtype([("header", "S384"), ("data", ">u2", (256, 256))])
    frames = np.fromfile(d / f"{MIB_NAME}.mib", dtype=record)["data"]
    return d / f"{MIB_NAME}.hdr", frames


def convert(*args: str) -> subprocess.CompletedProcess[str]:
    """``ferrotem convert ARGS`` in a fresh interpreter, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "ferrotem.cli", "convert", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_real_mib_to_hdf5_on_the_command_line(merlin, inline_ctx, tmp_path):
    hdr, frames = merlin
    out = tmp_path / "merlin.h5"
    done = convert(str(hdr), str(out), "--chunks", "3")
    assert done.returncode == 0, done.stderr
    assert "frame" in done.stderr and "GB/s" in done.stderr  # the progress bar and the summary
    ds = inline_ctx.load("hdf5", path=out, ds_path="/data")
    source = inline_ctx.load("mib", path=hdr)
    assert tuple(ds.shape) == tuple(source.shape)
    assert ds.dtype == np.dtype("<u2")
    np.testing.assert_array_equal(frames_of(inline_ctx, ds).reshape(frames.shape), frames)
    with h5py.File(out, "r") as f:
        assert f["data"].chunks[-3:] == (3, 256, 256)


@pytest.mark.parametrize("suffix", [".npy", ".raw", ".zarr", ".h5"])
def test_real_mib_to_every_format(merlin, inline_ctx, tmp_path, suffix):
    hdr, frames = merlin
    out = tmp_path / ("merlin" + suffix)
    assert main(["convert", str(hdr), str(out), "--no-progress", "--compression", "gzip"
                 if suffix in (".zarr", ".h5") else "none"]) == 0  # fmt: skip
    shape = tuple(inline_ctx.load("mib", path=hdr).shape)
    fmt = {".h5": "hdf5"}.get(suffix, suffix[1:])
    np.testing.assert_array_equal(
        read_independently(out, fmt, shape, np.uint16).reshape(frames.shape), frames
    )
    again = reload(inline_ctx, out, fmt, shape, np.uint16)
    np.testing.assert_array_equal(frames_of(inline_ctx, again).reshape(frames.shape), frames)


@pytest.mark.parametrize("fmt", ["npy", "raw", "hdf5", "zarr"])
def test_synthetic_raw_to_every_format(inline_ctx, tmp_path, fmt):
    data = make_data(11, (4, 5, 16, 12), np.float32)
    data.tofile(tmp_path / "scan.dat")
    out = tmp_path / "converted.out"
    args = ["convert", str(tmp_path / "scan.dat"), str(out), "--format", fmt, "--no-progress"]
    args += ["--filetype", "raw", "--nav-shape", "4,5", "--sig-shape", "16x12"]
    args += ["--dtype", "float32", "--out-dtype", "float64", "--threads", "2"]
    assert main(args) == 0
    np.testing.assert_array_equal(
        read_independently(out, fmt, data.shape, np.float64), data.astype(np.float64)
    )
    again = reload(inline_ctx, out, fmt, data.shape, np.float64)
    np.testing.assert_array_equal(frames_of(inline_ctx, again), data)


def test_dataset_parameters_pass_through(inline_ctx, tmp_path):
    data = make_data(12, (30, 8, 8), np.uint16)
    data.tofile(tmp_path / "scan.raw")
    out = tmp_path / "out.npy"
    done = convert(
        str(tmp_path / "scan.raw"), str(out), "--filetype", "raw", "--sig-shape", "8,8",
        "--nav-shape", "4,7", "--sync-offset", "2", "-p", "dtype='uint16'",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(np.load(out), data[2:30].reshape(4, 7, 8, 8))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--chunks", "a,b"], "--chunks: got 'a,b'"),
        (["--level", "3"], "compression_level: got 3"),
        (["--compression", "gzip", "--format", "raw"], "compression: got 'gzip' for"),
        (["-p", "oops"], "--param: got 'oops'"),
        (["--threads", "0"], "--threads: got 0"),
    ],
)
def test_usage_errors_exit_with_the_parameter_named(tmp_path, capsys, extra, message):
    make_data(13, (2, 2, 4, 4), np.uint8).tofile(tmp_path / "in.raw")
    args = ["convert", str(tmp_path / "in.raw"), str(tmp_path / "out.h5"), "--filetype", "raw"]
    args += ["--nav-shape", "2,2", "--sig-shape", "4,4", "--dtype", "uint8", *extra]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out.h5").exists()


def test_a_missing_source_is_reported(tmp_path):
    done = convert(str(tmp_path / "nothing.mib"), str(tmp_path / "out.h5"))
    assert done.returncode == 2
    assert "nothing.mib" in done.stderr
    assert not (tmp_path / "out.h5").exists()
