"""Executors: inline and the default threads executor give the numpy answer (and the same
answer as each other), make_with builds what it names, contexts close cleanly, and a run that
fails leaves the executor usable."""

from __future__ import annotations

import concurrent.futures
import threading

import numpy as np
import pytest
from conftest import assert_close, make_data
from ferrotem.api import Context
from ferrotem.executor.base import JobExecutor, physical_cores
from ferrotem.executor.concurrent import ConcurrentJobExecutor
from ferrotem.executor.inline import InlineJobExecutor
from ferrotem.udf.base import UDF
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF

NAV, SIG = (6, 5), (4, 3)


class ThreadRecorderUDF(UDF):
    """Per-frame sum, and the identity of the thread that processed each frame."""

    def get_result_buffers(self):
        return {
            "s": self.buffer(kind="nav", dtype="float64"),
            "tid": self.buffer(kind="nav", dtype="int64"),
        }

    def process_partition(self, partition):
        self.results.s[:] = partition.reshape(len(partition), -1).sum(axis=1)
        self.results.tid[:] = threading.get_ident() % (2**62)


@pytest.fixture(scope="module")
def data():
    return make_data(9, NAV + SIG, "u2")


def _run_all(ctx, data, roi=None):
    ds = ctx.load("memory", data=data, sig_dims=2, num_partitions=5)
    return ctx.run_udf(ds, [SumUDF(), SumSigUDF(), ThreadRecorderUDF()], roi=roi)


def _check(res, data, roi=None):
    frames = data.reshape((-1,) + SIG).astype(np.float64)
    sel = frames if roi is None else frames[roi.reshape(-1)]
    assert_close(res[0]["intensity"].data, sel.sum(axis=0).astype(np.float32))
    sums = frames.sum(axis=(1, 2)).reshape(NAV)
    expected = sums if roi is None else np.where(roi, sums, np.nan)
    assert_close(res[1]["intensity"].data, expected.astype(np.float32))
    assert_close(res[2]["s"].data, expected)


def test_inline_and_threads_agree_with_numpy(contexts, data):
    roi = np.random.default_rng(1).random(NAV) < 0.5
    for name in ("inline", "threads"):
        _check(_run_all(contexts[name], data), data)
        _check(_run_all(contexts[name], data, roi), data, roi)


def test_inline_runs_in_calling_thread(contexts, data):
    res = _run_all(contexts["inline"], data)
    assert (res[2]["tid"].data == threading.get_ident() % (2**62)).all()


def test_threads_executor_runs_elsewhere(contexts, data):
    res = _run_all(contexts["threads"], data)
    assert (res[2]["tid"].data != threading.get_ident() % (2**62)).all()


def test_inline_debug_pickles_tasks(data):
    ctx = Context(executor=InlineJobExecutor(debug=True))
    _check(_run_all(ctx, data), data)
    roi = np.zeros(NAV, bool)
    roi[3, 1] = True
    _check(_run_all(ctx, data, roi), data, roi)


@pytest.mark.parametrize(
    ("spec", "kwargs", "cls", "threads"),
    [
        ("inline", {}, InlineJobExecutor, None),
        ("synchronous", {}, InlineJobExecutor, None),
        ("threads", {}, ConcurrentJobExecutor, physical_cores()),
        ("threads", {"cpus": 3}, ConcurrentJobExecutor, 3),
        ("threads", {"cpus": [0, 4]}, ConcurrentJobExecutor, 2),
        ("THREADS", {"cpus": range(1)}, ConcurrentJobExecutor, 1),
    ],
)
def test_make_with(data, spec, kwargs, cls, threads):
    with Context.make_with(spec, **kwargs) as ctx:
        assert type(ctx.executor) is cls
        if threads is not None:
            assert ctx.executor.n_threads == threads
            assert ctx.executor.effective_worker_count() == threads
        _check(_run_all(ctx, data), data)


