"""The sum of all frames, pictured as its Fourier transform."""

from __future__ import annotations

from typing import Any

import numpy as np

from ferrotem.analysis.base import AnalysisResult, AnalysisResultSet, valid_everywhere
from ferrotem.analysis.rawfft import real_space_mask
from ferrotem.analysis.sum import SumAnalysis

__all__ = ["SumfftAnalysis"]


class SumfftAnalysis(SumAnalysis, id_="FFTSUM_FRAMES"):
    """:class:`SumAnalysis` with one result ``intensity``: ``raw_data`` is the sum of frames,
    the picture shows ``log(|fftshift(fft2(sum))| + 1)`` (the sum first multiplied by the
    mask of :func:`~ferrotem.analysis.rawfft.real_space_mask` where its parameters are given)."""

    def get_udf_results(self, udf_results: Any, roi: Any, damage: Any) -> AnalysisResultSet:
        from ferrotem.viz.base import visualize_simple

        total = np.array(udf_results["intensity"].data)
        mask = real_space_mask(self.parameters, total.shape)
        masked = total if mask is None else total * mask
        spectrum = np.log(np.abs(np.fft.fftshift(np.fft.fft2(masked))) + 1)
        return AnalysisResultSet(
            [
                AnalysisResult(
                    raw_data=total,
                    visualized=lambda: visualize_simple(
                        spectrum, damage=valid_everywhere(spectrum)
                    ),
                    key="intensity",
                    title="intensity",
                    desc="fft of sum of all frames",
                )
            ]
        )
