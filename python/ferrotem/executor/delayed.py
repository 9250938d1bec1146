"""``DelayedJobExecutor``: UDF results as Dask arrays.

``run_udf`` returns at once: every partition becomes one task of a Dask graph (reading the
partition once for all UDFs of the run), and merging becomes part of the graph too:

- ``kind='nav'`` buffers of UDFs with the default merge: one chunk per partition, concatenated
  (nothing is gathered on one node);
- UDFs with ``merge_all``: called once with the partial results as Dask arrays, keyed by
  ``Slice`` in flat navigation order;
- UDFs with only ``merge``: a balanced tree of ``merge`` calls (depth log2 of the partition
  count) merges the partitions into each other, then one last ``merge`` puts the result into the
  buffers the main node allocated and ``preprocess`` initialised, which is where the inline
  executor's merges start (see ``docs/executors.md``, "Same results on every executor").

Nothing runs until ``compute()`` — with whatever Dask scheduler is current then.
"""

from __future__ import annotations

import itertools
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from ferrotem.common.exceptions import UDFException
from ferrotem.common.math import prod
from ferrotem.common.progress import ProgressManager, make_reporter
from ferrotem.common.shape import Shape
from ferrotem.common.slice import Slice
from ferrotem.executor.base import JobExecutor, Worker, WorkerSet, physical_cores
from ferrotem.executor.graph import PROGRESS, shared_node, task_nodes
from ferrotem.executor.live_merge import LiveCallback, LiveMerge
from ferrotem.executor.utils.dask_buffer import ComputeGroup, DaskResultBufferWrapper
from ferrotem.udf.base import UDF, MergeAttrMapping, UDFData, UDFMeta
from ferrotem.udf.protocols import TaskExecutor
from ferrotem.udf.resources import get_resources_from_udfs
from ferrotem.udf.runner import RunPlan, UDFResults, UDFRunner, _damage_buffer

if TYPE_CHECKING:
    from ferrotem.common.buffers import BufferWrapper
    from ferrotem.io.dataset.base import DataSet
    from ferrotem.udf.param_update import ParameterControl
    from ferrotem.udf.task import PartitionResult, UDFTask

__all__ = ["DelayedJobExecutor", "DelayedUDFRunner"]


def _extract(result: PartitionResult, udf_index: int, name: str) -> np.ndarray:
    return result.buffers[udf_index][name]


class _MergeContext:
    """Rebuilds a main-node UDF where a merge step of the graph runs."""

    def __init__(self, udf: UDF, plan: RunPlan):
        self.cls = type(udf)
        self.kwargs = udf._kwargs
        self.shape = plan.shape
        self.roi = udf.meta.roi
        self.roi_flat = plan.roi_flat
        self.dataset_dtype = plan.dataset.dtype
        self.input_dtype = plan.input_dtype
        self.backend = plan.backend
        self.n_total = plan.n_total

    def make_udf(self) -> UDF:
        udf = self.cls(**self.kwargs)
        udf.set_meta(
            UDFMeta(
                partition_slice=None,
                dataset_shape=self.shape,
                roi=self.roi,
                dataset_dtype=self.dataset_dtype,
                input_dtype=self.input_dtype,
                array_backend=self.backend,
            )
        )
        udf.set_backend(self.backend)
        udf.init_result_buffers()
        for buf in udf._buffers.values():
            buf.set_shape_ds(self.shape, self.roi_flat)
        return udf

    def mask(self, start: int, stop: int) -> np.ndarray:
        mask = np.zeros(self.n_total, dtype=bool)
        mask[start:stop] = True
        return mask

    def run_slice(self, start: int, stop: int) -> Slice:
        """The ROI-compressed flat-navigation slice of frames ``start:stop``."""
        sig = tuple(self.shape.sig)
        return Slice((start,) + (0,) * len(sig), Shape((stop - start,) + sig, len(sig)))

    def merge(
        self, udf: UDF, dest: dict[str, np.ndarray], src: State, merged: tuple[int, int]
    ) -> None:
        """``udf.merge(dest, src)`` with the meta a main-node merge of ``src``'s frames sees:
        ``slice`` of those frames, and ``merged`` (start, stop) as the valid navigation mask."""
        start, stop, bufs = src
        udf.meta._valid_nav_mask = self.mask(*merged)
        udf.meta.slice = self.run_slice(start, stop)
        self._point_aux_at(udf, start, stop)
        udf.merge(MergeAttrMapping(dest), MergeAttrMapping(bufs))
        udf.meta.slice = None

    def _point_aux_at(self, udf: UDF, start: int, stop: int) -> None:
        """Aux parameters read as the merged frames' entries (spec §2.1), as in inline merges."""
        names = udf.params._aux_names()
        if not names:
            return
        frames = (
            np.arange(start, stop)
            if self.roi_flat is None
            else np.flatnonzero(self.roi_flat)[start:stop]
        )
        kwargs = object.__getattribute__(udf.params, "_kwargs")
        views = object.__getattribute__(udf.params, "_views")
        for name in names:
            views[name] = kwargs[name].get_view_for_frames(frames)


