"""Checks of the parameters of the per-frame analysis UDFs (FEM, crystallinity, holography).

Each bad value raises ``ValueError`` naming the parameter, the value and what fits, on the main
node when the UDF is built, before any data is read.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np


def real(name: str, value: Any) -> float:
    """A finite real number (Python or numpy scalar, not a bool) as ``float``."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}: got {value!r}, expected a finite number")
    out = float(value)
    if not math.isfinite(out):
        raise ValueError(f"{name}: got {value!r}, expected a finite number")
    return out


def radius(name: str, value: Any) -> float:
    """A finite, non-negative real number as ``float``."""
    out = real(name, value)
    if out < 0:
        raise ValueError(f"{name}: got {value!r}, expected a radius >= 0")
    return out


def ring_radii(rad_in: Any, rad_out: Any) -> tuple[float, float]:
    """``(rad_in, rad_out)`` of a ring: radii with ``rad_in <= rad_out``."""
    inner, outer = radius("rad_in", rad_in), radius("rad_out", rad_out)
    if inner > outer:
        raise ValueError(f"rad_in: got {rad_in!r}, expected <= rad_out ({rad_out!r})")
    return inner, outer


def _pair(name: str, value: Any, what: str) -> Sequence[Any]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence | np.ndarray):
        raise ValueError(f"{name}: got {value!r}, expected a pair of {what}")
    if np.ndim(value) != 1 or len(value) != 2:
        raise ValueError(f"{name}: got {value!r}, expected a pair of {what}")
    return list(value)


def point(name: str, value: Any) -> tuple[float, float]:
    """A pair of finite real numbers, e.g. a ``(y, x)`` centre."""
    a, b = _pair(name, value, "finite numbers")
    try:
        return real(name, a), real(name, b)
    except ValueError:
        raise ValueError(f"{name}: got {value!r}, expected a pair of finite numbers") from None


def integer(name: str, value: Any) -> int:
    """An integer (an integral float such as ``3.0`` is accepted)."""
    if isinstance(value, bool | np.bool_):
        raise ValueError(f"{name}: got {value!r}, expected an integer")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and float(value).is_integer():
        return int(float(value))
    raise ValueError(f"{name}: got {value!r}, expected an integer")


def int_pair(name: str, value: Any) -> tuple[int, int]:
    """A pair of integers, e.g. a ``(y, x)`` shift."""
    a, b = _pair(name, value, "integers")
    try:
        return integer(name, a), integer(name, b)
    except ValueError:
        raise ValueError(f"{name}: got {value!r}, expected a pair of integers") from None


def boolean(name: str, value: Any) -> bool:
    """``True`` or ``False`` (numpy's bool included)."""
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{name}: got {value!r}, expected True or False")
    return bool(value)


def frame_2d(udf: str, sig_shape: Iterable[int]) -> tuple[int, int]:
    """The ``(height, width)`` of 2-D frames; other signal dimensions raise ``ValueError``."""
    sig = tuple(int(s) for s in sig_shape)
    if len(sig) != 2:
        raise ValueError(
            f"dataset: {udf} needs 2-D frames, got a signal shape of {len(sig)} dimension(s) {sig}"
        )
    return sig[0], sig[1]
