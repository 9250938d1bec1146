"""The dataset interface: shape, dtype, partitions; opening the Rust data source lazily.

A ``DataSet`` is a small, picklable *description*. The opened Rust source (``_core.DataSource``)
is cached per process and dropped when pickling, so partitions can be sent to other processes
(Dask workers) and reopened there.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ferrotem import _core
from ferrotem.common.exceptions import (
    DataSetException,
    DataSetTypeError,
    InvalidDataSetParameter,
    MissingFileError,
)
from ferrotem.common.math import prod
from ferrotem.common.protocols import FunctionExecutor
from ferrotem.common.shape import Shape
from ferrotem.common.slice import Slice

if TYPE_CHECKING:
    from ferrotem.corrections import CorrectionSet

__all__ = [
    "BasePartition",
    "DataSet",
    "DataSetException",
    "DataSetMeta",
    "Partition",
    "check_int",
    "check_shape",
    "ensure_initialized",
]


def check_int(name: str, value: Any, *, minimum: int | None = None) -> int:
    """Validates an integer parameter; raises naming ``name`` and the value."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise DataSetTypeError(f"{name}: got {value!r}, expected an integer")
    number = int(value)
    if minimum is not None and number < minimum:
        raise InvalidDataSetParameter(f"{name}: got {number}, expected an integer >= {minimum}")
    return number


def check_shape(name: str, value: Any, *, allow_empty: bool = False) -> tuple[int, ...]:
    """Validates a shape parameter (a sequence of positive ints)."""
    if isinstance(value, Shape):
        value = value.to_tuple()
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        value = (int(value),)
    if isinstance(value, str) or not isinstance(value, Sequence | np.ndarray):
        raise DataSetTypeError(f"{name}: got {value!r}, expected a tuple of positive integers")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int | np.integer):
            raise DataSetTypeError(
                f"{name}: got {tuple(value)!r}, expected a tuple of positive integers"
            )
        if v <= 0:
            raise InvalidDataSetParameter(
                f"{name}: got {tuple(int(x) for x in value)!r}, expected positive integers"
            )
        out.append(int(v))
    if not out and not allow_empty:
        raise InvalidDataSetParameter(f"{name}: got (), expected at least one dimension")
    return tuple(out)


def check_file(name: str, path: Any) -> str:
    """Validates a file path parameter: exists and is a regular file."""
    if not isinstance(path, str | os.PathLike):
        raise DataSetTypeError(f"{name}: got {path!r}, expected a file path")
    path = os.fspath(path)
    if not isinstance(path, str):
        raise DataSetTypeError(f"{name}: got the bytes path {path!r}, expected a str path")
    if not os.path.exists(path):
        raise MissingFileError(f"{name}: {path!r} does not exist")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{name}: {path!r} is a directory, expected a file")
    return path


def native_dtype(dtype: np.dtype) -> np.dtype:
    """``dtype`` in this machine's byte order."""
    return np.dtype(dtype).newbyteorder("=")


#: Opened file sources of this process, by `DataSet._source_key()`: a dataset that arrives again
#: (a Dask worker receives a new copy of the description with every run; a user loads the same
#: file twice) reuses the open file and its memory map instead of mapping and faulting it in
#: again. The key includes the file's identity, size and modification time, so a replaced or
#: rewritten file is opened afresh.
_SOURCE_CACHE: OrderedDict[Any, _core.DataSource] = OrderedDict()
_SOURCE_CACHE_SIZE = 8
_SOURCE_CACHE_LOCK = threading.Lock()


def _open_cached(ds: DataSet) -> _core.DataSource:
    key = ds._source_key()
    if key is None:
        return ds._open()
    with _SOURCE_CACHE_LOCK:
        source = _SOURCE_CACHE.get(key)
        if source is not None:
            _SOURCE_CACHE.move_to_end(key)
            return source
    source = ds._open()
    with _SOURCE_CACHE_LOCK:
        _SOURCE_CACHE[key] = source
        while len(_SOURCE_CACHE) > _SOURCE_CACHE_SIZE:
            _SOURCE_CACHE.popitem(last=False)
    return source


def _default_cores() -> int:
    """Cores assumed for a dataset no executor has claimed (e.g. ``make_dask_array`` of a
    dataset built directly): one per physical core, like the embedded executor."""
    import psutil

    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


def file_identity(path: str) -> tuple[int, int, int, int]:
    """What tells whether a file is still the one that was opened."""
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


#: serialises first-time initialisation of datasets built directly (two runs started at once on
#: one uninitialised dataset initialise it once)
_INIT_LOCK = threading.Lock()


