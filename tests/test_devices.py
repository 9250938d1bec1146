"""``ferrotem.utils.devices``: LiberTEM's device detection (the docs' debugging example uses it
to choose between CPU and CUDA)."""

from __future__ import annotations

import sys
import types

import numpy as np
import psutil
import pytest
from ferrotem.utils import devices


@pytest.fixture(autouse=True)
def fresh_cache():
    devices.has_cupy.cache_clear()
    yield
    devices.has_cupy.cache_clear()


def _fake_cupy(n_devices: int, works: bool = True) -> types.ModuleType:
    cupy = types.ModuleType("cupy")

    def zeros(shape):
        if not works:
            raise RuntimeError("no CUDA driver")
        return np.zeros(shape)

    cupy.zeros = zeros
    cupy.array = np.asarray
    cupy.cuda = types.SimpleNamespace(
        runtime=types.SimpleNamespace(getDeviceCount=lambda: n_devices)
    )
    return cupy


def test_without_cupy_no_cuda(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # import raises ImportError
    found = devices.detect()
    assert found == {
        "cpus": list(range(psutil.cpu_count(logical=False) or psutil.cpu_count())),
        "cudas": [],
        "has_cupy": False,
    }


def test_working_cupy_counts_devices(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(3))
    found = devices.detect()
    assert found["cudas"] == [0, 1, 2]
    assert found["has_cupy"] is True


def test_broken_cupy_warns_and_counts_as_absent(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(2, works=False))
    with pytest.warns(RuntimeWarning, match="CuPy is installed but does not work"):
        assert devices.has_cupy() is False
    assert devices.detect()["cudas"] == []


def test_docs_example_runs_on_the_cpu(monkeypatch):
    """LiberTEM's debugging page: use CUDA when detected, else run on the CPU."""
    from ferrotem.api import Context
    from ferrotem.common.backend import get_use_cuda, set_use_cpu, set_use_cuda
    from ferrotem.udf.sum import SumUDF

    monkeypatch.setitem(sys.modules, "cupy", None)
    # set_use_cpu writes the environment: restored by monkeypatch after the test
    for name in ("FERROTEM_USE_CPU", "FERROTEM_USE_CUDA"):
        monkeypatch.setenv(name, "0")  # records the original state, restored afterwards
        monkeypatch.delenv(name)
    data = np.random.default_rng(1).random((3, 4, 5, 6))
    ctx = Context.make_with("inline")
    ds = ctx.load("memory", data=data)
    d = devices.detect()
    if d["cudas"] and d["has_cupy"]:
        set_use_cuda(d["cudas"][0])
    result = ctx.run_udf(dataset=ds, udf=SumUDF())
    set_use_cpu(0)
    assert get_use_cuda() is None
    np.testing.assert_allclose(result["intensity"].data, data.sum(axis=(0, 1)))
