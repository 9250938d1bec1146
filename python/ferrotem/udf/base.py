"""The UDF interface: the base class users subclass, and the objects a UDF sees while it runs
(``self.params``, ``self.results``, ``self.meta``, ``self.task_data``)."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from ferrotem.common import backend as B
from ferrotem.common.buffers import (
    ArrayWithMask,
    AuxBufferWrapper,
    BufferKind,
    BufferLocation,
    BufferUse,
    BufferWrapper,
    PlaceholderBufferWrapper,
)
from ferrotem.common.exceptions import UDFException, UDFRunCancelled
from ferrotem.common.shape import Shape
from ferrotem.common.slice import Slice
from ferrotem.common.udf import TileDepthEnum, TileSizeEnum, UDFMethod
from ferrotem.corrections import CorrectionSet

__all__ = [
    "UDF",
    "ArrayWithMask",
    "BackendSpec",
    "DeviceClass",
    "MergeAttrMapping",
    "NoOpUDF",
    "UDFBase",
    "UDFData",
    "UDFFrameMixin",
    "UDFKwarg",
    "UDFKwargs",
    "UDFKwargsWrapper",
    "UDFMergeAllMixin",
    "UDFMeta",
    "UDFMethod",
    "UDFParams",
    "UDFPartitionMixin",
    "UDFPostprocessMixin",
    "UDFPreprocessMixin",
    "UDFRunCancelled",
    "UDFTileMixin",
    "UseDiscouragedWarning",
    "check_cast",
]

#: the backends a UDF or a user names: one backend name, or several
BackendSpec = str | Iterable[str]
#: where a task runs
DeviceClass = Literal["cpu", "cuda"]
#: a UDF parameter: any picklable value, or aux data (``UDF.aux_data``)
UDFKwarg = Any | AuxBufferWrapper
UDFKwargs = dict[str, UDFKwarg]


def __getattr__(name: str) -> Any:
    """LiberTEM names that LiberTEM code imports from here but whose home modules import this
    one (the runner, the task, the UDF resources): loaded on first access, so that importing this
    module does not import them. The import-layer test lists these edges as allowed cycles."""
    if name in ("UDFRunner", "UDFResults", "UDFResultDict"):
        from ferrotem.udf import runner

        return getattr(runner, name)
    if name == "UDFPartRunner":
        from ferrotem.udf import partrunner

        return partrunner.UDFPartRunner
    if name == "UDFTask":
        from ferrotem.udf import task

        return task.UDFTask
    if name == "get_resources_for_backends":
        from ferrotem.udf import resources

        return resources.get_resources_for_backends
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class UseDiscouragedWarning(UserWarning):
    """A supported but discouraged use (e.g. ``dest['name']`` in ``merge``)."""


# -- mixins: protocols, having the method is enough ----------------------------------------------
@runtime_checkable
class UDFTileMixin(Protocol):
    """A UDF that implements ``process_tile(tile)``."""

    def process_tile(self, tile: np.ndarray) -> None: ...


@runtime_checkable
class UDFFrameMixin(Protocol):
    """A UDF that implements ``process_frame(frame)``."""

    def process_frame(self, frame: np.ndarray) -> None: ...


@runtime_checkable
class UDFPartitionMixin(Protocol):
    """A UDF that implements ``process_partition(partition)``."""

    def process_partition(self, partition: np.ndarray) -> None: ...


@runtime_checkable
class UDFPreprocessMixin(Protocol):
    """A UDF that implements ``preprocess()``."""

    def preprocess(self) -> None: ...


@runtime_checkable
class UDFPostprocessMixin(Protocol):
    """A UDF that implements ``postprocess()``."""

    def postprocess(self) -> None: ...


@runtime_checkable
class UDFMergeAllMixin(Protocol):
    """A UDF that implements ``merge_all(ordered_results)``."""

    def merge_all(self, ordered_results: Mapping[Slice, MergeAttrMapping]) -> dict[str, Any]: ...


def check_cast(fromvar: Any, tovar: Any) -> None:
    """Raises ``TypeError`` if ``fromvar`` cannot be cast safely to ``tovar``'s dtype."""
    if not np.can_cast(np.asarray(fromvar).dtype, np.asarray(tovar).dtype, casting="safe"):
        raise TypeError(
            f"Unsafe automatic casting from {np.asarray(fromvar).dtype} to "
            f"{np.asarray(tovar).dtype}"
        )


