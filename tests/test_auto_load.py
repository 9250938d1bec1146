"""``ctx.load('auto', path=...)`` detects what it can and says clearly what it cannot."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from ferrotem.api import Context
from ferrotem.executor.inline import InlineJobExecutor
from ferrotem.udf.sum import SumUDF


@pytest.fixture
def ctx():
    with Context(executor=InlineJobExecutor()) as c:
        yield c


def test_auto_detects_npy(ctx, tmp_path):
    data = np.random.default_rng(0).random((3, 4, 5, 6), dtype=np.float32)
    np.save(tmp_path / "scan.npy", data)
    ds = ctx.load("auto", path=str(tmp_path / "scan.npy"))
    assert tuple(ds.shape) == data.shape
    res = ctx.run_udf(ds, SumUDF())
    assert np.allclose(res["intensity"].data, data.sum(axis=(0, 1)), rtol=1e-5)


def test_auto_refuses_headerless_files(ctx, tmp_path):
    np.zeros(64, np.uint16).tofile(tmp_path / "scan.raw")
    with pytest.raises(ValueError, match="filetype='raw'"):
        ctx.load("auto", path=str(tmp_path / "scan.raw"))


def test_auto_errors_name_the_path(ctx, tmp_path):
    with pytest.raises(FileNotFoundError, match="path"):
        ctx.load("auto", path=str(tmp_path / "missing.npy"))
    with pytest.raises(ValueError, match="path"):
        ctx.load("auto")


# -- detector formats, recognised by content ------------------------------------------------------
REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"


@pytest.fixture(scope="module")
def merlin_dir(tmp_path_factory):
    archive = REAL / "quantumdetector" / "Merlin_Single_Quad.zip"
    if not archive.exists():
        pytest.skip("shared/data/real is not beside the checkout")
    out = tmp_path_factory.mktemp("merlin")
    with zipfile.ZipFile(archive) as z:
        z.extractall(out)
    return out


@pytest.mark.parametrize("suffix", [".mib", ".hdr"])
def test_auto_detects_merlin_by_content(ctx, merlin_dir, tmp_path, suffix):
    name = "Single_9_Frame_CounterDepth_12_Rows_256"
    ds = ctx.load("auto", path=str(merlin_dir / (name + suffix)))
    assert type(ds).__name__ == "MIBDataSet"
    total = ctx.run_udf(ds, SumUDF())["intensity"].data.sum()
    assert total == 260753  # shared/data/real/README.md


def test_auto_detects_a_renamed_blockfile(ctx, tmp_path):
    src = REAL / "blockfile" / "test1.blo"
    if not src.exists():
        pytest.skip("shared/data/real is not beside the checkout")
    renamed = tmp_path / "scan.dat"  # the extension says nothing: the content decides
    shutil.copy(src, renamed)
    ds = ctx.load("auto", path=str(renamed))
    assert type(ds).__name__ == "BloDataSet"
    assert ctx.run_udf(ds, SumUDF())["intensity"].data.sum() == 5164570


def test_auto_error_lists_what_it_tried(ctx, tmp_path):
    (tmp_path / "notes.txt").write_bytes(b"not a detector file")
    with pytest.raises(ValueError, match=r"tried: numpy \.npy.*Merlin.*blockfile"):
        ctx.load("auto", path=str(tmp_path / "notes.txt"))
    with pytest.raises(IsADirectoryError, match="path"):
        ctx.load("auto", path=str(tmp_path))


def test_detect_returns_libertem_style_dicts(tmp_path):
    from ferrotem.io.dataset import detect

    np.save(tmp_path / "a.npy", np.zeros((2, 2, 3, 3), np.float32))
    assert detect(str(tmp_path / "a.npy")) == {
        "type": "npy",
        "parameters": {"path": str(tmp_path / "a.npy")},
    }
    (tmp_path / "b.bin").write_bytes(b"\0" * 64)
    assert detect(str(tmp_path / "b.bin")) == {}
