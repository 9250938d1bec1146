"""Checks of Analysis parameters: a bad value raises ``ValueError`` naming the parameter when the
Analysis is created, not deep inside a run."""

from __future__ import annotations

import math
import numbers
from typing import Any

from ferrotem.io.dataset.base import DataSet


def real(name: str, value: Any) -> float:
    """A finite real number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name}: got {value!r}, expected a finite real number")
    return float(value)


def radius(name: str, value: Any, allow_inf: bool = False) -> float:
    """A radius: a real number >= 0 (``inf`` only with ``allow_inf``)."""
    ok = (
        not isinstance(value, bool)
        and isinstance(value, numbers.Real)
        and float(value) >= 0
        and (math.isfinite(value) or (allow_inf and value == math.inf))
    )
    if not ok:
        what = "a real number >= 0" + (" (or inf)" if allow_inf else "")
        raise ValueError(f"{name}: got {value!r}, expected {what}")
    return float(value)


def count(name: str, value: Any, minimum: int) -> int:
    """An integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name}: got {value!r}, expected an integer >= {minimum}")
    return int(value)


def inner_outer(inner_name: str, inner: float, outer_name: str, outer: float) -> None:
    """An inner radius must not exceed the outer one."""
    if inner > outer:
        raise ValueError(
            f"{inner_name}: got {inner!r}, larger than {outer_name}={outer!r}; expected "
            f"{inner_name} <= {outer_name}"
        )


def two_sig_dims(dataset: DataSet) -> tuple[int, int]:
    """The (height, width) of the frames; raises unless the signal is 2-D."""
    sig = tuple(dataset.shape.sig)
    if len(sig) != 2:
        raise ValueError(
            f"dataset: incompatible, need two signal dimensions, got signal shape {sig}"
        )
    return sig[0], sig[1]


def required(parameters: dict[str, Any], names: tuple[str, ...], analysis: str) -> None:
    """Every name in ``names`` is a key of ``parameters`` (these Analyses have no defaults)."""
    missing = [n for n in names if parameters.get(n) is None]
    if missing:
        raise ValueError(
            f"{', '.join(missing)}: missing; {analysis} needs the parameters {', '.join(names)}"
        )
