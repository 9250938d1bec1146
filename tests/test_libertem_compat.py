"""LiberTEM-style code that has to run unchanged: datasets built directly (without ``ctx.load``),
aux data under a ROI in every phase of a run, and the helpers LiberTEM code imports from
``common.backend``, ``common.buffers``, ``common.math``, ``common.shape``/``slice``,
``udf.base`` and ``io.dataset``. Results are checked against numpy on the inline, threads and
delayed executors."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from conftest import assert_close, make_data
from ferrotem.api import Context
from ferrotem.common.exceptions import DataSetException, UDFException
from ferrotem.contrib.daskadapter import make_dask_array
from ferrotem.executor.inline import InlineJobExecutor
from ferrotem.io.dataset.memory import MemoryDataSet
from ferrotem.io.dataset.npy import NPYDataSet
from ferrotem.io.dataset.raw import RawFileDataSet
from ferrotem.udf.base import UDF
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF

NAV, SIG = (8, 8), (4, 6)
EXECUTORS = ["inline", "threads", "delayed"]


@pytest.fixture(scope="module")
def contexts():
    ctxs = {name: Context.make_with(name) for name in EXECUTORS}
    yield ctxs
    for c in ctxs.values():
        c.close()


@pytest.fixture(params=EXECUTORS)
def any_ctx(request, contexts):
    return contexts[request.param]


@pytest.fixture
def data():
    return make_data(11, NAV + SIG, "f4")


class FrameSumUDF(UDF):
    """A Python (not native) UDF: the sum of each frame."""

    def get_result_buffers(self):
        return {"total": self.buffer(kind="nav", dtype="float64")}

    def process_frame(self, frame):
        self.results.total[:] = frame.sum()


# -- datasets built directly --------------------------------------------------------------------
def test_memory_dataset_built_directly_runs_everywhere(any_ctx, data):
    """Regression: ``ctx.run_udf`` refused ``MemoryDataSet(...)`` ("dataset is not
    initialized"); LiberTEM's own tests build it exactly like this."""
    ds = MemoryDataSet(data=data, tileshape=(2, 4, 6), num_partitions=2, sig_dims=2)
    assert tuple(ds.shape) == NAV + SIG  # shape is known before any Context saw it
    res_sum, res_frames = any_ctx.run_udf(ds, [SumUDF(), FrameSumUDF()])
    assert_close(res_sum["intensity"].data, data.sum(axis=(0, 1)), "f4")
    assert_close(res_frames["total"].data, data.astype(np.float64).sum(axis=(2, 3)), "f8")


def test_map_and_run_udf_iter_accept_datasets_built_directly(any_ctx, data):
    mapped = any_ctx.map(MemoryDataSet(data=data, num_partitions=2), lambda frame: frame.max())
    assert_close(mapped.data, data.max(axis=(2, 3)), "f4")
    if any_ctx.executor.__class__.__name__ == "DelayedJobExecutor":
        return  # run_udf_iter on the delayed executor is covered by test_delayed.py
    steps = list(any_ctx.run_udf_iter(MemoryDataSet(data=data, num_partitions=3), SumSigUDF()))
    assert_close(steps[-1].buffers[0]["intensity"].data, data.sum(axis=(2, 3)), "f4")


class CountingRaw(RawFileDataSet):
    """Counts ``initialize`` calls (the Context must initialise a direct dataset once)."""

    calls = 0

    def initialize(self, executor):
        type(self).calls += 1
        return super().initialize(executor)


def test_file_datasets_built_directly_are_initialised_once(any_ctx, data, tmp_path):
    raw = tmp_path / "d.raw"
    data.tofile(raw)
    npy = tmp_path / "d.npy"
    np.save(npy, data)
    CountingRaw.calls = 0
    ds = CountingRaw(path=str(raw), dtype="float32", nav_shape=NAV, sig_shape=SIG)
    with pytest.raises(DataSetException, match="not initialized"):
        ds.shape  # noqa: B018 (as in LiberTEM, a file's shape is read by initialize)
    for _ in range(2):
        res = any_ctx.run_udf(ds, SumSigUDF())
        assert_close(res["intensity"].data, data.sum(axis=(2, 3)), "f4")
    assert CountingRaw.calls == 1
    res = any_ctx.run_udf(NPYDataSet(path=str(npy)), SumUDF(), roi=np.eye(8, dtype=bool))
    assert_close(res["intensity"].data, data[np.eye(8, dtype=bool)].sum(axis=0), "f4")


def test_concurrent_runs_initialise_a_direct_dataset_once(contexts, data, tmp_path):
    raw = tmp_path / "d.raw"
    data.tofile(raw)
    CountingRaw.calls = 0
    ds = CountingRaw(path=str(raw), dtype="float32", nav_shape=NAV, sig_shape=SIG)
    results: list = []

    def run() -> None:
        results.append(contexts["threads"].run_udf(ds, SumUDF())["intensity"].data)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert CountingRaw.calls == 1
    assert len(results) == 4
    for r in results:
        assert_close(r, data.sum(axis=(0, 1)), "f4")


def test_make_dask_array_of_a_direct_dataset(data, tmp_path):
    raw = tmp_path / "d.raw"
    data.tofile(raw)
    ds = RawFileDataSet(path=str(raw), dtype="float32", nav_shape=NAV, sig_shape=SIG)
    arr, _ = make_dask_array(ds)
    np.testing.assert_array_equal(arr.compute(scheduler="sync"), data)


def test_a_dataset_built_directly_with_a_missing_file_raises_at_the_run(any_ctx, tmp_path):
    ds = RawFileDataSet(
        path=str(tmp_path / "absent.raw"), dtype="float32", nav_shape=NAV, sig_shape=SIG
    )
    with pytest.raises(FileNotFoundError, match=r"absent\.raw"):
        any_ctx.run_udf(ds, SumUDF())


# -- aux data under a ROI ------------------------------------------------------------------------
class AuxEverywhereUDF(UDF):
    """Writes its aux data into nav buffers in every phase, so that a wrongly sized view fails
    to broadcast; ``process_*`` adds the frame sums, ``get_results`` checks the whole array."""

    def __init__(self, aux, method="frame", n_total=None):
        super().__init__(aux=aux, method=method, n_total=n_total)

    def get_result_buffers(self):
        extra = self.params.aux.shape[1:]
        return {
            "pre": self.buffer(kind="nav", extra_shape=extra, dtype="float32"),
            "out": self.buffer(kind="nav", extra_shape=extra, dtype="float32"),
        }

    def get_method(self):
        return {"tile": UDF.UDF_METHOD.TILE, "frame": UDF.UDF_METHOD.FRAME}.get(
            self.params.method, UDF.UDF_METHOD.PARTITION
        )

    def get_task_data(self):
        # on a worker: the partition's selected frames
        assert self.params.aux.shape[0] == self.meta.partition_shape[0]
        return {}

    def preprocess(self):
        self.results.pre[:] = self.params.aux  # main node: the selected frames of the dataset

    def _add(self, data):
        sums = data.reshape(data.shape[0], -1).sum(axis=1)
        aux = self.params.aux
        self.results.out[:] = aux + sums.reshape((-1,) + (1,) * (aux.ndim - 1))

    def process_tile(self, tile):
        self._add(tile)

    def process_partition(self, partition):
        self._add(partition)

    def process_frame(self, frame):
        aux = self.params.aux
        self.results.out[:] = aux + frame.sum()

    def merge(self, dest, src):
        dest.pre[:] = src.pre
        dest.out[:] = src.out

    def get_results(self):
        # outside any view, aux data reads as the whole flat array, as in LiberTEM
        assert self.params.aux.shape[0] == self.params.n_total
        return {"pre": self.results.pre, "out": self.results.out}


@pytest.mark.parametrize("method", ["frame", "tile", "partition"])
@pytest.mark.parametrize("extra", [(), (2,)])
@pytest.mark.parametrize("use_roi", [False, True])
def test_aux_data_is_roi_compressed_in_every_phase(any_ctx, data, method, extra, use_roi):
    """Regression: in ``preprocess`` on the main node, ``self.params.<aux>`` had all 64 entries
    where the ROI selects fewer, so writing it to a nav buffer failed to broadcast."""
    n = int(np.prod(NAV))
    aux = np.arange(n * int(np.prod(extra)), dtype=np.float32).reshape((n,) + extra)
    roi = np.random.default_rng(5).random(NAV) < 0.4 if use_roi else None
    ds = any_ctx.load("memory", data=data, num_partitions=3)
    udf = AuxEverywhereUDF(
        aux=UDF.aux_data(aux, kind="nav", extra_shape=extra or (1,), dtype="float32"),
        method=method,
        n_total=n,
    )
    res = any_ctx.run_udf(ds, udf, roi=roi)
    sel = np.ones(n, dtype=bool) if roi is None else roi.reshape(-1)
    sums = data.reshape(n, -1).astype(np.float64).sum(axis=1)[sel]
    expect_out = aux[sel] + sums.reshape((-1,) + (1,) * len(extra))
    assert_close(res["pre"].raw_data, aux[sel], "f4")
    assert_close(res["out"].raw_data, expect_out.astype(np.float32), "f4")


def test_aux_data_of_the_wrong_length_is_named(any_ctx, data):
    ds = any_ctx.load("memory", data=data, num_partitions=2)
    aux = UDF.aux_data(np.zeros(10, dtype=np.float32), kind="nav", dtype="float32")
    with pytest.raises(ValueError, match=r"aux: aux data has 10 entries, expected .* \(64\)"):
        any_ctx.run_udf(ds, AuxEverywhereUDF(aux=aux, n_total=10))


# -- runners importable from udf.base ------------------------------------------------------------
def test_udf_runner_and_part_runner_from_udf_base(data):
    from ferrotem.udf.base import UDFPartRunner, UDFRunner

    ds = MemoryDataSet(data=data, num_partitions=3)
    (res,) = UDFRunner([SumUDF()]).run_for_dataset(ds, InlineJobExecutor())
    assert_close(res["intensity"].data, data.sum(axis=(0, 1)), "f4")

    roi = np.zeros(NAV, dtype=bool)
    roi[2:5, 1:7] = True
    flat = data.reshape((-1,) + SIG)
    for p in ds.get_partitions():
        (part,) = UDFPartRunner([FrameSumUDF()]).run_for_partition(p, roi=roi)
        sel = roi.reshape(-1)[p.start : p.stop]
        expect = flat[p.start : p.stop][sel].astype(np.float64).sum(axis=(1, 2))
        assert_close(part.total, expect, "f8")
    with pytest.raises(TypeError, match="partition"):
        UDFPartRunner([SumUDF()]).run_for_partition(ds)


def test_run_sumsig(inline_ctx, data):
    from ferrotem.udf.sumsigudf import run_sumsig

    res = run_sumsig(inline_ctx, MemoryDataSet(data=data, num_partitions=2))
    assert_close(res["intensity"].data, data.sum(axis=(2, 3)), "f4")


# -- common.backend ------------------------------------------------------------------------------
@pytest.fixture
def clean_device_env():
    """The device variables unset for the test and restored after it (``set_use_*`` write
    ``os.environ`` directly, which monkeypatch does not track)."""
    import os

    names = ("FERROTEM_USE_CUDA", "FERROTEM_USE_CPU", "FERROTEM_DEVICE_CLASS")
    saved = {n: os.environ.pop(n, None) for n in names}

    class Env:
        setenv = staticmethod(os.environ.__setitem__)
        delenv = staticmethod(os.environ.__delitem__)

    yield Env
    for n, value in saved.items():
        os.environ.pop(n, None)
        if value is not None:
            os.environ[n] = value


def test_device_choice(clean_device_env):
    from ferrotem.common import backend as B

    assert (B.get_use_cpu(), B.get_use_cuda(), B.get_device_class()) == (0, None, "cpu")
    B.set_use_cuda(1)
    assert (B.get_use_cpu(), B.get_use_cuda(), B.get_device_class()) == (None, 1, "cuda")
    B.set_use_cpu(3)
    assert (B.get_use_cpu(), B.get_use_cuda(), B.get_device_class()) == (3, None, "cpu")
    clean_device_env.setenv("FERROTEM_USE_CUDA", "0")
    with pytest.raises(RuntimeError, match="both"):
        B.get_use_cuda()
    clean_device_env.delenv("FERROTEM_USE_CPU")
    clean_device_env.delenv("FERROTEM_USE_CUDA")
    clean_device_env.setenv("FERROTEM_DEVICE_CLASS", "cuda")  # a CUDA worker of cluster_spec
    assert (B.get_use_cuda(), B.get_device_class()) == (0, "cuda")
    for bad in (-1, "0", True, 1.0):
        with pytest.raises(ValueError, match="cuda_device"):
            B.set_use_cuda(bad)
    clean_device_env.setenv("FERROTEM_USE_CUDA", "gpu0")
    with pytest.raises(ValueError, match="FERROTEM_USE_CUDA: got 'gpu0'"):
        B.get_use_cuda()


def test_set_use_cuda_makes_tasks_choose_the_cuda_device_class(clean_device_env):
    from ferrotem.common.backend import set_use_cuda
    from ferrotem.udf.task import resolve_worker_backend

    class CudaCapable(FrameSumUDF):
        def get_backends(self):
            return ("numpy", "cuda")

    assert resolve_worker_backend([CudaCapable()], None, "cpu", "numpy") == ("cpu", "numpy")
    set_use_cuda(0)
    assert resolve_worker_backend([CudaCapable()], None, "cpu", "numpy") == ("cuda", "cuda")
    assert resolve_worker_backend([FrameSumUDF()], None, "cpu", "numpy") == ("cuda", "numpy")


def test_set_file_limit_raises_the_soft_limit_to_the_hard_one():
    resource = pytest.importorskip("resource")
    from ferrotem.common.backend import set_file_limit

    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        set_file_limit()
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        assert soft == hard == before[1]
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, before)