#: ``(start, stop, buffers)``: the partial results of a run of consecutive partitions, frames
#: ``start:stop`` in ROI-compressed order, *before* they meet the main node's buffers. The
#: ``kind='nav'`` buffers hold the partitions' own rows, side by side; the others hold the
#: partitions' results merged into each other.
State = tuple[int, int, dict[str, np.ndarray]]


def _leaf(result: PartitionResult, udf_index: int) -> State:
    """One partition's results as a merge-tree state."""
    start = result.slice.origin[0]
    return (start, start + result.n_frames, result.buffers[udf_index])


def _merge_pair(ctx: _MergeContext, initial: dict[str, np.ndarray], a: State, b: State) -> State:
    """Merges the run of partitions ``b`` into the preceding run ``a``.

    ``kind='nav'`` rows of different runs never overlap, so they are only put side by side: each
    row meets its main-node initial value once, in :func:`_merge_into_initial`. The nav
    destination that ``merge`` sees here is a scratch copy of those initial rows (as in an
    inline merge) whose result is dropped.
    """
    udf = ctx.make_udf()
    sa, ea, bufs_a = a
    sb, eb, bufs_b = b
    assert ea == sb, (a[:2], b[:2])
    out, dest = {}, {}
    for name, buf in udf._buffers.items():
        if buf.use == "result_only":
            continue
        if buf.kind == "nav":
            dest[name] = initial[name][sb:eb].copy()
            out[name] = np.concatenate([bufs_a[name], bufs_b[name]])
        else:
            dest[name] = out[name] = bufs_a[name].copy()
    ctx.merge(udf, dest, b, (sa, ea))
    return (sa, eb, out)


def _merge_into_initial(
    ctx: _MergeContext, initial: dict[str, np.ndarray], root: State
) -> dict[str, np.ndarray]:
    """The merged partitions merged, once, into the buffers the main node allocated and
    ``preprocess`` initialised: what the inline executor's merges start from."""
    udf = ctx.make_udf()
    start, stop, _ = root
    out, dest = {}, {}
    for name, buf in udf._buffers.items():
        if buf.use == "result_only":
            continue
        out[name] = initial[name].copy()
        dest[name] = out[name][start:stop] if buf.kind == "nav" else out[name]
    ctx.merge(udf, dest, root, (0, 0))
    return out


def _item(buffers: dict[str, np.ndarray], name: str) -> np.ndarray:
    return buffers[name]


def _coerce(name: str, value: Any, shape: tuple[int, ...], dtype: np.dtype) -> Any:
    """A merge_all result fitted to its buffer: same size → reshaped; safely castable →
    cast; anything else is an error naming the buffer."""
    import dask.array as da

    value = value if hasattr(value, "dask") else da.asarray(np.asarray(value))
    if tuple(value.shape) != shape:
        if prod(value.shape) == prod(shape):
            value = value.reshape(shape)
        else:
            raise ValueError(
                f"merge_all: Shape mismatch for {name!r}: buffer is {shape}, data is "
                f"{tuple(value.shape)}"
            )
    if value.dtype != dtype:
        if not np.can_cast(value.dtype, dtype, casting="same_kind"):
            raise ValueError(
                f"merge_all: dtype mismatch for {name!r}: buffer is {dtype}, data is {value.dtype}"
            )
        value = value.astype(dtype)
    return value


