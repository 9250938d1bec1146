"""DaskJobExecutor on real clusters of separate processes, all on 127.0.0.1.

- ``connect()`` to an external ``dask scheduler`` + two ``dask worker`` CLIs: native and Python
  UDFs on memory, raw and dask datasets (with and without ROI) give the numpy answer; UDF
  exceptions keep their type and message; closing leaves the cluster alone; a default client
  made by ``connect`` is what ``'dask-integration'`` uses.
- ``make_local`` / ``make_with('dask' | 'dask-make-default')``: loopback binding, worker names and
  resources from ``cluster_spec``, ownership on close; executor spec validation.
- a plain ``distributed.LocalCluster`` (no LiberTEM resources) and CUDA routing on CUDA-tagged
  CPU workers.
- faults: a worker killed mid-run, Ctrl-C during a run, progress bars.
"""

from __future__ import annotations

import _thread
import os
import signal
import threading
import time

import dask
import dask.array as da
import distributed
import numpy as np
import pytest
from conftest import assert_close, make_data
from dist_fixtures import (
    external_cluster,
    port_accepts,
    scheduler_task_keys,
    wait_until,
    worker_pids,
)
from ferrotem.api import Context
from ferrotem.common.exceptions import ExecutorSpecException
from ferrotem.executor.base import ResourceError
from ferrotem.executor.dask import DaskJobExecutor, cluster_spec
from ferrotem.udf.base import UDF
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF

pytestmark = pytest.mark.dist

NAV, SIG = (6, 5), (4, 3)
DTYPE = "u2"


# -- UDFs (module level: workers unpickle them by reference, tests/ is on their PYTHONPATH) ---
class FrameStatsUDF(UDF):
    """Per-frame sum and maximum (``process_frame``) and the sum over frames (``sig``)."""

    def get_result_buffers(self):
        return {
            "nav_sum": self.buffer(kind="nav", dtype="float64"),
            "nav_max": self.buffer(kind="nav", dtype="float64"),
            "sig_sum": self.buffer(kind="sig", dtype="float64"),
        }

    def process_frame(self, frame):
        self.results.nav_sum[:] = frame.sum()
        self.results.nav_max[:] = frame.max()
        self.results.sig_sum[:] += frame

    def merge(self, dest, src):
        dest.nav_sum[:] = src.nav_sum
        dest.nav_max[:] = src.nav_max
        dest.sig_sum[:] += src.sig_sum


class PartitionPidUDF(UDF):
    """Per-frame sum (``process_partition``) and the pid of the process that computed it."""

    def get_result_buffers(self):
        return {
            "s": self.buffer(kind="nav", dtype="float64"),
            "pid": self.buffer(kind="nav", dtype="int64"),
        }

    def process_partition(self, partition):
        self.results.s[:] = partition.reshape(len(partition), -1).sum(axis=1)
        self.results.pid[:] = os.getpid()


class FrameFailure(Exception):
    """Raised by :class:`FailingUDF`; its type must survive the trip back from the worker."""


class FailingUDF(UDF):
    """Raises on the frame with flat index ``fail_at``."""

    def __init__(self, fail_at=7):
        super().__init__(fail_at=fail_at)

    def get_result_buffers(self):
        return {"x": self.buffer(kind="nav", dtype="float32")}

    def process_frame(self, frame):
        # per frame, meta.slice starts at the frame's flat index (no ROI here)
        if self.meta.slice.origin[0] == self.params.fail_at:
            raise FrameFailure(f"frame {self.params.fail_at} is cursed")
        self.results.x[:] = frame.sum()


class DeviceClassUDF(UDF):
    """Records ``meta.device_class`` per frame: 1 for 'cuda', 0 for 'cpu'."""

    BACKENDS = ("numpy",)

    def get_result_buffers(self):
        return {"dev": self.buffer(kind="nav", dtype="int8")}

    def process_frame(self, frame):
        self.results.dev[:] = 1 if self.meta.device_class == "cuda" else 0

    def get_backends(self):
        return self.BACKENDS