# -- common.buffers ------------------------------------------------------------------------------
class MaskedUDF(FrameSumUDF):
    def __init__(self, mask):
        super().__init__(mask=mask)

    def get_results(self):
        return {"total": self.with_mask(self.results.total, self.params.mask)}


def test_invalid_mask_error(inline_ctx, data):
    from ferrotem.common.buffers import InvalidMaskError

    ds = inline_ctx.load("memory", data=data, num_partitions=2)
    for mask, match in ((np.ones(3, dtype=bool), "broadcast"), (np.ones(64), "bool")):
        with pytest.raises(InvalidMaskError, match=match) as info:
            inline_ctx.run_udf(ds, MaskedUDF(mask=mask))
        assert isinstance(info.value, UDFException)
        assert isinstance(info.value, ValueError)
    ok = inline_ctx.run_udf(ds, MaskedUDF(mask=np.arange(64) % 2 == 0))
    assert_close(ok["total"].valid_mask, (np.arange(64) % 2 == 0).reshape(NAV))


def test_buffer_helpers():
    from ferrotem.common.buffers import (
        bytes_aligned,
        disjoint,
        empty_aligned,
        reshaped_view,
        to_numpy,
        zeros_aligned,
    )
    from ferrotem.common.shape import Shape
    from ferrotem.common.slice import Slice

    for arr in (empty_aligned((3, 5), "u2"), zeros_aligned(7, "f8"), zeros_aligned((2, 2), object)):
        if arr.dtype != object:
            assert arr.ctypes.data % 4096 == 0
    assert zeros_aligned((3, 5), "u2").shape == (3, 5)
    assert not zeros_aligned((3, 5), "f4").any()
    assert len(bytes_aligned(100)) == 100
    a = np.arange(12)
    v = reshaped_view(a, (3, 4))
    v[0, 0] = 99
    assert a[0] == 99
    with pytest.raises(AttributeError):
        reshaped_view(a.reshape(3, 4).T, (12,))  # needs a copy
    assert to_numpy(a) is a
    with pytest.raises(TypeError, match="to_numpy"):
        to_numpy([1, 2])
    box = Slice((0, 0), Shape((2, 2), 2))
    assert disjoint(box, [Slice((2, 0), Shape((2, 2), 2)), Slice((0, 2), Shape((1, 1), 2))])
    assert not disjoint(box, [Slice((1, 1), Shape((2, 2), 2))])


