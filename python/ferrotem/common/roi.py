"""Normalising the many forms a ROI can take into one flat boolean mask."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ferrotem.common.math import prod


def normalize_roi(roi: Any, nav_shape: tuple[int, ...]) -> np.ndarray | None:
    """A flat bool mask over the navigation axis (a fresh copy), or None for "everything".

    Accepts a bool array with as many elements as there are scan positions (other dtypes are
    cast with a warning), sparse arrays/matrices, one coordinate tuple ``(y, x)``, or an iterable
    of ``(coordinate, bool)`` pairs that all carry the same bool.
    """
    if roi is None:
        return None
    n_nav = prod(nav_shape)
    if hasattr(roi, "todense") and not isinstance(roi, np.ndarray):
        roi = np.asarray(roi.todense())
    if isinstance(roi, tuple) and roi and all(isinstance(c, int | np.integer) for c in roi):
        mask = np.zeros(nav_shape, dtype=bool)
        try:
            mask[tuple(int(c) for c in roi)] = True
        except IndexError:
            raise ValueError(
                f"roi: coordinate {roi} is outside the navigation shape {nav_shape}"
            ) from None
        return mask.reshape(-1)
    if not isinstance(roi, np.ndarray) and isinstance(roi, list | tuple):
        pairs = list(roi)
        if pairs and all(isinstance(p, tuple | list) and len(p) == 2 for p in pairs):
            values = {bool(v) for _, v in pairs}
            if len(values) != 1:
                raise ValueError("roi: all (coordinate, bool) pairs must carry the same bool")
            value = values.pop()
            mask = np.full(nav_shape, not value, dtype=bool)
            for coord, _ in pairs:
                mask[tuple(coord)] = value
            return mask.reshape(-1)
    arr = np.asarray(roi)
    if arr.dtype != bool:
        warnings.warn(
            f"ROI dtype is {arr.dtype}, expected bool. Attempting cast to bool.",
            UserWarning,
            stacklevel=3,
        )
        arr = arr.astype(bool)
    # Any array of the right size is accepted (flat masks included), except one with as many
    # axes as the scan but another shape: that is a transposed or wrong mask, not a reshape.
    if arr.size != n_nav or (arr.ndim == len(nav_shape) > 1 and arr.shape != tuple(nav_shape)):
        raise ValueError(
            f"roi: incompatible shapes: roi has shape {arr.shape}, expected the navigation "
            f"shape {nav_shape}"
        )
    return np.array(arr, dtype=bool).reshape(-1)
