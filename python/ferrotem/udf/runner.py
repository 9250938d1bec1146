"""Main-node orchestration of a UDF run: prepare the UDFs, build one task per partition, let the
executor run them, merge partial results as they arrive, and wrap the final results."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ferrotem.common.buffers import BufferWrapper, PreallocBufferWrapper
from ferrotem.common.exceptions import (
    JobCancelledError,
    ResourceError,
    UDFException,
    UDFRunCancelled,
)
from ferrotem.common.math import prod
from ferrotem.common.progress import ProgressManager, make_reporter
from ferrotem.common.roi import normalize_roi
from ferrotem.common.shape import Shape
from ferrotem.corrections import CorrectionSet
from ferrotem.io.dataset.base import Partition
from ferrotem.udf.base import UDF, ArrayWithMask, MergeAttrMapping, UDFData, UDFMeta
from ferrotem.udf.native import NativeDescriptor, native_descriptors, results_to_buffers
from ferrotem.udf.param_update import ParameterControl
from ferrotem.udf.protocols import TaskExecutor
from ferrotem.udf.sparse_tiles import plan_backends
from ferrotem.udf.task import PartitionResult, UDFTask

if TYPE_CHECKING:
    from ferrotem.io.dataset.base import DataSet

UDFResultDict = dict[str, BufferWrapper]

__all__ = ["UDFResultDict", "UDFResults", "UDFRunner", "get_input_dtype"]


def get_input_dtype(
    udfs: Sequence[UDF], dataset_dtype: np.dtype, corrections: CorrectionSet | None = None
) -> np.dtype:
    """The dtype all UDFs of a run receive: numpy promotion of every UDF's preference with the
    dataset dtype (``UDF.USE_NATIVE_DTYPE`` is ``bool``, neutral in promotion). With
    corrections, as in LiberTEM, the dataset dtype is first promoted with float32."""
    prefs = [udf.get_preferred_input_dtype() for udf in udfs]
    base = np.dtype(dataset_dtype)
    if corrections is not None and corrections.have_corrections():
        base = np.result_type(np.float32, base)
    try:
        dtype = np.result_type(*prefs, base)
    except TypeError as e:
        raise TypeError(f"get_preferred_input_dtype: cannot combine {prefs!r} ({e})") from None
    return dtype.newbyteorder("=") if dtype.byteorder not in "=|" else dtype


def active_corrections(corrections: Any, dataset: DataSet) -> CorrectionSet | None:
    """The corrections of a run: ``corrections`` or, if None, the dataset's own
    (``get_correction_data()``); None when there is nothing to correct. Checked against the
    signal shape here, on the main node, so that a bad map fails before any task starts."""
    if corrections is None:
        corrections = dataset.get_correction_data()
    if corrections is None:
        return None
    if not isinstance(corrections, CorrectionSet):
        raise TypeError(
            f"corrections: got {type(corrections).__name__}, expected a "
            "ferrotem.corrections.CorrectionSet or None"
        )
    if not corrections.have_corrections():
        return None
    corrections.prepare(tuple(dataset.shape.sig))
    return corrections


def choose_backend(udfs: Sequence[UDF], user_backends: Any, has_cuda: bool = False) -> str:
    """The array backend of the main node (tasks on CUDA workers choose their own, see
    ``resolve_worker_backend``). Without CUDA workers, CUDA-only UDFs are an error."""
    if user_backends is not None:
        if isinstance(user_backends, str):
            user_backends = (user_backends,)
        user_backends = set(user_backends)
    common = None
    for udf in udfs:
        b = udf.get_backends()
        b = {b} if isinstance(b, str) else set(b)
        if user_backends is not None:
            b &= user_backends
        if not b:
            raise ValueError(
                f"backends: {type(udf).__name__} supports {udf.get_backends()!r}, none of which"
                f" is in backends={sorted(user_backends or [])!r}"
            )
        common = b if common is None else common & b
    if common is None or "numpy" in common:
        return "numpy"
    if common & {"cupy", "cuda"} and has_cuda:
        return "numpy"
    if common & {"cupy", "cuda"}:
        raise ResourceError("these UDFs can only run on a CUDA device, and this executor has none")
    raise ValueError(
        f"backends: no backend common to all UDFs that ferrotem can deliver: {sorted(common)}"
    )


def coalesce_partitions(partitions: list[Partition], target: int) -> list[Partition]:
    """At most ``target`` partitions, each a run of consecutive ones, of nearly equal size.

    Native runs keep only frame-sized partial results per task, so their tasks can be much
    larger than a partition; fewer tasks save per-task costs on a cluster.
    """
    if len(partitions) <= target:
        return partitions
    total = sum(p.stop - p.start for p in partitions)
    groups: list[list[Partition]] = [[] for _ in range(target)]
    done = 0
    for p in partitions:
        groups[min(target - 1, done * target // max(1, total))].append(p)
        done += p.stop - p.start
    return [
        Partition(g[0].dataset, i, g[0].start, g[-1].stop)
        for i, g in enumerate(x for x in groups if x)
    ]


@dataclass
class RunPlan:
    """What the main node decided before running: see :meth:`UDFRunner.prepare`."""

    udfs: list[UDF]
    dataset: DataSet
    shape: Shape
    roi_flat: np.ndarray | None
    input_dtype: np.dtype
    backend: str
    partitions: list[Partition]
    n_total: int
    native: list[NativeDescriptor] | None
    backends: Any = None
    #: the run's corrections, None when there are none (checked against the dataset)
    corrections: CorrectionSet | None = None


class UDFResults:
    """One step of ``run_udf_iter``: ``.buffers`` (one result dict per UDF) and ``.damage``
    (a nav-kind bool buffer, True where frames have been merged)."""

    def __init__(
        self, make_buffers: Callable[[], tuple[UDFResultDict, ...]], damage: BufferWrapper
    ):
        self._make_buffers = make_buffers
        self._buffers: tuple[UDFResultDict, ...] | None = None
        self.damage = damage

    @property
    def buffers(self) -> tuple[UDFResultDict, ...]:
        """One ``{name: BufferWrapper}`` per UDF, computed on first access."""
        if self._buffers is None:
            self._buffers = self._make_buffers()
        return self._buffers


class UDFRunner:
    """Runs a list of UDFs over a dataset on an executor."""

    def __init__(self, udfs: Sequence[UDF], progress_reporter: Any = None):
        self._udfs = list(udfs)

    def run_for_dataset(
        self,
        dataset: DataSet,
        executor: TaskExecutor,
        roi: Any = None,
        progress: Any = False,
        corrections: Any = None,
        backends: Any = None,
    ) -> tuple[UDFResultDict, ...]:
        """Runs to completion; one result dict per UDF."""
        steps = list(
            self.run_for_dataset_sync(
                dataset, executor, roi, progress, corrections, backends, iterate=False
            )
        )
        return steps[-1].buffers

    @classmethod
    def dry_run(cls, udfs: Sequence[UDF], dataset: DataSet, roi: Any = None) -> UDFResults:
        """The results of a run that merged no partition: buffers as ``prepare`` (and the
        UDFs' ``preprocess``) leave them, damage all False. Live plots start from this."""
        runner = UDFRunner(udfs)
        plan = runner.prepare(dataset, _MainNodeOnly(), roi)
        damage = np.zeros(plan.n_total, dtype=bool)
        final = tuple(
            runner._wrap_results(udf, damage, plan.roi_flat, dataset) for udf in plan.udfs
        )
        return UDFResults(lambda: final, _damage_buffer(damage, dataset, plan.roi_flat))

    def run_for_dataset_sync(
        self,
        dataset: DataSet,
        executor: TaskExecutor,
        roi: Any = None,
        progress: Any = False,
        corrections: Any = None,
        backends: Any = None,
        iterate: bool = True,
        control: ParameterControl | None = None,
    ) -> Iterator[UDFResults]:
        """Runs, yielding after every merged partition (``iterate=True``) or only at the end.
        ``control`` receives the run's tasks, for parameter updates while it runs."""
        plan = self.prepare(dataset, executor, roi, corrections, backends)
        target = executor.native_task_target()
        if plan.native is not None and dataset.whole_source and target:
            plan.partitions = coalesce_partitions(plan.partitions, target)
        udfs, shape, roi_flat = plan.udfs, plan.shape, plan.roi_flat
        input_dtype, partitions = plan.input_dtype, plan.partitions
        damage = np.zeros(plan.n_total, dtype=bool)
        n_total = plan.n_total
        native = plan.native
        reporter = make_reporter(progress)
        manager = ProgressManager(reporter, n_total, len(partitions))

        def results() -> tuple[UDFResultDict, ...]:
            return tuple(self._wrap_results(udf, damage, roi_flat, dataset) for udf in udfs)

        try:
            outputs = None
            # with corrections, native UDFs run partition by partition (UDFTask)
            if native is not None and not iterate and plan.corrections is None:
                outputs = executor.run_native(
                    dataset, partitions, roi_flat, input_dtype, native, manager.partition_done
                )
            if outputs is not None:
                sig = tuple(shape.sig)
                for udf, desc, out in zip(udfs, native or [], outputs, strict=True):
                    for name, arr in results_to_buffers(desc, out, sig, n_total).items():
                        udf._buffers[name].replace_array(arr)
                    udf.results = UDFData(udf._buffers)
                damage[:] = True
            else:
                tasks = self.make_tasks(plan, executor)
                if control is not None:
                    control.attach(
                        plan,
                        tasks,
                        executor,
                        lambda us: get_input_dtype(us, dataset.dtype, plan.corrections),
                    )
                merged = 0
                try:
                    for result in executor.run_tasks(tasks):
                        self._merge(udfs, result, damage, plan)
                        merged += 1
                        manager.partition_done(result.n_frames)
                        if iterate:
                            yield UDFResults(results, _damage_buffer(damage, dataset, roi_flat))
                except JobCancelledError as e:
                    raise UDFRunCancelled(f"UDF run cancelled after {merged} partitions") from e
                if iterate and tasks:
                    return
        finally:
            manager.close()
        yield UDFResults(results, _damage_buffer(damage, dataset, roi_flat))

    def prepare(
        self,
        dataset: DataSet,
        executor: TaskExecutor,
        roi: Any = None,
        corrections: Any = None,
        backends: Any = None,
    ) -> RunPlan:
        """Main-node set-up shared by every executor: ROI, input dtype, backend, UDF meta and
        dataset-sized result buffers, ``preprocess``, and the partitions that have work."""
        active = active_corrections(corrections, dataset)
        udfs = self._udfs
        shape = dataset.shape
        nav = tuple(shape.nav)
        roi_flat = normalize_roi(roi, nav)
        roi_nav = None if roi_flat is None else roi_flat.reshape(nav)
        input_dtype = get_input_dtype(udfs, dataset.dtype, active)
        # datasets that store sparse tiles: each UDF gets its own array type (sparse_tiles)
        tile_backends = plan_backends(udfs, dataset, backends)
        backend = (
            choose_backend(udfs, backends, executor.get_available_workers().has_cuda())
            if tile_backends is None
            else "numpy"
        )
        if active is not None and any(b != "numpy" for b in tile_backends or []):
            raise ValueError(
                "corrections: sparse tiles are delivered as stored, without corrections; run "
                "UDFs that take dense tiles (or no corrections) on this dataset"
            )
        for i, udf in enumerate(udfs):
            udf_backend = backend if tile_backends is None else tile_backends[i]
            udf.set_meta(
                UDFMeta(
                    partition_slice=None,
                    dataset_shape=shape,
                    roi=roi_nav,
                    dataset_dtype=dataset.dtype,
                    input_dtype=input_dtype,
                    threads_per_worker=None,
                    array_backend=udf_backend,
                    corrections=active,
                )
            )
            udf.set_backend(udf_backend)
            udf.init_result_buffers()
            udf.get_method()  # raises UDFException early if no process_* method exists
            for buf in udf._buffers.values():
                buf.set_shape_ds(shape, roi_flat)
                buf.allocate()
                executor.modify_buffer_type(buf)
            udf.results = UDFData(udf._buffers)
            # aux parameters read as the selected frames (spec §2.1), checked for length
            udf.params._set_views_for_dataset(prod(nav), roi_flat)
            if hasattr(udf, "preprocess"):
                udf.preprocess()
            udf.params._clear_views()
        n_total = int(np.count_nonzero(roi_flat)) if roi_flat is not None else prod(nav)
        partitions = [
            p
            for p in dataset.get_partitions()
            if roi_flat is None or roi_flat[p.start : p.stop].any()
        ]
        return RunPlan(
            udfs=udfs,
            dataset=dataset,
            shape=shape,
            roi_flat=roi_flat,
            input_dtype=input_dtype,
            backend=backend,
            partitions=partitions,
            n_total=n_total,
            native=native_descriptors(udfs, input_dtype),
            backends=backends,
            corrections=active,
        )

    def make_tasks(self, plan: RunPlan, executor: TaskExecutor) -> list[UDFTask]:
        """One task per partition with work."""
        specs = [(type(u), u._kwargs) for u in plan.udfs]
        return [
            UDFTask(
                p,
                specs,
                plan.roi_flat,
                plan.input_dtype,
                backend=plan.backend,
                threads_per_worker=executor.threads_per_worker,
                native=plan.native,
                user_backends=plan.backends,
                corrections=plan.corrections,
            )
            for p in plan.partitions
        ]

    @staticmethod
    def _merge(
        udfs: Sequence[UDF], result: PartitionResult, damage: np.ndarray, plan: RunPlan
    ) -> None:
        start = result.slice.origin[0]
        n = result.n_frames
        frames = None
        for udf, partial in zip(udfs, result.buffers, strict=True):
            aux = udf.params._aux_names()
            if aux:
                if frames is None:
                    p = next(q for q in plan.partitions if q.index == result.partition_index)
                    frames = np.arange(p.start, p.stop)
                    if plan.roi_flat is not None:
                        frames = frames[plan.roi_flat[p.start : p.stop]]
                # spec §2.1: in merge, aux parameters are the merged partition's view
                views = object.__getattribute__(udf.params, "_views")
                kwargs = object.__getattribute__(udf.params, "_kwargs")
                for name in aux:
                    views[name] = kwargs[name].get_view_for_frames(frames)
            dest = {}
            for name, buf in udf._buffers.items():
                if buf.use == "result_only":
                    continue
                data = buf.raw_data
                dest[name] = data[start : start + n] if buf.kind == "nav" else data
            udf.meta._valid_nav_mask = damage.copy()
            udf.meta.slice = result.slice
            udf.merge(MergeAttrMapping(dest), MergeAttrMapping(partial))
            udf.meta.slice = None
            if aux:
                object.__getattribute__(udf.params, "_views").clear()
        damage[start : start + n] = True

    @staticmethod
    def _wrap_results(
        udf: UDF,
        damage: np.ndarray,
        roi_flat: np.ndarray | None,
        dataset: DataSet,
        make: Callable[..., BufferWrapper] | None = None,
    ) -> UDFResultDict:
        """Calls ``get_results`` on the main node, checks what it returns, and wraps every
        result (with ``make``, default :func:`_result_buffer`)."""
        make = make or _result_buffer
        udf.meta._valid_nav_mask = damage.copy()
        udf.results = UDFData(udf._buffers)
        returned = udf.get_results()
        if not isinstance(returned, dict):
            raise UDFException(
                f"{type(udf).__name__}.get_results() returned {type(returned).__name__}, "
                "expected a dict"
            )
        full_damage = damage
        if roi_flat is not None:
            full_damage = np.zeros(roi_flat.size, dtype=bool)
            full_damage[roi_flat] = damage
        out: UDFResultDict = {}
        for name, value in returned.items():
            if name not in udf._buffers:
                raise UDFException(
                    f"{type(udf).__name__}.get_results() returned {name!r}, which is not declared"
                    " in get_result_buffers() (declare it with use='result_only')"
                )
            decl = udf._buffers[name]
            if decl.use == "private":
                raise UDFException(
                    f"{type(udf).__name__}.get_results() returned the private buffer {name!r}"
                )
            mask = None
            if isinstance(value, ArrayWithMask):
                value, mask = value.arr, value.mask
            arr = value if hasattr(value, "dask") else np.asarray(value)
            if arr.dtype.kind != decl.dtype.kind:
                raise UDFException(
                    f"{type(udf).__name__}.get_results(): {name!r} has dtype {arr.dtype}, but "
                    f"the buffer is declared with dtype {decl.dtype} (kinds must match)"
                )
            out[name] = make(decl, arr, dataset, roi_flat, full_damage, mask)
        for name, decl in udf._buffers.items():
            if name not in out and decl.use is None:
                out[name] = _result_buffer(
                    decl, decl.raw_data, dataset, roi_flat, full_damage, None
                )
        return out


class _NoWorkers:
    def has_cuda(self) -> bool:
        return False

    def concurrency(self) -> int:
        return 1


class _MainNodeOnly:
    """The executor of a dry run: nothing runs, buffers stay plain numpy arrays."""

    threads_per_worker = None

    def run_tasks(self, tasks: Sequence[UDFTask]) -> Iterator[PartitionResult]:
        raise RuntimeError("a dry run runs no tasks")

    def run_native(self, *args: Any) -> list[dict[str, np.ndarray]] | None:
        return None

    def native_task_target(self) -> int | None:
        return None

    def get_available_workers(self) -> _NoWorkers:
        return _NoWorkers()

    def modify_buffer_type(self, buf: Any) -> Any:
        return buf


def _result_buffer(
    decl: BufferWrapper,
    arr: np.ndarray,
    dataset: DataSet,
    roi_flat: np.ndarray | None,
    full_damage: np.ndarray,
    mask: np.ndarray | None,
) -> BufferWrapper:
    if decl.kind == "nav":
        extra = arr.shape[1:]
    elif decl.kind == "sig":
        extra = arr.shape[len(tuple(dataset.shape.sig)) :]
    else:
        extra = arr.shape if arr.shape != (1,) or decl.extra_shape else ()
    wrapper = PreallocBufferWrapper(
        arr, kind=decl.kind, extra_shape=extra, dtype=arr.dtype, where=decl.where, use=decl.use
    )
    wrapper.set_shape_ds(dataset.shape, roi_flat)
    wrapper._valid_mask_flat = full_damage.copy()
    wrapper._custom_mask = mask
    wrapper._nav_order = getattr(dataset, "nav_order", None)
    return wrapper


def _damage_buffer(
    damage: np.ndarray, dataset: DataSet, roi_flat: np.ndarray | None
) -> BufferWrapper:
    full = damage
    if roi_flat is not None:
        full = np.zeros(roi_flat.size, dtype=bool)
        full[roi_flat] = damage
    wrapper = PreallocBufferWrapper(full.copy(), kind="nav", dtype=bool)
    wrapper.set_shape_ds(dataset.shape, None)
    return wrapper