# -- common.math, shape, slice -------------------------------------------------------------------
def test_math_helpers():
    from ferrotem.common.math import count_nonzero, flat_nonzero, make_2D_square, ndenumerate, prod

    assert prod([2**40, np.int64(2**30), True]) == 2**70
    with pytest.raises(ValueError, match="prod"):
        prod([2, 1.5])
    m = np.array([[0, 3], [4, 0]])
    assert count_nonzero(m) == 2
    np.testing.assert_array_equal(flat_nonzero(m), [1, 2])
    assert make_2D_square((16,)) == (4, 4)
    assert make_2D_square((1,)) == (1, 1)
    assert make_2D_square((15,)) == (15,)
    assert make_2D_square((2, 8)) == (2, 8)
    with pytest.raises(ValueError, match="shape"):
        make_2D_square((0,))
    assert list(ndenumerate(m)) == list(np.ndenumerate(m))
    sparse = pytest.importorskip("scipy.sparse")
    entries = list(ndenumerate(sparse.csr_matrix(m)))
    assert [(c, int(v)) for c, v in entries] == [((0, 1), 3), ((1, 0), 4)]


def test_shape_parts_and_slice_usage_errors():
    from ferrotem.common import SliceUsageError
    from ferrotem.common.shape import NavOnlyShape, Shape, SigOnlyShape
    from ferrotem.common.slice import Slice

    s = Shape((2, 3, 4, 5), sig_dims=2)
    assert isinstance(s.nav, NavOnlyShape) and s.nav == (2, 3) and s.nav.sig_dims == 0
    assert isinstance(s.sig, SigOnlyShape) and s.sig == (4, 5) and s.sig.sig_dims == 2
    assert SigOnlyShape((4, 5)) == Shape((4, 5), 2)
    box = Slice((0, 0, 0), Shape((1, 2, 2), 2))
    with pytest.raises(SliceUsageError, match="origin"):
        Slice((0, 0), Shape((1, 2, 2), 2))
    with pytest.raises(SliceUsageError):
        box.shift_by((1, 1))
    with pytest.raises(SliceUsageError):
        box.intersection_with(Slice((0, 0), Shape((2, 2), 2)))
    with pytest.raises(SliceUsageError):
        box.get(sig_only=True, nav_only=True)
    assert issubclass(SliceUsageError, ValueError)


