"""The standard deviation over frames of each detector pixel (a frame-shaped image), on
:class:`~ferrotem.udf.stddev.StdDevUDF`."""

from __future__ import annotations

from typing import Any

from ferrotem.analysis.base import (
    AnalysisResult,
    AnalysisResultSet,
    BaseAnalysis,
    valid_everywhere,
)
from ferrotem.analysis.getroi import get_roi
from ferrotem.udf.stddev import StdDevUDF

__all__ = ["SDAnalysis"]


class SDAnalysis(BaseAnalysis, id_="SD_FRAMES"):
    """Results ``intensity`` (logarithmic picture) and ``intensity_lin`` (linear picture):
    the standard deviation of each pixel over all frames (of the ROI). (LiberTEM's
    ``intensity_lin.raw_data`` is the result buffer; here it is the buffer's array.)"""

    def get_udf(self) -> StdDevUDF:
        return StdDevUDF()

    def get_roi(self) -> Any:
        return get_roi(params=self.parameters, shape=self.dataset.shape.nav)

    def get_udf_results(self, udf_results: Any, roi: Any, damage: Any) -> AnalysisResultSet:
        from ferrotem.viz.base import visualize_simple

        std = udf_results["std"].data
        everywhere = valid_everywhere(std)
        return AnalysisResultSet(
            [
                AnalysisResult(
                    raw_data=std,
                    visualized=lambda: visualize_simple(std, logarithmic=True, damage=everywhere),
                    key="intensity",
                    title="intensity [log]",
                    desc="Standard deviation of frames log-scaled",
                ),
                AnalysisResult(
                    raw_data=std,
                    visualized=lambda: visualize_simple(std, damage=everywhere),
                    key="intensity_lin",
                    title="intensity [lin]",
                    desc="Standard deviation of frames lin-scaled",
                ),
            ]
        )
