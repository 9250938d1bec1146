"""``'dask'``: a Dask array as a dataset.

Partitions follow the array's navigation chunks. Chunks are adapted once, at load time, by
*merging* (never splitting) so that each partition is a contiguous run of frames: all signal
axes become one chunk, navigation axes after the first chunked one become one chunk, and small
chunks are merged until every one holds at least ``min_size`` bytes. Each change is announced by
a :class:`DaskRechunkWarning`.

Unlike LiberTEM, the chunks are real dependencies of the partition tasks when a Dask-based
executor builds a graph (delayed, distributed): a ``.persist()``-ed array is used where it lives
and no input graph is pickled into the tasks. In-process executors compute each chunk when its
partition runs.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from ferrotem import _core
from ferrotem.common.exceptions import DataSetTypeError, InvalidDataSetParameter
from ferrotem.common.math import prod
from ferrotem.common.shape import Shape
from ferrotem.io.dataset.base import DataSet, DataSetMeta, Partition
from ferrotem.io.dataset.memory import check_data_dtype

if TYPE_CHECKING:
    import dask.array as da

__all__ = ["DaskDataSet", "DaskPartition", "DaskRechunkWarning", "adapt_chunks"]

#: default minimum partition size in bytes (LiberTEM's)
DEFAULT_MIN_SIZE = 128 * 2**20


class DaskRechunkWarning(RuntimeWarning):
    """The input array's chunks were changed to fit ferrotem's partitioning rules."""


def _merge_along(chunks: list[int], stride_bytes: int, target: float) -> list[int]:
    """Greedily merges adjacent chunks of one axis until the smallest holds ``target`` bytes:
    each step merges the adjacent pair with the smallest combined size, the rightmost pair
    winning ties."""
    chunks = list(chunks)
    while len(chunks) > 1 and min(chunks) * stride_bytes < target:
        best = None
        for i in range(len(chunks) - 1):
            pair = chunks[i] + chunks[i + 1]
            if best is None or pair <= best[0]:
                best = (pair, i)
        assert best is not None
        _, i = best
        chunks[i : i + 2] = [chunks[i] + chunks[i + 1]]
    return chunks


def adapt_chunks(
    chunks: tuple[tuple[int, ...], ...],
    shape: tuple[int, ...],
    itemsize: int,
    sig_dims: int,
    min_size: float,
) -> tuple[tuple[int, ...], ...]:
    """The chunking ferrotem uses for an array with ``chunks`` (merge-only, see module docs)."""
    nav_dims = len(shape) - sig_dims
    new = [tuple(c) for c in chunks]
    for ax in range(nav_dims, len(shape)):
        new[ax] = (shape[ax],)
    if all(len(new[ax]) == 1 for ax in range(nav_dims)):
        return tuple(new)
    # every nav axis chunked to single frames: blocks are already contiguous
    first = next((ax for ax in range(nav_dims) if any(c != 1 for c in new[ax])), nav_dims - 1)
    for ax in range(first + 1, nav_dims):
        new[ax] = (shape[ax],)
    itemsize = max(1, itemsize)
    if prod(shape) * itemsize < min_size:
        return tuple((s,) for s in shape)
    for ax in range(first, -1, -1):
        stride = prod(shape[ax + 1 :]) * itemsize
        new[ax] = tuple(_merge_along(list(new[ax]), stride, min_size))
        if min(new[ax]) * stride >= min_size:
            break
    return tuple(new)


class DaskPartition(Partition):
    """A partition backed by one block of the adapted Dask array."""

    dataset: DaskDataSet

    def __init__(
        self, dataset: DaskDataSet, index: int, start: int, stop: int, block: tuple[int, ...]
    ):
        super().__init__(dataset, index, start, stop)
        self.block = block

    def graph_descriptor(self) -> DaskPartition:
        """A copy whose dataset holds no Dask arrays: inside a graph, the chunk arrives as a
        dependency, so pickling the input graph into every task is avoided."""
        return DaskPartition(
            self.dataset.stripped(),
            self.index,
            self.start,
            self.stop,
            self.block,
        )

    def chunk_delayed(self) -> Any:
        """This partition's block as a ``Delayed`` whose key is the block's key in the array's
        graph (a real dependency, computed once wherever it lives)."""
        return self.dataset.block_delayeds()[self.block]

    def chunk(self) -> Any:
        """The Dask array of this partition's block."""
        return self.dataset.array.blocks[self.block]

    def open_local(self, chunk: np.ndarray | None = None) -> tuple[_core.DataSource, int]:
        if chunk is None:
            if self.dataset.array is None:
                raise RuntimeError(
                    "this Dask partition was sent without its chunk; it must be run with the "
                    "chunk as an argument"
                )
            chunk = self.chunk().compute()
        sig = tuple(self.dataset.shape.sig)
        data = np.ascontiguousarray(np.asarray(chunk)).reshape((self.stop - self.start,) + sig)
        check_data_dtype("dask_array", data.dtype)
        source = _core.DataSource.memory(
            data.reshape(-1).view(np.uint8), data.dtype.str, [self.stop - self.start], list(sig)
        )
        return source, self.start


