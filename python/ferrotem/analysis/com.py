"""Centre-of-mass (first moment) analysis: the shift of each frame's centre of mass from a
reference point, with its magnitude, divergence and curl.

Three masks per frame on :class:`ApplyMasksUDF` (the selection, and the selection times the y
and x pixel coordinates); the shifts, their correction for detector flip and scan rotation,
and the derived fields use :mod:`ferrotem.udf.com`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ferrotem import masks
from ferrotem.analysis import _params as check
from ferrotem.analysis.base import AnalysisResult, AnalysisResultSet
from ferrotem.analysis.masks import BaseMasksAnalysis
from ferrotem.udf.com import (  # the others are kept importable from here, as in LiberTEM
    GuessResult,
    apply_correction,
    center_shifts,
    com_masks_factory,
    com_masks_generic,
    coordinate_check,
    curl_2d,
    divergence,
    guess_corrections,
    magnitude,
)

__all__ = [
    "COMAnalysis",
    "COMResultSet",
    "GuessResult",
    "apply_correction",
    "center_shifts",
    "com_masks_factory",
    "com_masks_generic",
    "coordinate_check",
    "curl_2d",
    "divergence",
    "guess_corrections",
    "magnitude",
]


class COMResultSet(AnalysisResultSet):
    """The result of a :class:`COMAnalysis`, nav-shaped: ``field`` (raw data: the tuple
    ``(x, y)`` of shift components; pictured on a colour wheel), ``magnitude``,
    ``divergence`` and ``curl`` (only where both navigation axes are longer than 1), ``x``,
    ``y``. Shifts are in pixels, positive x to the right, positive y down, after ``flip_y`` and
    ``scan_rotation``. Complex data give ``x_real``, ``y_real``, ``x_imag``, ``y_imag``
    instead."""


class COMAnalysis(BaseMasksAnalysis, id_="CENTER_OF_MASS"):
    """See :meth:`ferrotem.api.Context.create_com_analysis`. Parameters: ``cx``, ``cy``
    (default: the frame's centre), ``r`` (default: infinite, the whole frame), ``ri``
    (an annulus when > 0), ``scan_rotation`` (degrees), ``flip_y``."""

    def get_udf_results(self, udf_results: Any, roi: Any, damage: Any) -> AnalysisResultSet:
        data = udf_results["intensity"].data
        return self.get_generic_results(data[..., 0], data[..., 1], data[..., 2], damage=damage)

    def get_generic_results(
        self, img_sum: np.ndarray, img_y: np.ndarray, img_x: np.ndarray, damage: Any
    ) -> AnalysisResultSet:
        """The result set from the three mask results of each frame."""
        from ferrotem.viz.base import rgb_from_2dvector, visualize_simple

        p = self.parameters
        y_raw, x_raw = center_shifts(img_sum, img_y, img_x, p["cy"], p["cx"])
        y_centers, x_centers = apply_correction(
            y_raw, x_raw, scan_rotation=p["scan_rotation"], flip_y=p["flip_y"]
        )

        def picture(image: np.ndarray, valid: Any) -> Any:
            return lambda: visualize_simple(image, damage=valid)

        if img_sum.dtype.kind == "c":
            parts = (
                (np.real(x_centers), "x_real", "x [real]"),
                (np.real(y_centers), "y_real", "y [real]"),
                (np.imag(x_centers), "x_imag", "x [imag]"),
                (np.imag(y_centers), "y_imag", "y [imag]"),
            )
            return COMResultSet(
                [
                    AnalysisResult(
                        raw_data=d,
                        visualized=picture(d, damage),
                        key=key,
                        title=title,
                        desc=f"{key[0]} component of the center",
                    )
                    for d, key, title in parts
                ]
            )
        valid = np.asarray(damage, dtype=bool) & np.isfinite(x_centers) & np.isfinite(y_centers)
        vmax = (
            float(np.sqrt(np.max(x_centers[valid] ** 2 + y_centers[valid] ** 2)))
            if np.any(valid)
            else 1.0
        )
        m = magnitude(y_centers, x_centers)
        results = [
            AnalysisResult(
                raw_data=(x_centers, y_centers),
                visualized=lambda: rgb_from_2dvector(x=x_centers, y=y_centers, vmax=vmax),
                key="field",
                title="field",
                desc="cubehelix colorwheel visualization",
                include_in_download=False,
            ),
            AnalysisResult(
                raw_data=m,
                visualized=picture(m, valid),
                key="magnitude",
                title="magnitude",
                desc="magnitude of the vector field",
            ),
            AnalysisResult(
                raw_data=x_centers,
                visualized=picture(x_centers, valid),
                key="x",
                title="x",
                desc="x component of the center",
            ),
            AnalysisResult(
                raw_data=y_centers,
                visualized=picture(y_centers, valid),
                key="y",
                title="y",
                desc="y component of the center",
            ),
        ]
        # gradients need two points along each axis
        if all(s > 1 for s in y_raw.shape):
            d = divergence(y_centers, x_centers)
            c = curl_2d(y_centers, x_centers)
            results[2:2] = [
                AnalysisResult(
                    raw_data=d,
                    visualized=picture(d, valid),
                    key="divergence",
                    title="divergence",
                    desc="divergence of the vector field",
                ),
                AnalysisResult(
                    raw_data=c,
                    visualized=picture(c, valid),
                    key="curl",
                    title="curl",
                    desc="curl of the 2D vector field",
                ),
            ]
        return COMResultSet(results)

    def get_mask_factories(self) -> Any:
        height, width = check.two_sig_dims(self.dataset)
        p = self.parameters
        cx, cy, r, ri = p["cx"], p["cy"], p["r"], p["ri"]

        def selection() -> np.ndarray:
            if ri:
                return masks.ring(
                    centerX=cx,
                    centerY=cy,
                    imageSizeX=width,
                    imageSizeY=height,
                    radius=r,
                    radius_inner=ri,
                )
            if math.isinf(r):
                return np.ones((height, width), dtype=bool)
            return masks.circular(
                centerX=cx, centerY=cy, imageSizeX=width, imageSizeY=height, radius=r
            )

        return com_masks_generic(detector_y=height, detector_x=width, base_mask_factory=selection)

    def get_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        height, width = check.two_sig_dims(self.dataset)
        cx = check.real("cx", parameters.get("cx", width / 2))
        cy = check.real("cy", parameters.get("cy", height / 2))
        r = check.radius("mask_radius", parameters.get("r", math.inf), allow_inf=True)
        ri = check.radius("mask_radius_inner", parameters.get("ri", 0.0))
        check.inner_outer("mask_radius_inner", ri, "mask_radius", r)
        if ri and math.isinf(r):
            raise ValueError(
                f"mask_radius: got {r!r}; an annular centre of mass needs a finite mask_radius"
            )
        return {
            "cx": cx,
            "cy": cy,
            "r": r,
            "ri": ri,
            "scan_rotation": check.real("scan_rotation", parameters.get("scan_rotation", 0.0)),
            "flip_y": bool(parameters.get("flip_y", False)),
            "use_sparse": parameters.get("use_sparse", False),
            "mask_count": 3,
            "mask_dtype": np.float32,
        }

    def need_rerun(self, old_params: dict[str, Any], new_params: dict[str, Any]) -> bool:
        """Only flip and rotation changed: the mask sums stay, only the correction differs."""
        ignored = {"flip_y", "scan_rotation"}

        def relevant(params: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in params.items() if k not in ignored}

        return relevant(old_params) != relevant(new_params)
