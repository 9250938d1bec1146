"""Small integer and array helpers (LiberTEM's ``libertem.common.math``)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

#: what :func:`prod` multiplies: Python and numpy integers and booleans
ProdAccepted = int | bool | np.bool_ | np.signedinteger | np.unsignedinteger

_PROD_TYPES = (int, np.bool_, np.signedinteger, np.unsignedinteger)


def prod(values: Iterable[ProdAccepted]) -> int:
    """Product of integers as a Python ``int`` (no overflow, 1 for an empty iterable).

    Anything but an integer or boolean raises ``ValueError`` (a float would silently round).
    """
    result = 1
    for v in values:
        if not isinstance(v, _PROD_TYPES):
            raise ValueError(f"prod: got {v!r} of type {type(v).__name__}, expected integers")
        result *= int(v)
    return result


def count_nonzero(array: Any) -> int:
    """Number of non-zero entries, for numpy arrays and sparse arrays alike."""
    try:
        return int(np.count_nonzero(array))
    except (TypeError, ValueError):
        return int(array.astype(bool).sum())


def flat_nonzero(array: Any) -> np.ndarray:
    """Flat indices of the non-zero entries."""
    return np.flatnonzero(np.asarray(array))


def make_2D_square(shape: tuple[int, ...]) -> tuple[int, ...]:
    """A 1-D ``shape`` whose size is a square number as the square 2-D shape; any other shape
    unchanged. ``(16,)`` gives ``(4, 4)``; ``(15,)`` and ``(4, 4)`` stay as they are."""
    if len(shape) != 1:
        return shape
    size = prod(shape)
    if size < 1:
        raise ValueError(f"shape: got {shape}, expected a positive size")
    side = math.isqrt(size)
    return (side, side) if side * side == size else shape


def ndenumerate(array: Any) -> Iterator[tuple[tuple[int, ...], Any]]:
    """``np.ndenumerate`` for dense arrays; for sparse arrays (``sparse``, ``scipy.sparse``:
    anything with ``todense``) only the non-zero entries, in flat order."""
    if not hasattr(array, "todense"):
        yield from np.ndenumerate(np.asarray(array))
        return
    dense = np.asarray(array.todense())
    for idx in np.flatnonzero(dense):
        coords = tuple(int(c) for c in np.unravel_index(idx, dense.shape))
        yield coords, dense[coords]
