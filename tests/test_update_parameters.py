"""``run_udf_iter(...).update_parameters_experimental``: UDF parameters that change while a run
is in progress (LiberTEM's ``ResultGenerator``), e.g. a mask moved in a GUI.

The oracle is numpy: every partition's frames must equal the plain-numpy result with the old
parameters or with the new ones, all of a partition with the same; partitions merged before
the update used the old ones; partitions that start after it use the new ones.
"""

from __future__ import annotations

import asyncio
import os
import time

import numpy as np
import pytest
from ferrotem.api import Context, ResultAsyncGenerator, ResultGenerator
from ferrotem.udf.base import UDF
from ferrotem.udf.masks import ApplyMasksUDF
from ferrotem.udf.native import native_descriptor
from ferrotem.udf.task import UDFTask
from hypothesis import assume, given, settings
from hypothesis import strategies as st

NAV = (4, 8)
SIG = (5, 6)
N_PARTS = 8  # 4 frames each


class MaskedSumUDF(UDF):
    """A Python UDF: per frame, the sum of frame * mask (mask: a UDF parameter)."""

    def __init__(self, mask):
        super().__init__(mask=mask)

    def get_result_buffers(self):
        return {"value": self.buffer(kind="nav", dtype="float64")}

    def get_preferred_input_dtype(self):
        return np.float64

    def process_frame(self, frame):
        self.results.value[:] = np.sum(frame * self.params.mask)


class GatedMaskedSumUDF(UDF):
    """MaskedSumUDF whose partitions, except the first, wait until the file ``gate`` exists:
    the tasks under way when the test updates the parameters stay under way until it opens
    the gate, so which partitions started before the update is known (works across
    processes, for a Dask cluster too)."""

    def __init__(self, mask, gate):
        super().__init__(mask=mask, gate=gate)

    def get_result_buffers(self):
        return {"value": self.buffer(kind="nav", dtype="float64")}

    def get_preferred_input_dtype(self):
        return np.float64

    def process_partition(self, partition):
        if self.meta.slice.origin[0] != 0:
            deadline = time.monotonic() + 60
            while not os.path.exists(self.params.gate) and time.monotonic() < deadline:
                time.sleep(0.005)
        self.results.value[:] = np.einsum("nyx,yx->n", partition, self.params.mask)


def _data() -> np.ndarray:
    return np.random.default_rng(7).random(NAV + SIG)


def _masks() -> tuple[np.ndarray, np.ndarray]:
    old = np.zeros(SIG)
    old[1:3, 2:5] = 1.0
    new = np.zeros(SIG)
    new[3, 0] = 2.0
    new[0, 5] = -1.0
    return old, new


def _flat_value(step, name: str) -> np.ndarray:
    return np.asarray(step.buffers[0][name].data).reshape(-1)


def run_with_update(ctx, udf, patch, name, after_step: int = 0, gate=None, **load_kwargs):
    """Runs ``udf`` with ``run_udf_iter``, applies ``patch`` after step ``after_step`` (then
    creates the file ``gate``, if given); returns (final flat results, partitions in merge
    order as flat frame indices, number of partitions merged before the update)."""
    ds = ctx.load("memory", data=_data(), num_partitions=N_PARTS, **load_kwargs)
    gen = ctx.run_udf_iter(ds, udf)
    assert isinstance(gen, ResultGenerator)
    seen = np.zeros(int(np.prod(NAV)), dtype=bool)
    parts, merged_before = [], None
    step = None
    for i, step in enumerate(gen):
        damage = np.asarray(step.damage.data).reshape(-1)
        parts.append(np.flatnonzero(damage & ~seen))
        seen = damage.copy()
        if i == after_step:
            gen.update_parameters_experimental(patch)
            merged_before = i + 1
            if gate is not None:
                gate.touch()
    assert step is not None and seen.all()
    return _flat_value(step, name), parts, merged_before


def _oracle(mask: np.ndarray) -> np.ndarray:
    return np.einsum("nyx,yx->n", _data().reshape((-1,) + SIG), mask)


