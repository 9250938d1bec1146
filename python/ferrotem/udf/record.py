"""``RecordUDF``: the dataset written to a NumPy ``.npy`` file, as stored (dtype and shape)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ferrotem.common.buffers import BufferWrapper, reshaped_view
from ferrotem.common.math import prod
from ferrotem.common.shape import Shape
from ferrotem.udf.base import UDF

__all__ = ["RecordUDF"]


class RecordUDF(UDF):
    """Records the input data as a NumPy ``.npy`` file of the dataset's shape and dtype.

    The main node creates the file (overwriting one that exists) before the run; each task
    opens it as a memory map and writes its tiles in place, so every executor whose workers see
    the same file system can record (on a Dask cluster: a shared directory). A run with an ROI
    raises ``RuntimeError``: the file holds the whole dataset. The delayed executor runs tasks
    only when results are computed, and a recording has none: it refuses the run with
    ``UDFException`` (LiberTEM 0.16 fails there too).

    Parameters:

    - ``filename``: where to save (``str`` or path-like).
    - ``_is_master``: internal, keep the default (workers rebuild the UDF with ``False`` and
      do not create the file again).
    """

    def __init__(self, filename: str | os.PathLike[str], _is_master: bool = True) -> None:
        self._is_master = _is_master
        super().__init__(filename=filename, _is_master=False)

    def get_preferred_input_dtype(self) -> Any:
        return self.USE_NATIVE_DTYPE

    @property
    def _ds_shape(self) -> Shape:
        # only during a run
        shape: Shape = self.meta.dataset_shape
        return shape

    @property
    def _memmap_flat_shape(self) -> tuple[int, ...]:
        return (prod(self._ds_shape.nav), *self._ds_shape.sig)

    def _open(self, mode: str) -> np.ndarray:
        memmap: np.ndarray = np.lib.format.open_memmap(
            self.params.filename,
            mode=mode,
            dtype=self.meta.input_dtype,
            shape=tuple(self._ds_shape),
        )
        return memmap

    def preprocess(self) -> None:
        if self.meta.roi is not None:
            raise RuntimeError("Recording with ROI is not supported.")
        if self._is_master:
            self._open("w+")

    def get_result_buffers(self) -> dict[str, BufferWrapper]:
        return {}

    def get_task_data(self) -> dict[str, Any]:
        return {"memmap": reshaped_view(self._open("r+"), self._memmap_flat_shape)}

    def process_tile(self, tile: np.ndarray) -> None:
        tile_slice = self.meta.slice
        assert tile_slice is not None  # the runner sets it for every tile
        tile_slice.get(self.task_data.memmap)[:] = tile
