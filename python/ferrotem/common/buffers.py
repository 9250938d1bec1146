"""Result buffers: what ``UDF.buffer(...)`` declares and what ``run_udf`` returns.

A buffer has a ``kind``: ``'nav'`` (one entry per scan position), ``'sig'`` (frame-shaped) or
``'single'`` (just ``extra_shape``). Its *storage* layout (``raw_data``) keeps navigation flat
and, with a ROI, compressed to the selected positions; ``data`` gives the user layout with the
scan shape restored and unselected positions filled (NaN for floats, 0 for integers, ...).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

import numpy as np

from ferrotem.common.aligned import aligned_empty
from ferrotem.common.exceptions import UDFException
from ferrotem.common.math import prod
from ferrotem.common.shape import Shape
from ferrotem.common.slice import Slice

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self needs Python 3.11

BufferKind = Literal["nav", "sig", "single"]
BufferUse = Literal["private", "result_only"] | None
BufferLocation = Literal["device"] | None
#: a number of elements, or a shape
BufferSize = int | tuple[int, ...]

_KINDS = ("nav", "sig", "single")
_USES = (None, "private", "result_only")
_WHERES = (None, "device")


class _Transposable(Protocol):
    """numpy and Dask arrays alike (Dask-backed results reorder their axes too)."""

    def transpose(self, *axes: int) -> Self: ...


_ArrayT = TypeVar("_ArrayT", bound=_Transposable)


def fill_value(dtype: np.dtype) -> Any:
    """The value shown at positions outside the ROI for ``dtype``."""
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        # NaN in both parts, as LiberTEM's (np.full with None): the imaginary part is unset too
        return complex(np.nan, np.nan)
    if dtype.kind == "f":
        return np.nan
    if dtype.kind == "b":
        return False
    if dtype.kind in "iuV":
        return 0
    if dtype.kind in "SU":
        return ""
    if dtype.kind == "O":
        return None
    if dtype.kind in "mM":
        return np.datetime64("NaT") if dtype.kind == "M" else np.timedelta64("NaT")
    return 0


class InvalidMaskError(UDFException, ValueError):
    """A result's validity mask does not fit its data (wrong dtype, shape that does not
    broadcast)."""


class ArrayWithMask:
    """A result array with its own validity mask: return it from ``get_results`` (see
    ``UDF.with_mask``). ``mask`` is a bool array broadcastable to the data, or True/False."""

    def __init__(self, arr: Any, mask: Any):
        arr = np.asarray(arr)
        if mask is True or mask is False:
            mask = np.full(arr.shape, bool(mask))
        mask = np.asarray(mask)
        if mask.dtype != bool:
            raise InvalidMaskError(f"mask: got dtype {mask.dtype}, expected bool")
        try:
            np.broadcast_to(mask, arr.shape)
        except ValueError:
            raise InvalidMaskError(
                f"mask: shape {mask.shape} does not broadcast to the data shape {arr.shape}"
            ) from None
        self.arr = arr
        self.mask = mask


def bytes_aligned(size: int) -> memoryview:
    """``size`` writable bytes starting on a page boundary."""
    return memoryview(aligned_empty((int(size),), np.uint8).data)


def empty_aligned(size: BufferSize, dtype: Any) -> np.ndarray:
    """An uninitialised page-aligned array of shape ``size`` (an int or a tuple)."""
    shape = (int(size),) if isinstance(size, int | np.integer) else tuple(size)
    return aligned_empty(shape, dtype)


def zeros_aligned(size: BufferSize, dtype: Any) -> np.ndarray:
    """A zeroed page-aligned array of shape ``size`` (object arrays: plain ``np.zeros``)."""
    if np.dtype(dtype) == object:
        return np.zeros(size, dtype=dtype)
    out = empty_aligned(size, dtype)
    out[...] = 0
    return out


def to_numpy(a: Any) -> np.ndarray:
    """``a`` as a numpy array: numpy arrays as they are, CuPy arrays copied off the device;
    anything else raises ``TypeError``."""
    if isinstance(a, np.ndarray):
        return a
    if type(a).__module__.split(".")[0] == "cupy":
        import cupy

        host: np.ndarray = cupy.asnumpy(a)
        return host
    raise TypeError(f"to_numpy: got {type(a).__name__}, expected a numpy or CuPy array")


def reshaped_view(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``a`` reshaped to ``shape`` as a view; raises ``AttributeError`` where only a copy could
    have that shape (as assigning ``ndarray.shape`` does)."""
    view = a.view()
    view.shape = shape
    return view


def disjoint(sl: Slice, slices: Iterable[Slice]) -> bool:
    """True if ``sl`` overlaps none of ``slices``."""
    return all(sl.intersection_with(other).is_null() for other in slices)


