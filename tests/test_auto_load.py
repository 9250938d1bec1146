"""``ctx.load('auto', path=...)`` detects what it can and says clearly what it cannot."""

from __future__ import annotations

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
