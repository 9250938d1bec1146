"""The frames of an export: which runs of output frames each work item covers (items hold whole
chunks, so that items are written independently), how an item's frames are read, and how they
are cut into chunks."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ferrotem.common.aligned import aligned_empty
from ferrotem.common.math import prod
from ferrotem.io.dataset.base import DataSet

#: bytes of output frames one work item aims at: big enough that per-item Python work is
#: negligible, small enough that a few items in flight per thread stay in memory comfortably
ITEM_BYTES = 32 << 20


@dataclass(frozen=True)
class Item:
    """A run of output frames ``first .. first + count`` (flat), which is the box ``origin`` +
    ``box_shape`` of the output array: whole chunks along every axis, except where the array
    ends."""

    first: int
    count: int
    origin: tuple[int, ...]
    box_shape: tuple[int, ...]

    @property
    def index(self) -> tuple[slice, ...]:
        """The box as a tuple of slices of the output array."""
        return tuple(slice(o, o + n) for o, n in zip(self.origin, self.box_shape, strict=True))


def plan_items(
    shape: tuple[int, ...],
    sig_dims: int,
    chunks: tuple[int, ...] | None,
    itemsize: int,
    item_bytes: int = ITEM_BYTES,
) -> list[Item]:
    """The work items covering an output array of ``shape`` chunked as ``chunks`` (None: whole
    frames), in flat frame order.

    An item fixes the indices of the leading scan axes whose chunks are one frame wide, takes a
    run of whole chunks along one scan axis ``m`` and everything of the axes after it: a box of
    the array that is also a contiguous run of frames. ``m`` is the earliest such axis whose
    chunk row still fits in ``item_bytes``, so that items are as big as allowed.
    """
    nav_dims = len(shape) - sig_dims
    nav = shape[:nav_dims]
    if nav_dims == 0 or prod(nav) == 0:
        return []
    chunk = chunks if chunks is not None else (1,) * nav_dims + shape[nav_dims:]
    frame_bytes = max(1, prod(shape[nav_dims:]) * itemsize)
    # axes before m must have one-frame chunks for a box to be a contiguous run of frames
    latest = next((i for i in range(nav_dims) if chunk[i] > 1), nav_dims - 1)
    m = latest
    for axis in range(latest + 1):
        if chunk[axis] * prod(nav[axis + 1 :]) * frame_bytes <= item_bytes:
            m = axis
            break
    per_index = prod(nav[m + 1 :])  # frames per index of axis m
    unit = chunk[m] * per_index * frame_bytes
    step = chunk[m] * max(1, item_bytes // max(unit, 1))
    items = []
    for prefix in np.ndindex(*nav[:m]):
        outer = int(np.ravel_multi_index(prefix, nav[:m])) if m else 0
        for start in range(0, nav[m], step):
            stop = min(nav[m], start + step)
            items.append(
                Item(
                    first=(outer * nav[m] + start) * per_index,
                    count=(stop - start) * per_index,
                    origin=tuple(int(p) for p in prefix) + (start,) + (0,) * (len(shape) - m - 1),
                    box_shape=(1,) * m + (stop - start,) + shape[m + 1 :],
                )
            )
    return items


class FrameReader:
    """Reads runs of output frames of ``dataset`` (those selected by ``roi_flat``, in flat order)
    as ``dtype``: through the dataset's Rust source, GIL released, for file and memory
    datasets; through its Dask array for datasets whose partitions arrive as Dask chunks."""

    def __init__(self, dataset: DataSet, roi_flat: np.ndarray | None, dtype: np.dtype):
        self.dataset = dataset
        self.dtype = dtype
        self.sig = tuple(dataset.shape.sig)
        self.selected = None if roi_flat is None else np.flatnonzero(roi_flat).astype(np.uint64)
        self._dask: Any = None
        if dataset.whole_source:
            self._source = dataset.get_source()
        else:
            from ferrotem.contrib.daskadapter import make_dask_array

            array, _ = make_dask_array(dataset, dtype=dtype, roi=roi_flat)
            self._dask = array.reshape((-1,) + self.sig)

    def read(self, first: int, count: int) -> np.ndarray:
        """Output frames ``first .. first + count`` as a fresh ``(count, *sig)`` array."""
        if self._dask is not None:
            block: np.ndarray = np.asarray(
                self._dask[first : first + count].compute(scheduler="sync"), dtype=self.dtype
            )
            return block
        out = aligned_empty((count,) + self.sig, self.dtype)
        flat = out.reshape(-1).view(np.uint8)
        if self.selected is None:
            self._source.read(first, count, flat, self.dtype.str)
        else:
            self._source.read_selected(self.selected[first : first + count], flat, self.dtype.str)
        return out


def chunk_stack(
    block: np.ndarray, item: Item, chunks: tuple[int, ...]
) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """The chunks of ``item``'s ``block`` (its frames, shaped as the item's box): an array of
    ``(n_chunks, chunk elements)``, C-contiguous, edge chunks padded with zeros (HDF5 stores
    chunks whole), and each chunk's offset in the output array."""
    box = item.box_shape
    data = block.reshape(box)
    grid = tuple(math.ceil(n / c) for n, c in zip(box, chunks, strict=True))
    padded = tuple(g * c for g, c in zip(grid, chunks, strict=True))
    if padded != box:
        full = np.zeros(padded, dtype=block.dtype)
        full[tuple(slice(0, n) for n in box)] = data
        data = full
    split = data.reshape(tuple(x for g, c in zip(grid, chunks, strict=True) for x in (g, c)))
    order = tuple(range(0, 2 * len(box), 2)) + tuple(range(1, 2 * len(box), 2))
    stack = np.ascontiguousarray(split.transpose(order)).reshape(prod(grid), prod(chunks))
    offsets = [
        tuple(o + g * c for o, g, c in zip(item.origin, index, chunks, strict=True))
        for index in np.ndindex(*grid)
    ]
    return stack, offsets
