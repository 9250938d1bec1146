"""The sum of each frame (a nav-shaped image), on :class:`SumSigUDF`."""

from __future__ import annotations

from typing import Any

from ferrotem.analysis.base import AnalysisResult, AnalysisResultSet, BaseAnalysis
from ferrotem.udf.sumsigudf import SumSigUDF

__all__ = ["SumSigAnalysis"]


class SumSigAnalysis(BaseAnalysis, id_="SUM_SIG"):
    """Sums every frame over its pixels: result ``intensity``, nav-shaped. (LiberTEM's
    ``raw_data`` is the result buffer; here it is the buffer's array.)"""

    def get_udf(self) -> SumSigUDF:
        return SumSigUDF()

    def get_udf_results(self, udf_results: Any, roi: Any, damage: Any) -> AnalysisResultSet:
        from ferrotem.viz.base import visualize_simple

        data = udf_results["intensity"].data
        image = data.reshape(tuple(self.dataset.shape.nav))
        return AnalysisResultSet(
            [
                AnalysisResult(
                    raw_data=data,
                    visualized=lambda: visualize_simple(image, damage=damage),
                    key="intensity",
                    title="intensity",
                    desc="result from frame integration",
                )
            ]
        )