def classify(values, parts, old, new) -> list[str]:
    """'old' or 'new' for each partition; fails if a partition matches neither or mixes."""
    labels = []
    for frames in parts:
        is_old = np.allclose(values[frames], old[frames])
        is_new = np.allclose(values[frames], new[frames])
        assert is_old != is_new, f"frames {frames}: neither or both of old/new parameters"
        labels.append("old" if is_old else "new")
    return labels


@pytest.fixture(scope="module")
def inline_ctx():
    ctx = Context.make_with("inline")
    yield ctx
    ctx.close()


@pytest.fixture(scope="module")
def threads_ctx():
    ctx = Context.make_with("threads", cpus=2)
    yield ctx
    ctx.close()


@pytest.mark.parametrize("after_step", [0, 3, N_PARTS - 1])
def test_inline_python_udf_partitions_after_update_use_new_mask(inline_ctx, after_step):
    old, new = _masks()
    values, parts, before = run_with_update(
        inline_ctx, MaskedSumUDF(mask=old), [{"mask": new}], "value", after_step
    )
    labels = classify(values, parts, _oracle(old), _oracle(new))
    # inline runs a partition only when asked for the next step: the cut is exact
    assert labels == ["old"] * before + ["new"] * (N_PARTS - before)


@settings(max_examples=25)
@given(
    num_partitions=st.integers(1, 8),
    roi_seed=st.one_of(st.none(), st.integers(0, 2**16)),
    after=st.integers(0, 7),
    native=st.booleans(),
)
def test_inline_property_roi_partitions_and_update_step(
    inline_ctx, num_partitions, roi_seed, after, native
):
    """Over partition counts, ROIs and the step of the update, on the Python and the native
    path: every partition merged up to the update has the old mask, every later one the
    new, frames outside the ROI are untouched."""
    old, new = _masks()
    roi = None
    if roi_seed is not None:
        roi = np.random.default_rng(roi_seed).random(NAV) < 0.6
        assume(roi.any())
    ds = inline_ctx.load("memory", data=_data(), num_partitions=num_partitions)
    if native:
        udf, name, patch = (
            ApplyMasksUDF(mask_factories=old[np.newaxis]),
            "intensity",
            "mask_factories",
        )
        new_value = new[np.newaxis]
    else:
        udf, name, patch, new_value = MaskedSumUDF(mask=old), "value", "mask", new
    gen = inline_ctx.run_udf_iter(ds, udf, roi=roi)
    seen = np.zeros(int(np.prod(NAV)), dtype=bool)
    labels_expected, parts = [], []
    step = None
    for i, step in enumerate(gen):
        damage = np.asarray(step.damage.data).reshape(-1)
        parts.append(np.flatnonzero(damage & ~seen))
        labels_expected.append("old" if i <= after else "new")
        seen = damage.copy()
        if i == after:
            gen.update_parameters_experimental([{patch: new_value}])
    selected = np.ones(seen.size, bool) if roi is None else roi.reshape(-1)
    np.testing.assert_array_equal(seen, selected)
    values = _flat_value(step, name)
    assert classify(values, parts, _oracle(old), _oracle(new)) == labels_expected


def test_inline_native_apply_masks_see_new_masks(inline_ctx, monkeypatch):
    old, new = _masks()
    udf = ApplyMasksUDF(mask_factories=old[np.newaxis].astype(np.float32))
    native_calls = []
    real = UDFTask._run_native

    def spy(self, source, offset, native):
        native_calls.append(native[0].params)
        return real(self, source, offset, native)

    monkeypatch.setattr(UDFTask, "_run_native", spy)
    values, parts, before = run_with_update(
        inline_ctx,
        udf,
        [{"mask_factories": new[np.newaxis].astype(np.float32)}],
        "intensity",
        after_step=2,
    )
    assert len(native_calls) == N_PARTS  # every partition ran in Rust
    labels = classify(values, parts, _oracle(old), _oracle(new))
    assert labels == ["old"] * before + ["new"] * (N_PARTS - before)
    # the main-node UDF keeps the new parameters, as in LiberTEM
    np.testing.assert_array_equal(udf.params.mask_factories[0], new.astype(np.float32))