def ensure_initialized(dataset: DataSet, executor: FunctionExecutor | None) -> DataSet:
    """``dataset``, initialised with ``executor`` unless that happened already; returns the
    dataset to use (``initialize`` may return a new object).

    LiberTEM code builds datasets directly (``MemoryDataSet(data=...)``, ``RawFileDataSet(...)``)
    and hands them to ``ctx.run_udf`` without ``ctx.load``; this does for them what ``load`` does:
    ``initialize``, a validity check on the executor, and a partition count sized for it.
    """
    with _INIT_LOCK:
        if getattr(dataset, "_meta", None) is None:
            dataset = dataset.initialize(executor)
            if executor is None:
                dataset.check_valid()
            else:
                executor.run_function(dataset.check_valid)
        if getattr(dataset, "_cores", None) is None and executor is not None:
            dataset.set_num_cores(executor.effective_worker_count())
    return dataset


class DataSetMeta:
    """What is known about a dataset once it is initialised."""

    def __init__(
        self,
        shape: Shape,
        raw_dtype: np.dtype,
        image_count: int,
        sync_offset: int = 0,
        metadata: dict[str, Any] | None = None,
    ):
        self.shape = shape
        self.raw_dtype = np.dtype(raw_dtype)
        self.dtype = self.raw_dtype
        self.image_count = image_count
        self.sync_offset = sync_offset
        self.metadata = metadata or {}

    def __getitem__(self, key: str) -> Any:
        return self.metadata[key]


class _RoiHelper:
    """``dataset.roi[k]``: a fresh boolean navigation mask with ``[k] = True``."""

    def __init__(self, nav_shape: tuple[int, ...]):
        self._nav_shape = nav_shape

    def __getitem__(self, key: Any) -> np.ndarray:
        roi = np.zeros(self._nav_shape, dtype=bool)
        roi[key] = True
        return roi


class Partition:
    """A contiguous run of frames ``start .. stop`` of a dataset: the unit of work of a task.

    Picklable; it carries its dataset description and reopens the data where it runs.
    """

    def __init__(self, dataset: DataSet, index: int, start: int, stop: int):
        self.dataset = dataset
        self.index = index
        self.start = start
        self.stop = stop

    @property
    def slice(self) -> Slice:
        """Flat-navigation slice of the partition in the dataset."""
        sig = tuple(self.dataset.shape.sig)
        return Slice(
            (self.start,) + (0,) * len(sig),
            Shape((self.stop - self.start,) + sig, len(sig)),
        )

    @property
    def shape(self) -> Shape:
        """``(n_frames, *sig)``."""
        return self.slice.shape

    def graph_descriptor(self) -> Partition:
        """The form of this partition to embed in a Dask graph: small, picklable, and free of
        references to other graphs (see ``DaskPartition``)."""
        return self

    def get_locations(self) -> list[str] | None:
        """Hosts that hold this partition locally, or None when it can be read anywhere."""
        return None

    def source(self) -> _core.DataSource:
        """The opened Rust data source."""
        return self.dataset.get_source()

    def open_local(self, chunk: np.ndarray | None = None) -> tuple[_core.DataSource, int]:
        """The source to read this partition from, and the flat index of that source's first
        frame. File and memory datasets read from the whole dataset (offset 0); datasets whose
        partitions arrive as arrays (Dask chunks) wrap ``chunk`` instead."""
        return self.dataset.get_source(), 0

    def __repr__(self) -> str:
        return f"<Partition {self.index} frames {self.start}..{self.stop}>"


#: LiberTEM's base class of partitions; ferrotem has the one class
BasePartition = Partition


