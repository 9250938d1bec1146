"""Parameter updates during a run (``ResultGenerator.update_parameters_experimental``).

A run's UDF parameters reach the tasks through their shared data (``SharedTaskData``: the
UDFs' constructor keyword arguments and, for native runs, the native declarations built from
them on the main node). An update patches the main-node UDFs and hands new parameters and
declarations to the executor, which gives them to every task that has not started yet; tasks
already running or done keep the parameters they started with.

An update is checked on the main node before anything changes: the patch must be one dict per
UDF naming parameters the UDF has, and the patched UDF must declare the same result buffers
(names, kinds, dtypes, extra shapes) and want the same input dtype, since buffers are
allocated once per run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ferrotem.udf.base import UDF
from ferrotem.udf.native import NativeDescriptor, native_descriptor

if TYPE_CHECKING:
    from ferrotem.udf.task import UDFTask


class _Plan(Protocol):
    """What an update needs of the runner's plan (``RunPlan``)."""

    input_dtype: np.dtype
    native: list[NativeDescriptor] | None


__all__ = ["ParameterControl", "check_patch"]


def check_patch(parameters: Any, udfs: Sequence[UDF]) -> list[dict[str, Any]]:
    """``parameters`` as a list of one dict per UDF, each naming existing parameters; raises
    ``TypeError``/``ValueError`` naming what is wrong."""
    if isinstance(parameters, dict) or not isinstance(parameters, list | tuple):
        raise TypeError(
            f"parameters: got {type(parameters).__name__}, expected a list with one dict per "
            f"UDF of the run ({len(udfs)})"
        )
    if len(parameters) != len(udfs):
        raise ValueError(
            f"parameters: got {len(parameters)} dicts, expected one per UDF of the run "
            f"({len(udfs)})"
        )
    patches = []
    for i, (patch, udf) in enumerate(zip(parameters, udfs, strict=True)):
        if not isinstance(patch, dict):
            raise TypeError(
                f"parameters[{i}]: got {type(patch).__name__}, expected a dict of the "
                f"parameters of {type(udf).__name__} to change"
            )
        known = udf._kwargs
        for key in patch:
            if not isinstance(key, str) or key not in known:
                raise ValueError(
                    f"parameters[{i}]: {type(udf).__name__} has no parameter {key!r} "
                    f"(it has {sorted(known)})"
                )
        patches.append(dict(patch))
    return patches


def _buffer_layout(udf: UDF) -> dict[str, tuple[str, np.dtype, tuple[int, ...], Any]]:
    return {
        name: (buf.kind, np.dtype(buf.dtype), tuple(buf.extra_shape), buf.use)
        for name, buf in udf._buffers.items()
    }


def _rebuilt(udf: UDF, patch: dict[str, Any]) -> UDF:
    """A fresh instance of ``udf``'s class with the patched parameters, prepared like the
    running one (meta, backend, result buffers), for the checks and its native declaration."""
    fresh = type(udf)(**{**udf._kwargs, **patch})
    fresh.set_meta(udf.meta)
    fresh.set_backend(udf._backend)
    fresh.init_result_buffers()
    before, after = _buffer_layout(udf), _buffer_layout(fresh)
    if before != after:
        changed = sorted(n for n in before.keys() | after.keys() if before.get(n) != after.get(n))
        raise ValueError(
            f"parameters: the update changes the result buffers {changed} of "
            f"{type(udf).__name__} (their kind, dtype or shape); buffers are allocated once "
            "per run, so start a new run for this change"
        )
    return fresh


class ParameterControl:
    """The live parameters of one run. The runner calls :meth:`attach` once its tasks exist;
    before that, an update only patches the UDFs, and the run starts with the new values."""

    def __init__(self, udfs: Sequence[UDF]):
        self._udfs = list(udfs)
        self._plan: _Plan | None = None
        self._tasks: Sequence[UDFTask] = ()
        self._executor: Any = None
        self._input_dtype_of: Callable[[list[UDF]], np.dtype] | None = None
        self._refusal: str | None = None

    def attach(
        self,
        plan: _Plan,
        tasks: Sequence[UDFTask],
        executor: Any,
        input_dtype_of: Callable[[list[UDF]], np.dtype],
    ) -> None:
        """The run's tasks now exist: later updates go to those not yet started.
        ``input_dtype_of(udfs)``: the input dtype a run of ``udfs`` would have."""
        self._plan, self._tasks, self._executor = plan, tasks, executor
        self._input_dtype_of = input_dtype_of

    def refuse(self, reason: str) -> None:
        """From now on updates raise ``NotImplementedError`` with ``reason``."""
        self._refusal = reason

    def update(self, parameters: Any) -> None:
        """Checks ``parameters`` (one dict per UDF) and applies it; see the module doc."""
        if self._refusal is not None:
            raise NotImplementedError(f"update_parameters_experimental: {self._refusal}")
        patches = check_patch(parameters, self._udfs)
        plan, input_dtype_of = self._plan, self._input_dtype_of
        if plan is None or input_dtype_of is None:
            # the constructor checks the values and stores them as the UDF does (e.g. arrays)
            made = [type(u)(**{**u._kwargs, **p}) for u, p in zip(self._udfs, patches, strict=True)]
            for udf, new in zip(self._udfs, made, strict=True):
                udf._update_parameters_patch(new._kwargs)
            return
        fresh = [_rebuilt(u, p) for u, p in zip(self._udfs, patches, strict=True)]
        dtype = input_dtype_of(fresh)
        if dtype != plan.input_dtype:
            raise ValueError(
                f"parameters: the update changes the input dtype of the run from "
                f"{plan.input_dtype} to {dtype}; start a new run for this change"
            )
        native: list[NativeDescriptor] | None = None
        if plan.native is not None:
            described = [native_descriptor(u) for u in fresh]
            # a UDF that leaves the native path takes the whole run to the Python path
            if all(d is not None for d in described):
                native = [d for d in described if d is not None]
        specs = [(type(u), u._kwargs) for u in fresh]
        for udf, new in zip(self._udfs, fresh, strict=True):
            udf._update_parameters_patch(new._kwargs)
        plan.native = native
        self._executor.update_task_parameters(self._tasks, specs, native)