def _normalize_extra_shape(extra_shape: Any) -> tuple[int, ...]:
    if isinstance(extra_shape, Shape):
        extra_shape = extra_shape.to_tuple()
    if isinstance(extra_shape, int | np.integer):
        extra_shape = (int(extra_shape),)
    try:
        values = tuple(extra_shape)
    except TypeError:
        raise TypeError(
            f"extra_shape: got {extra_shape!r}, expected a tuple of non-negative ints"
        ) from None
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 0:
            raise ValueError(
                f"extra_shape: got {extra_shape!r}, expected a tuple of non-negative ints"
            )
        out.append(int(v))
    return tuple(out)


class BufferWrapper:
    """A declared result buffer (see :meth:`ferrotem.udf.UDF.buffer`)."""

    def __init__(
        self,
        kind: BufferKind,
        extra_shape: tuple[int, ...] = (),
        dtype: Any = "float32",
        where: Literal["device"] | None = None,
        use: BufferUse = None,
    ):
        if kind not in _KINDS:
            raise ValueError(f"kind: got {kind!r}, expected one of 'nav', 'sig', 'single'")
        if use not in _USES:
            raise ValueError(f"use: got {use!r}, expected None, 'private' or 'result_only'")
        if where not in _WHERES:
            raise ValueError(f"where: got {where!r}, expected None or 'device'")
        try:
            self._dtype: np.dtype = np.dtype(dtype)
        except TypeError as e:
            raise TypeError(f"dtype: got {dtype!r}, expected a numpy dtype ({e})") from None
        self._kind = kind
        self._extra_shape = _normalize_extra_shape(extra_shape)
        self._where = where
        self._use = use
        self._data: np.ndarray | None = None
        self._ds_shape: Shape | None = None
        self._roi: np.ndarray | None = None  # flat bool or None
        self._valid_mask_flat: np.ndarray | None = None  # flat nav bool (full nav) or None
        self._custom_mask: np.ndarray | None = None
        # the caller's navigation axes in dataset order, when the dataset reordered them
        self._nav_order: tuple[int, ...] | None = None

    # -- declaration -----------------------------------------------------------------------------
    @property
    def kind(self) -> BufferKind:
        """``'nav'``, ``'sig'`` or ``'single'``."""
        return self._kind

    @property
    def dtype(self) -> np.dtype:
        """Element type."""
        return self._dtype

    @property
    def extra_shape(self) -> tuple[int, ...]:
        """Extra dimensions after the kind's own."""
        return self._extra_shape

    @property
    def where(self) -> str | None:
        """``None`` (numpy) or ``'device'``."""
        return self._where

    @property
    def use(self) -> str | None:
        """``None``, ``'private'`` or ``'result_only'``."""
        return self._use

    # -- geometry ----------------------------------------------------------------------------------
    def set_shape_ds(self, dataset_shape: Shape, roi: np.ndarray | None = None) -> None:
        """Binds the buffer to a dataset shape and (flat) ROI."""
        self._ds_shape = dataset_shape
        self._roi = None if roi is None else np.asarray(roi, dtype=bool).reshape(-1)

    def _single_shape(self) -> tuple[int, ...]:
        return self._extra_shape if self._extra_shape else (1,)

    def storage_shape(self, n_nav: int | None = None) -> tuple[int, ...]:
        """Storage shape; ``n_nav`` overrides the number of navigation entries (partitions)."""
        if self._kind == "single":
            return self._single_shape()
        if self._ds_shape is None:
            raise RuntimeError("buffer is not bound to a dataset shape")
        if self._kind == "sig":
            return tuple(self._ds_shape.sig) + self._extra_shape
        if n_nav is None:
            n_nav = (
                int(np.count_nonzero(self._roi))
                if self._roi is not None
                else prod(self._ds_shape.nav)
            )
        return (n_nav,) + self._extra_shape

    def allocate(self, n_nav: int | None = None) -> None:
        """Allocates zeroed storage (dataset-sized, or ``n_nav`` navigation entries)."""
        self._data = np.zeros(self.storage_shape(n_nav), dtype=self._dtype)

    def has_data(self) -> bool:
        """True once storage exists."""
        return self._data is not None

    def replace_array(self, data: np.ndarray) -> None:
        """Replaces storage; shape and dtype must match exactly."""
        if self._data is not None:
            if data.shape != self._data.shape:
                raise ValueError(
                    f"Shape mismatch: buffer is {self._data.shape}, data is {data.shape}"
                )
            if data.dtype != self._data.dtype:
                raise ValueError(
                    f"dtype mismatch: buffer is {self._data.dtype}, data is {data.dtype}"
                )
        self._data = data

    @property
    def shape(self) -> tuple[int, ...]:
        """Storage shape."""
        if self._data is not None:
            return self._data.shape
        return self.storage_shape()

    # -- results -------------------------------------------------------------------------------
    @property
    def raw_data(self) -> np.ndarray:
        """Storage layout: navigation flat and, with a ROI, compressed to selected positions."""
        if self._data is None:
            raise ValueError("buffer has no data")
        return self._data

    @property
    def data(self) -> np.ndarray:
        """User layout: ``nav + extra`` (ROI positions filled in), ``sig + extra`` or ``extra``."""
        return self._to_user_order(self._nav_layout())

    def _nav_layout(self) -> np.ndarray:
        raw = self.raw_data
        if self._kind != "nav" or self._ds_shape is None:
            return raw
        nav = tuple(self._ds_shape.nav)
        if self._roi is None:
            return raw.reshape(nav + self._extra_shape)
        full = np.full((prod(nav),) + self._extra_shape, fill_value(self._dtype), dtype=self._dtype)
        full[self._roi] = raw
        return full.reshape(nav + self._extra_shape)

    def _user_axes(self) -> tuple[int, ...] | None:
        """Transpose that restores the caller's navigation axis order, or None."""
        order = self._nav_order
        if self._kind != "nav" or order is None:
            return None
        nav_axes = tuple(order.index(j) for j in range(len(order)))
        return nav_axes + tuple(range(len(order), len(order) + len(self._extra_shape)))

    def _to_user_order(self, arr: _ArrayT) -> _ArrayT:
        axes = self._user_axes()
        return arr if axes is None else arr.transpose(*axes)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        arr = np.array(self.data)
        if dtype is not None:
            arr = arr.astype(dtype)
        return arr

    @property
    def valid_mask(self) -> np.ndarray:
        """Boolean mask shaped like ``data``: True where the result holds computed values."""
        return self._to_user_order(self._valid_mask_nav_layout())

    def _valid_mask_nav_layout(self) -> np.ndarray:
        shape = self._nav_layout().shape
        if self._custom_mask is not None:
            # the mask accompanies the returned array, i.e. it is in storage layout
            mask = np.broadcast_to(self._custom_mask, self.raw_data.shape)
            if self._kind == "nav" and self._ds_shape is not None and self._roi is not None:
                full = np.zeros((self._roi.size,) + self._extra_shape, dtype=bool)
                full[self._roi] = mask
                return full.reshape(shape)
            return mask.reshape(shape).copy()
        if self._kind == "nav" and self._ds_shape is not None:
            nav = tuple(self._ds_shape.nav)
            if self._valid_mask_flat is not None:
                flat = self._valid_mask_flat
            elif self._roi is not None:
                flat = self._roi
            else:
                flat = np.ones(prod(nav), dtype=bool)
            m = flat.reshape(nav + (1,) * len(self._extra_shape))
            return np.broadcast_to(m, shape).copy()
        return np.ones(shape, dtype=bool)

    @property
    def masked_data(self) -> np.ma.MaskedArray:
        """``data`` as a masked array, invalid positions masked."""
        return np.ma.array(self.data, mask=~self.valid_mask)

    @property
    def raw_masked_data(self) -> np.ma.MaskedArray:
        """``raw_data`` as a masked array."""
        raw = self.raw_data
        if self._kind == "nav" and self._ds_shape is not None:
            mask = self.valid_mask.reshape((-1,) + self._extra_shape)
            if self._roi is not None:
                mask = mask[self._roi]
            return np.ma.array(raw, mask=~mask)
        return np.ma.array(raw, mask=~self.valid_mask)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} kind={self._kind} dtype={self._dtype} "
            f"extra_shape={self._extra_shape}>"
        )


