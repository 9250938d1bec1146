"""User-defined functions: the ``UDF`` base class and helpers."""

from ferrotem.common.exceptions import UDFRunCancelled
from ferrotem.udf.base import (
    UDF,
    NoOpUDF,
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
    "NoOpUDF",
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
