"""``SumSigUDF``: the sum of each frame (one value per scan position), computed in Rust."""

from __future__ import annotations

from typing import Any

import numpy as np

from ferrotem.common.buffers import BufferWrapper
from ferrotem.udf.base import UDF
from ferrotem.udf.native import NativeDescriptor, describe


class SumSigUDF(UDF):
    """Sum over the signal axes of each frame.

    Result ``intensity``: ``kind='nav'``, dtype ``result_type(input_dtype, float32)``. Runs
    natively in the Rust core unless a subclass overrides one of its methods.
    """

    def get_result_buffers(self) -> dict[str, BufferWrapper]:
        dtype = np.result_type(self.meta.input_dtype, np.float32)
        return {"intensity": self.buffer(kind="nav", dtype=dtype, where="device")}

    def process_tile(self, tile: np.ndarray) -> None:
        flat = tile.reshape(tile.shape[0], -1)
        self.results.intensity[:] += np.sum(flat, axis=1)

    def get_backends(self) -> Any:
        return self.BACKEND_ALL

    def native_descriptor(self) -> NativeDescriptor:
        """Runs as the core's ``sumsig`` (see :mod:`ferrotem.udf.native`)."""
        return describe(self, "sumsig")


def run_sumsig(ctx: Any, dataset: Any) -> dict[str, BufferWrapper]:
    """Runs :class:`SumSigUDF` over ``dataset`` with ``ctx``; returns its result dict."""
    results: dict[str, BufferWrapper] = ctx.run_udf(dataset=dataset, udf=SumSigUDF())
    return results
