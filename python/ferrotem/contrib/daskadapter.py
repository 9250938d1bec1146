"""``make_dask_array``: any ferrotem dataset as a Dask array, one block per partition.

Each block is read by the Rust core inside its task (GIL released), converted to ``dtype``.
Partition boundaries fall on whole scan rows where the scan allows, so reshaping the flat
blocks to the dataset shape does not re-chunk.
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np

from ferrotem.common.aligned import aligned_empty
from ferrotem.common.roi import normalize_roi
from ferrotem.io.dataset.base import DataSet, Partition, ensure_initialized
from ferrotem.io.dataset.memory import check_data_dtype

__all__ = ["make_dask_array", "read_partition"]


def read_partition(
    partition: Partition,
    dtype: np.dtype,
    roi: np.ndarray | None = None,
    chunk: Any = None,
) -> np.ndarray:
    """The frames of ``partition`` (those selected by ``roi``, the partition's part of a flat
    navigation mask) as an ``(n, *sig)`` array of ``dtype``."""
    source, offset = partition.open_local(chunk)
    sig = tuple(partition.dataset.shape.sig)
    start, stop = partition.start, partition.stop
    if roi is None:
        out = aligned_empty((stop - start,) + sig, dtype)
        source.read(start - offset, stop - start, out.reshape(-1).view(np.uint8), out.dtype.str)
    else:
        frames = (np.flatnonzero(roi) + (start - offset)).astype(np.uint64)
        out = aligned_empty((len(frames),) + sig, dtype)
        source.read_selected(frames, out.reshape(-1).view(np.uint8), out.dtype.str)
    return out


def make_dask_array(
    dataset: DataSet,
    dtype: Any = "float32",
    roi: Any = None,
    array_backend: str | None = None,
) -> tuple[Any, dict[Any, Any]]:
    """A Dask array of ``dataset`` and a map of preferred workers.

    Without ``roi`` the array has the dataset's shape; with a ROI it is flat:
    ``(n_selected, *sig)`` in flat navigation order. The map holds, for each block that has a
    preferred location, the block's key and the workers to compute it on; pass it as
    ``compute(workers=workers)``. ferrotem's datasets can be read anywhere the file is
    reachable, so the map is usually empty, which every scheduler accepts.
    """
    import dask
    import dask.array as da

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
    sig = tuple(shape.sig)
    roi_flat = normalize_roi(roi, tuple(shape.nav))
    run_id = uuid.uuid4().hex[:16]
    blocks = []
    workers: dict[Any, Any] = {}
    for p in dataset.get_partitions():
        part_roi = None if roi_flat is None else roi_flat[p.start : p.stop]
        n = p.stop - p.start if part_roi is None else int(np.count_nonzero(part_roi))
        if n == 0:
            continue
        chunk = p.chunk_delayed() if hasattr(p, "chunk_delayed") else None
        node = dask.delayed(read_partition, pure=True)(
            p.graph_descriptor(),
            dtype,
            part_roi,
            chunk,
            dask_key_name=f"ferrotem-read-{run_id}-{p.index}",
        )
        blocks.append(da.from_delayed(node, shape=(n,) + sig, dtype=dtype))
        locations = p.get_locations()
        if locations:
            workers[node.key] = locations
    if not blocks:
        return da.zeros((0,) + sig, dtype=dtype), workers
    arr = da.concatenate(blocks, axis=0)
    if roi_flat is None:
        arr = arr.reshape(tuple(shape))
    return arr, workers
