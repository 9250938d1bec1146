"""Virtual detector over a disk (filled circle) of the frame."""

from __future__ import annotations

from typing import Any

import numpy as np

from ferrotem import masks
from ferrotem.analysis import _params as check
from ferrotem.analysis.masks import SingleMaskAnalysis

__all__ = ["DiskMaskAnalysis"]


class DiskMaskAnalysis(SingleMaskAnalysis, id_="APPLY_DISK_MASK"):
    """The sum of every frame over the disk of radius ``r`` around ``(cy, cx)`` (pixels whose
    centre lies within ``r``; see :func:`ferrotem.masks.circular`). Defaults: the frame's centre
    and 0.3 times half its smaller side."""

    def get_description(self) -> str:
        return "intensity of the integration over the selected disk"

    def get_mask_factories(self) -> Any:
        height, width = check.two_sig_dims(self.dataset)
        cx, cy, r = self.parameters["cx"], self.parameters["cy"], self.parameters["r"]

        def disk_mask() -> np.ndarray:
            return masks.circular(
                centerX=cx, centerY=cy, imageSizeX=width, imageSizeY=height, radius=r
            )

        return [disk_mask]

    def get_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        height, width = check.two_sig_dims(self.dataset)
        cx = check.real("cx", parameters.get("cx", width / 2))
        cy = check.real("cy", parameters.get("cy", height / 2))
        r = check.radius("r", parameters.get("r", min(height, width) / 2 * 0.3))
        return {
            "cx": cx,
            "cy": cy,
            "r": r,
            "use_sparse": parameters.get("use_sparse", False),
            "mask_count": 1,
            "mask_dtype": np.float32,
        }

    def need_rerun(self, old_params: dict[str, Any], new_params: dict[str, Any]) -> bool:
        return old_params != new_params