class DelayedUDFRunner(UDFRunner):
    """Builds the Dask graph of a run instead of executing it."""

    #: partial results exist only while the graph is computed (``on_compute``)
    updates_at_compute = True

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
        on_compute: LiveCallback | None = None,
    ) -> Iterator[UDFResults]:
        """Yields once: results backed by the run's Dask graph. ``on_compute(results, last)``
        gets the merged state after each partition as the graph is computed (live plots).
        Parameter updates (``control``) apply only before the graph is built."""
        import dask
        import dask.array as da

        plan = self.prepare(dataset, executor, roi, corrections, backends)
        for udf in plan.udfs:
            # its tasks would run only when results are computed, and there are none (a UDF
            # that works by side effect, such as RecordUDF): refuse instead of doing nothing
            if all(b.use == "result_only" for b in udf._buffers.values()):
                raise UDFException(
                    f"{type(udf).__name__} has no result buffers: with the delayed executor "
                    "nothing would run; use another executor"
                )
        tasks = self.make_tasks(plan, executor)
        if control is not None:
            control.refuse(
                "the delayed executor builds the whole run as one Dask graph at its first "
                "step, with the parameters of that moment; update before the first step, or "
                "start a new run"
            )
        run_id = uuid.uuid4().hex[:16]
        if on_compute is not None:
            LiveMerge(plan, run_id, on_compute)
        reporter = make_reporter(progress)
        if reporter is not None:
            PROGRESS[run_id] = _ClosingProgress(reporter, plan.n_total, len(tasks), run_id)
        resources = get_resources_from_udfs(plan.udfs, backends)
        annotations: dict[str, Any] = {"ferrotem_resources": resources}
        if "CUDA" in resources:
            # CUDA-only work must land on CUDA workers. CPU-capable work stays unrestricted so
            # that it runs on any cluster, tagged or not (the seed's fallback).
            annotations["resources"] = resources
        slices = [t.compressed_slice(_n_selected(t)) for t in tasks]
        nodes = []
        if tasks:
            shared = shared_node(tasks, run_id)
            with dask.annotate(**annotations):
                nodes = task_nodes(tasks, shared, run_id)
        group = ComputeGroup()
        sizes = _partition_sizes(dataset, plan.roi_flat)
        results = []
        for ui, udf in enumerate(plan.udfs):
            partials = []
            for k, (node, sl) in enumerate(zip(nodes, slices, strict=True)):
                entry = {}
                for name, buf in udf._buffers.items():
                    if buf.use == "result_only":
                        continue
                    n = sl.shape[0]
                    shape = buf.storage_shape(n_nav=n) if buf.kind == "nav" else buf.storage_shape()
                    key = f"ferrotem-part-{run_id}-{ui}-{name}-{k}"
                    entry[name] = da.from_delayed(
                        dask.delayed(_extract, pure=True)(node, ui, name, dask_key_name=key),
                        shape=shape,
                        dtype=buf.dtype,
                    )
                partials.append(entry)
            self._merge_graph(udf, plan, nodes, slices, partials, ui, run_id)
            udf.results = UDFData(udf._buffers)

            def make(
                decl: BufferWrapper,
                arr: Any,
                ds: DataSet,
                roi_flat: np.ndarray | None,
                full_damage: np.ndarray,
                mask: Any,
                _sizes: list[tuple[int, int, int]] = sizes,
                _group: ComputeGroup = group,
            ) -> DaskResultBufferWrapper:
                return _dask_result(decl, arr, ds, roi_flat, mask, _sizes, _group)

            damage = np.ones(plan.n_total, dtype=bool)
            results.append(self._wrap_results(udf, damage, plan.roi_flat, dataset, make=make))
        damage_buf = _damage_buffer(np.ones(plan.n_total, dtype=bool), dataset, plan.roi_flat)
        final = tuple(results)
        yield UDFResults(lambda: final, damage_buf)

    def _merge_graph(
        self,
        udf: UDF,
        plan: RunPlan,
        nodes: list[Any],
        slices: list[Any],
        partials: list[dict[str, Any]],
        ui: int,
        run_id: str,
    ) -> None:
        """Replaces the UDF's buffers with Dask arrays holding the merged result."""
        import dask
        import dask.array as da

        declared = {k: b for k, b in udf._buffers.items() if b.use != "result_only"}
        # What `prepare` left in the main node's buffers (allocated, then `preprocess`): the
        # inline executor merges into these, so the graph does too, and a run without
        # partitions (empty ROI) returns them as they are.
        initial = {name: np.array(buf._data, copy=True) for name, buf in declared.items()}
        for name, buf in declared.items():
            buf._data = da.from_array(initial[name], chunks=-1)
        if not nodes:
            return
        if hasattr(udf, "merge_all"):
            ordered = OrderedDict(
                (sl, MergeAttrMapping(entry))
                for sl, entry in sorted(
                    zip(slices, partials, strict=True), key=lambda t: t[0].origin
                )
            )
            merged = udf.merge_all(ordered)
            if not isinstance(merged, dict):
                raise UDFException(
                    f"{type(udf).__name__}.merge_all() returned {type(merged).__name__}, "
                    "expected a dict"
                )
            for name, value in merged.items():
                if name not in declared:
                    raise ValueError(
                        f"merge_all: {type(udf).__name__} returned {name!r}, which is not a "
                        f"declared buffer ({sorted(declared)})"
                    )
                buf = declared[name]
                buf._data = _coerce(name, value, buf.storage_shape(), buf.dtype)
            return
        if type(udf).merge is UDF.merge and not udf.requires_custom_merge_all:
            for name, buf in declared.items():
                buf._data = da.concatenate([entry[name] for entry in partials], axis=0)
            return
        ctx = _MergeContext(udf, plan)
        initial_node = dask.delayed(
            initial, name=f"ferrotem-initial-{run_id}-{ui}", traverse=False, pure=True
        )
        level = [
            dask.delayed(_leaf, pure=True)(
                node, ui, dask_key_name=f"ferrotem-merge-{run_id}-{ui}-0-{k}"
            )
            for k, node in enumerate(nodes)
        ]
        for depth in itertools.count(1):
            if len(level) == 1:
                break
            nxt = []
            for k in range(0, len(level) - 1, 2):
                nxt.append(
                    dask.delayed(_merge_pair, pure=True)(
                        ctx,
                        initial_node,
                        level[k],
                        level[k + 1],
                        dask_key_name=f"ferrotem-merge-{run_id}-{ui}-{depth}-{k // 2}",
                    )
                )
            if len(level) % 2:
                nxt.append(level[-1])
            level = nxt
        final = dask.delayed(_merge_into_initial, pure=True)(
            ctx, initial_node, level[0], dask_key_name=f"ferrotem-merge-{run_id}-{ui}-final"
        )
        for name, buf in declared.items():
            buf._data = da.from_delayed(
                dask.delayed(_item, pure=True)(
                    final, name, dask_key_name=f"ferrotem-merged-{run_id}-{ui}-{name}"
                ),
                shape=buf.storage_shape(),
                dtype=buf.dtype,
            )


