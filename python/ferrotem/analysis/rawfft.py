"""The Fourier transform (magnitude, zero frequency in the centre) of one picked frame."""

from __future__ import annotations

from typing import Any

import numpy as np

from ferrotem.analysis.base import AnalysisResultSet
from ferrotem.analysis.raw import PickFrameAnalysis

__all__ = ["PickFFTFrameAnalysis"]


def real_space_mask(parameters: dict[str, Any], shape: tuple[int, ...]) -> np.ndarray | None:
    """1 everywhere but 0 in the disk ``real_rad`` around ``(real_centery, real_centerx)``; None
    unless all three parameters are given (the disk hides e.g. the central beam)."""
    from ferrotem import masks

    rad = parameters.get("real_rad")
    cy, cx = parameters.get("real_centery"), parameters.get("real_centerx")
    if rad is None or cy is None or cx is None:
        return None
    disk = masks.circular(cx, cy, shape[1], shape[0], rad)
    return 1 - disk.astype(np.int64)


class PickFFTFrameAnalysis(PickFrameAnalysis, id_="PICK_FFT_FRAME"):
    """:class:`PickFrameAnalysis`, but the results are ``|fftshift(fft2(frame))|`` (the frame
    first multiplied by the mask of :func:`real_space_mask` if ``real_rad``, ``real_centerx``
    and ``real_centery`` are given). A complex frame is returned as picked."""

    def get_udf_results(self, udf_results: Any, roi: Any, damage: Any) -> AnalysisResultSet:
        data = udf_results["intensity"].data[0]
        if data.dtype.kind == "c":
            return self.get_generic_results(data, damage=damage)
        mask = real_space_mask(self.parameters, data.shape)
        if mask is not None:
            data = data * mask
        return self.get_generic_results(np.fft.fftshift(np.abs(np.fft.fft2(data))), damage=damage)