class PreallocBufferWrapper(BufferWrapper):
    """A result buffer holding a finished array."""

    def __init__(self, data: np.ndarray, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._data = data


class PlaceholderBufferWrapper(BufferWrapper):
    """Stands for a ``use='result_only'`` buffer before ``get_results`` produced it."""

    @property
    def raw_data(self) -> np.ndarray:
        raise ValueError(
            "this buffer is declared with use='result_only': it only exists in the results "
            "returned by get_results()"
        )

    def allocate(self, n_nav: int | None = None) -> None:
        """Placeholders hold no storage."""


class AuxBufferWrapper(BufferWrapper):
    """Auxiliary per-frame data passed to a UDF as a parameter (see ``UDF.aux_data``)."""

    def get_view_for_frames(self, frames: np.ndarray) -> np.ndarray:
        """The entries of the given flat navigation positions."""
        entries: np.ndarray = self.raw_data[frames]  # integer indexing: always an array
        return entries


__all__ = [
    "ArrayWithMask",
    "AuxBufferWrapper",
    "BufferKind",
    "BufferLocation",
    "BufferSize",
    "BufferUse",
    "BufferWrapper",
    "InvalidMaskError",
    "PlaceholderBufferWrapper",
    "PreallocBufferWrapper",
    "bytes_aligned",
    "disjoint",
    "empty_aligned",
    "fill_value",
    "reshaped_view",
    "to_numpy",
    "zeros_aligned",
]