class CudaOnlyUDF(DeviceClassUDF):
    """Only runs on CUDA workers (plain 'cuda' backend: numpy arrays on a CUDA worker)."""

    BACKENDS = ("cuda",)


# -- oracles ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def data():
    return make_data(11, NAV + SIG, DTYPE)


def _frames(data):
    return data.reshape((-1,) + SIG).astype(np.float64)


def _nav_expected(values, roi):
    values = values.reshape(NAV)
    return values if roi is None else np.where(roi, values, np.nan)


def check_native(res, data, roi=None):
    frames = _frames(data)
    sel = frames if roi is None else frames[roi.reshape(-1)]
    assert_close(res[0]["intensity"].data, sel.sum(axis=0).astype(np.float32))
    expected = _nav_expected(frames.sum(axis=(1, 2)), roi)
    assert_close(res[1]["intensity"].data, expected.astype(np.float32))


def check_frame_stats(res, data, roi=None):
    frames = _frames(data)
    sel = frames if roi is None else frames[roi.reshape(-1)]
    assert_close(res["nav_sum"].data, _nav_expected(frames.sum(axis=(1, 2)), roi))
    assert_close(res["nav_max"].data, _nav_expected(frames.max(axis=(1, 2)), roi))
    assert_close(res["sig_sum"].data, sel.sum(axis=0))


def check_all(ctx, ds, data, roi=None):
    check_native(ctx.run_udf(ds, [SumUDF(), SumSigUDF()], roi=roi), data, roi)
    check_frame_stats(ctx.run_udf(ds, FrameStatsUDF(), roi=roi), data, roi)
    # native and Python UDFs in one pass
    res = ctx.run_udf(ds, [SumUDF(), SumSigUDF(), FrameStatsUDF()], roi=roi)
    check_native(res[:2], data, roi)
    check_frame_stats(res[2], data, roi)


# -- an external cluster: dask scheduler + 2 dask workers (CLI), connect() ---------------------
@pytest.fixture(scope="module")
def ext_cluster(tmp_path_factory):
    with external_cluster(tmp_path_factory.mktemp("ext-cluster")) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def ext_ctx(ext_cluster):
    executor = DaskJobExecutor.connect(ext_cluster.address)
    ctx = Context(executor=executor)
    yield ctx
    ctx.close()


def _load(ctx, kind, data, tmp_path):
    if kind == "memory":
        return ctx.load("memory", data=data, sig_dims=2, num_partitions=4)
    if kind == "raw":
        path = tmp_path / "data.raw"
        data.tofile(path)
        return ctx.load(
            "raw", path=str(path), nav_shape=NAV, sig_shape=SIG, dtype=DTYPE, num_partitions=3
        )
    assert kind == "dask"
    arr = da.from_array(data, chunks=(2, 5) + SIG)
    return ctx.load("dask", arr, sig_dims=2, min_size=0)  # three partitions of two rows


@pytest.mark.timeout(60)
@pytest.mark.parametrize("with_roi", [False, True], ids=["all", "roi"])
@pytest.mark.parametrize("kind", ["memory", "raw", "dask"])
def test_connect_results_match_numpy(ext_ctx, data, tmp_path, kind, with_roi):
    roi = None
    if with_roi:
        roi = np.random.default_rng(3).random(NAV) < 0.4
        roi[0, 0] = True
    ds = _load(ext_ctx, kind, data, tmp_path)
    check_all(ext_ctx, ds, data, roi)


@pytest.mark.timeout(60)
def test_connect_runs_on_the_workers(ext_ctx, ext_cluster, data):
    assert isinstance(ext_ctx.executor, DaskJobExecutor)
    assert ext_ctx.executor.lt_resources is True
    assert ext_ctx.executor.effective_worker_count() == 2
    ds = ext_ctx.load("memory", data=data, sig_dims=2, num_partitions=6)
    res = ext_ctx.run_udf(ds, PartitionPidUDF())
    assert_close(res["s"].data, _frames(data).sum(axis=(1, 2)).reshape(NAV))
    pids = set(np.unique(res["pid"].data).tolist())
    worker_side = set(worker_pids(ext_ctx.executor.client).values())
    assert pids <= worker_side
    assert os.getpid() not in pids


