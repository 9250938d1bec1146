"""Worker-side execution of one partition: rebuild the UDFs, read the partition tile by tile
through the Rust core (GIL released while reading and converting), call ``process_*`` with the
right views of ``self.results``, and return the partial result buffers.

A ``UDFTask`` is picklable, so any executor (threads, Dask workers, ``dask.delayed``) can run it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ferrotem import _core
from ferrotem.common.aligned import aligned_empty
from ferrotem.common.backend import device_class_or
from ferrotem.common.buffers import AuxBufferWrapper
from ferrotem.common.math import prod
from ferrotem.common.shape import Shape
from ferrotem.common.slice import Slice
from ferrotem.corrections import CorrectionSet
from ferrotem.io.dataset.base import Partition
from ferrotem.udf.base import UDF, UDFData, UDFMeta, UDFMethod
from ferrotem.udf.native import NativeDescriptor, built_native_set, results_to_buffers
from ferrotem.udf.sparse_tiles import SparseTileMaker, plan_backends

#: upper bound on one block of frames read at once for Python UDFs
MAX_BLOCK_BYTES = 8 * 2**20
#: block size for frame-by-frame UDFs: a few MiB amortises the read call, stays cache-friendly
FRAME_BLOCK_BYTES = 2 * 2**20
#: LiberTEM's TILE_SIZE_BEST_FIT
BEST_FIT_BYTES = 2**20
DEFAULT_TILE_DEPTH = 32


@dataclass
class PartitionResult:
    """What a task returns: per-UDF partial buffers of one partition."""

    partition_index: int
    #: flat-navigation slice of the partition, ROI-compressed
    slice: Slice
    n_frames: int
    buffers: list[dict[str, np.ndarray]]


@dataclass
class TilePlan:
    """How a partition is cut into tiles."""

    depth: int
    #: signal boxes (None: whole frames)
    boxes: list[Slice] | None


def plan_tiles(
    udfs: list[UDF],
    methods: list[UDFMethod],
    n_frames: int,
    sig_shape: tuple[int, ...],
    itemsize: int,
    forced: tuple[int, ...] | None,
) -> TilePlan:
    """Chooses tile depth and signal boxes from the UDFs' preferences and the dataset."""
    n = max(1, n_frames)
    sig_dims = len(sig_shape)
    full = Slice((0,) * sig_dims, Shape(sig_shape, sig_dims))
    frame_bytes = max(1, prod(sig_shape) * itemsize)
    if forced is not None:
        depth = min(forced[0], n)
        cut = list(full.subslices(tuple(forced[1:])))
        if UDFMethod.PARTITION in methods:
            depth = n
        whole_frames = UDFMethod.PARTITION in methods or UDFMethod.FRAME in methods or len(cut) == 1
        return TilePlan(depth, None if whole_frames else cut)
    if UDFMethod.PARTITION in methods:
        return TilePlan(n, None)
    tile_udfs = [u for u, m in zip(udfs, methods, strict=True) if m is UDFMethod.TILE]
    depth = n
    budget = MAX_BLOCK_BYTES
    for u in tile_udfs:
        prefs = u.get_tiling_preferences()
        d = prefs.get("depth", UDF.TILE_DEPTH_DEFAULT)
        if d is UDF.TILE_DEPTH_DEFAULT:
            d = DEFAULT_TILE_DEPTH
        depth = min(depth, n if d == np.inf else max(1, int(d)))
        size = prefs.get("total_size", UDF.TILE_SIZE_MAX)
        if size is UDF.TILE_SIZE_BEST_FIT:
            size = BEST_FIT_BYTES
        if size != np.inf:
            budget = min(budget, max(itemsize, int(size)))
    if UDFMethod.FRAME in methods:
        if not tile_udfs:
            depth = n
        budget = min(budget, FRAME_BLOCK_BYTES)
    depth = max(1, min(depth, budget // frame_bytes)) if frame_bytes <= budget else 1
    boxes: list[Slice] | None = None
    if frame_bytes > budget and UDFMethod.FRAME not in methods and sig_dims >= 1:
        # Only tile UDFs, and a frame exceeds the budget: cut frames into row bands.
        row_bytes = frame_bytes // sig_shape[0]
        rows = max(1, budget // max(1, row_bytes))
        if rows < sig_shape[0]:
            boxes = list(full.subslices((rows,) + tuple(sig_shape[1:])))
    return TilePlan(depth, boxes)


@dataclass
class SharedTaskData:
    """The parts of a task shared by every partition of a run."""

    dataset: Any
    udf_specs: list[tuple[type, dict[str, Any]]]
    roi: np.ndarray | None
    corrections: CorrectionSet | None = None
    #: the native UDFs' declarations (their parameters may hold large arrays such as masks)
    native: list[NativeDescriptor] | None = None


class UDFTask:
    """Run a list of UDFs over one partition."""

    def __init__(
        self,
        partition: Partition,
        udf_specs: list[tuple[type, dict[str, Any]]],
        roi: np.ndarray | None,
        input_dtype: np.dtype,
        backend: str = "numpy",
        threads_per_worker: int | None = 1,
        native: list[NativeDescriptor] | None = None,
        device_class: str = "cpu",
        user_backends: Any = None,
        corrections: CorrectionSet | None = None,
    ):
        self.partition = partition
        self.udf_specs = udf_specs
        self.roi = roi
        self.input_dtype = np.dtype(input_dtype)
        self.backend = backend
        self.threads_per_worker = threads_per_worker
        self.native = native
        self.device_class = device_class
        self.user_backends = user_backends
        #: applied in Rust to every block or tile read, before any UDF sees it
        self.corrections = corrections

    def shared(self) -> SharedTaskData:
        """What all tasks of a run have in common (sent once per run, not once per task)."""
        return SharedTaskData(
            self.partition.dataset, self.udf_specs, self.roi, self.corrections, self.native
        )

    def detach(self) -> UDFTask:
        """A copy without the shared parts (dataset, UDF parameters, ROI, native declarations),
        for a task graph;
        :meth:`attach` puts them back where the task runs."""
        import copy

        task = copy.copy(self)
        task.partition = copy.copy(self.partition.graph_descriptor())
        # A detached task is in transit: attach() restores both before it runs, so the types
        # keep saying what a runnable task holds.
        task.partition.dataset = None  # type: ignore[assignment]
        task.udf_specs = None  # type: ignore[assignment]
        task.roi = None
        task.corrections = None
        task.native = None
        return task

    def attach(self, shared: SharedTaskData) -> UDFTask:
        """Restores the shared parts removed by :meth:`detach`."""
        self.partition.dataset = shared.dataset
        self.udf_specs = shared.udf_specs
        self.roi = shared.roi
        self.corrections = shared.corrections
        self.native = shared.native
        return self

    def frame_indices(self) -> np.ndarray:
        """Flat indices of the frames of this partition that take part."""
        p = self.partition
        if self.roi is None:
            return np.arange(p.start, p.stop, dtype=np.uint64)
        return (np.flatnonzero(self.roi[p.start : p.stop]) + p.start).astype(np.uint64)

    def compressed_slice(self, n_frames: int) -> Slice:
        """The partition's slice in the ROI-compressed flat navigation order."""
        p = self.partition
        start = p.start if self.roi is None else int(np.count_nonzero(self.roi[: p.start]))
        sig = tuple(p.dataset.shape.sig)
        return Slice((start,) + (0,) * len(sig), Shape((n_frames,) + sig, len(sig)))

    def __call__(self, chunk: np.ndarray | None = None) -> PartitionResult:
        """Runs the task. ``chunk`` is the partition's data when the executor delivers it as
        an array (Dask chunks as graph dependencies); otherwise the partition reads itself."""
        source, offset = self.partition.open_local(chunk)
        # read once: a parameter update may replace the declarations while this task runs
        native = self.native
        if native is not None:
            return self._run_native(source, offset, native)
        return self._run_python(source, offset)

    def _prepared_corrections(self) -> _core.Corrections | None:
        if self.corrections is None:
            return None
        return self.corrections.prepare(tuple(self.partition.dataset.shape.sig))

    def _local_roi(self, source: _core.DataSource, offset: int) -> np.ndarray | None:
        if self.roi is None:
            return None
        return self.roi[offset : offset + prod(source.nav_shape)]

    def _run_native(
        self, source: _core.DataSource, offset: int, native: list[NativeDescriptor]
    ) -> PartitionResult:
        p = self.partition
        sig = tuple(p.dataset.shape.sig)
        outs = _core.run_native_partition(
            source,
            p.start - offset,
            p.stop - offset,
            self._local_roi(source, offset),
            built_native_set(native, self.input_dtype.str),
            self._prepared_corrections(),
        )
        n = (
            p.stop - p.start
            if self.roi is None
            else int(np.count_nonzero(self.roi[p.start : p.stop]))
        )
        buffers = [results_to_buffers(d, out, sig, n) for d, out in zip(native, outs, strict=True)]
        return PartitionResult(p.index, self.compressed_slice(n), n, buffers)

    def _run_python(self, source: _core.DataSource, offset: int) -> PartitionResult:
        p = self.partition
        ds = p.dataset
        shape = ds.shape
        sig = tuple(shape.sig)
        frames = self.frame_indices()
        n = len(frames)
        pslice = self.compressed_slice(n)
        roi_nav = None if self.roi is None else self.roi.reshape(tuple(shape.nav))
        udfs: list[UDF] = [cls(**kwargs) for cls, kwargs in self.udf_specs]
        device_class, backend = resolve_worker_backend(
            udfs, self.user_backends, self.device_class, self.backend
        )
        methods = []
        # datasets that store sparse tiles: each UDF gets its own array type (sparse_tiles)
        tile_backends = plan_backends(udfs, ds, self.user_backends)
        for i, udf in enumerate(udfs):
            udf_backend = backend if tile_backends is None else tile_backends[i]
            meta = UDFMeta(
                partition_slice=pslice,
                dataset_shape=shape,
                roi=roi_nav,
                dataset_dtype=ds.dtype,
                input_dtype=self.input_dtype,
                threads_per_worker=self.threads_per_worker,
                array_backend=udf_backend,
                frame_indices=frames,
                device_class=device_class,
                corrections=self.corrections,
            )
            udf.set_meta(meta)
            udf.set_backend(udf_backend)
            _slice_aux(udf, frames)  # aux reads as the partition's frames from here on
            udf.init_result_buffers()
            _allocate_partition(udf, shape, self.roi, n, backend)
            udf.init_task_data()
            methods.append(udf.get_method())
            if hasattr(udf, "preprocess"):
                udf.preprocess()
        plan = plan_tiles(
            udfs, methods, n, sig, self.input_dtype.itemsize, getattr(ds, "_tileshape", None)
        )
        if tile_backends is not None:
            plan.boxes = None  # sparse rows are not cut by pixels
        tiling_scheme = plan.boxes or [Slice((0,) * len(sig), Shape(sig, len(sig)))]
        for udf in udfs:
            udf.meta._tiling_scheme = tiling_scheme
        if n > 0:
            self._process(
                udfs, methods, frames - np.uint64(offset), plan, source, backend, tile_backends
            )
        out = []
        for udf in udfs:
            udf.meta._unit = None
            udf.meta._sig_slice = None
            _set_views(udf, None, None)
            if hasattr(udf, "postprocess"):
                udf.postprocess()
            udf.cleanup()
            out.append(
                {k: _to_numpy(b._data) for k, b in udf._buffers.items() if b.use != "result_only"}
            )
        return PartitionResult(p.index, pslice, n, out)

    def _process(
        self,
        udfs: list[UDF],
        methods: list[UDFMethod],
        frames: np.ndarray,
        plan: TilePlan,
        source: _core.DataSource,
        backend: str = "numpy",
        tile_backends: list[str] | None = None,
    ) -> None:
        n = len(frames)
        sig = tuple(self.partition.dataset.shape.sig)
        depth = plan.depth
        block_buf = aligned_empty((depth,) + sig, self.input_dtype)
        dtype_str = self.input_dtype.str
        contiguous = self.roi is None
        delay = getattr(self.partition.dataset, "_tiledelay", None)
        # whole frames are read and corrected before tiles are cut from them, so patching sees
        # every neighbour however the UDFs tile
        corrections = self._prepared_corrections()
        chosen = list(zip(udfs, methods, strict=True))
        tile_udfs = [(u, _process_method(u, m)) for u, m in chosen if m is UDFMethod.TILE]
        frame_udfs = [(u, _process_method(u, m)) for u, m in chosen if m is UDFMethod.FRAME]
        part_udfs = [(u, _process_method(u, m)) for u, m in chosen if m is UDFMethod.PARTITION]
        sparse_of = {
            id(u): b for u, b in zip(udfs, tile_backends or [], strict=False) if b != "numpy"
        }
        wants_dense = len(sparse_of) < len(udfs)
        stored = np.dtype(self.partition.dataset.dtype).newbyteorder("=")
        tiles: SparseTileMaker | None = None
        for offset in range(0, n, depth):
            d = min(depth, n - offset)
            rows = slice(offset, offset + d)
            block = block_buf[:d]
            out = block.reshape(-1).view(np.uint8)
            if wants_dense:
                if contiguous:
                    source.read(int(frames[offset]), d, out, dtype_str)
                else:
                    source.read_selected(frames[offset : offset + d], out, dtype_str)
            if sparse_of:
                indptr, indices, values = _core.read_csr_rows(source, frames[offset : offset + d])
                data = values.view(stored).astype(self.input_dtype, copy=False)
                tiles = SparseTileMaker(indptr, indices, data, sig)
            if corrections is not None:
                corrections.apply(block)
            if backend == "cupy":
                import cupy

                block = cupy.asarray(block)

            if tile_udfs:
                if plan.boxes is None:
                    for udf, process in tile_udfs:
                        udf.meta._unit = (offset, d)
                        udf.meta._tiling_scheme_idx = 0
                        _set_views(udf, rows, None)
                        process(_data_for(udf, block, tiles, sparse_of))
                else:
                    for idx, box in enumerate(plan.boxes):
                        tile = block[(slice(None),) + box.get()].copy()
                        for udf, process in tile_udfs:
                            udf.meta._unit = (offset, d)
                            udf.meta._sig_slice = box
                            udf.meta._tiling_scheme_idx = idx
                            _set_views(udf, rows, box)
                            process(tile)
            for udf, process in frame_udfs:
                nav_views = _frame_view_sources(udf)
                meta = udf.meta
                frames_data = _data_for(udf, block, tiles, sparse_of)
                for j in range(d):
                    i = offset + j
                    for views, name, storage, scalar in nav_views:
                        views[name] = storage[i : i + 1] if scalar else storage[i]
                    meta._unit = (i, 1)
                    process(frames_data[j])
            for udf, process in part_udfs:
                udf.meta._unit = (offset, d)
                _set_views(udf, rows, None)
                process(_data_for(udf, block, tiles, sparse_of))
            if delay:
                time.sleep(delay)


def _data_for(
    udf: UDF, block: Any, tiles: SparseTileMaker | None, sparse_of: dict[int, str]
) -> Any:
    """The tile ``udf`` takes: the dense ``block``, or the sparse tile of its backend."""
    b = sparse_of.get(id(udf))
    return block if b is None or tiles is None else tiles.get(b)


def _allocate_partition(
    udf: UDF, shape: Shape, roi: np.ndarray | None, n: int, backend: str = "numpy"
) -> None:
    for buf in udf._buffers.values():
        buf.set_shape_ds(shape, roi)
        if buf.use != "result_only":
            buf.allocate(n_nav=n)
            if backend == "cupy" and buf.where == "device":
                import cupy

                buf._data = cupy.asarray(buf._data)
    udf.results = UDFData(udf._buffers)


#: the ``process_*`` method of each way a UDF consumes data
_PROCESS_METHODS = {
    UDFMethod.TILE: "process_tile",
    UDFMethod.FRAME: "process_frame",
    UDFMethod.PARTITION: "process_partition",
}


def _process_method(udf: UDF, method: UDFMethod) -> Callable[[np.ndarray], None]:
    """The bound ``process_*`` method that ``udf.get_method()`` chose."""
    process: Callable[[np.ndarray], None] = getattr(udf, _PROCESS_METHODS[method])
    return process


def _to_numpy(arr: Any) -> np.ndarray:
    """Partial results travel as numpy arrays (CuPy buffers are copied off the device)."""
    if isinstance(arr, np.ndarray):
        return arr
    host: np.ndarray = arr.get()  # the only other storage is CuPy's
    return host


def _has_cupy() -> bool:
    try:
        import cupy  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_worker_backend(
    udfs: list[UDF], user_backends: Any, default_class: str, default_backend: str
) -> tuple[str, str]:
    """Device class and array backend for this task, decided where the task runs.

    A Dask worker started by ferrotem announces its device class in ``FERROTEM_DEVICE_CLASS``
    (``cluster_spec`` sets it), and ``ferrotem.common.backend.set_use_cuda``/``set_use_cpu``
    choose one for a process; on a CUDA worker, CuPy is used when every UDF supports it and it
    is installed, then plain ``'cuda'`` (numpy arrays on a CUDA worker), else numpy.
    """
    device_class = device_class_or(default_class)
    if device_class != "cuda":
        return device_class, default_backend
    common: set[str] | None = None
    for udf in udfs:
        b = udf.get_backends()
        b = {b} if isinstance(b, str) else set(b)
        if user_backends is not None:
            b &= {user_backends} if isinstance(user_backends, str) else set(user_backends)
        common = b if common is None else common & b
    common = common or {"numpy"}
    if "cupy" in common and _has_cupy():
        return "cuda", "cupy"
    if "cuda" in common:
        return "cuda", "cuda"
    return "cuda", "numpy"


def _slice_aux(udf: UDF, frames: np.ndarray) -> None:
    """Restricts auxiliary data parameters to this partition's frames."""
    aux = {}
    for name, value in object.__getattribute__(udf.params, "_kwargs").items():
        if isinstance(value, AuxBufferWrapper):
            aux[name] = (value.get_view_for_frames(frames.astype(np.intp)), not value.extra_shape)
    udf._aux_partition = aux
    object.__getattribute__(udf.params, "_views").update({k: v[0] for k, v in aux.items()})


def _frame_view_sources(udf: UDF) -> list[tuple[dict[str, Any], str, np.ndarray, bool]]:
    """(views dict, name, partition storage, extra_shape is empty) of every nav buffer and aux
    parameter, for per-frame views. Signal and single buffers keep their whole-buffer view."""
    views = udf.results._views
    out = [
        (views, name, buf.raw_data, not buf.extra_shape)
        for name, buf in udf._buffers.items()
        if buf.kind == "nav" and buf.use != "result_only"
    ]
    params_views = object.__getattribute__(udf.params, "_views")
    for name, (arr, scalar) in udf._aux_partition.items():
        out.append((params_views, name, arr, scalar))
    return out


def _set_views(udf: UDF, rows: slice | None, box: Slice | None) -> None:
    """Points ``udf.results`` at the views for the partition's frames ``rows`` (signal box
    ``box``), or at whole partition buffers when ``rows`` is None."""
    views = udf.results._views
    for name, buf in udf._buffers.items():
        if buf.use == "result_only":
            continue
        data = buf.raw_data
        if buf.kind == "nav":
            views[name] = data if rows is None else data[rows]
        elif buf.kind == "sig":
            views[name] = data if box is None else data[box.get()]
        else:
            views[name] = data
    aux = udf._aux_partition
    if aux:
        params_views = object.__getattribute__(udf.params, "_views")
        for name, (arr, _) in aux.items():
            params_views[name] = arr if rows is None else arr[rows]