class UDFParams:
    """``self.params``: the UDF's keyword arguments with attribute access.

    Auxiliary data (``UDF.aux_data``) reads as the array of the frames at hand: the current
    frame, tile or partition while processing (ROI-selected frames only), the selected frames of
    the whole dataset in ``preprocess`` on the main node, the merged partition in ``merge``, and
    the whole flat array elsewhere (e.g. ``get_results``).
    """

    # set with object.__setattr__ (attribute writes are not parameters); declared for the checker
    _kwargs: dict[str, Any]
    _views: dict[str, Any]

    def __init__(self, kwargs: dict[str, Any]):
        object.__setattr__(self, "_kwargs", kwargs)
        object.__setattr__(self, "_views", {})

    def __getattr__(self, name: str) -> Any:
        views = object.__getattribute__(self, "_views")
        if name in views:
            return views[name]
        kwargs = object.__getattribute__(self, "_kwargs")
        try:
            value = kwargs[name]
        except KeyError:
            raise AttributeError(f"UDF parameter {name!r} is not set") from None
        if isinstance(value, AuxBufferWrapper):
            # as in LiberTEM: outside any view, aux data reads as its flat array
            return value.raw_data
        return value

    def __getitem__(self, name: str) -> Any:
        return getattr(self, name)

    def __contains__(self, name: str) -> bool:
        return name in self._kwargs

    def get(self, name: str, default: Any = None) -> Any:
        """The parameter ``name``, or ``default``."""
        try:
            return getattr(self, name)
        except AttributeError:
            return default

    def keys(self) -> Any:
        """Parameter names."""
        return self._kwargs.keys()

    def _aux_names(self) -> list[str]:
        return [k for k, v in self._kwargs.items() if isinstance(v, AuxBufferWrapper)]

    def _set_views_for_dataset(self, n_frames: int, roi_flat: np.ndarray | None) -> None:
        """Points every aux parameter at the frames a run over ``n_frames`` positions with
        ``roi_flat`` (flat bool mask or None) processes, ROI-compressed, for ``preprocess`` on
        the main node; raises naming the parameter when its length does not fit."""
        kwargs = object.__getattribute__(self, "_kwargs")
        views = object.__getattribute__(self, "_views")
        for name in self._aux_names():
            data = kwargs[name].raw_data
            if data.shape[0] != n_frames:
                raise ValueError(
                    f"{name}: aux data has {data.shape[0]} entries, expected one per navigation "
                    f"position ({n_frames})"
                )
            views[name] = data if roi_flat is None else data[roi_flat]

    def _clear_views(self) -> None:
        object.__getattribute__(self, "_views").clear()

    def __repr__(self) -> str:
        return f"<UDFParams {self._kwargs!r}>"


#: LiberTEM's name for the ``self.params`` wrapper
UDFKwargsWrapper = UDFParams