def test_slice_discard_nav_keeps_only_the_signal_box():
    from ferrotem.common.shape import Shape
    from ferrotem.common.slice import Slice

    a = Slice((3, 5, 1, 2), Shape((2, 7, 4, 6), sig_dims=2))
    b = Slice((9, 0, 1, 2), Shape((1, 1, 4, 6), sig_dims=2))
    da, db = a.discard_nav(), b.discard_nav()
    assert da.origin == (0, 0, 1, 2) and tuple(da.shape) == (0, 0, 4, 6)
    assert da.shape.sig_dims == 2
    # same signal box, different frames: one cache key
    assert da == db and hash(da) == hash(db)
    frame = np.arange(10 * 10).reshape(10, 10)
    assert np.array_equal(frame[da.sig.get()], frame[1:5, 2:8])
    assert a.discard_nav() != Slice((0, 0, 1, 3), Shape((0, 0, 4, 6), sig_dims=2))


# -- io.dataset ----------------------------------------------------------------------------------
def test_io_dataset_load_and_registry(data):
    from ferrotem.io import dataset as io_ds

    executor = InlineJobExecutor()
    ds = io_ds.load("memory", executor=executor, data=data, num_partitions=2)
    assert tuple(ds.shape) == NAV + SIG
    ds2 = io_ds.load(MemoryDataSet, executor=executor, data=data)
    assert isinstance(ds2, MemoryDataSet)

    import asyncio

    ds3 = asyncio.run(io_ds.load("memory", executor=executor, data=data, enable_async=True))
    assert tuple(ds3.shape) == NAV + SIG

    with pytest.raises(DataSetException, match="filetype: got 'tiff'") as info:
        io_ds.get_dataset_cls("tiff")
    assert isinstance(info.value, ValueError)
    io_ds.register_dataset_cls("mymem", "ferrotem.io.dataset.memory.MemoryDataSet")
    assert io_ds.get_dataset_cls("MyMem") is MemoryDataSet
    io_ds.unregister_dataset_cls("mymem")
    with pytest.raises(DataSetException, match="not registered"):
        io_ds.unregister_dataset_cls("mymem")


