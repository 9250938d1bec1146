"""HyperSpy lazy signals in and out (spec §9): the three round trips of LiberTEM's HyperSpy
notebook, on the real NanoMegas blockfile of shared/data/real (known total 5164570)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

hs = pytest.importorskip("hyperspy.api")
pytest.importorskip("skimage")  # RosettaSciIO's blockfile reader needs it

from ferrotem.api import Context  # noqa: E402
from ferrotem.contrib.daskadapter import make_dask_array  # noqa: E402
from ferrotem.udf.sum import SumUDF  # noqa: E402
from ferrotem.udf.sumsigudf import SumSigUDF  # noqa: E402

pytestmark = pytest.mark.hyperspy

BLO = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "blockfile" / "test1.blo"
BLO_TOTAL = 5164570


@pytest.fixture(scope="module")
def lazy_blo():
    if not BLO.exists():
        pytest.skip(f"{BLO} not found")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return hs.load(str(BLO), lazy=True)


def test_hyperspy_lazy_into_ferrotem(lazy_blo):
    """hs.load(lazy=True).data → ctx.load('dask', ...) → UDF results equal the data's sums."""
    reference = lazy_blo.data.compute()
    assert reference.shape == (3, 2, 144, 144)
    with Context.make_with("dask-integration") as ctx:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = ctx.load("dask", lazy_blo.data, sig_dims=2, min_size=64 * 2**20)
        total, frames = ctx.run_udf(dataset=ds, udf=[SumUDF(), SumSigUDF()])
    assert frames["intensity"].data.shape == (3, 2)
    assert np.allclose(frames["intensity"].data, reference.sum(axis=(2, 3)))
    assert np.allclose(total["intensity"].data, reference.sum(axis=(0, 1)))
    assert round(float(frames["intensity"].data.sum())) == BLO_TOTAL


def test_ferrotem_dataset_into_hyperspy(tmp_path):
    """make_dask_array(ds) wrapped as a lazy HyperSpy signal computes the same values."""
    data = np.random.default_rng(1).integers(0, 1000, (4, 5, 6, 7)).astype(np.uint16)
    path = tmp_path / "scan.raw"
    data.tofile(path)
    with Context() as ctx:
        ds = ctx.load("raw", path=path, nav_shape=(4, 5), sig_shape=(6, 7), dtype="uint16")
        arr, _ = make_dask_array(ds)
    signal = hs.signals.Signal2D(arr).as_lazy()
    assert signal.axes_manager.navigation_shape == (5, 4)
    assert signal.axes_manager.signal_shape == (7, 6)
    summed = signal.sum(axis=signal.axes_manager.signal_axes)
    assert np.allclose(np.asarray(summed.data.compute()), data.sum(axis=(2, 3)))


def test_delayed_results_into_hyperspy():
    """Delayed UDF results wrapped as lazy signals; computing them gives the numpy sums."""
    data = np.random.default_rng(2).random((8, 6, 5, 4), dtype=np.float32)
    with Context.make_with("delayed") as ctx:
        ds = ctx.load("memory", data=data, num_partitions=3)
        res = ctx.run_udf(dataset=ds, udf=SumSigUDF())
    lazy = hs.signals.Signal2D(res["intensity"].delayed_data).as_lazy()
    assert lazy.data.shape == (8, 6)
    assert np.allclose(np.asarray(lazy.data.compute()), data.sum(axis=(2, 3)), rtol=1e-5)
