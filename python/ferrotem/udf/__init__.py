"""User-defined functions: the ``UDF`` base class and helpers."""

from typing import Any

from ferrotem.common.exceptions import UDFRunCancelled
from ferrotem.udf.auto import AutoUDF
from ferrotem.udf.base import (
    UDF,
    NoOpUDF,
    UDFData,
    UDFFrameMixin,
    UDFMergeAllMixin,
    UDFMeta,
    UDFMethod,
    UDFPartitionMixin,
    UDFPostprocessMixin,
    UDFPreprocessMixin,
    UDFTileMixin,
    check_cast,
)

__all__ = [
    "UDF",
    "AutoUDF",
    "NoOpUDF",
    "UDFData",
    "UDFFrameMixin",
    "UDFMergeAllMixin",
    "UDFMeta",
    "UDFMethod",
    "UDFPartitionMixin",
    "UDFPostprocessMixin",
    "UDFPreprocessMixin",
    "UDFRunCancelled",
    "UDFTileMixin",
    "check_cast",
]


def __getattr__(name: str) -> Any:
    """Submodules load on first attribute access (``ferrotem.udf.masks`` after
    ``import ferrotem.udf``): LiberTEM scripts reach them so after ``from libertem import api``,
    which imports them."""
    import importlib
    import importlib.util

    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
