"""``CorrectionSet``: dark frame, gain map and excluded pixels applied to every frame before any
UDF sees it (LiberTEM's ``libertem.corrections.CorrectionSet``). The work is done in Rust, where
the data are read (``ferrotem._core.Corrections``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ferrotem import _core
from ferrotem.common.sparse import import_pydata_sparse, is_pydata_sparse, is_scipy_sparse

__all__ = ["CorrectionSet", "RepairValueError", "excluded_coordinates"]


class RepairValueError(ValueError):
    """An excluded pixel has no non-excluded neighbour to be patched from."""


def excluded_coordinates(excluded_pixels: Any) -> tuple[np.ndarray, tuple[int, ...]]:
    """``(coords, shape)`` of the pixels marked in ``excluded_pixels``: a pydata ``sparse``
    array, a ``scipy.sparse`` matrix or a dense (boolean or 0/1) array the shape of a frame,
    non-zero where a pixel is excluded. ``coords`` is ``(sig_dims, n)`` int64."""
    if is_pydata_sparse(excluded_pixels):
        coo = excluded_pixels.asformat("coo")
        keep = np.asarray(coo.data) != 0
        return np.asarray(coo.coords)[:, keep].astype(np.int64), tuple(coo.shape)
    if is_scipy_sparse(excluded_pixels):
        m = excluded_pixels.tocoo()
        keep = np.asarray(m.data) != 0
        coords = np.stack([np.asarray(m.row)[keep], np.asarray(m.col)[keep]])
        return coords.astype(np.int64), tuple(m.shape)
    arr = np.asarray(excluded_pixels)
    if arr.dtype.kind not in "biuf" or arr.ndim == 0:
        raise TypeError(
            f"excluded_pixels: got {type(excluded_pixels).__name__} of dtype {arr.dtype}, "
            "expected a sparse array or a boolean array of the signal shape"
        )
    return np.stack(np.nonzero(arr)).astype(np.int64), tuple(arr.shape)


def _float_map(name: str, value: Any) -> np.ndarray | None:
    if value is None:
        return None
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf" or arr.ndim == 0:
        raise TypeError(
            f"{name}: got {type(value).__name__} of dtype {arr.dtype}, expected a real-valued "
            "array of the signal shape"
        )
    return arr


class CorrectionSet:
    """Corrections applied to every frame before the UDFs of a run see it:
    ``(frame - dark) * gain``, then each excluded pixel replaced by the mean of its
    non-excluded neighbours (the 8 around it in a 2-D frame, fewer at the border).

    Parameters
    ----------
    dark : array of the signal shape, subtracted from every frame (optional)
    gain : array of the signal shape, multiplied with every frame after ``dark`` (optional)
    excluded_pixels : pixels to patch: a pydata ``sparse.COO`` (e.g.
        ``sparse.COO(coords=coords, data=True, shape=sig_shape)``), a ``scipy.sparse`` matrix or
        a dense boolean array of the signal shape (optional)
    allow_empty : leave an excluded pixel whose neighbours are all excluded as it is, instead of
        raising :class:`RepairValueError`
    """

    def __init__(
        self,
        dark: Any = None,
        gain: Any = None,
        excluded_pixels: Any = None,
        allow_empty: bool = False,
    ) -> None:
        self._dark = _float_map("dark", dark)
        self._gain = _float_map("gain", gain)
        self._allow_empty = bool(allow_empty)
        self._excluded: tuple[np.ndarray, tuple[int, ...]] | None = None
        if excluded_pixels is not None:
            self._excluded = excluded_coordinates(excluded_pixels)
            if not allow_empty:
                # fail here, not on a worker, as LiberTEM does
                self._repairs(self._excluded[1])
        self._prepared: dict[tuple[int, ...], _core.Corrections] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_prepared"] = {}  # the Rust object is rebuilt where the set is used
        return state

    def get_dark_frame(self) -> np.ndarray | None:
        """The dark frame, or None."""
        return self._dark

    def get_gain_map(self) -> np.ndarray | None:
        """The gain map, or None."""
        return self._gain

    def get_excluded_pixels(self) -> Any:
        """The excluded pixels as a pydata ``sparse.COO`` (needs the ``sparse`` package), or
        None."""
        if self._excluded is None:
            return None
        sparse = import_pydata_sparse("CorrectionSet.get_excluded_pixels")
        coords, shape = self._excluded
        return sparse.COO(coords=coords, data=True, shape=shape)

    def get_excluded_coordinates(self) -> np.ndarray | None:
        """The excluded pixels as a ``(sig_dims, n)`` coordinate array, or None."""
        return None if self._excluded is None else self._excluded[0].copy()

    def have_corrections(self) -> bool:
        """Whether any correction is set."""
        return any(c is not None for c in (self._dark, self._gain, self._excluded))

    def _repairs(self, sig_shape: tuple[int, ...]) -> list[tuple[int, list[int]]]:
        """Flat excluded pixel and the flat neighbours it is patched from, checking that none
        is left without neighbours unless ``allow_empty``."""
        core = _core.Corrections(list(sig_shape), None, None, self._flat_excluded(sig_shape), True)
        repairs: list[tuple[int, list[int]]] = core.repairs()
        empty = [np.unravel_index(p, sig_shape) for p, n in repairs if not n]
        if empty and not self._allow_empty:
            where = ", ".join(str(tuple(int(c) for c in e)) for e in empty[:5])
            raise RepairValueError(
                f"excluded_pixels: every neighbour of pixel(s) {where} is excluded too; "
                "nothing to patch them from (pass allow_empty=True to leave them as they are)"
            )
        return repairs

    def _flat_excluded(self, sig_shape: tuple[int, ...]) -> list[int]:
        if self._excluded is None:
            return []
        coords, shape = self._excluded
        if tuple(shape) != tuple(sig_shape):
            raise ValueError(
                f"excluded_pixels: got shape {tuple(shape)}, expected the signal shape "
                f"{tuple(sig_shape)}"
            )
        flat = np.ravel_multi_index(tuple(coords), tuple(sig_shape))
        return [int(i) for i in flat]

    def _flat_map(self, name: str, arr: np.ndarray | None, sig_shape: tuple[int, ...]) -> Any:
        if arr is None:
            return None
        if tuple(arr.shape) != tuple(sig_shape):
            raise ValueError(
                f"{name}: got shape {tuple(arr.shape)}, expected the signal shape "
                f"{tuple(sig_shape)}"
            )
        return np.ascontiguousarray(arr, dtype=np.float64).reshape(-1)

    def prepare(self, sig_shape: tuple[int, ...]) -> _core.Corrections:
        """The corrections checked against ``sig_shape`` and ready for the Rust engine (cached
        per shape). Raises ``ValueError`` naming ``dark``, ``gain`` or ``excluded_pixels`` for
        a shape that does not fit or a value that is not finite."""
        sig_shape = tuple(int(s) for s in sig_shape)
        core = self._prepared.get(sig_shape)
        if core is None:
            if not self._allow_empty:
                self._repairs(sig_shape)
            core = _core.Corrections(
                list(sig_shape),
                self._flat_map("dark", self._dark, sig_shape),
                self._flat_map("gain", self._gain, sig_shape),
                self._flat_excluded(sig_shape),
                self._allow_empty,
            )
            self._prepared[sig_shape] = core
        return core

    def apply(self, data: np.ndarray, tile_slice: Any) -> None:
        """Corrects ``data`` (frames of the part of the signal ``tile_slice`` covers, a float
        or complex C-contiguous array) in place, as LiberTEM's ``CorrectionSet.apply``: a tile
        that cuts frames is patched from the neighbours inside the tile only."""
        if not self.have_corrections():
            return
        sig_slice = tile_slice.get(sig_only=True)
        sig_shape = tuple(tile_slice.shape.sig)
        dark = None if self._dark is None else self._dark[sig_slice]
        gain = None if self._gain is None else self._gain[sig_slice]
        excluded = None
        if self._excluded is not None:
            coords, shape = self._excluded
            mask = np.zeros(shape, dtype=bool)
            mask[tuple(coords)] = True
            excluded = mask[sig_slice]
        local = CorrectionSet(dark, gain, excluded, allow_empty=self._allow_empty)
        local.prepare(sig_shape).apply(data)
