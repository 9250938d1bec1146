"""``DaskJobExecutor``: partition tasks on a Dask ``distributed`` cluster.

``make_local()`` starts a cluster on this machine (scheduler, workers and dashboard bound to
127.0.0.1); ``connect(uri)`` attaches to any running scheduler (local, SSH, jobqueue/SLURM,
Kubernetes). ``close()`` shuts down exactly what the executor created: the client it made and,
for ``make_local``, the cluster — never a cluster or client the caller passed in.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from ferrotem.executor.base import JobExecutor, ResourceError, Worker, WorkerSet, physical_cores
from ferrotem.executor.graph import run_task
from ferrotem.udf.resources import get_resources_from_udfs

if TYPE_CHECKING:
    from ferrotem.udf.native import NativeDescriptor
    from ferrotem.udf.task import PartitionResult, SharedTaskData, UDFTask

__all__ = ["DaskJobExecutor", "cluster_spec"]

_P = ParamSpec("_P")
_T = TypeVar("_T")

#: environment of worker processes: one thread per numeric library per worker
_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
    "FERROTEM_NUM_THREADS": "1",
    # The worker's statistical profiler samples every thread's stack 100 times a second; it
    # costs throughput on busy cores and LiberTEM turns it off too.
    "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False",
}


def _patch_shared(
    key: str,
    udf_specs: list[tuple[type, dict[str, Any]]],
    native: list[NativeDescriptor] | None,
    dask_worker: Any = None,
) -> None:
    """On a worker: replaces the parameters in the run's shared data held under ``key``, in
    place (the tasks get that very object when they start)."""
    if dask_worker is None or key not in dask_worker.data:
        return
    shared: SharedTaskData = dask_worker.data[key]
    shared.udf_specs = udf_specs
    shared.native = native


def _ids(value: Any, name: str) -> list[int]:
    if value is None:
        return []
    if isinstance(value, bool):
        raise TypeError(f"{name}: got {value!r}, expected an int or an iterable of ids")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{name}: got {value}, expected a count >= 0")
        return list(range(value))
    return [int(v) for v in value]


def cluster_spec(
    cpus: Any,
    cudas: Any,
    has_cupy: bool,
    name: str = "default",
    num_service: int = 1,
    options: dict[str, Any] | None = None,
    preload: Iterable[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """A ``distributed.SpecCluster`` worker spec with LiberTEM's worker names and resources.

    ``{name}-cpu-{id}`` workers get ``CPU``, ``compute`` and ``ndarray``; ``{name}-cuda-{id}``
    workers get ``CUDA`` and ``compute`` (and ``ndarray`` with CuPy); ``{name}-service-{i}``
    workers get none (they never run partition tasks). Every worker binds to 127.0.0.1 unless
    ``options`` says otherwise.
    """
    from distributed import Nanny

    base: dict[str, Any] = {"nthreads": 1, "silence_logs": logging.WARN, "host": "127.0.0.1"}
    base.update(options or {})
    preload = list(preload or [])
    spec: dict[str, dict[str, Any]] = {}

    def worker(resources: dict[str, int], env: dict[str, str]) -> dict[str, Any]:
        opts = dict(base)
        opts["resources"] = resources
        opts["env"] = {**_THREAD_ENV, **env, **dict(base.get("env", {}))}
        if preload:
            opts["preload"] = list(preload)
        return {"cls": Nanny, "options": opts}

    for cpu in _ids(cpus, "cpus"):
        spec[f"{name}-cpu-{cpu}"] = worker(
            {"CPU": 1, "compute": 1, "ndarray": 1}, {"FERROTEM_DEVICE_CLASS": "cpu"}
        )
    for i in range(num_service):
        spec[f"{name}-service-{i}"] = worker({}, {"FERROTEM_DEVICE_CLASS": "cpu"})
    seen: dict[int, int] = {}
    for cuda in _ids(cudas, "cudas"):
        count = seen.get(cuda, 0)
        seen[cuda] = count + 1
        wname = f"{name}-cuda-{cuda}" + (f"-{count}" if count else "")
        res = {"CUDA": 1, "compute": 1}
        if has_cupy:
            res["ndarray"] = 1
        spec[wname] = worker(
            res, {"FERROTEM_DEVICE_CLASS": "cuda", "CUDA_VISIBLE_DEVICES": str(cuda)}
        )
    return spec


class DaskJobExecutor(JobExecutor):
    """Runs partition tasks through a ``distributed.Client``."""

    threads_per_worker = 1

    def __init__(
        self,
        client: Any,
        is_local: bool = False,
        lt_resources: bool | None = None,
        main_process_gpu: Any = None,
        _cluster: Any = None,
    ):
        from distributed import Client

        if not isinstance(client, Client):
            raise TypeError(f"client: got {type(client).__name__}, expected a distributed.Client")
        self.client = client
        self.is_local = is_local
        self._cluster = _cluster
        self._closed = False
        if lt_resources is None:
            lt_resources = self._detect_resources()
        self.lt_resources = lt_resources
        #: the scattered shared data of each run in progress, by id of its task list
        self._running_shared: dict[int, Any] = {}

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def connect(
        cls,
        scheduler_uri: str,
        *args: Any,
        client_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> DaskJobExecutor:
        """Attaches to the scheduler at ``scheduler_uri``. ``close()`` closes only the client
        made here, never the cluster."""
        from distributed import Client

        ck = dict(client_kwargs or {})
        set_as_default = bool(ck.pop("set_as_default", False))
        client = Client(address=scheduler_uri, set_as_default=set_as_default, **ck)
        executor = cls(client=client, is_local=False, **kwargs)
        executor._owns_client = True
        return executor

    @classmethod
    def make_local(
        cls,
        spec: dict[str, dict[str, Any]] | None = None,
        cluster_kwargs: dict[str, Any] | None = None,
        client_kwargs: dict[str, Any] | None = None,
        preload: Iterable[str] | None = None,
        snooze_timeout: float | None = None,
        main_process_gpu: Any = None,
    ) -> DaskJobExecutor:
        """Starts a cluster on this machine (one single-threaded worker per physical core plus
        a service worker, all on 127.0.0.1) and a client for it."""
        import distributed

        if spec is not None and preload is not None:
            raise ValueError("spec and preload: pass preload inside the spec, not both")
        if spec is None:
            spec = cluster_spec(
                cpus=range(physical_cores()), cudas=[], has_cupy=False, preload=preload
            )
        ck = dict(cluster_kwargs or {})
        ck.setdefault("silence_logs", logging.WARN)
        scheduler = ck.pop(
            "scheduler",
            {
                "cls": distributed.Scheduler,
                "options": {"host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"},
            },
        )
        cluster = distributed.SpecCluster(workers=spec, scheduler=scheduler, **ck)
        try:
            client_kw = dict(client_kwargs or {})
            set_as_default = bool(client_kw.pop("set_as_default", False))
            client = distributed.Client(cluster, set_as_default=set_as_default, **client_kw)
            client.wait_for_workers(len(spec))
        except BaseException:
            cluster.close()
            raise
        executor = cls(client=client, is_local=True, lt_resources=True, _cluster=cluster)
        executor._owns_client = True
        return executor

    _owns_client = False

    # -- workers and resources -----------------------------------------------------------------
    def _worker_info(self) -> dict[str, Any]:
        """The scheduler's record of every worker, by address."""
        try:
            info = self.client.scheduler_info(n_workers=-1)
        except TypeError:  # older distributed
            info = self.client.scheduler_info()
        workers: dict[str, Any] = info["workers"]
        return workers

    def _detect_resources(self) -> bool:
        for info in self._worker_info().values():
            res = info.get("resources", {})
            if "compute" in res and (("CPU" in res and "ndarray" in res) or "CUDA" in res):
                return True
        return False

    def get_available_workers(self) -> WorkerSet:
        workers = []
        for addr, info in self._worker_info().items():
            host = info.get("host") or addr.split("://")[-1].rsplit(":", 1)[0]
            workers.append(
                Worker(
                    name=str(info.get("name", addr)),
                    host=host,
                    resources=dict(info.get("resources", {})),
                    nthreads=int(info.get("nthreads", 1)),
                )
            )
        return WorkerSet(workers)

    def native_task_target(self) -> int | None:
        # Two tasks per compute thread: enough to balance the load, few enough that per-task
        # scheduling costs (measured ~5 ms a task on 2 busy cores) stay small.
        return 2 * self.effective_worker_count()

    def effective_worker_count(self) -> int:
        workers = self.get_available_workers()
        cpu = workers.filter(lambda w: "CPU" in w.resources).concurrency()
        cuda = workers.filter(lambda w: "CUDA" in w.resources).concurrency()
        if cpu or cuda:
            return max(cpu, cuda)
        return max(1, workers.concurrency())

    def _check_resources(self, resources: dict[str, int]) -> None:
        if not self.lt_resources:
            if "CUDA" in resources:
                raise ResourceError(
                    "Requesting CUDA resource on a cluster without resource management."
                )
            return
        for w in self.get_available_workers():
            if all(w.resources.get(k, 0) >= v for k, v in resources.items()):
                return
        raise ResourceError(f"Requested resources not available in cluster: {resources}")

    # -- running -------------------------------------------------------------------------------
    def run_tasks(self, tasks: Sequence[UDFTask]) -> Iterator[PartitionResult]:
        if not tasks:
            return
        udfs = [cls(**kwargs) for cls, kwargs in tasks[0].udf_specs]
        resources = get_resources_from_udfs(udfs)
        self._check_resources(resources)
        run_id = uuid.uuid4().hex[:16]
        # Dataset description, UDF parameters and ROI travel once per run: scattered to the
        # cluster, then referenced by every task. Broadcast, so that losing one worker does not
        # lose the only copy (scattered data cannot be recomputed; its dependents would fail).
        shared = tasks[0].shared()
        shared.dataset = tasks[0].partition.graph_descriptor().dataset
        (shared_future,) = self.client.scatter([shared], hash=False, broadcast=True)
        self._running_shared[id(tasks)] = shared_future
        # Dask-array chunks are computed where they live (persisted arrays are used as they
        # are) and passed to the tasks as futures: real dependencies, no nested compute.
        chunks = [
            t.partition.chunk_delayed() if hasattr(t.partition, "chunk_delayed") else None
            for t in tasks
        ]
        chunk_futures: list[Any] = [None] * len(tasks)
        with_chunks = [i for i, c in enumerate(chunks) if c is not None]
        if with_chunks:
            computed = self.client.compute([chunks[i] for i in with_chunks], optimize_graph=False)
            for i, fut in zip(with_chunks, computed, strict=True):
                chunk_futures[i] = fut
        submit_kwargs = {"resources": resources} if self.lt_resources else {}
        futures = [
            self.client.submit(
                run_task,
                task.detach(),
                chunk,
                shared_future,
                key=f"ferrotem-task-{run_id}-{task.partition.index}",
                pure=False,
                **submit_kwargs,
            )
            for task, chunk in zip(tasks, chunk_futures, strict=True)
        ]
        try:
            yield from self._results_as_completed(futures)
        finally:
            self.client.cancel(futures)
            # Chunk futures are only released, never cancelled: for a persisted input array they
            # share their keys with the user's data.
            self.client.cancel([shared_future])
            self._running_shared.pop(id(tasks), None)
            chunk_futures.clear()

    def update_task_parameters(
        self,
        tasks: Sequence[UDFTask],
        udf_specs: list[tuple[type, dict[str, Any]]],
        native: list[NativeDescriptor] | None,
    ) -> None:
        """Patches the run's shared data where it lives, on every worker, so that tasks that
        start afterwards (those still queued on a worker included) read the new parameters;
        a task reads them when it starts. Tasks of this run that are running or done keep
        their parameters. A worker that joins later copies the patched data."""
        super().update_task_parameters(tasks, udf_specs, native)
        shared_future = self._running_shared.get(id(tasks))
        if shared_future is None:  # not submitted yet, or finished
            return
        # client.run reaches the workers directly, not through their task queues, which hold
        # this run's partition tasks ahead of anything submitted now
        self.client.run(_patch_shared, shared_future.key, udf_specs, native)

    def _results_as_completed(self, futures: list[Any]) -> Iterator[PartitionResult]:
        """Results in completion order. Dask reschedules the tasks of a lost worker; if the
        cluster has had no worker at all for ``no_worker_timeout`` seconds, the run fails
        instead of waiting forever."""
        import time

        from distributed import as_completed

        # Bound to this executor's client loop: the default client may be another cluster's,
        # or absent (``connect()``, a client passed in).
        pending = as_completed(futures, loop=self.client.loop)
        no_worker_since: float | None = None
        last_check = time.monotonic()
        while not pending.is_empty():
            done = pending.next_batch(block=False)
            if not done:
                time.sleep(0.01)
                now = time.monotonic()
                if now - last_check < 1.0:
                    continue
                last_check = now
                if self._worker_info():
                    no_worker_since = None
                elif no_worker_since is None:
                    no_worker_since = now
                elif now - no_worker_since > self.no_worker_timeout:
                    raise RuntimeError(
                        f"the cluster has had no workers for {self.no_worker_timeout:g} s; "
                        f"{pending.count()} partition tasks could not run"
                    )
                continue
            # One round trip per batch of finished tasks (sequential ``result()`` calls cost
            # ~3 ms each); errors re-raise with the task's exception and traceback.
            results = self.client.gather(done)
            for fut in done:
                fut.release()
            yield from results

    #: seconds without any worker after which a run gives up (see ``_results_as_completed``)
    no_worker_timeout: float = 60.0

    def run_function(self, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        result: _T = self.client.submit(fn, *args, pure=False, priority=1, **kwargs).result()
        return result

    def map(self, fn: Callable[[Any], Any], iterable: Iterable[Any]) -> list[Any]:
        results: list[Any] = self.client.gather(self.client.map(fn, list(iterable), pure=False))
        return results

    def run_each_worker(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        by_worker: dict[str, Any] = self.client.run(fn, *args, **kwargs)
        return by_worker

    def run_each_host(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        by_host: dict[str, str] = {}
        for addr, info in self._worker_info().items():
            by_host.setdefault(info.get("host", addr), addr)
        out = self.client.run(fn, *args, workers=list(by_host.values()), **kwargs)
        return {host: out[addr] for host, addr in by_host.items()}

    def close(self) -> None:
        """Closes the client this executor made and the cluster ``make_local`` started."""
        if self._closed:
            return
        self._closed = True
        if self.is_local or self._owns_client:
            self.client.close()
        # a client made on a cluster object (e.g. `Client(LocalCluster())`) knows it
        client_cluster = getattr(self.client, "cluster", None)
        if self._cluster is not None:
            self._cluster.close(timeout=30)
        elif self.is_local and client_cluster is not None:
            client_cluster.close(timeout=30)
