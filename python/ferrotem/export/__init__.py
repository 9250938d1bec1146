"""Export and conversion: a dataset (or the frames a ROI selects) written to ``.npy``, raw,
HDF5 or Zarr, in parallel: ``ctx.export_dataset`` and ``ferrotem convert``.

Work items (runs of frames holding whole chunks, see :mod:`.frames`) go through a thread pool:
each thread reads its item through the Rust core and writes or encodes it (see
:mod:`.writers`); the calling thread completes items in order and updates the progress bar. A
bounded number of items is in flight, so memory stays at a few items per thread.
"""

from __future__ import annotations

import concurrent.futures
import os
from collections import deque
from typing import Any

import numpy as np

from ferrotem.common.roi import normalize_roi
from ferrotem.export.frames import FrameReader, Item, plan_items
from ferrotem.export.options import (
    COMPRESSIONS,
    FORMATS,
    ExportOptions,
    check_target,
    chunks_of,
    compression_of,
    format_of,
)
from ferrotem.export.writers import WRITERS, Writer
from ferrotem.io.dataset.base import DataSet, native_dtype

__all__ = ["COMPRESSIONS", "FORMATS", "ExportOptions", "export", "plan_export"]


def plan_export(
    dataset: DataSet,
    path: Any,
    *,
    format: Any = None,
    roi: Any = None,
    dtype: Any = None,
    chunks: Any = None,
    compression: Any = None,
    compression_level: Any = None,
    ds_path: str = "/data",
    overwrite: bool = False,
) -> tuple[ExportOptions, np.ndarray | None]:
    """The checked options of an export of ``dataset`` (initialised) and its flat ROI mask."""
    target = check_target(path, overwrite)
    fmt = format_of(target, format)
    nav, sig = tuple(dataset.shape.nav), tuple(dataset.shape.sig)
    roi_flat = normalize_roi(roi, nav)
    shape = nav + sig if roi_flat is None else (int(np.count_nonzero(roi_flat)),) + sig
    if dtype is None:
        out_dtype = native_dtype(dataset.dtype)
    else:
        try:
            out_dtype = native_dtype(np.dtype(dtype))
        except TypeError:
            raise TypeError(f"dtype: got {dtype!r}, expected a numpy dtype") from None
        if out_dtype.kind not in "uifcb":
            raise ValueError(f"dtype: got {dtype!r}, expected a numeric dtype")
    name, level = compression_of(fmt, compression, compression_level)
    chunk_shape = chunks_of(fmt, chunks, shape, len(sig), out_dtype.itemsize)
    if not isinstance(ds_path, str) or not ds_path.strip("/"):
        raise ValueError(f"ds_path: got {ds_path!r}, expected a dataset path such as '/data'")
    options = ExportOptions(
        path=target,
        format=fmt,
        shape=shape,
        sig_dims=len(sig),
        dtype=out_dtype,
        chunks=chunk_shape,
        compression=name,
        level=level,
        ds_path=ds_path,
    )
    return options, roi_flat


def export(
    dataset: DataSet,
    options: ExportOptions,
    roi_flat: np.ndarray | None = None,
    *,
    progress: bool = False,
    threads: int | None = None,
) -> None:
    """Writes ``dataset`` as ``options`` say, with ``threads`` threads (default: one per CPU
    this process may use). A failed export removes what it wrote."""
    reader = FrameReader(dataset, roi_flat, options.dtype)
    items = plan_items(options.shape, options.sig_dims, options.chunks, options.dtype.itemsize)
    if threads is None:
        threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        threads = threads or os.cpu_count() or 1
    writer = WRITERS[options.format](options)
    try:
        _run(reader, writer, items, max(1, threads), progress, options.n_frames)
    except BaseException:
        writer.close()
        writer.discard()
        raise
    writer.close()


def _run(
    reader: FrameReader,
    writer: Writer,
    items: list[Item],
    threads: int,
    progress: bool,
    n_frames: int,
) -> None:
    from tqdm.auto import tqdm

    def work(item: Item) -> Any:
        return writer.write(item, reader.read(item.first, item.count))

    with (
        tqdm(total=n_frames, unit="frame", disable=not progress, desc="export") as bar,
        concurrent.futures.ThreadPoolExecutor(
            threads, thread_name_prefix="ferrotem-export"
        ) as pool,
    ):
        pending: deque[tuple[Item, concurrent.futures.Future[Any]]] = deque()
        queue = iter(items)
        try:
            for item in queue:
                pending.append((item, pool.submit(work, item)))
                # two items per thread in flight: one being read, one being written
                while len(pending) >= 2 * threads:
                    _complete(pending.popleft(), writer, bar)
            while pending:
                _complete(pending.popleft(), writer, bar)
        except BaseException:
            for _, future in pending:
                future.cancel()
            raise


def _complete(entry: tuple[Item, concurrent.futures.Future[Any]], writer: Writer, bar: Any) -> None:
    item, future = entry
    writer.finish(future.result())
    bar.update(item.count)