@pytest.mark.timeout(60)
def test_udf_exception_keeps_type_and_message(ext_ctx, data):
    ds = ext_ctx.load("memory", data=data, sig_dims=2, num_partitions=4)
    with pytest.raises(FrameFailure, match="frame 7 is cursed"):
        ext_ctx.run_udf(ds, FailingUDF(fail_at=7))
    # the executor is still usable, and the failed run left no tasks behind
    check_frame_stats(ext_ctx.run_udf(ds, FrameStatsUDF()), data)
    assert wait_until(lambda: not scheduler_task_keys(ext_ctx.executor.client), timeout=10)


@pytest.mark.timeout(60)
def test_close_leaves_external_cluster_running(ext_cluster, data):
    ex = DaskJobExecutor.connect(ext_cluster.address)
    with Context(executor=ex) as ctx:
        ds = ctx.load("memory", data=data, sig_dims=2, num_partitions=2)
        check_native(ctx.run_udf(ds, [SumUDF(), SumSigUDF()]), data)
    assert ex.client.status == "closed"
    assert all(p.poll() is None for p in ext_cluster.procs())
    assert port_accepts(ext_cluster.address)
    # a second connect still finds both workers
    with DaskJobExecutor.connect(ext_cluster.address) as ex2:
        assert len(ex2.get_available_workers()) == 2
        ctx2 = Context(executor=ex2)
        ds = ctx2.load("memory", data=data, sig_dims=2, num_partitions=2)
        check_frame_stats(ctx2.run_udf(ds, FrameStatsUDF()), data)


@pytest.mark.timeout(60)
def test_connect_set_as_default_is_used_by_dask_integration(ext_cluster, data):
    ex = DaskJobExecutor.connect(ext_cluster.address, client_kwargs={"set_as_default": True})
    try:
        assert distributed.default_client() is ex.client
        ctx = Context.make_with("dask-integration")
        assert isinstance(ctx.executor, DaskJobExecutor)
        assert ctx.executor.client is ex.client
        assert ctx.executor.lt_resources is True
        ds = ctx.load("memory", data=data, sig_dims=2, num_partitions=3)
        check_native(ctx.run_udf(ds, [SumUDF(), SumSigUDF()]), data)
        ctx.close()
        assert ex.client.status == "running"  # the integration context does not own it
    finally:
        ex.close()
    assert ex.client.status == "closed"
    with pytest.raises(ValueError):
        distributed.default_client()
    assert dask.config.get("scheduler", None) is None


@pytest.mark.timeout(60)
def test_progress_bar_on_dask_executor(ext_ctx, data, capsys):
    ds = ext_ctx.load("memory", data=data, sig_dims=2, num_partitions=4)
    check_frame_stats(ext_ctx.run_udf(ds, FrameStatsUDF(), progress=True), data)
    check_native(ext_ctx.run_udf(ds, [SumUDF(), SumSigUDF()], progress=True), data)


# -- make_local / make_with ---------------------------------------------------------------------
def _workers(client):
    return client.scheduler_info(n_workers=-1)["workers"]


