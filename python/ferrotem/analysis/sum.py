"""The sum of all frames (a frame-shaped image), on :class:`SumUDF`."""

from __future__ import annotations

from typing import Any

import numpy as np

from ferrotem.analysis.base import (
    AnalysisResult,
    AnalysisResultSet,
    BaseAnalysis,
    valid_everywhere,
)
from ferrotem.analysis.getroi import get_roi
from ferrotem.udf.sum import SumUDF

__all__ = ["SumAnalysis", "SumResultSet"]


class SumResultSet(AnalysisResultSet):
    """The result of a :class:`SumAnalysis`: ``intensity`` (logarithmic picture) and
    ``intensity_lin`` (linear picture), both the frame-shaped sum. With complex data,
    ``intensity`` is the magnitude (log picture), plus ``intensity_lin``, ``_real``, ``_imag``,
    ``_angle``, ``_complex``."""


class SumAnalysis(BaseAnalysis, id_="SUM_FRAMES"):
    """Sums all frames (of the ROI), in the dataset's dtype if it is a float or complex one,
    else in float32."""

    def get_udf(self) -> SumUDF:
        dtype = np.dtype(self.dataset.dtype)
        return SumUDF(dtype=dtype if dtype.kind in "cf" else np.dtype("float32"))

    def get_roi(self) -> Any:
        return get_roi(params=self.parameters, shape=self.dataset.shape.nav)

    def get_udf_results(self, udf_results: Any, roi: Any, damage: Any) -> AnalysisResultSet:
        from ferrotem.viz.base import visualize_simple

        data = udf_results["intensity"].data
        if data.dtype.kind == "c":
            return AnalysisResultSet(
                self.get_complex_results(
                    data,
                    key_prefix="intensity",
                    title="intensity",
                    desc="sum of all frames",
                    damage=True,
                    default_lin=False,
                )
            )
        return SumResultSet(
            [
                AnalysisResult(
                    raw_data=data,
                    visualized=lambda: visualize_simple(
                        data, logarithmic=True, damage=valid_everywhere(data)
                    ),
                    key="intensity",
                    title="intensity [log]",
                    desc="sum of frames log-scaled",
                ),
                AnalysisResult(
                    raw_data=data,
                    visualized=lambda: visualize_simple(data, damage=valid_everywhere(data)),
                    key="intensity_lin",
                    title="intensity [lin]",
                    desc="sum of frames lin-scaled",
                ),
            ]
        )
