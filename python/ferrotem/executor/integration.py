"""``get_dask_integration_executor``: an executor that runs where the user's Dask work runs.

It looks at the current Dask scheduler:

- a ``distributed.Client`` is the default → :class:`DaskJobExecutor` on that client (closing the
  Context leaves the client alone);
- the threaded scheduler → the embedded thread-pool executor;
- the synchronous scheduler → :class:`InlineJobExecutor`;
- a process-based scheduler (``scheduler='processes'``) → :class:`DaskSchedulerExecutor`, which
  sends the partition tasks through that scheduler (LiberTEM falls back to threads here);
- nothing configured → the embedded thread-pool executor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ferrotem.executor.base import JobExecutor

if TYPE_CHECKING:
    from ferrotem.udf.task import PartitionResult, UDFTask

__all__ = ["DaskSchedulerExecutor", "get_dask_integration_executor"]


class DaskSchedulerExecutor(JobExecutor):
    """Runs partition tasks through a Dask scheduler ``get`` function (e.g. processes)."""

    threads_per_worker = 1

    def __init__(self, get: Callable[..., Any]):
        self._get = get

    def run_tasks(self, tasks: Sequence[UDFTask]) -> Iterator[PartitionResult]:
        import uuid

        import dask

        from ferrotem.executor.graph import shared_node, task_nodes

        if not tasks:
            return
        run_id = uuid.uuid4().hex[:16]
        nodes = task_nodes(tasks, shared_node(tasks, run_id), run_id)
        yield from dask.compute(*nodes, scheduler=self._get)


def get_dask_integration_executor(main_process_gpu: Any = None) -> JobExecutor:
    """An executor compatible with the current Dask scheduler (see module docs)."""
    import dask
    import dask.local
    import dask.multiprocessing
    import dask.threaded
    from dask.base import get_scheduler

    from ferrotem.executor.concurrent import ConcurrentJobExecutor
    from ferrotem.executor.inline import InlineJobExecutor

    get = get_scheduler(collections=[dask.delayed(1)])
    owner = getattr(get, "__self__", None)
    try:
        from distributed import Client

        if isinstance(owner, Client):
            from ferrotem.executor.dask import DaskJobExecutor

            return DaskJobExecutor(client=owner, is_local=False)
    except ImportError:  # pragma: no cover - distributed is a dependency
        pass
    if get is dask.local.get_sync:
        return InlineJobExecutor()
    if get is dask.multiprocessing.get:
        return DaskSchedulerExecutor(get)
    return ConcurrentJobExecutor.make_local()
