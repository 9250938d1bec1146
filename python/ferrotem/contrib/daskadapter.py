"""``make_dask_array``: any ferrotem dataset as a Dask array.

Each partition is cut into sub-blocks of a few MiB (see :func:`plan_blocks`); each block is read
by the Rust core inside its own task (GIL released), converted to ``dtype`` on the way. Blocks
never straddle a partition, and partition boundaries are chunk boundaries of the array.

Why sub-blocks rather than one block per partition: a partition is sized for the engine's own
tasks (a quarter of the data or more), so one block per partition meant a freshly allocated,
partition-sized array per task (its page faults cost more than the read itself), one task per
worker thread, and reductions that stream the whole block through memory twice. Blocks of a few
MiB keep every worker busy, stay in the cache between the read and the next operation on them,
and are small enough (below glibc's 32 MiB mmap threshold) that a block freed by Dask hands its
memory to the next one without new page faults.
"""

from __future__ import annotations

import bisect
import math
import uuid
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ferrotem.common.aligned import aligned_empty
from ferrotem.common.math import prod
from ferrotem.common.roi import normalize_roi
from ferrotem.io.dataset.base import DataSet, Partition, ensure_initialized
from ferrotem.io.dataset.memory import check_data_dtype

__all__ = ["BlockPlan", "PlannedBlock", "make_dask_array", "plan_blocks", "read_partition"]

#: Largest block (bytes of the output dtype): the read and the next operation on the block (a
#: reduction, an arithmetic step) should find it in the cache, with a block per worker in flight.
MAX_BLOCK_BYTES = 8 << 20
#: Smallest block worth a task: below this, Dask's per-task work (~0.1-0.5 ms with the threaded
#: scheduler, more when it fuses the read into the next task) outweighs reading the block.
MIN_BLOCK_BYTES = 1 << 20
#: Blocks per worker thread the plan aims for on small datasets, so that all workers get work.
BLOCKS_PER_WORKER = 4


# -- reading ------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class _Block:
    """One block of the array: frames ``start .. start + n_frames`` of ``partition`` (flat
    navigation indices), or the listed ``frames`` when a ROI selects them; ``shape`` is the
    block's shape in the array."""

    partition: Partition
    start: int
    n_frames: int
    shape: tuple[int, ...]
    frames: np.ndarray | None = None


def _read_block(block: _Block, dtype: np.dtype, chunk: Any = None) -> np.ndarray:
    """The block's frames as an array of ``dtype`` (``chunk``: the partition's data, for datasets
    whose partitions arrive as Dask chunks)."""
    partition = block.partition
    source, offset = partition.open_local(chunk)
    sig = tuple(partition.dataset.shape.sig)
    out = aligned_empty((block.n_frames,) + sig, dtype)
    flat = out.reshape(-1).view(np.uint8)
    if block.frames is None:
        source.read(block.start - offset, block.n_frames, flat, out.dtype.str)
    else:
        source.read_selected((block.frames - offset).astype(np.uint64), flat, out.dtype.str)
    return out.reshape(block.shape)


def read_partition(
    partition: Partition,
    dtype: np.dtype,
    roi: np.ndarray | None = None,
    chunk: Any = None,
) -> np.ndarray:
    """The frames of ``partition`` (those selected by ``roi``, the partition's part of a flat
    navigation mask) as an ``(n, *sig)`` array of ``dtype``."""
    sig = tuple(partition.dataset.shape.sig)
    if roi is None:
        n = partition.stop - partition.start
        block = _Block(partition, partition.start, n, (n,) + sig)
    else:
        frames = np.flatnonzero(roi) + partition.start
        block = _Block(partition, partition.start, len(frames), (len(frames),) + sig, frames)
    return _read_block(block, np.dtype(dtype), chunk)


# -- planning -----------------------------------------------------------------------------------
class PlannedBlock(NamedTuple):
    """One block of a :class:`BlockPlan`."""

    #: index of the block in the chunk grid
    grid: tuple[int, ...]
    #: index of the partition that holds it
    partition: int
    #: first flat frame index of a contiguous run (unused when ``frames`` is given)
    start: int
    #: number of frames
    n_frames: int
    #: the selected flat frame indices, with a ROI
    frames: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class BlockPlan:
    """How the array is cut: its ``shape`` and ``chunks``, and its blocks. ``reshape`` is the
    shape to give the array afterwards (only for scans whose partitions do not align with a
    chunk grid of the scan; None otherwise)."""

    shape: tuple[int, ...]
    chunks: tuple[tuple[int, ...], ...]
    blocks: list[PlannedBlock]
    reshape: tuple[int, ...] | None = None


