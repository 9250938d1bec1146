"""``ConcurrentJobExecutor``: the embedded default executor, in-process, no ports, no cluster.

Runs with only built-in native UDFs go to a Rust thread pool in a single call (all partitions
in parallel, GIL released, merged in Rust). Runs with Python UDFs execute one task per partition
on a thread pool; the Rust reads inside each task release the GIL, so threads overlap I/O,
conversion and numpy work.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ferrotem import _core
from ferrotem.executor.base import JobExecutor, Worker, WorkerSet, default_threads

if TYPE_CHECKING:
    from ferrotem.io.dataset.base import DataSet, Partition
    from ferrotem.udf.native import NativeDescriptor
    from ferrotem.udf.task import PartitionResult, UDFTask

__all__ = ["ConcurrentJobExecutor"]


def _check_threads(n_threads: Any) -> int:
    if isinstance(n_threads, bool) or not isinstance(n_threads, int | np.integer):
        raise TypeError(f"n_threads: got {n_threads!r}, expected a positive integer")
    if n_threads < 1:
        raise ValueError(f"n_threads: got {n_threads}, expected a positive integer")
    return int(n_threads)


class ConcurrentJobExecutor(JobExecutor):
    """Runs tasks on threads of this process (``Context()`` uses it)."""

    threads_per_worker = 1

    def __init__(
        self,
        client: concurrent.futures.Executor | None = None,
        is_local: bool = False,
        main_process_gpu: Any = None,
        n_threads: int | None = None,
    ):
        if client is not None and not isinstance(client, concurrent.futures.Executor):
            raise TypeError(
                f"client: got {type(client).__name__}, expected a concurrent.futures.Executor"
            )
        if n_threads is None:
            n_threads = getattr(client, "_max_workers", None) or default_threads()
        self._n_threads = _check_threads(n_threads)
        self._own_pool = client is None
        self.client = client
        self.is_local = is_local or client is None
        self._runner: _core.Runner | None = None

    @classmethod
    def make_local(
        cls, n_threads: int | None = None, main_process_gpu: Any = None
    ) -> ConcurrentJobExecutor:
        """An executor with its own pool of ``n_threads`` threads (default:
        ``FERROTEM_NUM_THREADS``, else one per physical core)."""
        n = default_threads() if n_threads is None else _check_threads(n_threads)
        return cls(client=None, is_local=True, n_threads=n)

    @property
    def n_threads(self) -> int:
        """Number of worker threads."""
        return self._n_threads

    def _pool(self) -> concurrent.futures.Executor:
        if self.client is None:
            self.client = concurrent.futures.ThreadPoolExecutor(
                self._n_threads, thread_name_prefix="ferrotem-task"
            )
        return self.client

    def run_tasks(self, tasks: Sequence[UDFTask]) -> Iterator[PartitionResult]:
        if not tasks:
            return
        from threadpoolctl import threadpool_limits

        pool = self._pool()
        # Every task thread is one worker: BLAS/OpenMP pools inside UDF code would otherwise
        # start one thread per core per task and oversubscribe the machine (10-20x slower
        # matrix products measured). The limit is process-wide and restored after the run.
        with threadpool_limits(limits=self.threads_per_worker):
            futures = [pool.submit(task) for task in tasks]
            try:
                for fut in concurrent.futures.as_completed(futures):
                    yield fut.result()
            finally:
                # On error, Ctrl-C or an abandoned generator: drop what has not started.
                for fut in futures:
                    fut.cancel()

    def run_native(
        self,
        dataset: DataSet,
        partitions: list[Partition],
        roi: np.ndarray | None,
        input_dtype: np.dtype,
        native: list[NativeDescriptor],
        on_partition: Callable[[int], None],
    ) -> list[dict[str, np.ndarray]] | None:
        if not dataset.whole_source:
            return None
        if self._runner is None:
            self._runner = _core.Runner(self._n_threads)
        return self._runner.run(
            dataset.get_source(),
            [(p.start, p.stop) for p in partitions],
            roi,
            np.dtype(input_dtype).str,
            [d.as_core() for d in native],
            on_partition,
        )

    def map(self, fn: Callable[[Any], Any], iterable: Iterable[Any]) -> list[Any]:
        return list(self._pool().map(fn, iterable))

    def get_available_workers(self) -> WorkerSet:
        return WorkerSet(
            [Worker("concurrent", "localhost", {"compute": 1, "CPU": 1}, self._n_threads)]
        )

    def close(self) -> None:
        if self.is_local and self.client is not None:
            self.client.shutdown(wait=False, cancel_futures=True)
            self.client = None
        self._runner = None