@pytest.mark.timeout(90)
def test_make_with_dask_binds_to_loopback(data):
    with Context.make_with("dask", cpus=2) as ctx:
        ex = ctx.executor
        assert isinstance(ex, DaskJobExecutor)
        assert ex.is_local and ex.lt_resources
        client = ex.client
        info = client.scheduler_info(n_workers=-1)
        assert info["address"].startswith("tcp://127.0.0.1:")
        assert "127.0.0.1" in client.dashboard_link
        workers = info["workers"]
        assert workers and all(a.startswith("tcp://127.0.0.1:") for a in workers)
        assert all(w["host"] == "127.0.0.1" for w in workers.values())
        by_name = {w["name"]: w["resources"] for w in workers.values()}
        assert by_name == {
            "default-cpu-0": {"CPU": 1, "compute": 1, "ndarray": 1},
            "default-cpu-1": {"CPU": 1, "compute": 1, "ndarray": 1},
            "default-service-0": {},
        }
        assert all(w["nthreads"] == 1 for w in workers.values())
        assert ex.effective_worker_count() == 2
        # not the default client: make_with('dask') leaves the global scheduler alone
        assert dask.config.get("scheduler", None) is None
        ds = ctx.load("memory", data=data, sig_dims=2, num_partitions=4)
        check_native(ctx.run_udf(ds, [SumUDF(), SumSigUDF()]), data)
        res = ctx.run_udf(ds, PartitionPidUDF())
        assert_close(res["s"].data, _frames(data).sum(axis=(1, 2)).reshape(NAV))
        # tasks ran on the compute workers, never on the service worker
        pids = worker_pids(client)
        names = {a: w["name"] for a, w in workers.items()}
        compute_pids = {pid for a, pid in pids.items() if "cpu" in names[a]}
        assert set(np.unique(res["pid"].data).tolist()) <= compute_pids
        cluster = ex._cluster
        address = info["address"]
    assert client.status == "closed"
    assert cluster.status == distributed.core.Status.closed
    assert wait_until(lambda: not port_accepts(address), timeout=10)


@pytest.mark.timeout(90)
def test_make_with_dask_make_default_owns_and_removes_default(data):
    ctx = Context.make_with("dask-make-default", cpus=1)
    try:
        client = ctx.executor.client
        cluster = ctx.executor._cluster
        address = client.scheduler.address
        assert distributed.default_client() is client
        assert dask.config.get("scheduler") == "dask.distributed"
        # plain dask work goes to this cluster
        assert int(da.ones(10, chunks=5).sum().compute()) == 10
        names = {w["name"] for w in _workers(client).values()}
        assert names == {"default-cpu-0", "default-service-0"}
        ds = ctx.load("memory", data=data, sig_dims=2, num_partitions=2)
        check_frame_stats(ctx.run_udf(ds, FrameStatsUDF()), data)
    finally:
        ctx.close()
    assert client.status == "closed"
    with pytest.raises(ValueError):
        distributed.default_client()
    assert dask.config.get("scheduler", None) is None
    assert cluster.status == distributed.core.Status.closed
    assert wait_until(lambda: not port_accepts(address), timeout=10)


@pytest.mark.parametrize(
    "spec, kwargs",
    [
        ("inline", {"cpus": 2}),
        ("inline", {"gpus": 1}),
        ("synchronous", {"cpus": 1}),
        ("threads", {"gpus": 1}),
        ("delayed", {"cpus": 1}),
        ("delayed", {"gpus": 1}),
        ("dask-integration", {"cpus": 1}),
        ("dask-integration", {"gpus": 1}),
        ("no-such-executor", {}),
        (42, {}),
        ("dask", {"gpus": 1}),
        ("dask", {"gpus": [0]}),
        ("dask-make-default", {"gpus": 1}),
        ("dask", {"cpus": True}),
        ("dask", {"cpus": -1}),
        ("dask", {"cpus": "ab"}),
    ],
)
def test_make_with_spec_validation(spec, kwargs):
    with pytest.raises(ExecutorSpecException):
        Context.make_with(spec, **kwargs)
    # nothing was started: no default client appeared
    with pytest.raises(ValueError):
        distributed.default_client()


@pytest.mark.timeout(30)
def test_make_local_rejects_spec_and_preload():
    with pytest.raises(ValueError, match="preload"):
        DaskJobExecutor.make_local(spec=cluster_spec(cpus=1, cudas=[], has_cupy=False), preload=[])