def _split(n: int, pieces: int) -> list[int]:
    """``n`` split into ``pieces`` near-equal positive sizes, the larger ones first."""
    pieces = max(1, min(n, pieces))
    base, extra = divmod(n, pieces)
    return [base + 1] * extra + [base] * (pieces - extra)


def block_frames(total_frames: int, frame_bytes: int, workers: int) -> int:
    """Frames per block: about ``MAX_BLOCK_BYTES``, less on small datasets so that each of
    ``workers`` threads gets ``BLOCKS_PER_WORKER`` blocks, never under ``MIN_BLOCK_BYTES``."""
    want = total_frames * frame_bytes // max(1, workers * BLOCKS_PER_WORKER)
    target = min(MAX_BLOCK_BYTES, max(MIN_BLOCK_BYTES, want))
    return max(1, target // max(1, frame_bytes))


def plan_blocks(
    nav: tuple[int, ...],
    sig: tuple[int, ...],
    bounds: list[tuple[int, int]],
    per_block: int,
    roi: np.ndarray | None = None,
) -> BlockPlan:
    """Cuts the partitions ``bounds`` (``(start, stop)`` in flat navigation order) of a dataset
    of shape ``nav + sig`` into blocks of at most about ``per_block`` frames.

    * With a ROI (a flat mask) the array is flat, ``(n_selected, *sig)``; each partition's
      selected frames are split into near-equal runs.
    * Without one, the array has the dataset's shape. When every partition starts and ends on a
      whole "plane" (``prod(nav[1:])`` frames; a scan row for a 2-D scan), blocks are groups of
      whole planes inside a partition; a plane larger than ``per_block`` is cut along the next
      navigation axes into equal pieces (the same cut in every plane, as a chunk grid needs).
    * Otherwise (fewer planes than partitions), one block per partition in flat order, reshaped
      afterwards; Dask merges chunks where that reshape needs it.
    """
    per_block = max(1, per_block)
    sig_chunks = tuple((s,) for s in sig)
    sig_grid = (0,) * len(sig)
    blocks: list[PlannedBlock] = []
    chunks0: list[int] = []
    if roi is not None:
        for index, (start, stop) in enumerate(bounds):
            selected = np.flatnonzero(roi[start:stop]) + start
            if len(selected) == 0:
                continue
            offset = 0
            for size in _split(len(selected), math.ceil(len(selected) / per_block)):
                frames = selected[offset : offset + size]
                blocks.append(PlannedBlock((len(chunks0),) + sig_grid, index, 0, size, frames))
                chunks0.append(size)
                offset += size
        return BlockPlan((sum(chunks0),) + sig, (tuple(chunks0),) + sig_chunks, blocks)

    plane = prod(nav[1:])
    if any(start % plane or stop % plane for start, stop in bounds):
        for index, (start, stop) in enumerate(bounds):
            blocks.append(PlannedBlock((index,) + sig_grid, index, start, stop - start))
            chunks0.append(stop - start)
        flat = (prod(nav),) + sig
        return BlockPlan(flat, (tuple(chunks0),) + sig_chunks, blocks, reshape=nav + sig)

    if plane <= per_block:
        # groups of whole planes, each inside one partition
        rest = (0,) * (len(nav) - 1) + sig_grid
        for index, (start, stop) in enumerate(bounds):
            planes = (stop - start) // plane
            first = start
            for size in _split(planes, math.ceil(planes / (per_block // plane))):
                blocks.append(PlannedBlock((len(chunks0),) + rest, index, first, size * plane))
                chunks0.append(size)
                first += size * plane
        chunks = (tuple(chunks0),) + tuple((s,) for s in nav[1:]) + sig_chunks
        return BlockPlan(nav + sig, chunks, blocks)

    # A plane is too large: single indices along the axes before k, equal pieces along axis k,
    # whole axes after it. Each block is then a contiguous run of frames inside one plane, so
    # inside one partition.
    k = next(k for k in range(1, len(nav)) if prod(nav[k + 1 :]) <= per_block)
    unit = prod(nav[k + 1 :])
    pieces = _split(nav[k], math.ceil(nav[k] / (per_block // unit)))
    chunks = (
        tuple((1,) * nav[a] for a in range(k))
        + (tuple(pieces),)
        + tuple((s,) for s in nav[k + 1 :])
        + sig_chunks
    )
    starts = [start for start, _ in bounds]
    rest = (0,) * (len(nav) - k - 1) + sig_grid
    for lead in np.ndindex(*nav[:k]):
        first = int(np.ravel_multi_index(lead, nav[:k])) * prod(nav[k:])
        for j, size in enumerate(pieces):
            index = bisect.bisect_right(starts, first) - 1
            grid = tuple(int(i) for i in lead) + (j,) + rest
            blocks.append(PlannedBlock(grid, index, first, size * unit))
            first += size * unit
    return BlockPlan(nav + sig, chunks, blocks)


# -- the array ----------------------------------------------------------------------------------
def _worker_count() -> int:
    """Threads of Dask's default local scheduler."""
    from dask.system import CPU_COUNT

    return max(1, int(CPU_COUNT))


def make_dask_array(
    dataset: DataSet,
    dtype: Any = "float32",
    roi: Any = None,
    array_backend: str | None = None,
) -> tuple[Any, dict[Any, Any]]:
    """A Dask array of ``dataset`` and a map of preferred workers.

    Without ``roi`` the array has the dataset's shape; with a ROI it is flat:
    ``(n_selected, *sig)`` in flat navigation order. Blocks are a few MiB each and never cross
    a partition boundary (see ``docs/dask.md``). The map holds, for each block that has a
    preferred location, the block's key and the workers to compute it on; pass it as
    ``compute(workers=workers)``. ferrotem's datasets can be read anywhere the file is
    reachable, so the map is usually empty, which every scheduler accepts.
    """
    import dask.array as da
    from dask.highlevelgraph import HighLevelGraph

    if not isinstance(dataset, DataSet):
        raise TypeError(
            f"dataset: got {type(dataset).__name__}, expected a dataset from ctx.load(...)"
        )
    dataset = ensure_initialized(dataset, None)  # a dataset built directly, as in LiberTEM
    if array_backend not in (None, "numpy"):
        raise ValueError(
            f"array_backend: got {array_backend!r}, expected None or 'numpy' (the only array "
            "type ferrotem delivers)"
        )
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype: got {dtype!r}, expected a numpy dtype") from None
    check_data_dtype("dtype", dtype)
    shape = dataset.shape
    nav, sig = tuple(shape.nav), tuple(shape.sig)
    roi_flat = normalize_roi(roi, nav)
    partitions = list(dataset.get_partitions())
    bounds = [(p.start, p.stop) for p in partitions]
    selected = prod(nav) if roi_flat is None else int(np.count_nonzero(roi_flat))
    if selected == 0:
        return da.zeros((0,) + sig, dtype=dtype), {}
    per_block = block_frames(selected, prod(sig) * dtype.itemsize, _worker_count())
    plan = plan_blocks(nav, sig, bounds, per_block, roi_flat)

    name = f"ferrotem-read-{uuid.uuid4().hex[:16]}"
    descriptors = [p.graph_descriptor() for p in partitions]
    chunk_nodes = [p.chunk_delayed() if hasattr(p, "chunk_delayed") else None for p in partitions]
    layer: dict[Any, Any] = {}
    workers: dict[Any, Any] = {}
    for planned in plan.blocks:
        index = planned.partition
        block_shape = tuple(c[i] for c, i in zip(plan.chunks, planned.grid, strict=True))
        block = _Block(
            descriptors[index], planned.start, planned.n_frames, block_shape, planned.frames
        )
        key = (name,) + planned.grid
        node = chunk_nodes[index]
        # a Dask dataset's chunk is a real dependency: its key, substituted by its value
        layer[key] = (
            (_read_block, block, dtype) if node is None else (_read_block, block, dtype, node.key)
        )
        locations = partitions[index].get_locations()
        if locations:
            workers[key] = locations
    dependencies = [n for n in chunk_nodes if n is not None]
    graph = HighLevelGraph.from_collections(name, layer, dependencies=dependencies)
    meta = np.empty((0,) * len(plan.shape), dtype=dtype)
    arr = da.Array(graph, name, plan.chunks, dtype=dtype, meta=meta)
    if plan.reshape is not None:
        arr = arr.reshape(plan.reshape)
    return arr, workers