def test_default_context_is_threads_executor(data):
    ctx = Context()
    try:
        assert isinstance(ctx.executor, ConcurrentJobExecutor)
        assert ctx.executor.n_threads == physical_cores()
    finally:
        ctx.close()


def test_context_close_and_reuse_of_datasets(data, tmp_path):
    path = tmp_path / "d.npy"
    np.save(path, data)
    with Context() as ctx1:
        ds = ctx1.load("npy", path=path)
        _check(ctx1.run_udf(ds, [SumUDF(), SumSigUDF(), ThreadRecorderUDF()]), data)
    # the dataset outlives its context and runs on another executor
    ctx2 = Context(executor=InlineJobExecutor())
    _check(ctx2.run_udf(ds, [SumUDF(), SumSigUDF(), ThreadRecorderUDF()]), data)
    ctx2.close()


def test_external_thread_pool(data):
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        ex = ConcurrentJobExecutor(client=pool)
        assert ex.n_threads == 2
        ctx = Context(executor=ex)
        _check(_run_all(ctx, data), data)
        ctx.close()
        # a pool the user owns stays usable after the context closed
        assert pool.submit(lambda: 41 + 1).result() == 42


def test_default_partition_count_follows_executor(tmp_path, data):
    path = tmp_path / "d.raw"
    data.tofile(path)
    kwargs = dict(path=path, nav_shape=NAV, sig_shape=SIG, dtype="u2")
    with Context.make_with("threads", cpus=3) as ctx:
        ds = ctx.load("raw", **kwargs)
        assert ds.get_num_partitions() == 3
        _check(ctx.run_udf(ds, [SumUDF(), SumSigUDF(), ThreadRecorderUDF()]), data)
    ds = Context(executor=InlineJobExecutor()).load("raw", **kwargs)
    assert ds.get_num_partitions() == 1


class _Slow(UDF):
    def get_result_buffers(self):
        return {"x": self.buffer(kind="nav", dtype="float64")}

    def process_frame(self, frame):
        if self.meta.coordinates[0, 0] == 0:
            raise ValueError("first row is bad")
        self.results.x[:] = frame.sum()


@pytest.mark.parametrize("executor", ["inline", "threads"])
def test_failed_run_leaves_executor_usable(contexts, data, executor):
    ctx = contexts[executor]
    ds = ctx.load("memory", data=data, sig_dims=2, num_partitions=6)
    for _ in range(3):
        with pytest.raises(ValueError, match=r"^first row is bad$"):
            ctx.run_udf(ds, _Slow())
    _check(_run_all(ctx, data), data)


@pytest.mark.parametrize("executor", ["inline", "threads"])
def test_abandoned_run_udf_iter(contexts, data, executor):
    ctx = contexts[executor]
    ds = ctx.load("memory", data=data, sig_dims=2, num_partitions=6)
    it = ctx.run_udf_iter(ds, [ThreadRecorderUDF()])
    first = next(it)
    assert 0 < first.damage.data.sum() < np.prod(NAV)
    it.close()
    _check(_run_all(ctx, data), data)


def test_concurrent_runs_from_several_threads(contexts, data):
    """Several user threads sharing one threads-executor Context all get the right answer."""
    ctx = contexts["threads"]
    rois = [np.random.default_rng(i).random(NAV) < 0.5 for i in range(4)]
    errors = []

    def work(roi):
        try:
            _check(_run_all(ctx, data, roi), data, roi)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(r,)) for r in rois]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors


def test_executor_interface_helpers(contexts):
    for name in ("inline", "threads"):
        ex = contexts[name].executor
        assert isinstance(ex, JobExecutor)
        assert ex.run_function(lambda a, b=1: a + b, 2, b=5) == 7
        assert ex.map(lambda x: x * x, range(5)) == [0, 1, 4, 9, 16]
        workers = ex.get_available_workers()
        assert len(workers) >= 1 and workers.has_cpu()
        assert ex.ensure_sync() is ex
