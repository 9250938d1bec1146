"""Shared building blocks: ``Shape``, ``Slice``, buffers, exceptions."""

from ferrotem.common.shape import Shape
from ferrotem.common.slice import Slice, SliceUsageError

__all__ = ["Shape", "Slice", "SliceUsageError"]
