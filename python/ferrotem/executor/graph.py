"""Partition tasks as nodes of a Dask graph, shared by the delayed, distributed and
scheduler-integration executors.

Each task node depends on (a) its input chunk when the dataset is a Dask array — the chunk's own
key, so Dask computes it once, where it lives — and (b) one shared node per run holding the
dataset description, the UDF parameters and the ROI, so these are serialised once per run
rather than once per task.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ferrotem.udf.task import PartitionResult, SharedTaskData, UDFTask

__all__ = ["PARTITION_LISTENERS", "run_task", "shared_node", "task_nodes"]

# Progress of runs computed in this process, by run id; see `run_task`.
PROGRESS: dict[str, Any] = {}
# Callbacks that want each partition result of a run computed in this process, by run id (live
# plots of a delayed run: ferrotem.executor.live_merge).
PARTITION_LISTENERS: dict[str, Callable[[PartitionResult], None]] = {}


def run_task(
    task: UDFTask, chunk: Any, shared: SharedTaskData, run_id: str | None = None
) -> PartitionResult:
    """Runs one detached task where the graph executes it."""
    result = task.attach(shared)(chunk)
    manager = PROGRESS.get(run_id) if run_id else None
    if manager is not None:
        manager.partition_done(result.n_frames)
    listener = PARTITION_LISTENERS.get(run_id) if run_id else None
    if listener is not None:
        listener(result)
    return result


def shared_node(tasks: Sequence[UDFTask], run_id: str) -> Any:
    """The run's shared data as one ``Delayed`` literal."""
    import dask

    shared = tasks[0].shared()
    shared.dataset = tasks[0].partition.graph_descriptor().dataset
    return dask.delayed(shared, name=f"ferrotem-shared-{run_id}", traverse=False)


def task_nodes(
    tasks: Sequence[UDFTask], shared: Any, run_id: str, prefix: str = "ferrotem-partition"
) -> list[Any]:
    """One ``Delayed`` per task, with fresh keys for this run."""
    import dask

    nodes = []
    for task in tasks:
        p = task.partition
        chunk = p.chunk_delayed() if hasattr(p, "chunk_delayed") else None
        nodes.append(
            dask.delayed(run_task, pure=False)(
                task.detach(), chunk, shared, run_id, dask_key_name=f"{prefix}-{run_id}-{p.index}"
            )
        )
    return nodes
