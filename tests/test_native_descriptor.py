"""Native UDFs declared once (``ferrotem.udf.native``): the declaration decides what runs
natively, Rust refuses a declaration that does not match what it computes, and results come back
by buffer name."""

from __future__ import annotations

import numpy as np
import pytest
from ferrotem.common.exceptions import UDFException
from ferrotem.udf.native import (
    NativeDescriptor,
    describe,
    native_descriptor,
    results_to_buffers,
)
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF


class RenamedSumSig(SumSigUDF):
    """Declares a buffer the core's ``sumsig`` does not compute."""

    def get_result_buffers(self):
        return {"total": self.buffer(kind="nav", dtype=np.float32)}

    def native_descriptor(self) -> NativeDescriptor:
        return describe(self, "sumsig")


class WrongDtypeSum(SumUDF):
    """Declares float64 although the run computes in float32."""

    def get_result_buffers(self):
        return {"intensity": self.buffer(kind="sig", dtype=np.float64)}

    def native_descriptor(self) -> NativeDescriptor:
        return describe(self, "sum")


class ParamSum(SumUDF):
    """Passes a parameter ``sum`` does not take."""

    def native_descriptor(self) -> NativeDescriptor:
        return describe(self, "sum", scale=np.ones(3))


class TileOverride(SumSigUDF):
    def process_tile(self, tile):
        self.results.intensity[:] += tile.reshape(tile.shape[0], -1).sum(axis=1) + 1


@pytest.mark.parametrize("udf_cls", [RenamedSumSig, WrongDtypeSum])
def test_declaration_that_differs_from_the_core_is_an_error(ctx, udf_cls):
    data = np.ones((2, 3, 4, 4), dtype=np.float32)
    ds = ctx.load("memory", data=data)
    with pytest.raises(ValueError, match="result buffer"):
        ctx.run_udf(dataset=ds, udf=udf_cls())


def test_unknown_parameter_is_an_error_naming_it(ctx):
    ds = ctx.load("memory", data=np.ones((2, 3, 4, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="scale"):
        ctx.run_udf(dataset=ds, udf=ParamSum())


def test_override_takes_the_python_path(ctx):
    data = np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4)
    assert native_descriptor(TileOverride()) is None
    ds = ctx.load("memory", data=data)
    res = ctx.run_udf(dataset=ds, udf=TileOverride())
    np.testing.assert_allclose(res["intensity"].data, data.sum(axis=(2, 3)) + 1)


def test_results_map_to_buffers_by_name():
    desc = NativeDescriptor(
        "x", {}, (("a", "nav", "<f4", (2,)), ("b", "sig", "<f8", ()), ("c", "single", "<f4", ()))
    )
    a = np.arange(6, dtype=np.float32)
    b = np.arange(4, dtype=np.float64)
    c = np.ones(1, dtype=np.float32)
    out = results_to_buffers(desc, {"b": b, "a": a, "c": c}, (2, 2), 3)
    assert out["a"].shape == (3, 2) and out["b"].shape == (2, 2) and out["c"].shape == (1,)
    np.testing.assert_array_equal(out["a"].ravel(), a)
    with pytest.raises(UDFException, match="do not match the declared"):
        results_to_buffers(desc, {"a": a, "b": b}, (2, 2), 3)
    with pytest.raises(UDFException, match="do not match the declared"):
        results_to_buffers(desc, {"a": a, "b": b, "c": c, "d": c}, (2, 2), 3)
    with pytest.raises(UDFException, match="'b' has dtype float32"):
        results_to_buffers(desc, {"a": a, "b": b.astype(np.float32), "c": c}, (2, 2), 3)
    with pytest.raises(UDFException, match="'a' has dtype float32 and 4 values"):
        results_to_buffers(desc, {"a": a[:4], "b": b, "c": c}, (2, 2), 3)


@pytest.mark.parametrize("executor", ["inline", "delayed", "threads"])
def test_native_udfs_are_built_once_per_run_and_process(monkeypatch, executor):
    # Building packs the masks (as long as a partition's work for many masks): every partition
    # task of a run must share one build, and a new run (new declarations) gets its own.
    from ferrotem import _core
    from ferrotem.api import Context
    from ferrotem.udf.masks import ApplyMasksUDF

    built = []
    real = _core.NativeSet

    def counting(*args):
        built.append(args)
        return real(*args)

    monkeypatch.setattr(_core, "NativeSet", counting)
    rng = np.random.default_rng(5)
    data = rng.integers(0, 1000, size=(8, 6, 12, 10)).astype(np.float32)
    masks = rng.random((3, 12, 10)).astype(np.float32)
    ctx = Context.make_with(executor)
    ds = ctx.load("memory", data=data, sig_dims=2, num_partitions=4)
    expected = np.einsum("abyx,myx->abm", data.astype(np.float64), masks)
    for run in range(2):
        udf = ApplyMasksUDF(mask_factories=lambda: masks)
        res = ctx.run_udf(dataset=ds, udf=[udf, SumUDF()])
        np.testing.assert_allclose(res[0]["intensity"].data, expected, rtol=1e-5)
        np.testing.assert_allclose(res[1]["intensity"].data, data.sum(axis=(0, 1)), rtol=1e-6)
        # threads: the whole run is one call into the Rust pool, which builds them itself
        expected_builds = 0 if executor == "threads" else run + 1
        assert len(built) == expected_builds, "one build per run, shared by its partition tasks"
    ctx.close()