class _ClosingProgress(ProgressManager):
    """Progress of a delayed run: closes the bar when the last partition is done."""

    def __init__(self, reporter: Any, n_frames: int, n_parts: int, run_id: str):
        super().__init__(reporter, n_frames, n_parts)
        self._run_id = run_id
        if n_parts == 0:
            self._finish()

    def partition_done(self, n_frames: int) -> None:
        super().partition_done(n_frames)
        if self._state.num_part_complete >= self._state.num_part_total:
            self._finish()

    def _finish(self) -> None:
        self.close()
        PROGRESS.pop(self._run_id, None)


def _n_selected(task: UDFTask) -> int:
    p = task.partition
    if task.roi is None:
        return p.stop - p.start
    return int(np.count_nonzero(task.roi[p.start : p.stop]))


def _partition_sizes(dataset: DataSet, roi_flat: np.ndarray | None) -> list[tuple[int, int, int]]:
    out = []
    for p in dataset.get_partitions():
        n = (
            p.stop - p.start
            if roi_flat is None
            else int(np.count_nonzero(roi_flat[p.start : p.stop]))
        )
        out.append((p.start, p.stop, n))
    return out


def _dask_result(
    decl: Any,
    arr: Any,
    dataset: DataSet,
    roi_flat: np.ndarray | None,
    mask: Any,
    sizes: list[tuple[int, int, int]],
    group: ComputeGroup,
) -> DaskResultBufferWrapper:
    import dask.array as da

    if not hasattr(arr, "dask"):
        arr = da.asarray(np.asarray(arr))
    if decl.kind == "nav":
        extra = tuple(arr.shape[1:])
    elif decl.kind == "sig":
        extra = tuple(arr.shape[len(tuple(dataset.shape.sig)) :])
    else:
        extra = tuple(arr.shape) if tuple(arr.shape) != (1,) or decl.extra_shape else ()
    wrapper = DaskResultBufferWrapper(
        arr,
        group,
        kind=decl.kind,
        extra_shape=extra,
        dtype=arr.dtype,
        where=decl.where,
        use=decl.use,
        partition_sizes=sizes,
    )
    wrapper.set_shape_ds(dataset.shape, roi_flat)
    wrapper._custom_mask = mask
    wrapper._nav_order = getattr(dataset, "nav_order", None)
    return wrapper


