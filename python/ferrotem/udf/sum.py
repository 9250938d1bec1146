"""``SumUDF``: the sum of all frames (a frame-shaped result), computed in Rust."""

from __future__ import annotations

from typing import Any

import numpy as np

from ferrotem.common.buffers import BufferWrapper
from ferrotem.udf.base import UDF, MergeAttrMapping
from ferrotem.udf.native import NativeDescriptor, describe


class SumUDF(UDF):
    """Sum up frames, preserving the signal dimensions.

    Result ``intensity``: ``kind='sig'``, dtype = the run's input dtype (``dtype`` is the
    preferred input dtype, float32 by default). Runs natively in the Rust core unless a subclass
    overrides one of its methods.
    """

    def __init__(self, dtype: Any = "float32"):
        super().__init__(dtype=dtype)

    def get_preferred_input_dtype(self) -> Any:
        return self.params.dtype

    def get_result_buffers(self) -> dict[str, BufferWrapper]:
        return {"intensity": self.buffer(kind="sig", dtype=self.meta.input_dtype, where="device")}

    def process_tile(self, tile: np.ndarray) -> None:
        self.results.intensity[:] += np.sum(tile, axis=0)

    def merge(self, dest: MergeAttrMapping, src: MergeAttrMapping) -> None:
        dest.intensity[:] += src.intensity

    def merge_all(self, ordered_results: Any) -> dict[str, Any]:
        chunks = [b.intensity for b in ordered_results.values()]
        return {"intensity": np.stack(chunks).sum(axis=0)}

    def get_backends(self) -> Any:
        return self.BACKEND_ALL

    def native_descriptor(self) -> NativeDescriptor:
        """Runs as the core's ``sum`` (see :mod:`ferrotem.udf.native`)."""
        return describe(self, "sum")