class DaskDataSet(DataSet):
    """A dataset over a ``dask.array.Array``: ``ctx.load('dask', arr, sig_dims=2)``.

    ``min_size`` (bytes, default 128 MiB) is the smallest partition the chunks are merged up to;
    ``preserve_dimensions=False`` moves the most-chunked navigation axis first (more
    partitions), and the dataset shape follows that order.
    """

    whole_source = False

    def __init__(
        self,
        dask_array: Any = None,
        *,
        sig_dims: Any = None,
        preserve_dimensions: bool = True,
        min_size: float | None = None,
        io_backend: Any = None,
    ):
        super().__init__(io_backend=io_backend)
        import dask.array as da

        if not isinstance(dask_array, da.Array):
            raise DataSetTypeError(
                f"dask_array: got {type(dask_array).__name__}, expected a dask.array.Array"
            )
        if sig_dims is None:
            raise DataSetTypeError("sig_dims: missing, expected the number of signal axes (int)")
        if isinstance(sig_dims, bool) or not isinstance(sig_dims, int | np.integer):
            raise DataSetTypeError(f"sig_dims: got {sig_dims!r}, expected an int")
        sig_dims = int(sig_dims)
        if not 1 <= sig_dims < dask_array.ndim:
            raise InvalidDataSetParameter(
                f"sig_dims: got {sig_dims}, expected 1 ..= {dask_array.ndim - 1} for an array "
                f"of shape {dask_array.shape}"
            )
        if any(math.isnan(s) for s in dask_array.shape) or any(
            math.isnan(c) for cs in dask_array.chunks for c in cs
        ):
            raise InvalidDataSetParameter(
                f"dask_array: chunk sizes are unknown ({dask_array.chunks}); call "
                "compute_chunk_sizes() on the array first"
            )
        check_data_dtype("dask_array", np.dtype(dask_array.dtype))
        if min_size is None:
            min_size = DEFAULT_MIN_SIZE
        elif isinstance(min_size, bool) or not isinstance(min_size, int | float | np.number):
            raise DataSetTypeError(f"min_size: got {min_size!r}, expected a number of bytes")
        elif min_size < 0:
            raise InvalidDataSetParameter(f"min_size: got {min_size}, expected >= 0")
        #: the array as given; None in a stripped copy (see `stripped`)
        self._input: da.Array | None = dask_array
        self._sig_dims = sig_dims
        self._preserve = bool(preserve_dimensions)
        self._min_size = float(min_size)
        self._array: Any = None
        self._nav_order: tuple[int, ...] | None = None
        self._stripped: DaskDataSet | None = None
        self._blocks: Any = None
        self._nav_chunks: Any = None

    @property
    def array(self) -> Any:
        """The adapted Dask array the partitions come from."""
        return self._array

    @property
    def nav_order(self) -> tuple[int, ...] | None:
        """With ``preserve_dimensions=False``: the input's navigation axes in dataset order."""
        return self._nav_order

    def initialize(self, executor: Any) -> DaskDataSet:
        arr = self._input
        if arr is None:
            raise DataSetTypeError("a stripped Dask dataset (a graph descriptor) has no array")
        nav_dims = arr.ndim - self._sig_dims
        if not self._preserve:
            chunks = arr.chunks
            order = sorted(range(nav_dims), key=lambda ax: -len(chunks[ax]))
            if order != list(range(nav_dims)):
                warnings.warn(
                    f"preserve_dimensions=False: navigation axes reordered to {tuple(order)}",
                    DaskRechunkWarning,
                    stacklevel=2,
                )
                arr = arr.transpose(tuple(order) + tuple(range(nav_dims, arr.ndim)))
                self._nav_order = tuple(order)
        new = adapt_chunks(
            arr.chunks, arr.shape, np.dtype(arr.dtype).itemsize, self._sig_dims, self._min_size
        )
        if new != arr.chunks:
            warnings.warn(
                f"dask_array: rechunked from {_short(arr.chunks)} to {_short(new)} so that "
                "partitions are contiguous runs of frames of at least "
                f"min_size={self._min_size:g} bytes",
                DaskRechunkWarning,
                stacklevel=2,
            )
            arr = arr.rechunk(new)
        self._array = arr
        shape = tuple(int(s) for s in arr.shape)
        self._meta = DataSetMeta(
            shape=Shape(shape, sig_dims=self._sig_dims),
            raw_dtype=np.dtype(arr.dtype),
            image_count=prod(shape[:nav_dims]),
        )
        return self

    def check_valid(self) -> bool:
        return True

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_stripped"] = None
        state["_blocks"] = None
        return state

    def stripped(self) -> DaskDataSet:
        """A shallow copy without the Dask arrays (shape, dtype and chunking are kept)."""
        if self._stripped is None:
            import copy

            clone = copy.copy(self)
            clone._input = None
            clone._array = None
            clone._stripped = None
            clone._blocks = None
            clone._nav_chunks = self._array.chunks
            self._stripped = clone
        return self._stripped

    def block_delayeds(self) -> Any:
        """``Delayed`` objects of the adapted array's blocks, indexed by block position."""
        if self._blocks is None:
            self._blocks = self._array.to_delayed(optimize_graph=False)
        return self._blocks

    def get_source(self) -> _core.DataSource:
        raise TypeError("a Dask dataset is read through its partitions (one chunk each)")

    def _chunks(self) -> Any:
        return self._array.chunks if self._array is not None else self._nav_chunks

    def get_num_partitions(self) -> int:
        nav_dims = len(self.shape) - self._sig_dims
        return prod(len(c) for c in self._chunks()[:nav_dims])

    def get_partitions(self) -> Iterator[DaskPartition]:
        import itertools

        nav_dims = len(self.shape) - self._sig_dims
        nav_chunks = self._chunks()[:nav_dims]
        nav_shape = tuple(self.shape)[:nav_dims]
        starts = [np.cumsum((0,) + c[:-1]) for c in nav_chunks]
        for index, block in enumerate(itertools.product(*(range(len(c)) for c in nav_chunks))):
            origin = tuple(int(s[b]) for s, b in zip(starts, block, strict=True))
            size = prod(c[b] for c, b in zip(nav_chunks, block, strict=True))
            start = int(np.ravel_multi_index(origin, nav_shape))
            yield DaskPartition(self, index, start, start + size, block + (0,) * self._sig_dims)


def _short(chunks: tuple[tuple[int, ...], ...]) -> str:
    parts = []
    for c in chunks:
        parts.append(f"({c[0]},)*{len(c)}" if len(set(c)) == 1 and len(c) > 3 else str(c))
    return "(" + ", ".join(parts) + ")"
