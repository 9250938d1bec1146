"""Small integer helpers."""

from __future__ import annotations

from collections.abc import Iterable


def prod(values: Iterable[int]) -> int:
    """Product of integers as a Python ``int`` (no overflow, 1 for an empty iterable)."""
    result = 1
    for v in values:
        result *= int(v)
    return result
