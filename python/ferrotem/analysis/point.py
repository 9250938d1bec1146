"""Virtual detector of one pixel: that pixel's value in every frame."""

from __future__ import annotations

from typing import Any

import numpy as np

from ferrotem.analysis import _params as check
from ferrotem.analysis.masks import SingleMaskAnalysis

__all__ = ["PointMaskAnalysis"]


class PointMaskAnalysis(SingleMaskAnalysis, id_="APPLY_POINT_SELECTOR"):
    """The value of the pixel ``(int(cy), int(cx))`` of every frame, as a nav-shaped image
    (a one-pixel sparse mask). Default: the frame's centre."""

    def get_description(self) -> str:
        return "intensity of the integration over the selected point"

    def get_use_sparse(self) -> Any:
        return True

    def get_mask_factories(self) -> Any:
        import scipy.sparse

        height, width = check.two_sig_dims(self.dataset)
        y, x = int(self.parameters["cy"]), int(self.parameters["cx"])

        def point_mask() -> Any:
            # one non-zero entry: a sparse matrix the mask container takes as it is
            return scipy.sparse.csr_matrix(
                (np.ones(1, dtype=np.float32), ([y], [x])), shape=(height, width)
            )

        return [point_mask]

    def get_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        height, width = check.two_sig_dims(self.dataset)
        cx = check.real("cx", parameters.get("cx", width / 2))
        cy = check.real("cy", parameters.get("cy", height / 2))
        for name, value, size in (("x", cx, width), ("y", cy, height)):
            if not 0 <= int(value) < size:
                raise ValueError(
                    f"{name}: got {value!r}, expected a pixel of the frame, 0 <= {name} < {size}"
                )
        return {"cx": cx, "cy": cy, "mask_count": 1, "mask_dtype": np.float32}