def test_cluster_spec_names_and_resources():
    spec = cluster_spec(cpus=[0, 3], cudas=[0, 0, 1], has_cupy=True, name="x", num_service=2)
    res = {k: v["options"]["resources"] for k, v in spec.items()}
    assert res == {
        "x-cpu-0": {"CPU": 1, "compute": 1, "ndarray": 1},
        "x-cpu-3": {"CPU": 1, "compute": 1, "ndarray": 1},
        "x-service-0": {},
        "x-service-1": {},
        "x-cuda-0": {"CUDA": 1, "compute": 1, "ndarray": 1},
        "x-cuda-0-1": {"CUDA": 1, "compute": 1, "ndarray": 1},
        "x-cuda-1": {"CUDA": 1, "compute": 1, "ndarray": 1},
    }
    for name, w in spec.items():
        opts = w["options"]
        assert w["cls"] is distributed.Nanny
        assert opts["host"] == "127.0.0.1" and opts["nthreads"] == 1
        assert opts["env"]["FERROTEM_DEVICE_CLASS"] == ("cuda" if "cuda" in name else "cpu")
    assert spec["x-cuda-1"]["options"]["env"]["CUDA_VISIBLE_DEVICES"] == "1"
    no_cupy = cluster_spec(cpus=0, cudas=1, has_cupy=False, num_service=0)
    assert {k: v["options"]["resources"] for k, v in no_cupy.items()} == {
        "default-cuda-0": {"CUDA": 1, "compute": 1}
    }


# -- a plain LocalCluster: no LiberTEM resources ------------------------------------------------
@pytest.fixture(scope="module")
def plain_client():
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        host="127.0.0.1",
        # not None: the scheduler's HTTP server would then take port 8787 (on 127.0.0.1)
        dashboard_address="127.0.0.1:0",
    )
    client = distributed.Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()


@pytest.mark.timeout(60)
def test_plain_cluster_runs_cpu_udfs(plain_client, data):
    ex = DaskJobExecutor(plain_client)
    assert ex.lt_resources is False
    ctx = Context(executor=ex)
    roi = np.random.default_rng(5).random(NAV) < 0.5
    for r in (None, roi):
        ds = ctx.load("memory", data=data, sig_dims=2, num_partitions=4)
        check_native(ctx.run_udf(ds, [SumUDF(), SumSigUDF()], roi=r), data, r)
        check_frame_stats(ctx.run_udf(ds, FrameStatsUDF(), roi=r), data, r)
    ctx.close()
    ex.close()
    # the client was passed in: neither executor.close() nor Context.close() closes it
    assert plain_client.status == "running"
    assert plain_client.submit(lambda x: x + 1, 1).result(timeout=30) == 2


@pytest.mark.timeout(60)
def test_plain_cluster_rejects_cuda_only_udfs(plain_client, data):
    ctx = Context(executor=DaskJobExecutor(plain_client))
    ds = ctx.load("memory", data=data, sig_dims=2, num_partitions=2)
    with pytest.raises(ResourceError):
        ctx.run_udf(ds, CudaOnlyUDF())
    # nothing was submitted, and CPU UDFs still run
    assert not scheduler_task_keys(plain_client)
    check_frame_stats(ctx.run_udf(ds, FrameStatsUDF()), data)
    ctx.close()
    assert plain_client.status == "running"


# -- CUDA routing on CUDA-tagged CPU workers ----------------------------------------------------
@pytest.mark.timeout(90)
def test_cuda_tagged_workers_route_by_backend(data):
    spec = cluster_spec(cpus=[0], cudas=[0], has_cupy=False, num_service=0)
    with Context(executor=DaskJobExecutor.make_local(spec=spec)) as ctx:
        ex = ctx.executor
        assert ex.get_available_workers().has_cuda()
        names = {w["name"] for w in _workers(ex.client).values()}
        assert names == {"default-cpu-0", "default-cuda-0"}
        roi = np.ones(NAV, dtype=bool)
        roi[1, 2] = False
        ds = ctx.load("memory", data=data, sig_dims=2, num_partitions=4)
        for r in (None, roi):
            cuda = ctx.run_udf(ds, CudaOnlyUDF(), roi=r)["dev"]
            assert (cuda.raw_data == 1).all() and cuda.raw_data.size == (
                r.sum() if r is not None else np.prod(NAV)
            )
            cpu = ctx.run_udf(ds, DeviceClassUDF(), roi=r)["dev"]
            assert (cpu.raw_data == 0).all()
        # numpy-only Python UDF and the native ones are still correct here
        check_frame_stats(ctx.run_udf(ds, FrameStatsUDF()), data)
        check_native(ctx.run_udf(ds, [SumUDF(), SumSigUDF()]), data)


