"""Bad input to 'mib' and 'blo': truncated and corrupted files, missing companions, mixed counter
depths, directories, files that shrink during a run — each a clear Python exception that names
the file and what is wrong, never a crash or silent garbage."""

from __future__ import annotations

import os

import numpy as np
import pytest
from ferrotem.common.exceptions import (
    CorruptFileError,
    DataSetException,
    InvalidDataSetParameter,
    MissingFileError,
    TruncatedFileError,
)
from ferrotem.udf.sum import SumUDF
from helpers.blo_writer import write_blo
from helpers.mib_writer import random_frames, write_acquisition, write_mib

HEADER = 384


def scan(tmp_path, depth=12, nav=(3, 4), sig=(4, 64), files=1, raw=False, name="scan"):
    data = random_frames(depth, nav + sig, depth)
    paths = write_acquisition(tmp_path, name, data, depth, raw=raw, files=files)
    return data, paths


def patch(path, offset, new: bytes):
    b = bytearray(path.read_bytes())
    b[offset : offset + len(new)] = new
    path.write_bytes(bytes(b))


def record_bytes(depth=12, sig=(4, 64)):
    return HEADER + int(np.prod(sig)) * {1: 1, 6: 1, 12: 2, 24: 4}[depth]


# -- MIB: files that are missing or not files --------------------------------------------------
def test_hdr_without_mib(inline_ctx, tmp_path):
    scan(tmp_path)
    (tmp_path / "scan.mib").unlink()
    with pytest.raises(MissingFileError, match=r"no \.mib files found for .*scan\.hdr"):
        inline_ctx.load("mib", path=tmp_path / "scan.hdr")


def test_missing_paths_directories_and_other_files(inline_ctx, tmp_path):
    with pytest.raises(MissingFileError, match=r"nothere.mib' does not exist"):
        inline_ctx.load("mib", path=tmp_path / "nothere.mib", nav_shape=(1,))
    (tmp_path / "dir.mib").mkdir()
    with pytest.raises(IsADirectoryError, match=r"dir.mib' is a directory"):
        inline_ctx.load("mib", path=tmp_path / "dir.mib", nav_shape=(1,))
    with pytest.raises(InvalidDataSetParameter, match=r"expected a Merlin .mib file"):
        inline_ctx.load("mib", path=tmp_path / "scan.raw", nav_shape=(1,))
    with pytest.raises(TypeError, match=r"path: got 12"):
        inline_ctx.load("mib", path=12)
    scan(tmp_path)
    (tmp_path / "scan.hdr").unlink()
    with pytest.raises(DataSetException, match=r"nav_shape: missing, and no .hdr file"):
        inline_ctx.load("mib", path=tmp_path / "scan.mib")


# -- MIB: corrupted and truncated headers -----------------------------------------------------
@pytest.mark.parametrize(
    ("offset", "new", "message"),
    [
        (0, b"XQ1,", r'frame 0: not a Merlin MIB frame header: it starts with b"XQ1,'),
        (11, b"99999", r"header size \(field 3\) is 99999, expected 16 ..= 65536"),
        (11, b"00a84", r'header size \(field 3\) is "00a84", expected a number'),
        (20, b"0000", r"width \(field 5\) is 0, expected 1 ..= 65536"),
        (25, b"x256", r'height \(field 6\) is "x256", expected a number'),
        (30, b"F32", r'pixel type \(field 7\) is "F32"'),
    ],
)
def test_corrupt_first_header(inline_ctx, tmp_path, offset, new, message):
    _, (path,) = scan(tmp_path)
    patch(path, offset, new)
    with pytest.raises(CorruptFileError, match=message) as info:
        inline_ctx.load("mib", path=tmp_path / "scan.hdr")
    assert str(path) in str(info.value)


