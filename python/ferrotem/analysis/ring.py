"""Virtual detector over a ring (annulus) of the frame."""

from __future__ import annotations

from typing import Any

import numpy as np

from ferrotem import masks
from ferrotem.analysis import _params as check
from ferrotem.analysis.masks import SingleMaskAnalysis

__all__ = ["RingMaskAnalysis"]


class RingMaskAnalysis(SingleMaskAnalysis, id_="APPLY_RING_MASK"):
    """The sum of every frame over the ring ``ri < d <= ro`` around ``(cy, cx)`` (``d``: distance
    of a pixel's centre; see :func:`ferrotem.masks.ring`). Defaults: the frame's centre,
    ``ro`` half its smaller side, ``ri = 0.8 * ro``."""

    def get_description(self) -> str:
        return "intensity of the integration over the selected ring"

    def get_mask_factories(self) -> Any:
        height, width = check.two_sig_dims(self.dataset)
        p = self.parameters
        cx, cy, ri, ro = p["cx"], p["cy"], p["ri"], p["ro"]

        def ring_mask() -> np.ndarray:
            return masks.ring(
                centerX=cx,
                centerY=cy,
                imageSizeX=width,
                imageSizeY=height,
                radius=ro,
                radius_inner=ri,
            )

        return [ring_mask]

    def get_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        height, width = check.two_sig_dims(self.dataset)
        cx = check.real("cx", parameters.get("cx", width / 2))
        cy = check.real("cy", parameters.get("cy", height / 2))
        ro = check.radius("ro", parameters.get("ro", min(height, width) / 2))
        ri = check.radius("ri", parameters.get("ri", ro * 0.8))
        check.inner_outer("ri", ri, "ro", ro)
        return {
            "cx": cx,
            "cy": cy,
            "ri": ri,
            "ro": ro,
            "use_sparse": parameters.get("use_sparse", False),
            "mask_count": 1,
            "mask_dtype": np.float32,
        }
