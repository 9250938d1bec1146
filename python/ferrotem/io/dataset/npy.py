"""``'npy'``: a numpy ``.npy`` file, C or Fortran order (LiberTEM refuses Fortran order)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ferrotem import _core
from ferrotem.common.exceptions import InvalidDataSetParameter
from ferrotem.common.math import prod
from ferrotem.common.shape import Shape
from ferrotem.io.dataset.base import (
    DataSet,
    DataSetMeta,
    check_file,
    check_int,
    check_shape,
    file_identity,
)


class NPYDataSet(DataSet):
    """A ``.npy`` file. Shape and dtype come from its header; ``nav_shape`` / ``sig_shape``
    reinterpret the stored array in C order from its start (and may take a subset)."""

    def __init__(
        self,
        path: Any,
        sig_dims: int | None = 2,
        nav_shape: tuple[int, ...] | None = None,
        sig_shape: tuple[int, ...] | None = None,
        sync_offset: int = 0,
        io_backend: Any = None,
        num_partitions: int | None = None,
    ):
        super().__init__(io_backend=io_backend)
        self._path = path
        self._nav_shape = None if nav_shape is None else check_shape("nav_shape", nav_shape)
        self._sig_shape = None if sig_shape is None else check_shape("sig_shape", sig_shape)
        if self._sig_shape is not None:
            sig_dims = len(self._sig_shape)
        self._sig_dims = check_int("sig_dims", 2 if sig_dims is None else sig_dims, minimum=1)
        self._sync_offset = check_int("sync_offset", sync_offset)
        if num_partitions is not None:
            num_partitions = check_int("num_partitions", num_partitions, minimum=1)
        self._num_partitions = num_partitions

    def _open(self) -> _core.DataSource:
        return _core.DataSource.npy(
            self._path,
            self._sig_dims,
            None if self._nav_shape is None else list(self._nav_shape),
            None if self._sig_shape is None else list(self._sig_shape),
            self._sync_offset,
        )

    def _source_key(self) -> Any:
        path = os.path.realpath(self._path)
        return (
            "npy",
            path,
            self._sig_dims,
            self._nav_shape,
            self._sig_shape,
            self._sync_offset,
            file_identity(path),
            os.environ.get("FERROTEM_IO"),
        )

    def initialize(self, executor: Any) -> NPYDataSet:
        self._path = check_file("path", self._path)
        dtype_str, fortran, stored_shape, _ = _core.npy_header(self._path)
        if self._sig_shape is None and self._sig_dims >= len(stored_shape):
            raise InvalidDataSetParameter(
                f"sig_dims: got {self._sig_dims}, expected 1 ..= {len(stored_shape) - 1} for an "
                f"array of shape {tuple(stored_shape)}"
            )
        source = self.get_source()
        nav, sig = tuple(source.nav_shape), tuple(source.sig_shape)
        self._meta = DataSetMeta(
            shape=Shape(nav + sig, sig_dims=len(sig)),
            raw_dtype=np.dtype(dtype_str),
            image_count=prod(stored_shape) // prod(sig),
            sync_offset=self._sync_offset,
            metadata={"fortran_order": fortran, "stored_shape": tuple(stored_shape)},
        )
        return self