def test_inline_update_that_leaves_the_native_path(inline_ctx):
    """An update that makes ApplyMasksUDF non-native (shifts) moves the rest of the run to
    the Python path; shifts (0, 0) leave the masks where they were, so the new mask rules."""
    old, new = _masks()
    udf = ApplyMasksUDF(mask_factories=old[np.newaxis])
    values, parts, before = run_with_update(
        inline_ctx,
        udf,
        [{"mask_factories": new[np.newaxis], "shifts": (0, 0)}],
        "intensity",
        after_step=1,
    )
    assert native_descriptor(udf) is None  # main-node UDF now shifted
    labels = classify(values, parts, _oracle(old), _oracle(new))
    assert labels == ["old"] * before + ["new"] * (N_PARTS - before)


def check_started_after_update_are_new(ctx, tmp_path, workers: int):
    old, new = _masks()
    gate = tmp_path / "gate"
    values, parts, before = run_with_update(
        ctx, GatedMaskedSumUDF(mask=old, gate=str(gate)), [{"mask": new}], "value", 0, gate
    )
    assert before == 1
    labels = classify(values, parts, _oracle(old), _oracle(new))
    assert labels[0] == "old"
    # when the first partition was merged, each worker had started at most one more (held at
    # the gate until after the update): those keep the old mask, every other one is new
    assert labels.count("old") <= 1 + workers, labels
    assert labels.count("new") >= N_PARTS - 1 - workers, labels


def test_threads_partitions_started_after_update_use_new_mask(threads_ctx, tmp_path):
    check_started_after_update_are_new(threads_ctx, tmp_path, workers=2)


def test_update_before_first_step_applies_to_whole_run(inline_ctx, threads_ctx):
    old, new = _masks()
    for ctx in (inline_ctx, threads_ctx):
        ds = ctx.load("memory", data=_data(), num_partitions=N_PARTS)
        gen = ctx.run_udf_iter(ds, [MaskedSumUDF(mask=old), MaskedSumUDF(mask=old)])
        gen.update_parameters_experimental([{}, {"mask": new}])
        last = list(gen)[-1]
        np.testing.assert_allclose(last.buffers[0]["value"].data.reshape(-1), _oracle(old))
        np.testing.assert_allclose(last.buffers[1]["value"].data.reshape(-1), _oracle(new))


@pytest.mark.parametrize(
    ("parameters", "error", "match"),
    [
        ({"mask": 1}, TypeError, "expected a list with one dict per UDF"),
        ([], ValueError, "got 0 dicts, expected one per UDF"),
        ([{"mask": 1}, {}], ValueError, "got 2 dicts"),
        (["mask"], TypeError, r"parameters\[0\]: got str"),
        ([{"maks": 1}], ValueError, "MaskedSumUDF has no parameter 'maks'"),
    ],
)
def test_bad_parameters_raise_and_change_nothing(inline_ctx, parameters, error, match):
    old, _ = _masks()
    ds = inline_ctx.load("memory", data=_data(), num_partitions=N_PARTS)
    udf = MaskedSumUDF(mask=old)
    gen = inline_ctx.run_udf_iter(ds, udf)
    next(gen)
    with pytest.raises(error, match=match):
        gen.update_parameters_experimental(parameters)
    last = list(gen)[-1]
    np.testing.assert_allclose(_flat_value(last, "value"), _oracle(old))
    assert udf.params.mask is old


def test_values_go_through_the_constructor(inline_ctx):
    """The UDF's constructor checks and stores new values as it does at creation: ApplyMasksUDF
    refuses shifts of the wrong shape, before and during a run."""
    old, _ = _masks()
    ds = inline_ctx.load("memory", data=_data(), num_partitions=N_PARTS)
    for started in (False, True):
        udf = ApplyMasksUDF(mask_factories=old[np.newaxis])
        gen = inline_ctx.run_udf_iter(ds, udf)
        if started:
            next(gen)
        with pytest.raises(ValueError, match=r"shifts: got shape \(3,\)"):
            gen.update_parameters_experimental([{"shifts": (1, 2, 3)}])
        assert udf.params.shifts is None
        last = list(gen)[-1]
        np.testing.assert_allclose(_flat_value(last, "intensity"), _oracle(old))


