"""Radial Fourier analysis: the angular Fourier coefficients of intensity in rings around a
centre, per frame (symmetry of diffraction patterns, e.g. for medium-range order).

For ring (bin) ``b`` with weights ``w_b`` (antialiased rings of
:func:`ferrotem.masks.radial_bins`) and order ``n``, the coefficient of frame ``I`` is
``c[b, n] = sum over pixels of w_b * I * exp(i * n * phi)``, ``phi`` the pixel's angle around
the centre (:func:`ferrotem.masks.polar_map`). These are dot products of each frame with
``n_bins * (max_order + 1)`` complex masks, run on :class:`ApplyMasksUDF`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ferrotem import masks
from ferrotem.analysis import _params as check
from ferrotem.analysis.base import AnalysisResult, AnalysisResultSet
from ferrotem.analysis.masks import BaseMasksAnalysis
from ferrotem.common.math import prod
from ferrotem.common.sparse import import_pydata_sparse

__all__ = ["RadialFourierAnalysis", "RadialFourierResultSet", "radial_mask_factory"]


class RadialFourierResultSet(AnalysisResultSet):
    """The result of a :class:`RadialFourierAnalysis`, per bin ``b`` and order ``o``:
    ``dominant_<b>`` (the order >= 1 of largest magnitude, 0 where all are below a fifth of the
    bin's largest), ``absolute_<b>_<o>``, then all ``phase_<b>_<o>``, then all
    ``complex_<b>_<o>`` (orders >= 1 divided by ``max(1, |order 0|)``). ``raw_results``: the
    complex coefficients, shape ``(n_bins, max_order + 1, *nav_shape)``."""


def radial_mask_factory(
    detector_y: int,
    detector_x: int,
    cx: float,
    cy: float,
    ri: float,
    ro: float,
    n_bins: int,
    max_order: int,
    use_sparse: Any,
    dtype: Any = np.complex64,
) -> Callable[[], Any]:
    """A factory of the ``(n_bins * (max_order + 1), detector_y, detector_x)`` complex mask
    stack, bin-major (mask ``b * (max_order + 1) + o`` is bin ``b``, order ``o``): a pydata
    ``sparse.COO`` stack when ``use_sparse`` is truthy, else a numpy array."""
    dtype = np.result_type(dtype, np.complex64)

    def stack() -> Any:
        orders = np.arange(max_order + 1)
        _, phi = masks.polar_map(
            centerX=cx, centerY=cy, imageSizeX=detector_x, imageSizeY=detector_y
        )
        rings = masks.radial_bins(
            centerX=cx,
            centerY=cy,
            imageSizeX=detector_x,
            imageSizeY=detector_y,
            radius=ro,
            radius_inner=ri,
            n_bins=n_bins,
            use_sparse=bool(use_sparse),
            dtype=dtype,
        )
        if not use_sparse:
            modulator = np.exp(1j * orders[:, None, None] * phi).astype(dtype)
            dense = rings[:, None] * modulator
            return dense.reshape((-1, detector_y, detector_x))
        sparse = import_pydata_sparse("sparse radial Fourier masks (use_sparse=True)")

        # every non-zero pixel of bin b appears once per order, times exp(i o phi)
        b, y, x = rings.coords
        n_orders = len(orders)
        order = np.repeat(orders, len(b))
        values = np.tile(rings.data, n_orders) * np.exp(1j * order * np.tile(phi[y, x], n_orders))
        coords = np.stack(
            [np.tile(b, n_orders) * n_orders + order, np.tile(y, n_orders), np.tile(x, n_orders)]
        )
        return sparse.COO(
            coords=coords,
            data=values.astype(dtype),
            shape=(n_bins * n_orders, detector_y, detector_x),
        )

    return stack


class RadialFourierAnalysis(BaseMasksAnalysis, id_="RADIAL_FOURIER"):
    """See the module docstring and :meth:`ferrotem.api.Context.create_radial_fourier_analysis`.

    Defaults: the frame's centre, ``ri = 0``, ``ro`` covering the frame
    (:func:`ferrotem.masks.bounding_radius`), one bin, ``max_order = 24``; sparse masks unless
    the stack is small or dense anyway.
    """

    def get_udf_results(self, udf_results: Any, roi: Any, damage: Any) -> AnalysisResultSet:
        nav = tuple(self.dataset.shape.nav)
        orders = self.parameters["max_order"] + 1
        n_bins = self.parameters["n_bins"]
        flat = udf_results["intensity"].data.reshape((prod(nav), -1)).T
        coefficients = flat.reshape((n_bins, orders, *nav))

        def results() -> list[AnalysisResult]:
            return _result_list(coefficients, damage)

        return RadialFourierResultSet(results, raw_results=coefficients)

    def get_mask_factories(self) -> Any:
        height, width = check.two_sig_dims(self.dataset)
        p = self.parameters
        return radial_mask_factory(
            detector_y=height,
            detector_x=width,
            cx=p["cx"],
            cy=p["cy"],
            ri=p["ri"],
            ro=p["ro"],
            n_bins=p["n_bins"],
            max_order=p["max_order"],
            use_sparse=p["use_sparse"],
        )

    def get_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        height, width = check.two_sig_dims(self.dataset)
        cx = check.real("cx", parameters.get("cx", width / 2))
        cy = check.real("cy", parameters.get("cy", height / 2))
        ri = check.radius("ri", parameters.get("ri", 0))
        ro = check.radius("ro", parameters.get("ro", masks.bounding_radius(cx, cy, width, height)))
        check.inner_outer("ri", ri, "ro", ro)
        if ro == ri:
            raise ValueError(f"ro: got {ro!r}, equal to ri; expected ro > ri")
        n_bins = check.count("n_bins", parameters.get("n_bins", 1), 1)
        max_order = check.count("max_order", parameters.get("max_order", 24), 0)

        mask_count = n_bins * (max_order + 1)
        bin_width = (ro - ri) / n_bins
        outer_bin_area = math.pi * (ro**2 - (ro - bin_width) ** 2)
        stack_bytes = mask_count * height * width * 8
        # small stacks (cache-sized) and wide bins are faster dense
        dense = stack_bytes < 2**18 or (outer_bin_area / (height * width) > 0.05 and n_bins < 10)
        default_sparse: Any = False if dense else "scipy.sparse"
        return {
            "cx": cx,
            "cy": cy,
            "ri": ri,
            "ro": ro,
            "n_bins": n_bins,
            "max_order": max_order,
            "use_sparse": parameters.get("use_sparse", default_sparse),
            "mask_count": mask_count,
            "mask_dtype": np.complex64,
        }


def _result_list(coefficients: np.ndarray, damage: Any) -> list[AnalysisResult]:
    """The results of a radial Fourier run (see :class:`RadialFourierResultSet`); pictures
    are made when first looked at."""
    from functools import partial

    from ferrotem.viz.base import rgb_from_2dvector, visualize_simple

    n_bins, orders = coefficients.shape[:2]
    absolute = np.abs(coefficients)
    normal = np.maximum(1, absolute[:, 0])
    valid = np.asarray(damage, dtype=bool) & np.all(np.isfinite(absolute), axis=(0, 1))
    normalized = absolute[:, 1:] / normal[:, None]
    if orders > 1 and np.any(valid):
        lo, hi = float(np.min(normalized[..., valid])), float(np.max(normalized[..., valid]))
    else:
        lo, hi = 0.0, 1.0
    angle = np.angle(coefficients)
    if orders > 1:
        threshold = absolute[:, 1:].reshape((n_bins, -1)).max(axis=1) * 0.2
        below = np.all(absolute[:, 1:] < threshold[:, None, None, None], axis=1)
        dominant = np.argmax(absolute[:, 1:], axis=1) + 1
        dominant[below] = 0
    else:
        dominant = np.zeros((n_bins, *coefficients.shape[2:]), dtype=np.int64)

    def tab20() -> Any:
        from matplotlib import colormaps

        return colormaps["tab20"]

    def dominant_picture(data: np.ndarray) -> np.ndarray:
        return visualize_simple(data, colormap=tab20(), vmin=0, vmax=20)

    def phase_picture(data: np.ndarray) -> np.ndarray:
        from ferrotem.viz import base

        return visualize_simple(data, colormap=base.libertem_cyclic, damage=valid)

    results: list[AnalysisResult] = []
    for b in range(n_bins):
        results.append(
            AnalysisResult(
                raw_data=dominant[b],
                visualized=partial(dominant_picture, dominant[b]),
                key=f"dominant_{b}",
                title=f"dominant order of bin {b}",
                desc="Dominant Fourier component",
            )
        )
        for o in range(orders):
            picture = (
                partial(visualize_simple, absolute[b, 0], damage=valid)
                if o == 0
                else partial(
                    visualize_simple, absolute[b, o] / normal[b], vmin=lo, vmax=hi, damage=valid
                )
            )
            results.append(
                AnalysisResult(
                    raw_data=absolute[b, o],
                    visualized=picture,
                    key=f"absolute_{b}_{o}",
                    title=f"absolute of bin {b} order {o}",
                    desc="Absolute value of Fourier component",
                )
            )
    for b in range(n_bins):
        for o in range(orders):
            results.append(
                AnalysisResult(
                    raw_data=angle[b, o],
                    visualized=partial(phase_picture, angle[b, o]),
                    key=f"phase_{b}_{o}",
                    title=f"phase of bin {b} order {o}",
                    desc="Phase of Fourier component",
                )
            )
    for b in range(n_bins):
        for o in range(orders):
            data = coefficients[b, o] if o == 0 else coefficients[b, o] / normal[b]
            if o == 0:
                finite = np.abs(data[..., valid])
                vmax = float(np.max(finite)) if finite.size else None
            else:
                vmax = hi
            results.append(
                AnalysisResult(
                    raw_data=data,
                    visualized=partial(rgb_from_2dvector, x=data.real, y=data.imag, vmax=vmax),
                    key=f"complex_{b}_{o}",
                    title=f"bin {b} order {o}",
                    desc="Fourier component",
                )
            )
    return results
