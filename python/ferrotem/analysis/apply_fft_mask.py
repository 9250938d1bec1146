"""Crystallinity map: each frame's Fourier spectrum integrated over a ring, on
:class:`~ferrotem.udf.crystallinity.CrystallinityUDF`."""

from __future__ import annotations

from typing import Any

from ferrotem.analysis import _params as check
from ferrotem.analysis.base import AnalysisResult, AnalysisResultSet, BaseAnalysis
from ferrotem.udf.crystallinity import CrystallinityUDF

__all__ = ["ApplyFFTMask"]

_NAMES = ("rad_in", "rad_out", "real_centerx", "real_centery", "real_rad")


class ApplyFFTMask(BaseAnalysis, id_="APPLY_FFT_MASK"):
    """Parameters (all required): ``rad_in``, ``rad_out`` (the ring in the spectrum),
    ``real_centerx``, ``real_centery``, ``real_rad`` (a disk blanked in the frame first).
    Result ``intensity``, nav-shaped."""

    def get_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        check.required(parameters, _NAMES, "ApplyFFTMask")
        return dict(parameters)

    def get_udf(self) -> CrystallinityUDF:
        p = self.parameters
        return CrystallinityUDF(
            rad_in=p["rad_in"],
            rad_out=p["rad_out"],
            real_center=(p["real_centery"], p["real_centerx"]),
            real_rad=p["real_rad"],
        )

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
                    desc="result from integration over mask in Fourier space",
                )
            ]
        )
