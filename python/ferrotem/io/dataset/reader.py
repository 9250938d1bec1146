"""Feeding the engine from a Python reader: a dataset whose frames come from Python code.

Subclass :class:`FrameReaderDataSet`, set the dataset's ``_meta`` in ``initialize`` (shape,
stored dtype, number of stored frames), and implement :meth:`FrameReaderDataSet.read_frames`.
Everything else — partitions, every executor, ROIs, ``sync_offset``, dtype conversion, native
and Python UDFs, ``make_dask_array`` — works as for the built-in formats: the Rust engine asks
the reader for stored frames (with the GIL held, from whichever thread needs them) and treats
them like frames read from a file. ``'hdf5'`` uses this for filters it does not decode itself.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ferrotem import _core
from ferrotem.common.math import prod
from ferrotem.io.dataset.base import DataSet

__all__ = ["FrameReaderDataSet"]


class FrameReaderDataSet(DataSet):
    """Base class of datasets read by Python code (see the module docs).

    The reader is asked for runs of consecutive stored frames; the last run read is kept, so
    that a run asked for again in pieces of pixels (large frames are processed in parts) is read
    once.
    """

    def __init__(self, io_backend: Any = None):
        super().__init__(io_backend=io_backend)
        self._last_lock = threading.Lock()
        self._last: tuple[int, int, np.ndarray] | None = None

    def read_frames(self, start: int, stop: int) -> np.ndarray:
        """Stored frames ``start .. stop`` in the stored dtype (``self.meta.raw_dtype``), as an
        array of ``stop - start`` frames of ``prod(sig_shape)`` pixels (any shape with that many
        elements in C order)."""
        raise NotImplementedError

    def reader_name(self) -> str:
        """How errors from the reader name this dataset."""
        return type(self).__name__

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_last_lock"] = None
        state["_last"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._last_lock = threading.Lock()

    def _open(self) -> _core.DataSource:
        meta = self.meta
        sig = tuple(meta.shape.sig)
        return _core.DataSource.from_reader(
            self._read_for_engine,
            meta.raw_dtype.str,
            list(meta.shape.nav),
            list(sig),
            meta.image_count,
            meta.sync_offset,
            self.reader_name(),
        )

    def _read_for_engine(self, first: int, count: int, pixel_start: int, pixel_stop: int) -> Any:
        """What the engine calls: stored frames ``first .. first + count``, pixels
        ``pixel_start .. pixel_stop`` of each flattened frame."""
        with self._last_lock:
            last = self._last
        if last is not None and last[0] == first and last[1] == count:
            frames = last[2]
        else:
            frames = np.asarray(self.read_frames(first, first + count))
            pixels = prod(tuple(self.meta.shape.sig))
            if frames.size != count * pixels:
                raise ValueError(
                    f"{self.reader_name()}: read_frames({first}, {first + count}) returned "
                    f"{frames.size} elements, expected {count} frames of {pixels} pixels"
                )
            frames = frames.reshape(count, pixels)
            with self._last_lock:
                self._last = (first, count, frames)
        if pixel_start == 0 and pixel_stop == frames.shape[1]:
            return frames
        return frames[:, pixel_start:pixel_stop]