class DataSet:
    """Base class of datasets. Subclasses implement :meth:`_open` and :meth:`initialize`."""

    #: tileshape forced by the dataset (memory datasets), or None
    _tileshape: tuple[int, ...] | None = None
    #: seconds to sleep after each tile (memory datasets; for tests of cancellation)
    _tiledelay: float | None = None
    #: True when one Rust source covers the whole dataset (so a native run can read any
    #: partition from it in one call); False for datasets whose partitions arrive as arrays
    whole_source: bool = True

    def __init__(self, io_backend: Any = None):
        if io_backend is not None:
            raise InvalidDataSetParameter(
                f"io_backend: got {io_backend!r}, expected None (ferrotem chooses its own I/O)"
            )
        self._meta: DataSetMeta | None = None
        #: cores of the executor the dataset was initialised for; None until one is known
        self._cores: int | None = None
        self._num_partitions: int | None = None
        self._source_lock = threading.Lock()
        self._source: _core.DataSource | None = None

    # -- pickling: drop the opened source ------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_source"] = None
        state["_source_lock"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._source_lock = threading.Lock()

    def _open(self) -> _core.DataSource:
        raise NotImplementedError

    def _source_key(self) -> Any:
        """A key under which the opened source may be shared within this process (see
        ``_SOURCE_CACHE``), or None for sources that must not be shared."""
        return None

    def get_source(self) -> _core.DataSource:
        """The Rust data source, opened on first use in this process."""
        if self._source is None:
            with self._source_lock:
                if self._source is None:
                    try:
                        self._source = _open_cached(self)
                    except DataSetException:
                        raise
                    except TypeError as e:  # LiberTEM code catches DataSetException
                        raise DataSetTypeError(str(e)) from e
                    except ValueError as e:
                        raise InvalidDataSetParameter(str(e)) from e
        return self._source

    # -- LiberTEM interface --------------------------------------------------------------------
    def _files_for_confinement(self) -> list[str]:
        """Every file this (initialised) dataset reads: the web GUI refuses a dataset that
        holds a file outside its root. The default is the dataset's ``path``; datasets that
        read more files (siblings, companions, linked files) list them all."""
        path = getattr(self, "_path", None)
        return [os.fspath(path)] if isinstance(path, str | os.PathLike) else []

    def initialize(self, executor: FunctionExecutor | None) -> DataSet:
        """Opens and validates the dataset; returns ``self``."""
        raise NotImplementedError

    @property
    def meta(self) -> DataSetMeta:
        """Shape, dtypes and counts (after ``initialize``)."""
        if self._meta is None:
            raise DataSetException(
                "dataset is not initialized: use ctx.load(...), pass it to a Context method, "
                "or call dataset.initialize(executor)"
            )
        return self._meta

    @property
    def shape(self) -> Shape:
        """The dataset shape (navigation + signal)."""
        return self.meta.shape

    @property
    def dtype(self) -> np.dtype:
        """The stored element type."""
        return self.meta.raw_dtype

    @property
    def roi(self) -> _RoiHelper:
        """``dataset.roi[y, x]`` gives a boolean navigation mask selecting that position."""
        return _RoiHelper(tuple(self.shape.nav))

    @property
    def array_backends(self) -> tuple[str, ...]:
        """Array types this dataset delivers tiles in."""
        return ("numpy",)

    def get_diagnostics(self) -> list[dict[str, Any]]:
        """Human-readable facts about the dataset (``{"name": ..., "value": ...}`` entries);
        formats override this with what their headers tell."""
        return []

    @property
    def diagnostics(self) -> list[dict[str, Any]]:
        """The same as :meth:`get_diagnostics`."""
        return self.get_diagnostics()

    def set_num_cores(self, cores: int) -> None:
        """Number of cores of the executor; drives the default partition count."""
        self._cores = max(1, int(cores))

    def get_correction_data(self) -> CorrectionSet | None:
        """Corrections the dataset carries itself, applied to every run on it that passes no
        ``corrections`` (none here; a format with dark/gain data overrides this)."""
        return None

    def check_valid(self) -> bool:
        """Re-checks that the data can be opened."""
        self.get_source()
        return True

    def get_num_partitions(self) -> int:
        """Number of partitions."""
        if self._num_partitions is not None:
            n = self._num_partitions
        else:
            cores = self._cores if self._cores is not None else _default_cores()
            n = _core.default_partition_count(self.shape.size, cores)
        n_frames = prod(self.shape.nav)
        if n > n_frames:
            warnings.warn(
                f"num_partitions={n} is more than the {n_frames} frames; using {n_frames}",
                RuntimeWarning,
                stacklevel=2,
            )
            n = n_frames
        return max(1, n)

    def _row_len(self) -> int:
        nav = tuple(self.shape.nav)
        return nav[-1] if len(nav) >= 2 else 1

    def get_partitions(self) -> Iterator[Partition]:
        """The partitions, in flat navigation order."""
        n_frames = prod(self.shape.nav)
        for index, (start, stop) in enumerate(
            _core.split_frames(n_frames, self.get_num_partitions(), self._row_len())
        ):
            yield Partition(self, index, start, stop)

    def get_cache_key(self) -> Any:
        """Not supported: ferrotem has no dataset cache."""
        raise NotImplementedError("get_cache_key: ferrotem datasets are not cached")

    def __repr__(self) -> str:
        try:
            return f"<{type(self).__name__} shape={tuple(self.shape)} dtype={self.dtype}>"
        except DataSetException:
            return f"<{type(self).__name__} (not initialized)>"
