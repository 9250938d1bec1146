"""'ser' and 'mrc' on every executor: inline, threads, delayed and a local Dask cluster of two
worker processes (the dataset is pickled to them and reopened there), natively and with a Python
UDF, with an ROI; make_dask_array too. numpy is the oracle; LiberTEM 0.16 is a second one where
``.venv-libertem`` exists (a slow test)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_close
from ferrotem.contrib.daskadapter import make_dask_array
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF
from helpers.executors import FrameMaxUDF, every_executor
from helpers.mrc_writer import write_mrc
from helpers.ser_writer import write_ser

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real"
LIBERTEM_PY = ROOT / ".venv-libertem" / "bin" / "python"


@pytest.fixture(scope="module")
def contexts():
    yield from every_executor()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A new-version .ser with shuffled elements, an old-version one, a big-endian MRC and a
    float16 MRC."""
    d = tmp_path_factory.mktemp("ser_mrc")
    rng = np.random.default_rng(10)
    ser_new = rng.integers(0, 5000, (3, 5, 12, 10)).astype("<u2")
    write_ser(d / "new.ser", ser_new, order=rng.permutation(15), gap=7)
    ser_old = rng.random((4, 3, 8, 8)).astype("<f4")
    write_ser(d / "old.ser", ser_old, version=0x0210)
    mrc_be = rng.integers(-3000, 3000, (15, 9, 11)).astype("i2")
    write_mrc(d / "be.mrc", mrc_be, 1, byteorder=">", nsymbt=512)
    mrc_f16 = (rng.random((12, 8, 8)) * 10).astype("f2")
    write_mrc(d / "half.mrc", mrc_f16, 12)
    return {
        "ser-new": (dict(filetype="ser", path=d / "new.ser"), ser_new),
        "ser-old": (dict(filetype="ser", path=d / "old.ser"), ser_old),
        "mrc-be": (dict(filetype="mrc", path=d / "be.mrc", nav_shape=(3, 5)), mrc_be),
        "mrc-f16": (dict(filetype="mrc", path=d / "half.mrc", nav_shape=(4, 3)), mrc_f16),
    }


@pytest.mark.parametrize("executor", ["inline", "threads", "delayed", "dask"])
@pytest.mark.parametrize("which", ["ser-new", "ser-old", "mrc-be", "mrc-f16"])
def test_every_executor(contexts, files, executor, which):
    ctx = contexts[executor]
    params, data = files[which]
    params = dict(params)
    ds = ctx.load(params.pop("filetype"), num_partitions=3, **params)
    data = data.astype(np.float64).reshape(tuple(ds.shape))
    nav = tuple(ds.shape.nav)
    roi = np.random.default_rng(len(which)).random(nav) < 0.6
    total, per_frame, frame_max = ctx.run_udf(ds, [SumUDF(), SumSigUDF(), FrameMaxUDF()], roi=roi)
    assert_close(np.asarray(total["intensity"].data), data[roi].sum(axis=0), dtype="f4")
    assert_close(
        np.asarray(per_frame["intensity"].data)[roi], data[roi].sum(axis=(-1, -2)), dtype="f4"
    )
    maxima = np.asarray(frame_max["max"].data)
    np.testing.assert_array_equal(maxima[roi], data[roi].max(axis=(-1, -2)))


@pytest.mark.parametrize("which", ["ser-new", "mrc-be"])
def test_make_dask_array(contexts, files, which):
    params, data = files[which]
    params = dict(params)
    ds = contexts["inline"].load(params.pop("filetype"), **params)
    arr, _ = make_dask_array(ds)
    np.testing.assert_array_equal(arr.compute(), data.reshape(tuple(ds.shape)).astype(np.float32))


_LIBERTEM_SUM = """
import sys, numpy as np
from libertem.api import Context
from libertem.udf.sum import SumUDF
ctx = Context.make_with("inline")
ds = ctx.load(sys.argv[1], path=sys.argv[2])
np.save(sys.argv[3], ctx.run_udf(ds, SumUDF())["intensity"].data)
"""


@pytest.mark.slow
@pytest.mark.skipif(not LIBERTEM_PY.exists(), reason="needs .venv-libertem (make bench-libertem)")
@pytest.mark.parametrize(
    ("filetype", "path"),
    [
        ("ser", REAL / "tia" / "128x128x5-diffraction_preview_1.ser"),
        ("ser", REAL / "tia" / "64x64x5_TEM_preview_1.ser"),
        ("mrc", "synthetic"),
    ],
    ids=["ser-new", "ser-old", "mrc"],
)
def test_libertem_agrees(inline_ctx, tmp_path, filetype, path):
    """LiberTEM 0.16 as a second oracle: its SumUDF on the real .ser files (it reads them
    through ncempy, images flipped as we read them) and on a synthetic MRC image stack."""
    if path == "synthetic":
        path = tmp_path / "stack.mrc"
        write_mrc(path, np.random.default_rng(2).integers(0, 999, (10, 6, 7)), 6)
    if not Path(path).exists():
        pytest.skip(f"{path} not found")
    out = tmp_path / "lt.npy"
    subprocess.run(
        [str(LIBERTEM_PY), "-c", _LIBERTEM_SUM, filetype, str(path), str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    ours = inline_ctx.run_udf(inline_ctx.load(filetype, path=path), SumUDF())["intensity"].data
    np.testing.assert_allclose(ours, np.load(out), rtol=1e-6)
