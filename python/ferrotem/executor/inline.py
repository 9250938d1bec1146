"""``InlineJobExecutor``: runs every task in the calling thread, partitions in order.

For debugging, tests and tiny data. ``debug=True`` sends tasks and results through cloudpickle,
catching UDFs that would fail to travel to a Dask worker.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ferrotem.executor.base import JobExecutor, Worker, WorkerSet, physical_cores

if TYPE_CHECKING:
    from ferrotem.udf.task import PartitionResult, UDFTask

__all__ = ["InlineJobExecutor"]


class InlineJobExecutor(JobExecutor):
    """Executes tasks one after the other in the calling thread."""

    def __init__(
        self, debug: bool = False, inline_threads: int | None = None, main_process_gpu: Any = None
    ):
        self._debug = debug
        self.threads_per_worker = inline_threads if inline_threads is not None else physical_cores()

    def run_tasks(self, tasks: Sequence[UDFTask]) -> Iterator[PartitionResult]:
        for task in tasks:
            if self._debug:
                import cloudpickle

                task = cloudpickle.loads(cloudpickle.dumps(task))
                result = cloudpickle.loads(cloudpickle.dumps(task()))
            else:
                result = task()
            yield result

    def get_available_workers(self) -> WorkerSet:
        return WorkerSet([Worker("inline", "localhost", {"compute": 1, "CPU": 1}, 1)])