def test_truncated_files(inline_ctx, tmp_path):
    _, (path,) = scan(tmp_path)
    size = path.stat().st_size
    # cut inside a frame's pixels
    os.truncate(path, size - 100)
    with pytest.raises(TruncatedFileError, match=r"ends inside MIB frame 11") as info:
        inline_ctx.load("mib", path=tmp_path / "scan.hdr")
    assert str(path) in str(info.value)
    # cut inside a frame header
    os.truncate(path, 5 * record_bytes() + 50)
    with pytest.raises(TruncatedFileError, match=r"ends inside MIB frame 5"):
        inline_ctx.load("mib", path=tmp_path / "scan.hdr")
    # cut inside the first header
    os.truncate(path, 200)
    with pytest.raises(TruncatedFileError, match=r"first MIB frame header is cut off"):
        inline_ctx.load("mib", path=tmp_path / "scan.hdr")
    os.truncate(path, 0)
    with pytest.raises(CorruptFileError, match=r"not a Merlin MIB frame header"):
        inline_ctx.load("mib", path=tmp_path / "scan.hdr")


def test_corrupt_hdr(inline_ctx, tmp_path):
    scan(tmp_path)
    hdr = tmp_path / "scan.hdr"
    hdr.write_bytes(
        hdr.read_bytes().replace(
            b"Frames per Trigger (Number):\t4", b"Frames per Trigger (Number):\tfour"
        )
    )
    with pytest.raises(CorruptFileError, match=r"'Frames per Trigger \(Number\)' is 'four'"):
        inline_ctx.load("mib", path=hdr)
    hdr.write_bytes(b"not a header")
    with pytest.raises(
        CorruptFileError, match=r'not a Merlin .hdr file: it starts with "not a header"'
    ):
        inline_ctx.load("mib", path=hdr)


# -- MIB: files that do not belong together -----------------------------------------------------
def test_mixed_counter_depths(inline_ctx, tmp_path):
    scan(tmp_path, depth=12, files=2)
    data6 = random_frames(1, (6, 4, 64), 6)
    write_mib(tmp_path / "scan2.mib", data6, 6, first_sequence=7)
    with pytest.raises(
        CorruptFileError, match=r"6-bit U08.*12-bit U16.*one acquisition has one counter depth"
    ) as info:
        inline_ctx.load("mib", path=tmp_path / "scan.hdr")
    assert "scan2.mib" in str(info.value)


def test_files_of_two_acquisitions(inline_ctx, tmp_path):
    data, _ = scan(tmp_path, files=2)
    # the second file starts again at sequence number 1: another acquisition with the same name
    write_mib(tmp_path / "scan2.mib", data.reshape(12, 4, 64)[6:], 12, first_sequence=1)
    with pytest.raises(CorruptFileError, match=r"disable_glob=True"):
        inline_ctx.load("mib", path=tmp_path / "scan.hdr")
    ds = inline_ctx.load("mib", path=tmp_path / "scan1.mib", nav_shape=(6,), disable_glob=True)
    assert ds.meta.image_count == 6


def test_bad_sequence_numbers_name_the_frame(inline_ctx, tmp_path):
    _, (path,) = scan(tmp_path)
    # the last frame's header says 99: found when the file is opened
    patch(path, 11 * record_bytes() + 4, b"000099")
    with pytest.raises(
        CorruptFileError, match=r"frame 11 \(the last\) has sequence number 99, expected 12"
    ):
        inline_ctx.load("mib", path=tmp_path / "scan.hdr")
    patch(path, 11 * record_bytes() + 4, b"000012")
    # a frame in the middle: found when it is read, by every read path
    patch(path, 5 * record_bytes() + 4, b"000003")
    ds = inline_ctx.load("mib", path=tmp_path / "scan.hdr")
    for run in (
        lambda: inline_ctx.run_udf(ds, SumUDF()),
        lambda: ds.get_source().read(0, 12, np.zeros(12 * 256 * 4, np.uint8), "<f4"),
    ):
        with pytest.raises(
            CorruptFileError, match=r"MIB frame 5: the header has sequence number 3, expected 6"
        ) as info:
            run()
        assert str(path) in str(info.value)
    patch(path, 5 * record_bytes() + 4, b"000006")
    # a different frame size in the middle
    patch(path, 7 * record_bytes() + 30, b"U08")
    with pytest.raises(CorruptFileError, match=r'MIB frame 7: header field 7 is b"U08"'):
        inline_ctx.run_udf(inline_ctx.load("mib", path=tmp_path / "scan.hdr"), SumUDF())


