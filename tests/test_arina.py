"""'arina': DECTRIS ARINA/EIGER master files. The real file (all zeros) proves the layout and the
decompression; acquisitions written here with h5py and hdf5plugin (non-zero, several data
files) prove the values, the order of the data files and the scan shape."""

from __future__ import annotations

from pathlib import Path

import h5py
import hdf5plugin
import numpy as np
import pytest
from ferrotem.common.exceptions import CorruptFileError, MissingFileError
from ferrotem.udf.sum import SumUDF
from test_hdf5 import REAL, check_against


def write_acquisition(
    d: Path,
    frames_per_file: list[int],
    sig=(12, 10),
    scan: tuple[int, int] | None = None,
    dtype="u2",
    name="scan",
    plugin=None,
) -> np.ndarray:
    """A master file, its data files (one frame per chunk, bitshuffle+LZ4 by default) and,
    with ``scan``, the metadata file; returns all frames in order."""
    rng = np.random.default_rng(sum(frames_per_file))
    frames = rng.integers(0, 4000, (sum(frames_per_file), *sig)).astype(dtype)
    plugin = plugin if plugin is not None else hdf5plugin.Bitshuffle(cname="lz4")
    with h5py.File(d / f"{name}_master.h5", "w") as master:
        master["entry/instrument/detector/detectorSpecific/nimages"] = np.uint64(1)
        master["entry/instrument/detector/detectorSpecific/ntrigger"] = np.uint64(len(frames))
        data = master.create_group("entry/data")
        first = 0
        # Written out of order: the reader must sort the links by their number.
        for i in reversed(range(len(frames_per_file))):
            first = sum(frames_per_file[:i])
            part = frames[first : first + frames_per_file[i]]
            file_name = f"{name}_data_{i + 1:06d}.h5"
            with h5py.File(d / file_name, "w") as f:
                f.create_dataset("entry/data/data", data=part, chunks=(1, *sig), **plugin)
            data[f"data_{i + 1:06d}"] = h5py.ExternalLink(file_name, "/entry/data/data")
    if scan is not None:
        with h5py.File(d / f"{name}.h5", "w") as f:
            g = f.create_group("STEM Metadata")
            g.attrs["NumPixelsY"], g.attrs["NumPixelsX"] = scan
    return frames


def test_real_arina_file(ctx):
    ds = ctx.load("arina", path=REAL / "arina" / "test_00_master.h5")
    # The scan shape comes from the metadata file beside the master (NumPixelsY/X = 4, 4).
    assert tuple(ds.shape) == (4, 4, 192, 192) and ds.dtype == np.uint32
    assert "Rust" in ds.meta["reader"]
    check_against(ctx, ds, np.zeros((4, 4, 192, 192), np.uint32))
    diag = {d["name"]: d["value"] for d in ds.get_diagnostics()}
    assert diag["frames"] == "16" and "test_00_data_000001.h5" in diag["data files"]


def test_several_data_files_in_link_order(ctx, tmp_path):
    frames = write_acquisition(tmp_path, [7, 7, 4], scan=(3, 6))
    ds = ctx.load("arina", path=tmp_path / "scan_master.h5", num_partitions=4)
    assert tuple(ds.shape) == (3, 6, 12, 10) and ds.dtype == np.uint16
    check_against(ctx, ds, frames.reshape(3, 6, 12, 10))
    roi = np.zeros((3, 6), bool)
    roi[0, 5] = roi[1, 0] = roi[2, 3] = True  # frames in each of the three data files
    check_against(ctx, ds, frames.reshape(3, 6, 12, 10), roi=roi)
    ds = ctx.load("arina", path=tmp_path / "scan_master.h5", nav_shape=(18,), sync_offset=-2)
    shifted = np.concatenate([np.zeros_like(frames[:2]), frames[:-2]])
    check_against(ctx, ds, shifted)


def test_default_scan_shape_without_metadata(ctx, tmp_path):
    frames = write_acquisition(tmp_path, [9, 7], dtype="u4")
    ds = ctx.load("arina", path=tmp_path / "scan_master.h5")
    assert tuple(ds.shape.nav) == (4, 4)  # 16 frames: square
    check_against(ctx, ds, frames.reshape(4, 4, 12, 10))
    frames = write_acquisition(tmp_path, [5], name="line")
    ds = ctx.load("arina", path=tmp_path / "line_master.h5")
    assert tuple(ds.shape.nav) == (5,)


def test_filters_not_decoded_read_through_h5py(ctx, tmp_path):
    frames = write_acquisition(tmp_path, [4, 5], scan=(3, 3), plugin=hdf5plugin.Zstd())
    ds = ctx.load("arina", path=tmp_path / "scan_master.h5")
    assert "h5py" in ds.meta["reader"]
    check_against(ctx, ds, frames.reshape(3, 3, 12, 10))


def test_missing_data_file(ctx, tmp_path):
    write_acquisition(tmp_path, [3, 3])
    (tmp_path / "scan_data_000002.h5").unlink()
    with pytest.raises(MissingFileError, match=r"scan_master\.h5.*scan_data_000002\.h5"):
        ctx.load("arina", path=tmp_path / "scan_master.h5")


def test_not_a_master_file_and_corrupt_chunk(ctx, tmp_path):
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f["x"] = np.zeros((2, 2, 2))
    with pytest.raises(CorruptFileError, match="not a DECTRIS master file"):
        ctx.load("arina", path=tmp_path / "plain.h5")
    frames = write_acquisition(tmp_path, [4, 4], scan=(2, 4))
    data_file = tmp_path / "scan_data_000002.h5"
    with h5py.File(data_file, "r") as f:
        info = f["entry/data/data"].id.get_chunk_info(1)
    with open(data_file, "r+b") as f:
        f.seek(info.byte_offset + 12)
        f.write(b"\xee" * (info.size - 12))
    ds = ctx.load("arina", path=tmp_path / "scan_master.h5")
    with pytest.raises(CorruptFileError, match=r"scan_data_000002\.h5.*chunk at \[1, 0, 0\]"):
        ctx.run_udf(ds, SumUDF())
    roi = np.ones((2, 4), bool)
    roi[1, 1] = False  # frame 5 = frame 1 of the second file
    check_against(ctx, ds, frames.reshape(2, 4, 12, 10), roi=roi)
