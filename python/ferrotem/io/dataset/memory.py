"""``'memory'``: a dataset over a numpy array (or zeros of a given ``datashape``)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import psutil

from ferrotem import _core
from ferrotem.common.exceptions import DataSetTypeError, InvalidDataSetParameter
from ferrotem.common.math import prod
from ferrotem.common.shape import Shape
from ferrotem.io.dataset.base import DataSet, DataSetMeta, check_int, check_shape

#: dtype kinds the Rust core reads
SUPPORTED_KINDS = "uifc"


def check_data_dtype(name: str, dtype: np.dtype) -> None:
    """Raises for dtypes the core cannot read (bool, strings, objects, ...)."""
    if dtype.kind not in SUPPORTED_KINDS or dtype.itemsize not in (1, 2, 4, 8, 16):
        raise DataSetTypeError(
            f"{name}: got an array of dtype {dtype}, expected a numeric dtype "
            "(uint8..uint64, int8..int64, float32, float64, complex64, complex128)"
        )


class MemoryDataSet(DataSet):
    """Frames in memory: ``ctx.load('memory', data=arr, sig_dims=2)`` or ``datashape=...``
    (float32 zeros).

    ``tileshape=(depth, *sig_part)`` forces that tiling for every run (tests use it to exercise
    partial-signal tiles); ``num_partitions`` defaults to the number of physical cores.
    """

    def __init__(
        self,
        tileshape: tuple[int, ...] | None = None,
        num_partitions: int | None = None,
        data: np.ndarray | None = None,
        sig_dims: int | None = None,
        check_cast: bool = True,
        tiledelay: float | None = None,
        datashape: tuple[int, ...] | None = None,
        base_shape: tuple[int, ...] | None = None,
        force_need_decode: bool = False,
        io_backend: Any = None,
        nav_shape: tuple[int, ...] | None = None,
        sig_shape: tuple[int, ...] | None = None,
        sync_offset: int = 0,
        array_backends: Any = None,
    ):
        super().__init__(io_backend=io_backend)
        _warn_unsupported_backends(array_backends)
        if data is None:
            if datashape is None:
                raise InvalidDataSetParameter(
                    "data: got None, expected a numpy array (or give datashape= for zeros)"
                )
            data = np.zeros(check_shape("datashape", datashape), dtype=np.float32)
        if not isinstance(data, np.ndarray):
            if hasattr(data, "__array__") and not hasattr(data, "dask"):
                data = np.asarray(data)
            else:
                raise DataSetTypeError(
                    f"data: got {type(data).__name__}, expected a numpy array "
                    "(use ctx.load('dask', ...) for Dask arrays)"
                )
        check_data_dtype("data", data.dtype)
        if nav_shape is not None:
            nav_shape = check_shape("nav_shape", nav_shape)
        if sig_shape is not None:
            sig_shape = check_shape("sig_shape", sig_shape)
        if sig_dims is None:
            if sig_shape is not None:
                sig_dims = len(sig_shape)
            elif nav_shape is not None:
                sig_dims = data.ndim - len(nav_shape)
            else:
                sig_dims = 2
        sig_dims = check_int("sig_dims", sig_dims)
        if sig_shape is not None and len(sig_shape) != sig_dims:
            raise InvalidDataSetParameter(
                f"sig_shape: got {sig_shape} ({len(sig_shape)} dims), expected sig_dims={sig_dims}"
                " dims"
            )
        if sig_shape is None and nav_shape is None and not 1 <= sig_dims < data.ndim:
            raise InvalidDataSetParameter(
                f"sig_dims: got {sig_dims}, expected 1 ..= {data.ndim - 1} for data of shape "
                f"{data.shape}"
            )
        if sig_shape is None:
            if not 1 <= sig_dims <= data.ndim:
                raise InvalidDataSetParameter(
                    f"sig_dims: got {sig_dims}, expected 1 ..= {data.ndim} for data of shape "
                    f"{data.shape}"
                )
            sig_shape = tuple(data.shape[data.ndim - sig_dims :])
        if nav_shape is None:
            sig_size = prod(sig_shape)
            if data.size % sig_size:
                raise InvalidDataSetParameter(
                    f"sig_shape: got {sig_shape}, expected a frame size dividing the data size "
                    f"{data.size}"
                )
            if data.shape[data.ndim - len(sig_shape) :] == tuple(sig_shape) and (
                data.ndim > len(sig_shape)
            ):
                nav_shape = tuple(data.shape[: data.ndim - len(sig_shape)])
            else:
                nav_shape = (data.size // sig_size,)
        if prod(nav_shape) * prod(sig_shape) > data.size:
            raise InvalidDataSetParameter(
                f"nav_shape: got {nav_shape} with sig_shape {sig_shape}, expected at most "
                f"{data.size} elements (the size of data)"
            )
        if tileshape is not None:
            tileshape = check_shape("tileshape", tileshape)
            if len(tileshape) != len(sig_shape) + 1:
                raise InvalidDataSetParameter(
                    f"tileshape: got {tileshape}, expected {len(sig_shape) + 1} dimensions "
                    "(depth, *signal part)"
                )
        if num_partitions is not None:
            num_partitions = check_int("num_partitions", num_partitions, minimum=1)
        self._data = np.ascontiguousarray(data)
        self._nav_shape = tuple(nav_shape)
        self._sig_shape = tuple(sig_shape)
        self._sync_offset = check_int("sync_offset", sync_offset)
        self._tileshape = tileshape
        self._tiledelay = tiledelay
        self._num_partitions = num_partitions
        self._num_partitions_default = psutil.cpu_count(logical=False) or 1
        # known without reading anything, so (as in LiberTEM) a dataset built directly has its
        # shape and dtype before any Context initialises it
        self._meta = self._make_meta()

    @property
    def data(self) -> np.ndarray:
        """The array behind the dataset."""
        return self._data

    def _open(self) -> _core.DataSource:
        flat = self._data.reshape(-1).view(np.uint8)
        return _core.DataSource.memory(
            flat,
            self._data.dtype.str,
            list(self._nav_shape),
            list(self._sig_shape),
            self._sync_offset,
        )

    def _make_meta(self) -> DataSetMeta:
        return DataSetMeta(
            shape=Shape(self._nav_shape + self._sig_shape, sig_dims=len(self._sig_shape)),
            raw_dtype=self._data.dtype,
            image_count=self._data.size // prod(self._sig_shape),
            sync_offset=self._sync_offset,
        )

    def initialize(self, executor: Any) -> MemoryDataSet:
        self.get_source()
        self._meta = self._make_meta()
        return self

    def get_num_partitions(self) -> int:
        if self._num_partitions is None:
            self._num_partitions = self._num_partitions_default
            try:
                return super().get_num_partitions()
            finally:
                self._num_partitions = None
        return super().get_num_partitions()


def _warn_unsupported_backends(array_backends: Any) -> None:
    """LiberTEM's memory dataset can deliver tiles as sparse arrays (``array_backends``);
    ferrotem's delivers dense numpy tiles only (sparse tiles come with the ``raw_csr`` format).
    Say so instead of ignoring the request: a UDF written for sparse tiles would get dense ones.
    """
    if array_backends is None:
        return
    requested = (array_backends,) if isinstance(array_backends, str) else tuple(array_backends)
    other = [b for b in requested if b != "numpy"]
    if other:
        warnings.warn(
            f"array_backends: got {requested!r}; the memory dataset delivers numpy tiles only, "
            f"so {other!r} are ignored (UDFs receive dense numpy arrays)",
            UserWarning,
            stacklevel=3,
        )