def test_update_changing_result_buffers_is_refused(inline_ctx):
    old, new = _masks()
    ds = inline_ctx.load("memory", data=_data(), num_partitions=N_PARTS)
    udf = ApplyMasksUDF(mask_factories=old[np.newaxis])
    gen = inline_ctx.run_udf_iter(ds, udf)
    next(gen)
    with pytest.raises(ValueError, match=r"changes the result buffers \['intensity'\]"):
        gen.update_parameters_experimental([{"mask_factories": np.stack([old, new])}])
    last = list(gen)[-1]
    np.testing.assert_allclose(_flat_value(last, "intensity"), _oracle(old))


class InputDtypeUDF(MaskedSumUDF):
    """MaskedSumUDF whose preferred input dtype is a parameter."""

    def __init__(self, mask, dtype):
        UDF.__init__(self, mask=mask, dtype=dtype)

    def get_preferred_input_dtype(self):
        return self.params.dtype


def test_update_changing_input_dtype_is_refused(inline_ctx):
    old, _ = _masks()
    data = _data().astype(np.float32)
    ds = inline_ctx.load("memory", data=data, num_partitions=N_PARTS)
    gen = inline_ctx.run_udf_iter(ds, InputDtypeUDF(mask=old, dtype=np.float32))
    next(gen)
    with pytest.raises(ValueError, match="changes the input dtype of the run from float32"):
        gen.update_parameters_experimental([{"dtype": np.float64}])
    last = list(gen)[-1]
    expected = np.einsum("nyx,yx->n", data.reshape((-1,) + SIG).astype(np.float64), old)
    np.testing.assert_allclose(_flat_value(last, "value"), expected, rtol=1e-6)


def test_delayed_takes_updates_only_before_first_step():
    old, new = _masks()
    ctx = Context.make_with("delayed")
    try:
        ds = ctx.load("memory", data=_data(), num_partitions=N_PARTS)
        gen = ctx.run_udf_iter(ds, MaskedSumUDF(mask=old))
        gen.update_parameters_experimental([{"mask": new}])
        step = next(gen)
        with pytest.raises(NotImplementedError, match="delayed executor builds"):
            gen.update_parameters_experimental([{"mask": old}])
        np.testing.assert_allclose(
            np.asarray(step.buffers[0]["value"].data).reshape(-1), _oracle(new)
        )
    finally:
        ctx.close()


def test_async_generator_update(inline_ctx):
    old, new = _masks()
    ds = inline_ctx.load("memory", data=_data(), num_partitions=N_PARTS)

    async def run():
        agen = inline_ctx.run_udf_iter(ds, MaskedSumUDF(mask=old), sync=False)
        assert isinstance(agen, ResultAsyncGenerator)
        steps = []
        async for step in agen:
            steps.append(np.asarray(step.damage.data).reshape(-1).copy())
            if len(steps) == 1:
                await agen.update_parameters_experimental([{"mask": new}])
        return steps, _flat_value(step, "value")

    damages, values = asyncio.run(run())
    first = damages[0]
    np.testing.assert_allclose(values[first], _oracle(old)[first])
    np.testing.assert_allclose(values[~first], _oracle(new)[~first])


def test_close_and_throw(inline_ctx):
    old, _ = _masks()
    ds = inline_ctx.load("memory", data=_data(), num_partitions=N_PARTS)
    gen = inline_ctx.run_udf_iter(ds, MaskedSumUDF(mask=old))
    next(gen)
    gen.close()
    with pytest.raises(StopIteration):
        next(gen)
    gen = inline_ctx.run_udf_iter(ds, MaskedSumUDF(mask=old))
    next(gen)

    class Stop(Exception):
        pass

    with pytest.raises(Stop):
        gen.throw(Stop())
    with pytest.raises(StopIteration):
        next(gen)


def test_dask_cluster_partitions_started_after_update_use_new_mask(tmp_path):
    """Tasks queued on a worker (not started) get the new parameters too: the update reaches
    the workers directly, not through their task queues."""
    from ferrotem.executor.dask import DaskJobExecutor, cluster_spec

    spec = cluster_spec(cpus=[0, 1], cudas=[], has_cupy=False, num_service=0)
    ctx = Context(executor=DaskJobExecutor.make_local(spec=spec))
    try:
        check_started_after_update_are_new(ctx, tmp_path, workers=2)
    finally:
        ctx.close()
