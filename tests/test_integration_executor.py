"""``Context.make_with('dask-integration')``: the executor follows the current Dask scheduler.

synchronous → InlineJobExecutor; threads (or nothing configured) → ConcurrentJobExecutor;
processes → DaskSchedulerExecutor (tasks really run in other processes, results correct);
a default ``distributed.Client`` → DaskJobExecutor on that very client, which the Context does
not close.
"""

from __future__ import annotations

import os

import dask
import dask.array as da
import distributed
import numpy as np
import pytest
from conftest import assert_close, make_data
from ferrotem.api import Context
from ferrotem.executor.concurrent import ConcurrentJobExecutor
from ferrotem.executor.dask import DaskJobExecutor
from ferrotem.executor.inline import InlineJobExecutor
from ferrotem.executor.integration import DaskSchedulerExecutor, get_dask_integration_executor
from ferrotem.udf.base import UDF
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF

NAV, SIG = (5, 4), (3, 4)
DTYPE = "i4"


# -- UDFs at module level, so that worker processes unpickle them by reference -----------------
class PidSumUDF(UDF):
    """Per-frame sum, the sum over frames, and the pid of the process that ran each frame."""

    def get_result_buffers(self):
        return {
            "s": self.buffer(kind="nav", dtype="float64"),
            "pid": self.buffer(kind="nav", dtype="int64"),
            "total": self.buffer(kind="sig", dtype="float64"),
        }

    def process_frame(self, frame):
        self.results.s[:] = frame.sum()
        self.results.pid[:] = os.getpid()
        self.results.total[:] += frame

    def merge(self, dest, src):
        dest.s[:] = src.s
        dest.pid[:] = src.pid
        dest.total[:] += src.total


class IntegrationFailure(Exception):
    """Raised in a task; must reach the caller with its type and message."""


class RaisingUDF(UDF):
    def get_result_buffers(self):
        return {"x": self.buffer(kind="nav", dtype="float32")}

    def process_frame(self, frame):
        raise IntegrationFailure("raised in a partition task")


@pytest.fixture(scope="module")
def data():
    return make_data(23, NAV + SIG, DTYPE)


@pytest.fixture(autouse=True)
def _no_default_client():
    """These tests need a clean slate: no default distributed client around them."""
    with pytest.raises(ValueError):
        distributed.default_client()
    yield


def _check(ctx, data, dataset="memory", roi=None):
    if dataset == "memory":
        ds = ctx.load("memory", data=data, sig_dims=2, num_partitions=3)
    else:
        ds = ctx.load("dask", da.from_array(data, chunks=(2, 4) + SIG), sig_dims=2, min_size=0)
    frames = data.reshape((-1,) + SIG).astype(np.float64)
    sel = frames if roi is None else frames[roi.reshape(-1)]
    sums = frames.sum(axis=(1, 2)).reshape(NAV)
    nav = sums if roi is None else np.where(roi, sums, np.nan)

    res = ctx.run_udf(ds, [SumUDF(), SumSigUDF()], roi=roi)
    assert_close(res[0]["intensity"].data, sel.sum(axis=0).astype(np.float32))
    assert_close(res[1]["intensity"].data, nav.astype(np.float32))
    res = ctx.run_udf(ds, PidSumUDF(), roi=roi)
    assert_close(res["s"].data, nav)
    assert_close(res["total"].data, sel.sum(axis=0))
    return set(np.unique(res["pid"].raw_data).tolist())


def test_synchronous_scheduler_gives_inline(data):
    with dask.config.set(scheduler="synchronous"):
        ctx = Context.make_with("dask-integration")
        assert isinstance(ctx.executor, InlineJobExecutor)
        assert _check(ctx, data) == {os.getpid()}
        ctx.close()


@pytest.mark.parametrize("scheduler", ["threads", "threading"])
def test_threaded_scheduler_gives_concurrent(data, scheduler):
    with dask.config.set(scheduler=scheduler):
        ctx = Context.make_with("dask-integration")
        assert isinstance(ctx.executor, ConcurrentJobExecutor)
        assert _check(ctx, data) == {os.getpid()}
        ctx.close()


def test_no_scheduler_configured_gives_concurrent(data):
    assert dask.config.get("scheduler", None) is None
    ex = get_dask_integration_executor()
    assert isinstance(ex, ConcurrentJobExecutor)
    with Context(executor=ex) as ctx:
        assert _check(ctx, data, roi=np.arange(20).reshape(NAV) % 3 == 0) == {os.getpid()}


@pytest.fixture(scope="module")
def processes_ctx():
    """``scheduler='processes'`` with two worker processes (Dask's own process pool)."""
    with dask.config.set(scheduler="processes"):
        ctx = Context.make_with("dask-integration")
    # the executor keeps the scheduler it found; the config is back to normal for other tests
    yield ctx
    ctx.close()


@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    "dataset, with_roi", [("memory", False), ("dask", True)], ids=["memory-all", "dask-roi"]
)
def test_processes_scheduler_runs_in_other_processes(processes_ctx, data, dataset, with_roi):
    assert isinstance(processes_ctx.executor, DaskSchedulerExecutor)
    roi = None
    if with_roi:
        roi = np.random.default_rng(2).random(NAV) < 0.5
        roi[0, 0] = True
    pids = _check(processes_ctx, data, dataset, roi)  # outside the config block: same result
    assert pids and os.getpid() not in pids


@pytest.mark.timeout(90)
def test_processes_scheduler_keeps_exception_type(processes_ctx, data):
    ds = processes_ctx.load("memory", data=data, sig_dims=2, num_partitions=2)
    with pytest.raises(IntegrationFailure, match="raised in a partition task"):
        processes_ctx.run_udf(ds, RaisingUDF())


@pytest.mark.dist
@pytest.mark.timeout(60)
def test_config_overrides_default_client(data):
    """A scheduler set in the config beats the default client, as in Dask itself."""
    with (
        distributed.Client(
            processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None
        ) as client,
        dask.config.set(scheduler="synchronous"),
    ):
        assert distributed.default_client() is client
        ex = get_dask_integration_executor()
        assert isinstance(ex, InlineJobExecutor)


@pytest.mark.dist
@pytest.mark.timeout(90)
def test_default_client_gives_dask_executor_on_that_client(data):
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        resources={"CPU": 1, "compute": 1, "ndarray": 1},
    )
    client = distributed.Client(cluster)  # set_as_default=True
    try:
        assert distributed.default_client() is client
        ctx = Context.make_with("dask-integration")
        ex = ctx.executor
        assert isinstance(ex, DaskJobExecutor)
        assert ex.client is client
        assert ex.lt_resources is True
        pids = _check(ctx, data, roi=np.eye(*NAV, dtype=bool))
        worker_side = set(client.run(os.getpid).values())
        assert pids <= worker_side
        _check(ctx, data, "dask")
        with pytest.raises(IntegrationFailure, match="raised in a partition task"):
            ctx.run_udf(ctx.load("memory", data=data, sig_dims=2), RaisingUDF())
        ctx.close()
        # the Context did not own the client or the cluster
        assert client.status == "running"
        assert client.submit(sum, [1, 2]).result(timeout=30) == 3
        # and a second integration context still finds it
        with Context.make_with("dask-integration") as ctx2:
            assert ctx2.executor.client is client
    finally:
        client.close()
        cluster.close()
    assert dask.config.get("scheduler", None) is None