# -- the same on a Dask cluster ------------------------------------------------------------------
@pytest.mark.dist
def test_direct_datasets_and_aux_on_a_dask_cluster(data, tmp_path):
    """Worker processes see the same aux views, and a dataset built directly is initialised on
    the main node and checked on a worker."""
    from ferrotem.executor.dask import DaskJobExecutor, cluster_spec

    raw = tmp_path / "d.raw"
    data.tofile(raw)
    n = int(np.prod(NAV))
    aux = np.arange(2 * n, dtype=np.float32).reshape(n, 2)
    roi = np.random.default_rng(9).random(NAV) < 0.4
    sel = roi.reshape(-1)
    spec = cluster_spec(cpus=[0, 1], cudas=[], has_cupy=False, num_service=0)
    with Context(executor=DaskJobExecutor.make_local(spec=spec)) as ctx:
        ds = RawFileDataSet(path=str(raw), dtype="float32", nav_shape=NAV, sig_shape=SIG)
        res = ctx.run_udf(ds, [SumUDF(), FrameSumUDF()])
        assert_close(res[0]["intensity"].data, data.sum(axis=(0, 1)), "f4")
        assert_close(res[1]["total"].data, data.astype(np.float64).sum(axis=(2, 3)), "f8")
        for method in ("frame", "tile"):
            udf = AuxEverywhereUDF(
                aux=UDF.aux_data(aux, kind="nav", extra_shape=(2,), dtype="float32"),
                method=method,
                n_total=n,
            )
            out = ctx.run_udf(MemoryDataSet(data=data, num_partitions=3), udf, roi=roi)
            sums = data.reshape(n, -1).astype(np.float64).sum(axis=1)[sel]
            assert_close(out["pre"].raw_data, aux[sel], "f4")
            assert_close(out["out"].raw_data, (aux[sel] + sums[:, None]).astype("f4"), "f4")
