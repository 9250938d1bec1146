"""Live results of a delayed run: as Dask computes the graph, each partition result is also
merged into main-node copies of the run's UDFs, and the merged state goes to a callback (the
live plots of ``run_udf(..., plots=...)`` on the ``DelayedJobExecutor``).

The graph's own merge is untouched; this is a second, main-node merge of the same partial
results, so it holds the full result buffers in this process while plots are wanted. It sees
the partitions computed in this process (Dask's threaded or synchronous scheduler); partitions
computed by workers of a distributed cluster reach the plots only through the final result.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ferrotem.executor.graph import PARTITION_LISTENERS
from ferrotem.udf.runner import (
    RunPlan,
    UDFResults,
    UDFRunner,
    _damage_buffer,
    _MainNodeOnly,
)

if TYPE_CHECKING:
    from ferrotem.udf.task import PartitionResult

__all__ = ["LiveMerge"]

#: ``callback(results, last)``: merged state after a partition; ``last`` after the final one
LiveCallback = Callable[[UDFResults, bool], None]


class LiveMerge:
    """Registered for one run id; unregisters itself when every partition has been merged,
    so that computing the results again does not merge them twice."""

    def __init__(self, plan: RunPlan, run_id: str, callback: LiveCallback):
        # fresh instances: the run's own UDFs hold Dask arrays in their buffers now
        self._runner = UDFRunner([type(u)(**u._kwargs) for u in plan.udfs])
        self._plan = self._runner.prepare(
            plan.dataset, _MainNodeOnly(), _roi_of(plan), backends=plan.backends
        )
        self._plan.partitions = plan.partitions
        self._damage = np.zeros(self._plan.n_total, dtype=bool)
        self._merged: set[int] = set()
        self._lock = threading.Lock()
        self._run_id = run_id
        self._callback = callback
        if plan.partitions:
            PARTITION_LISTENERS[run_id] = self

    def __call__(self, result: PartitionResult) -> None:
        plan = self._plan
        with self._lock:
            if result.partition_index in self._merged:
                return  # the same partition computed again
            UDFRunner._merge(plan.udfs, result, self._damage, plan)
            self._merged.add(result.partition_index)
            last = len(self._merged) == len(plan.partitions)
            if last:
                PARTITION_LISTENERS.pop(self._run_id, None)
            damage = self._damage.copy()
            buffers = tuple(
                self._runner._wrap_results(u, damage, plan.roi_flat, plan.dataset)
                for u in plan.udfs
            )
            step = UDFResults(lambda: buffers, _damage_buffer(damage, plan.dataset, plan.roi_flat))
            try:
                self._callback(step, last)
            except Exception as e:  # a failing plot must not fail the computation
                warnings.warn(f"live update of a delayed run failed: {e!r}", stacklevel=2)


def _roi_of(plan: RunPlan) -> Any:
    return None if plan.roi_flat is None else plan.roi_flat.reshape(tuple(plan.shape.nav))
