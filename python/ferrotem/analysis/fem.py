"""Fluctuation EM: the standard deviation of each frame's pixels in a ring, on
:class:`~ferrotem.udf.FEM.FEMUDF`."""

from __future__ import annotations

from typing import Any

from ferrotem.analysis import _params as check
from ferrotem.analysis.base import AnalysisResult, AnalysisResultSet, BaseAnalysis
from ferrotem.udf.FEM import FEMUDF

__all__ = ["FEMAnalysis"]


class FEMAnalysis(BaseAnalysis, id_="FEM"):
    """Parameters (all required): ``cx``, ``cy`` (the ring's centre), ``ri``, ``ro`` (its
    radii). Result ``intensity``: the standard deviation of the ring's pixels per frame,
    nav-shaped."""

    def get_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        check.required(parameters, ("cx", "cy", "ri", "ro"), "FEMAnalysis")
        return dict(parameters)

    def get_udf(self) -> FEMUDF:
        p = self.parameters
        return FEMUDF(center=(p["cy"], p["cx"]), rad_in=p["ri"], rad_out=p["ro"])

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
                    desc="result from SD calculation over ring",
                )
            ]
        )