class DelayedJobExecutor(JobExecutor):
    """Turns UDF runs into Dask graphs; results are Dask arrays (``.delayed_data``)."""

    threads_per_worker = 1

    def __init__(self, main_process_gpu: Any = None):
        self._main_process_gpu = main_process_gpu

    def get_udf_runner(self) -> type[UDFRunner]:
        return DelayedUDFRunner

    def run_tasks(self, tasks: Any) -> Iterator[PartitionResult]:
        for task in tasks:
            yield task()

    def get_available_workers(self) -> WorkerSet:
        return WorkerSet(
            [Worker("delayed", "localhost", {"compute": 1, "CPU": 1}, physical_cores())]
        )

    def run_delayed(
        self,
        fn: Callable[..., Any],
        *args: Any,
        _delayed_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """``fn(*args, **kwargs)`` as a ``dask.delayed`` object."""
        import dask

        return dask.delayed(fn, **(_delayed_kwargs or {}))(*args, **kwargs)

    @staticmethod
    def get_resources_from_udfs(udfs: Any, user_backends: Any = None) -> dict[str, int]:
        """The Dask worker resources these UDFs need (pass to ``compute(resources=...)``)."""
        return get_resources_from_udfs(udfs, user_backends)

    @staticmethod
    def unwrap_results(results: Any) -> Any:
        """The same nested structure with every Dask-backed result replaced by its Dask array."""
        if isinstance(results, DaskResultBufferWrapper):
            return results.delayed_raw_data
        if isinstance(results, dict):
            return {k: DelayedJobExecutor.unwrap_results(v) for k, v in results.items()}
        if isinstance(results, list | tuple):
            return type(results)(DelayedJobExecutor.unwrap_results(v) for v in results)
        return results

    def _compute(
        self,
        *args: Any,
        udfs: Iterable[UDF] | None = None,
        user_backends: Any = None,
        traverse: bool = True,
        **kwargs: Any,
    ) -> Any:
        """``dask.compute`` over results (unwrapped), with resources from ``udfs`` if given."""
        import dask

        if udfs is not None:
            if "resources" in kwargs:
                raise ValueError("resources and udfs: give only one of them")
            kwargs["resources"] = self.get_resources_from_udfs(list(udfs), user_backends)
        unwrapped = [self.unwrap_results(a) for a in args]
        out = dask.compute(*unwrapped, traverse=traverse, **kwargs)
        return out[0] if len(out) == 1 else out
