"""``AutoUDF``: applies a function to every frame (behind ``Context.map``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ferrotem.common.buffers import BufferWrapper
from ferrotem.udf.base import UDF


class AutoUDF(UDF):
    """Stores ``f(frame)`` for every frame in the nav-kind result ``result``."""

    def __init__(self, f: Any, monitor: bool = False):
        super().__init__(f=f, monitor=monitor)

    def _probe(self) -> np.ndarray:
        sig = tuple(self.meta.dataset_shape.sig)
        return np.asarray(self.params.f(np.ones(sig, dtype=self.meta.input_dtype)))

    def get_result_buffers(self) -> dict[str, BufferWrapper]:
        probe = self._probe()
        return {"result": self.buffer(kind="nav", extra_shape=probe.shape, dtype=probe.dtype)}

    def process_frame(self, frame: np.ndarray) -> None:
        self.results.result[:] = np.asarray(self.params.f(frame))