# -- faults (last in the module: the kill test restarts a worker of the shared cluster) ------
FAULT_NAV = (8, 4)
FAULT_DELAY = 0.5  # seconds per tile; a process_frame UDF gets one tile per partition here


def _slow_dataset(ctx, data, n=8):
    """``n`` partitions that take ``FAULT_DELAY`` s each: ~2 s of work for two workers."""
    return ctx.load("memory", data=data, sig_dims=2, num_partitions=n, tiledelay=FAULT_DELAY)


@pytest.fixture
def fault_data():
    return make_data(17, FAULT_NAV + SIG, DTYPE)


def _fault_check(res, data):
    frames = data.reshape((-1,) + SIG).astype(np.float64)
    assert_close(res["nav_sum"].data, frames.sum(axis=(1, 2)).reshape(FAULT_NAV))
    assert_close(res["sig_sum"].data, frames.sum(axis=0))


def _when_running(client, action, delay=0.3):
    """A started thread that calls ``action`` ``delay`` s after the first partition task
    reached the scheduler, and records whether tasks were still pending at that moment."""
    state = {"mid_run": False}

    def run():
        wait_until(lambda: bool(scheduler_task_keys(client)), timeout=30, interval=0.05)
        time.sleep(delay)
        state["mid_run"] = bool(scheduler_task_keys(client))
        action()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, state


@pytest.mark.timeout(120)
def test_ctrl_c_cancels_the_run_and_executor_stays_usable(ext_ctx, fault_data):
    ex = ext_ctx.executor
    ds = _slow_dataset(ext_ctx, fault_data)
    t0 = time.monotonic()
    thread, state = _when_running(ex.client, _thread.interrupt_main)
    finished = False
    with pytest.raises(KeyboardInterrupt):
        ext_ctx.run_udf(ds, FrameStatsUDF())
        # the run finished before the interrupt arrived: wait for it here, then fail below
        finished = True
        time.sleep(30)
    elapsed = time.monotonic() - t0
    thread.join(timeout=5)
    assert not finished and state["mid_run"]
    assert elapsed < 8 * FAULT_DELAY / 2, elapsed  # returned before the run could have ended
    # the remaining tasks were cancelled: the scheduler forgets them quickly
    assert wait_until(lambda: not scheduler_task_keys(ex.client), timeout=5), scheduler_task_keys(
        ex.client
    )
    # the same executor runs the next job correctly
    _fault_check(ext_ctx.run_udf(ds, FrameStatsUDF()), fault_data)


@pytest.mark.timeout(120)
def test_worker_killed_mid_run_does_not_hang(ext_ctx, fault_data):
    ex = ext_ctx.executor
    ds = _slow_dataset(ext_ctx, fault_data)
    victim = next(iter(worker_pids(ex.client).values()))
    t0 = time.monotonic()
    thread, state = _when_running(ex.client, lambda: os.kill(victim, signal.SIGKILL))
    try:
        res = ext_ctx.run_udf(ds, FrameStatsUDF())
        outcome = "finished"
    except Exception as e:  # a bounded failure would be acceptable; a hang is not
        res, outcome = None, f"raised {type(e).__name__}: {e}"
    elapsed = time.monotonic() - t0
    thread.join(timeout=30)
    assert state["mid_run"]
    assert elapsed < 60, (elapsed, outcome)
    # the shared run data is broadcast, so the surviving worker finishes the run
    assert outcome == "finished", outcome
    _fault_check(res, fault_data)
    # the nanny restarts the worker; the cluster is whole again and the next run is correct
    ex.client.wait_for_workers(2, timeout=30)
    assert victim not in worker_pids(ex.client).values()
    _fault_check(ext_ctx.run_udf(ds, FrameStatsUDF()), fault_data)
