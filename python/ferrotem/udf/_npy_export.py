"""``Context.export_dataset``: a dataset written to a ``.npy`` file, frames in place (the
writing UDF and the checks of the target path)."""

from __future__ import annotations

import os
import pathlib
from typing import Any

import numpy as np

from ferrotem.common.math import prod
from ferrotem.udf.base import UDF


class NpyWriterUDF(UDF):
    """Writes every frame at its place in an existing ``.npy`` file (created by
    :func:`export_dataset` on the main node before the run). Workers open the file themselves,
    so all of them must see the same path (a shared file system for a cluster)."""

    def __init__(self, filename: str):
        super().__init__(filename=filename)

    def get_preferred_input_dtype(self) -> Any:
        return self.USE_NATIVE_DTYPE

    def get_result_buffers(self) -> dict[str, Any]:
        # the count of written frames: checked afterwards, and it makes a lazy (delayed)
        # run compute
        return {"frames_written": self.buffer(kind="single", dtype=np.int64)}

    def get_task_data(self) -> dict[str, Any]:
        array = np.load(self.params.filename, mmap_mode="r+")
        shape = tuple(self.meta.dataset_shape)
        nav_size = prod(self.meta.dataset_shape.nav)
        sig = shape[len(shape) - len(self.meta.dataset_shape.sig) :]
        return {"frames": array.reshape((nav_size, *sig))}

    def process_tile(self, tile: np.ndarray) -> None:
        tile_slice = self.meta.slice
        assert tile_slice is not None  # the runner sets it for every tile
        tile_slice.get(self.task_data.frames)[:] = tile
        if tile_slice.origin[1:] == (0,) * (len(tile_slice.origin) - 1):
            # count each frame once: at its tile touching the frame's first pixel
            self.results.frames_written[:] += tile.shape[0]

    def merge(self, dest: Any, src: Any) -> None:
        dest.frames_written[:] += src.frames_written


def npy_path(path: os.PathLike[str] | str, overwrite: bool) -> pathlib.Path:
    """The checked target path: a ``.npy`` suffix, and no existing file unless ``overwrite``."""
    target = pathlib.Path(path)
    if target.suffix != ".npy":
        raise ValueError(
            f"path: got {str(target)!r} with extension {target.suffix!r}; only .npy is supported"
        )
    if not overwrite and target.exists():
        raise FileExistsError(f"path: {str(target)!r} exists; pass overwrite=True to replace it")
    return target


def create_npy(path: pathlib.Path, shape: tuple[int, ...], dtype: Any) -> None:
    """An ``.npy`` file of ``shape`` and ``dtype`` (zeros, written sparsely)."""
    array = np.lib.format.open_memmap(path, mode="w+", dtype=np.dtype(dtype), shape=shape)
    del array  # closes the map; the workers open the file themselves