def test_unsupported_raw_layout(inline_ctx, tmp_path):
    _, (path,) = scan(tmp_path, depth=12, raw=True)
    patch(path, 37, b"Nx1")  # layout field "   1x1" -> "   Nx1"
    patch(path, 17, b"04")  # four chips
    assert path.read_bytes()[:40] == b"MQ1,000001,00384,04,0064,0004,R64,   Nx1"
    with pytest.raises(
        CorruptFileError, match=r'RAW frames of 4 chips in layout "Nx1" are not supported'
    ):
        inline_ctx.load("mib", path=tmp_path / "scan.hdr")


@pytest.mark.parametrize("io", ["mmap", "pread"])
def test_mib_shrinking_during_a_run(inline_ctx, tmp_path, monkeypatch, io):
    monkeypatch.setenv("FERROTEM_IO", io)
    _, (path,) = scan(tmp_path, nav=(16, 16))
    ds = inline_ctx.load("mib", path=tmp_path / "scan.hdr")
    inline_ctx.run_udf(ds, SumUDF())
    os.truncate(path, 10 * record_bytes())
    with pytest.raises(TruncatedFileError) as info:
        inline_ctx.run_udf(ds, SumUDF())
    assert str(path) in str(info.value)


# -- BLO -----------------------------------------------------------------------------------------
def blo(tmp_path, **kw):
    data = random_frames(3, (2, 3, 8, 8), 6)
    path = tmp_path / "f.blo"
    write_blo(path, data, **kw)
    return data, path


def test_blo_wrong_magic_and_sizes(inline_ctx, tmp_path):
    _, path = blo(tmp_path)
    with pytest.raises(
        CorruptFileError, match=r"magic number is 513, expected 258 or 259 .*try endianess='<'"
    ):
        inline_ctx.load("blo", path=path, endianess=">")
    with pytest.raises(InvalidDataSetParameter, match=r"endianess: got 'big'"):
        inline_ctx.load("blo", path=path, endianess="big")
    patch(path, 0, b"IMGBLX")
    with pytest.raises(CorruptFileError, match=r'not a blockfile: it starts with b"IMGBLX"'):
        inline_ctx.load("blo", path=path)
    _, path = blo(tmp_path)
    patch(path, 20, b"\0\0")
    with pytest.raises(CorruptFileError, match=r"DP_SZ \(pattern size\) is 0"):
        inline_ctx.load("blo", path=path)
    os.truncate(path, 100)
    with pytest.raises(TruncatedFileError, match=r"blockfile header is cut off"):
        inline_ctx.load("blo", path=path)
    (tmp_path / "d.blo").mkdir()
    with pytest.raises(IsADirectoryError):
        inline_ctx.load("blo", path=tmp_path / "d.blo")


def test_blo_truncated_and_corrupt_frames(inline_ctx, tmp_path):
    _, path = blo(tmp_path)
    size = path.stat().st_size
    os.truncate(path, size - 10)
    with pytest.raises(TruncatedFileError, match=r"ends inside blockfile frame 5"):
        inline_ctx.load("blo", path=path)
    _, path = blo(tmp_path)
    record = 6 + 64
    offset = size - 6 * record
    patch(path, offset + 2 * record + 2, np.array([7], "<u4").tobytes())
    ds = inline_ctx.load("blo", path=path)
    with pytest.raises(CorruptFileError, match=r"blockfile frame 2: the frame header says frame 7"):
        inline_ctx.run_udf(ds, SumUDF())
    _, path = blo(tmp_path)
    patch(path, offset + 4 * record, b"\0\0")
    with pytest.raises(
        CorruptFileError, match=r"blockfile frame 4: the frame header starts with 0x0000"
    ):
        inline_ctx.run_udf(inline_ctx.load("blo", path=path), SumUDF())