class UDFData:
    """``self.results``: the current view of every buffer, by attribute.

    ``self.results.x`` is the view for the data being processed (a frame's entry, a tile's
    rows, a partition's block, or the whole result on the main node); assigning
    ``self.results.x = v`` writes into that view (``x[:] = v``).
    """

    # set with object.__setattr__ (attribute writes go to the views); declared for the checker
    _buffers: dict[str, BufferWrapper]
    _views: dict[str, Any]

    def __init__(self, buffers: dict[str, BufferWrapper]):
        object.__setattr__(self, "_buffers", buffers)
        object.__setattr__(
            self,
            "_views",
            {k: b._data for k, b in buffers.items() if b.has_data()},
        )

    def __getattr__(self, name: str) -> Any:
        views = object.__getattribute__(self, "_views")
        try:
            return views[name]
        except KeyError:
            buffers = object.__getattribute__(self, "_buffers")
            if name in buffers:
                raise AttributeError(
                    f"buffer {name!r} has no data here (use='result_only' buffers exist only "
                    "in get_results' return value)"
                ) from None
            raise AttributeError(f"no result buffer named {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        views = self._views
        if name not in views:
            raise AttributeError(f"no result buffer named {name!r}")
        views[name][...] = value

    def __getitem__(self, name: str) -> Any:
        return getattr(self, name)

    def __contains__(self, name: str) -> bool:
        return name in self._buffers

    def __iter__(self) -> Iterator[str]:
        return iter(self._buffers)

    def keys(self) -> Any:
        """Buffer names."""
        return self._buffers.keys()

    def get_buffer(self, name: str) -> BufferWrapper:
        """The :class:`BufferWrapper` behind ``name``."""
        return self._buffers[name]

    def get_proxy(self) -> UDFData:
        """This object (LiberTEM compatibility)."""
        return self

    def __repr__(self) -> str:
        return f"<UDFData {list(self._buffers)}>"


class MergeAttrMapping(Mapping[str, Any]):
    """``dest`` and ``src`` of ``merge``: buffers by attribute (``dest.x``; ``dest.x = v`` writes
    into ``dest.x``). ``dest['x']`` works but is discouraged."""

    # set with object.__setattr__ (attribute writes go to the buffers); declared for the checker
    _mapping: dict[str, Any]

    def __init__(self, mapping: dict[str, Any]):
        object.__setattr__(self, "_mapping", mapping)

    def __getattr__(self, name: str) -> Any:
        try:
            return object.__getattribute__(self, "_mapping")[name]
        except KeyError:
            raise AttributeError(f"no buffer named {name!r} here") from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self._mapping:
            raise AttributeError(f"no buffer named {name!r} here")
        self._mapping[name][...] = value

    def __getitem__(self, name: str) -> Any:
        warnings.warn(
            "dict-style access in merge is discouraged, use attribute access (dest.name)",
            UseDiscouragedWarning,
            stacklevel=2,
        )
        return self._mapping[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._mapping)

    def __len__(self) -> int:
        return len(self._mapping)

    def __repr__(self) -> str:
        return f"<MergeAttrMapping {list(self._mapping)}>"


class UDFMeta:
    """``self.meta``: facts about the dataset and the data being processed."""

    def __init__(
        self,
        partition_slice: Slice | None,
        dataset_shape: Shape,
        roi: np.ndarray | None,
        dataset_dtype: np.dtype,
        input_dtype: np.dtype,
        tiling_scheme: Any = None,
        tiling_scheme_idx: int = 0,
        sig_slice: Slice | None = None,
        corrections: Any = None,
        device_class: str = "cpu",
        threads_per_worker: int | None = None,
        array_backend: str | None = "numpy",
        frame_indices: np.ndarray | None = None,
    ):
        self._partition_slice = partition_slice
        self._slice = partition_slice
        self._dataset_shape = dataset_shape
        self._roi = roi
        self._dataset_dtype = np.dtype(dataset_dtype)
        self._input_dtype = np.dtype(input_dtype)
        self._tiling_scheme = tiling_scheme
        self._tiling_scheme_idx = tiling_scheme_idx
        self._sig_slice = sig_slice
        self._corrections = corrections
        self._device_class = device_class
        self._threads_per_worker = threads_per_worker
        self._array_backend = array_backend
        self._frame_indices = frame_indices
        self._unit: tuple[int, int] | None = None  # (offset in partition, frame count)
        self._valid_nav_mask: np.ndarray | None = None

    @property
    def slice(self) -> Slice | None:
        """The current tile, frame or partition as a flat-navigation ``Slice`` (ROI-compressed
        positions); None on the main node."""
        if self._unit is None or self._partition_slice is None:
            return self._slice
        offset, depth = self._unit
        ps = self._partition_slice
        sig = self._sig_slice
        if sig is None:
            sig_origin, sig_shape = ps.origin[1:], tuple(ps.shape)[1:]
        else:
            sig_origin, sig_shape = sig.origin, tuple(sig.shape)
        return Slice(
            (ps.origin[0] + offset,) + tuple(sig_origin),
            Shape((depth,) + tuple(sig_shape), ps.shape.sig_dims),
        )

    @slice.setter
    def slice(self, value: Slice | None) -> None:
        self._unit = None
        self._slice = value

    @property
    def partition_shape(self) -> Shape:
        """Shape of the current partition ``(n_frames, *sig)``."""
        if self._partition_slice is None:
            raise AttributeError("partition_shape is only available while processing")
        return self._partition_slice.shape

    @property
    def dataset_shape(self) -> Shape:
        """Shape of the dataset (independent of the ROI)."""
        return self._dataset_shape

    @property
    def roi(self) -> np.ndarray | None:
        """The ROI as a navigation-shaped bool array, or None."""
        return self._roi

    @property
    def dataset_dtype(self) -> np.dtype:
        """The dataset's stored dtype."""
        return self._dataset_dtype

    @property
    def input_dtype(self) -> np.dtype:
        """The dtype of the data handed to ``process_*``."""
        return self._input_dtype

    @property
    def tiling_scheme(self) -> Any:
        """The tiling scheme of the run (signal boxes of the tiles)."""
        return self._tiling_scheme

    @property
    def tiling_scheme_idx(self) -> int:
        """Index of the current tile's signal box in the tiling scheme."""
        return self._tiling_scheme_idx

    @property
    def sig_slice(self) -> Slice | None:
        """The signal part of the current tile (the whole frame unless tiles are partial)."""
        if self._sig_slice is None and self._unit is not None and self._partition_slice:
            return self._partition_slice.sig
        return self._sig_slice

    @property
    def corrections(self) -> CorrectionSet:
        """The corrections applied to the data before the UDF sees it (an empty
        ``CorrectionSet`` when there are none, as in LiberTEM)."""
        if self._corrections is None:
            return CorrectionSet()
        corrections: CorrectionSet = self._corrections
        return corrections

    @property
    def device_class(self) -> str:
        """``'cpu'`` or ``'cuda'``."""
        return self._device_class

    @property
    def threads_per_worker(self) -> int | None:
        """Threads the UDF may use for its own work (None: unlimited)."""
        return self._threads_per_worker

    @property
    def array_backend(self) -> str | None:
        """The array backend of the data handed to ``process_*``."""
        return self._array_backend

    @property
    def coordinates(self) -> np.ndarray | None:
        """Navigation coordinates ``(n, nav_dims)`` of the current frames."""
        if self._frame_indices is None:
            return None
        if self._unit is None:
            frames = self._frame_indices
        else:
            offset, depth = self._unit
            frames = self._frame_indices[offset : offset + depth]
        nav = tuple(self._dataset_shape.nav)
        return np.stack(np.unravel_index(frames, nav), axis=-1).astype(np.int64)

    def get_valid_nav_mask(self, full_nav: bool = False) -> np.ndarray | None:
        """Flat mask of navigation positions merged so far (only in ``merge`` and
        ``get_results``); ``full_nav=True`` expands it over the whole scan when a ROI is set."""
        mask = self._valid_nav_mask
        if mask is None:
            return None
        if full_nav and self._roi is not None:
            full = np.zeros(self._roi.size, dtype=bool)
            full[self._roi.reshape(-1)] = mask
            return full
        return mask.copy()


class UDF:
    """Base class of user-defined functions.

    Subclasses declare results in :meth:`get_result_buffers` and implement at least one of
    ``process_tile(tile)``, ``process_frame(frame)`` or ``process_partition(partition)``.
    Keyword arguments given to ``__init__`` are the UDF's parameters (``self.params``); the UDF
    is rebuilt where it runs as ``type(self)(**kwargs)``, so a subclass ``__init__`` must accept
    the names it passes to ``super().__init__``.
    """

    UDF_METHOD = UDFMethod
    #: preferred input dtype meaning "the dataset's own dtype" (neutral in type promotion)
    USE_NATIVE_DTYPE = bool
    #: ``get_tiling_preferences`` sentinels (enum members: they survive pickling to workers)
    TILE_SIZE_BEST_FIT = TileSizeEnum.TILE_SIZE_BEST_FIT
    TILE_SIZE_MAX = np.inf
    TILE_DEPTH_DEFAULT = TileDepthEnum.TILE_DEPTH_DEFAULT
    TILE_DEPTH_MAX = np.inf

    BACKEND_NUMPY = B.NUMPY
    BACKEND_CUPY = B.CUPY
    BACKEND_CUDA = B.CUDA
    BACKEND_SPARSE_COO = B.SPARSE_COO
    BACKEND_SPARSE_GCXS = B.SPARSE_GCXS
    BACKEND_SPARSE_DOK = B.SPARSE_DOK
    BACKEND_SCIPY_COO = B.SCIPY_COO
    BACKEND_SCIPY_CSR = B.SCIPY_CSR
    BACKEND_SCIPY_CSC = B.SCIPY_CSC
    BACKEND_SCIPY_COO_ARRAY = B.SCIPY_COO_ARRAY
    BACKEND_SCIPY_CSR_ARRAY = B.SCIPY_CSR_ARRAY
    BACKEND_SCIPY_CSC_ARRAY = B.SCIPY_CSC_ARRAY
    BACKEND_CUPY_SCIPY_COO = B.CUPY_SCIPY_COO
    BACKEND_CUPY_SCIPY_CSR = B.CUPY_SCIPY_CSR
    BACKEND_CUPY_SCIPY_CSC = B.CUPY_SCIPY_CSC
    BACKEND_ALL = B.BACKEND_ALL
    CPU_BACKENDS = B.CPU_BACKENDS
    CUDA_BACKENDS = B.CUDA_BACKENDS
    CUPY_BACKENDS = B.CUPY_BACKENDS
    SPARSE_BACKENDS = B.SPARSE_BACKENDS
    DENSE_BACKENDS = B.DENSE_BACKENDS
    ND_BACKENDS = B.ND_BACKENDS
    D2_BACKENDS = B.D2_BACKENDS

    def __init__(self, **kwargs: Any):
        self._kwargs = kwargs
        self.params = UDFParams(kwargs)
        self._meta: UDFMeta | None = None
        # empty until the UDF runs, as in LiberTEM
        self.results = UDFData({})
        self.task_data = UDFParams({})
        self._backend = B.NUMPY
        self._buffers: dict[str, BufferWrapper] = {}
        #: aux parameters restricted to the partition being processed: name -> (the partition's
        #: entries, extra_shape is empty); set by the task
        self._aux_partition: dict[str, tuple[np.ndarray, bool]] = {}

    @property
    def meta(self) -> UDFMeta:
        """Facts about the dataset and the data being processed (:class:`UDFMeta`); set when
        the UDF runs, and an ``AttributeError`` before (as in LiberTEM, which sets it then)."""
        meta = self._meta
        if meta is None:
            raise AttributeError(
                f"{type(self).__name__}.meta: not set yet; it is set when the UDF runs"
            )
        return meta

    @meta.setter
    def meta(self, meta: UDFMeta) -> None:
        self._meta = meta

    # -- to override -------------------------------------------------------------------------------
    def get_result_buffers(self) -> dict[str, BufferWrapper]:
        """Declares the result buffers: ``{name: self.buffer(...)}``."""
        raise NotImplementedError(f"{type(self).__name__}.get_result_buffers() must be implemented")

    def get_preferred_input_dtype(self) -> Any:
        """The dtype this UDF wants its data in (``UDF.USE_NATIVE_DTYPE`` for the dataset's)."""
        return np.float32

    def get_tiling_preferences(self) -> dict[str, Any]:
        """``{"depth": ..., "total_size": ...}``: tile depth and size this UDF prefers."""
        return {"depth": self.TILE_DEPTH_DEFAULT, "total_size": self.TILE_SIZE_MAX}

    def get_backends(self) -> Any:
        """Array backends this UDF can process (default ``('numpy',)``)."""
        return (self.BACKEND_NUMPY,)

    def get_task_data(self) -> dict[str, Any]:
        """Per-task scratch data, available as ``self.task_data``."""
        return {}

    def get_method(self) -> UDFMethod:
        """Which ``process_*`` method to call (tile > frame > partition)."""
        if isinstance(self, UDFTileMixin):
            return UDFMethod.TILE
        if isinstance(self, UDFFrameMixin):
            return UDFMethod.FRAME
        if isinstance(self, UDFPartitionMixin):
            return UDFMethod.PARTITION
        raise UDFException(
            f"{type(self).__name__} implements none of process_tile, process_frame, "
            "process_partition"
        )

    def merge(self, dest: MergeAttrMapping, src: MergeAttrMapping) -> None:
        """Merges a partition's results ``src`` into ``dest``.

        The default copies ``kind='nav'`` buffers; UDFs with other buffers must override it.
        """
        if self.requires_custom_merge:
            names = [
                k for k, b in self._buffers.items() if b.kind != "nav" and b.use != "result_only"
            ]
            raise NotImplementedError(
                f"{type(self).__name__} has non-nav buffers {names} and must implement merge()"
            )
        for name in dest:
            d = getattr(dest, name)
            s = getattr(src, name)
            check_cast(s, d)
            d[...] = s

    @property
    def requires_custom_merge(self) -> bool:
        """True if some buffer is not ``kind='nav'`` (the default merge cannot handle it)."""
        return any(b.kind != "nav" and b.use != "result_only" for b in self._buffers.values())

    @property
    def requires_custom_merge_all(self) -> bool:
        """True if the default ``merge_all`` (concatenation) cannot be used."""
        return any(b.kind != "nav" for b in self._buffers.values())

    def get_results(self) -> dict[str, Any]:
        """The final results; default: every non-private buffer."""
        if any(b.use == "result_only" for b in self._buffers.values()):
            raise UDFException(
                f"{type(self).__name__} declares use='result_only' buffers and must implement "
                "get_results()"
            )
        return {k: getattr(self.results, k) for k, b in self._buffers.items() if b.use != "private"}

    def cleanup(self) -> None:
        """Per-partition hook after processing (default: nothing)."""

    # -- helpers for subclasses ------------------------------------------------------------------
    def buffer(
        self,
        kind: BufferKind,
        extra_shape: tuple[int, ...] = (),
        dtype: Any = "float32",
        where: BufferLocation = None,
        use: BufferUse = None,
    ) -> BufferWrapper:
        """Declares a result buffer of ``kind`` ``'nav'``, ``'sig'`` or ``'single'``."""
        cls = PlaceholderBufferWrapper if use == "result_only" else BufferWrapper
        return cls(kind, extra_shape, dtype, where, use)

    @classmethod
    def aux_data(
        cls,
        data: Any,
        kind: BufferKind,
        extra_shape: tuple[int, ...] = (),
        dtype: Any = "float32",
    ) -> AuxBufferWrapper:
        """Wraps per-frame auxiliary data (``kind='nav'``) to pass as a UDF parameter."""
        data = np.asarray(data)
        dtype = np.dtype(dtype)
        if data.dtype != dtype:
            raise ValueError(f"aux_data: data has dtype {data.dtype}, expected dtype {dtype}")
        extra_shape = tuple(extra_shape)
        if extra_shape == (1,):
            extra_shape = ()
        buf = AuxBufferWrapper(kind=kind, extra_shape=extra_shape, dtype=dtype)
        buf._data = data.reshape((-1,) + extra_shape)
        return buf

    def with_mask(self, data: Any, mask: Any) -> ArrayWithMask:
        """Pairs a result with a validity mask (return it from ``get_results``)."""
        return ArrayWithMask(data, mask)

    @property
    def xp(self) -> Any:
        """The array module for the current backend (numpy on CPU)."""
        if self._backend in B.CUPY_BACKENDS:
            import cupy

            return cupy
        return np

    def forbuf(self, arr: Any, target: Any) -> Any:
        """``arr`` converted to the backend and shape of the buffer view ``target``."""
        if type(arr) is not np.ndarray:  # sparse tiles' results (raw_csr), np.matrix, lists
            from ferrotem.udf.sparse_tiles import to_dense

            arr = to_dense(arr)
        if hasattr(target, "shape") and arr.shape != target.shape:
            return arr.reshape(target.shape)
        return arr

    def copy(self) -> UDF:
        """A fresh instance with the same parameters."""
        return type(self)(**self._kwargs)

    def _update_parameters_patch(self, kwargs_patch: dict[str, Any]) -> None:
        """Replaces the parameters named in ``kwargs_patch`` (LiberTEM's hook, used by
        ``ResultGenerator.update_parameters_experimental`` on the main node). A new dict, so
        that tasks holding the old one keep their parameters."""
        self._kwargs = {**self._kwargs, **kwargs_patch}
        self.params = UDFParams(self._kwargs)

    # -- engine internals ------------------------------------------------------------------------
    def set_meta(self, meta: UDFMeta) -> None:
        """Sets ``self.meta``."""
        self.meta = meta

    def set_backend(self, backend: str) -> None:
        """Sets the array backend of this run."""
        self._backend = backend

    def init_result_buffers(self) -> None:
        """Calls ``get_result_buffers`` and checks what it returns."""
        buffers = self.get_result_buffers()
        if not isinstance(buffers, dict):
            raise UDFException(
                f"{type(self).__name__}.get_result_buffers() returned {type(buffers).__name__},"
                " expected a dict of self.buffer(...)"
            )
        for name, buf in buffers.items():
            if not isinstance(buf, BufferWrapper):
                raise UDFException(
                    f"{type(self).__name__}.get_result_buffers(): {name!r} is "
                    f"{type(buf).__name__}, expected self.buffer(...)"
                )
        self._buffers = buffers

    def init_task_data(self) -> None:
        """Calls ``get_task_data`` into ``self.task_data``."""
        self.task_data = UDFParams(dict(self.get_task_data()))


#: LiberTEM's base class of ``UDF``; here the same class, so ``isinstance(u, UDFBase)`` holds
UDFBase = UDF


class NoOpUDF(UDF):
    """A UDF that reads the data and computes nothing (for tests and I/O benchmarks)."""

    def __init__(self, preferred_input_dtype: Any = UDF.USE_NATIVE_DTYPE):
        super().__init__(preferred_input_dtype=preferred_input_dtype)

    def get_result_buffers(self) -> dict[str, BufferWrapper]:
        return {}

    def process_tile(self, tile: np.ndarray) -> None:
        pass

    def get_preferred_input_dtype(self) -> Any:
        return self.params.preferred_input_dtype
