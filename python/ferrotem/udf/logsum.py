"""``LogsumUDF``: the sum over frames of log-scaled frames.

Each frame is scaled as ``log(frame - min(frame) + 1)`` (its smallest value maps to 0) before
summing. Compared with the log of the sum, this brings out regions of slightly higher
intensity that appear in many frames, against very high intensity in a few.

Runs on the Python path, one numpy expression per frame, as LiberTEM's does. Its cost per
value is the logarithm, which numpy evaluates with SIMD instructions already; a native kernel
would gain only with a vectorised logarithm of its own, and would need each whole frame's
minimum where the native runner cuts frames larger than a tile into pixel ranges.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ferrotem.common.buffers import BufferWrapper
from ferrotem.udf.base import UDF, MergeAttrMapping

__all__ = ["LogsumUDF", "run_logsum"]


class LogsumUDF(UDF):
    """Sum of log-scaled frames: result ``logsum`` (``kind='sig'``, float32), the sum over the
    frames of ``log(frame - min(frame) + 1)`` computed in the input dtype (float32 by default).

    Example:

    >>> res = ctx.run_udf(dataset=dataset, udf=LogsumUDF())
    >>> np.array(res["logsum"]).shape  # doctest: +SKIP
    (32, 32)
    """

    def __init__(self) -> None:
        super().__init__()

    def get_backends(self) -> Any:
        # the scipy.sparse formats cannot subtract a scalar from every element: left out, as
        # LiberTEM does
        scipy_sparse = (
            self.BACKEND_SCIPY_COO,
            self.BACKEND_SCIPY_CSR,
            self.BACKEND_SCIPY_CSC,
            self.BACKEND_SCIPY_COO_ARRAY,
            self.BACKEND_SCIPY_CSR_ARRAY,
            self.BACKEND_SCIPY_CSC_ARRAY,
            self.BACKEND_CUPY_SCIPY_COO,
            self.BACKEND_CUPY_SCIPY_CSC,
            self.BACKEND_CUPY_SCIPY_CSR,
        )
        return [b for b in self.BACKEND_ALL if b not in scipy_sparse]

    def get_result_buffers(self) -> dict[str, BufferWrapper]:
        return {"logsum": self.buffer(kind="sig", dtype="float32", where="device")}

    def merge(self, dest: MergeAttrMapping, src: MergeAttrMapping) -> None:
        dest.logsum[:] += src.logsum[:]

    def merge_all(self, ordered_results: Any) -> dict[str, Any]:
        chunks = [b.logsum for b in ordered_results.values()]
        return {"logsum": np.stack(chunks, axis=0).sum(axis=0)}

    def process_frame(self, frame: np.ndarray) -> None:
        scaled = np.log(frame - np.min(frame) + 1)
        self.results.logsum[:] += self.forbuf(scaled, self.results.logsum)


def run_logsum(ctx: Any, dataset: Any, roi: Any = None) -> Any:
    """Runs :class:`LogsumUDF` over ``dataset`` (frames selected by ``roi``); returns the
    result dict of ``ctx.run_udf``."""
    return ctx.run_udf(dataset=dataset, udf=LogsumUDF(), roi=roi)
