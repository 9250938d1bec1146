"""Checks of the numbers the mask factories take: each bad value raises ``ValueError`` (or
``TypeError`` for a value of the wrong kind) naming the parameter, the value and what fits."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np


def real(name: str, value: Any) -> float:
    """A finite real number (Python or numpy scalar) as ``float``."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: got {value!r} of type {type(value).__name__}, expected a number")
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


def size(name: str, value: Any) -> int:
    """An image size: a positive integer (an integral float such as ``64.0`` is accepted)."""
    if isinstance(value, bool | np.bool_):
        raise TypeError(f"{name}: got {value!r}, expected a positive integer")
    if isinstance(value, numbers.Integral):
        out = int(value)
    elif isinstance(value, numbers.Real) and float(value).is_integer():
        out = int(float(value))
    else:
        raise TypeError(
            f"{name}: got {value!r} of type {type(value).__name__}, expected a positive integer"
        )
    if out < 1:
        raise ValueError(f"{name}: got {value!r}, expected a positive integer")
    return out


def inner_radius(radius_inner: Any, outer: float) -> float:
    """``radius_inner``: a radius no larger than the outer ``radius``."""
    out = radius("radius_inner", radius_inner)
    if out > outer:
        raise ValueError(f"radius_inner: got {radius_inner!r}, expected <= radius ({outer!r})")
    return out
