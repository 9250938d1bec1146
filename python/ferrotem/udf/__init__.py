"""User-defined functions: the ``UDF`` base class and helpers."""

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
