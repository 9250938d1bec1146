"""``'raw'``: a headerless file of C-ordered frames."""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np

from ferrotem import _core
from ferrotem.common.exceptions import DataSetTypeError, InvalidDataSetParameter
from ferrotem.common.shape import Shape
from ferrotem.io.dataset.base import (
    DataSet,
    DataSetMeta,
    check_file,
    check_int,
    check_shape,
    file_identity,
)
from ferrotem.io.dataset.memory import check_data_dtype


def parse_dtype(name: str, dtype: Any) -> np.dtype:
    """numpy dtype from user input, naming the parameter on failure."""
    if dtype is None:
        raise DataSetTypeError(f"{name}: got None, expected a numpy dtype such as 'uint16'")
    try:
        result: np.dtype = np.dtype(dtype)
    except (TypeError, ValueError):
        raise DataSetTypeError(
            f"{name}: got {dtype!r}, expected a numpy dtype such as 'uint16' or '>u2'"
        ) from None
    check_data_dtype(name, result)
    return result


class RawFileDataSet(DataSet):
    """Frames stored one after the other in C order, without a header.

    ``dtype`` may carry a byte order (``'>u2'``). ``nav_shape`` and ``sig_shape`` are required
    (``scan_size`` / ``detector_size`` are accepted as deprecated aliases).
    """

    def __init__(
        self,
        path: Any,
        dtype: Any,
        scan_size: tuple[int, ...] | None = None,
        detector_size: tuple[int, ...] | None = None,
        enable_direct: bool = False,
        detector_size_raw: tuple[int, ...] | None = None,
        crop_detector_to: tuple[int, ...] | None = None,
        tileshape: tuple[int, ...] | None = None,
        nav_shape: tuple[int, ...] | None = None,
        sig_shape: tuple[int, ...] | None = None,
        sync_offset: int = 0,
        io_backend: Any = None,
        num_partitions: int | None = None,
    ):
        super().__init__(io_backend=io_backend)
        if scan_size is not None:
            warnings.warn("scan_size is deprecated, use nav_shape", FutureWarning, stacklevel=2)
            nav_shape = nav_shape if nav_shape is not None else scan_size
        if detector_size is not None:
            warnings.warn("detector_size is deprecated, use sig_shape", FutureWarning, stacklevel=2)
            sig_shape = sig_shape if sig_shape is not None else detector_size
        if detector_size_raw is not None or crop_detector_to is not None:
            raise InvalidDataSetParameter(
                "detector_size_raw / crop_detector_to: cropping raw frames is not supported; "
                "give the stored frame shape as sig_shape"
            )
        if nav_shape is None:
            raise DataSetTypeError("nav_shape: missing, expected the scan shape, e.g. (64, 64)")
        if sig_shape is None:
            raise DataSetTypeError(
                "sig_shape: missing, expected the detector frame shape, e.g. (256, 256)"
            )
        self._path = path
        self._dtype = parse_dtype("dtype", dtype)
        self._nav_shape = check_shape("nav_shape", nav_shape)
        self._sig_shape = check_shape("sig_shape", sig_shape)
        self._sync_offset = check_int("sync_offset", sync_offset)
        if num_partitions is not None:
            num_partitions = check_int("num_partitions", num_partitions, minimum=1)
        self._num_partitions = num_partitions

    def _open(self) -> _core.DataSource:
        return _core.DataSource.raw(
            self._path,
            self._dtype.str,
            list(self._nav_shape),
            list(self._sig_shape),
            self._sync_offset,
        )

    def _source_key(self) -> Any:
        path = os.path.realpath(self._path)
        return (
            "raw",
            path,
            self._dtype.str,
            self._nav_shape,
            self._sig_shape,
            self._sync_offset,
            file_identity(path),
            os.environ.get("FERROTEM_IO"),
        )

    def initialize(self, executor: Any) -> RawFileDataSet:
        self._path = check_file("path", self._path)
        self.get_source()
        frame_bytes = int(np.prod(self._sig_shape)) * self._dtype.itemsize
        self._meta = DataSetMeta(
            shape=Shape(self._nav_shape + self._sig_shape, sig_dims=len(self._sig_shape)),
            raw_dtype=self._dtype,
            image_count=os.path.getsize(self._path) // frame_bytes,
            sync_offset=self._sync_offset,
        )
        return self
