"""The executor interface: where partition tasks run. Executors run tasks and hand their
results back in completion order; the UDF runner merges them on the main node."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import numpy as np
import psutil

from ferrotem.common.exceptions import JobCancelledError, ResourceError
from ferrotem.udf.runner import UDFRunner

if TYPE_CHECKING:
    from ferrotem.io.dataset.base import DataSet, Partition
    from ferrotem.udf.native import NativeDescriptor
    from ferrotem.udf.task import PartitionResult, UDFTask

__all__ = [
    "BaseJobExecutor",
    "JobCancelledError",
    "JobExecutor",
    "ResourceError",
    "Worker",
    "WorkerSet",
    "default_threads",
    "physical_cores",
]

_P = ParamSpec("_P")
_T = TypeVar("_T")


def physical_cores() -> int:
    """Number of physical CPU cores (at least 1)."""
    return psutil.cpu_count(logical=False) or psutil.cpu_count() or 1


def default_threads() -> int:
    """Threads of the embedded executor: ``FERROTEM_NUM_THREADS`` if set, else one per
    physical core."""
    value = os.environ.get("FERROTEM_NUM_THREADS")
    if value is None or value.strip() == "":
        return physical_cores()
    try:
        n = int(value)
    except ValueError:
        raise ValueError(
            f"FERROTEM_NUM_THREADS: got {value!r}, expected a positive integer"
        ) from None
    if n < 1:
        raise ValueError(f"FERROTEM_NUM_THREADS: got {value!r}, expected a positive integer")
    return n


@dataclass(frozen=True)
class Worker:
    """One place tasks can run."""

    name: str
    host: str
    resources: dict[str, float] = field(default_factory=dict)
    nthreads: int = 1


class WorkerSet:
    """A set of workers."""

    def __init__(self, workers: Iterable[Worker]):
        self._workers = list(workers)

    def names(self) -> list[str]:
        """Worker names."""
        return [w.name for w in self._workers]

    def hosts(self) -> set[str]:
        """Host names."""
        return {w.host for w in self._workers}

    def has_cpu(self) -> bool:
        """True if some worker has a CPU resource."""
        return any("CPU" in w.resources for w in self._workers)

    def has_cuda(self) -> bool:
        """True if some worker has a CUDA resource."""
        return any("CUDA" in w.resources for w in self._workers)

    def concurrency(self) -> int:
        """Total threads."""
        return sum(w.nthreads for w in self._workers)

    def filter(self, fn: Callable[[Worker], bool]) -> WorkerSet:
        """Workers for which ``fn`` is true."""
        return WorkerSet(w for w in self._workers if fn(w))

    def group_by_host(self) -> list[WorkerSet]:
        """One set per host."""
        hosts: dict[str, list[Worker]] = {}
        for w in self._workers:
            hosts.setdefault(w.host, []).append(w)
        return [WorkerSet(ws) for ws in hosts.values()]

    def __len__(self) -> int:
        return len(self._workers)

    def __iter__(self) -> Iterator[Worker]:
        return iter(self._workers)

    def __repr__(self) -> str:
        return f"<WorkerSet {self.names()}>"


class JobExecutor:
    """Base class of executors."""

    #: threads a UDF may use inside one task (``meta.threads_per_worker``)
    threads_per_worker: int | None = 1

    def run_tasks(self, tasks: Sequence[UDFTask]) -> Iterator[PartitionResult]:
        """Runs every task; yields results in completion order."""
        raise NotImplementedError

    def run_native(
        self,
        dataset: DataSet,
        partitions: list[Partition],
        roi: np.ndarray | None,
        input_dtype: np.dtype,
        native: list[NativeDescriptor],
        on_partition: Callable[[int], None],
    ) -> list[dict[str, np.ndarray]] | None:
        """Runs native UDFs over all partitions in one call and returns each one's results by
        buffer name, or returns None when this executor schedules partitions itself (the runner
        then uses ``run_tasks``)."""
        return None

    def native_task_target(self) -> int | None:
        """For runs of native UDFs only: how many tasks to make at most (consecutive partitions
        are merged), or None to keep one task per partition."""
        return None

    def get_available_workers(self) -> WorkerSet:
        """The workers of this executor."""
        return WorkerSet([Worker("local", "localhost", {"compute": 1, "CPU": 1}, 1)])

    def effective_worker_count(self) -> int:
        """How many tasks run at once (drives default partition counts)."""
        return max(1, self.get_available_workers().concurrency())

    def run_function(self, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """Runs ``fn`` once, somewhere, and returns its result."""
        return fn(*args, **kwargs)

    def map(self, fn: Callable[[Any], Any], iterable: Iterable[Any]) -> list[Any]:
        """``[fn(x) for x in iterable]``, executed by the executor."""
        return [fn(x) for x in iterable]

    def run_each_host(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Runs ``fn`` once per host."""
        return {"localhost": fn(*args, **kwargs)}

    def run_each_worker(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Runs ``fn`` once per worker."""
        return {w.name: fn(*args, **kwargs) for w in self.get_available_workers()}

    @contextlib.contextmanager
    def scatter(self, obj: Any) -> Iterator[Any]:
        """Makes ``obj`` available to tasks; in-process executors share it by reference."""
        yield obj

    def update_task_parameters(
        self,
        tasks: Sequence[UDFTask],
        udf_specs: list[tuple[type, dict[str, Any]]],
        native: list[NativeDescriptor] | None,
    ) -> None:
        """Gives the tasks of a running run new UDF parameters (and native declarations), for
        those that have not started yet. In-process executors run the very task objects the
        runner made, so setting them is enough; executors that ship copies override this."""
        for task in tasks:
            # parameters first: a task that sees native=None then reads the new parameters
            task.udf_specs = udf_specs
            task.native = native

    def modify_buffer_type(self, buf: Any) -> Any:
        """Hook for executors that use their own buffer types."""
        return buf

    def get_udf_runner(self) -> type[UDFRunner]:
        """The runner class for this executor (LiberTEM's hook: ``Context`` asks the executor,
        so that an executor can bring its own runner, as the delayed one does)."""
        return UDFRunner

    def ensure_sync(self) -> JobExecutor:
        """This executor, usable from synchronous code."""
        return self

    def cancel(self, cancel_id: Any) -> None:
        """Cancels the run with ``cancel_id`` (no-op for synchronous executors)."""

    def close(self) -> None:
        """Releases what this executor created."""

    def __enter__(self) -> JobExecutor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


#: LiberTEM's name of the base class its executors derive from
BaseJobExecutor = JobExecutor
