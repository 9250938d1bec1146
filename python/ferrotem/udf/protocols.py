"""What the UDF runner needs from an executor, as a protocol the executors implement.

The runner (this layer) drives the executor (the layer above) without importing it: it hands
over tasks and receives partition results through :class:`TaskExecutor`, which every
``JobExecutor`` satisfies structurally. See ``docs/architecture.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ferrotem.common.protocols import WorkerInfo

if TYPE_CHECKING:
    from ferrotem.io.dataset.base import DataSet, Partition
    from ferrotem.udf.native import NativeDescriptor
    from ferrotem.udf.task import PartitionResult, UDFTask

__all__ = ["TaskExecutor"]


class TaskExecutor(Protocol):
    """The executor interface the UDF runner uses."""

    @property
    def threads_per_worker(self) -> int | None:
        """Threads a UDF may use inside one task (``meta.threads_per_worker``)."""
        ...

    def run_tasks(self, tasks: Sequence[UDFTask]) -> Iterator[PartitionResult]:
        """Runs every task; yields results in completion order."""
        ...

    def run_native(
        self,
        dataset: DataSet,
        partitions: list[Partition],
        roi: np.ndarray | None,
        input_dtype: np.dtype,
        native: list[NativeDescriptor],
        on_partition: Callable[[int], None],
    ) -> list[dict[str, np.ndarray]] | None:
        """Runs native UDFs over all partitions in one call, or returns None (the runner then
        uses :meth:`run_tasks`)."""
        ...

    def native_task_target(self) -> int | None:
        """For native-only runs: how many tasks to make at most, or None."""
        ...

    def get_available_workers(self) -> WorkerInfo:
        """The workers of this executor."""
        ...

    def modify_buffer_type(self, buf: Any) -> Any:
        """Hook for executors that use their own buffer types."""
        ...
