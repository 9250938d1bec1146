"""Analyses that apply masks to every frame (virtual detectors), on :class:`ApplyMasksUDF`."""

from __future__ import annotations

from typing import Any

import numpy as np

from ferrotem.analysis.base import AnalysisResult, AnalysisResultSet, BaseAnalysis
from ferrotem.analysis.getroi import get_roi
from ferrotem.udf.masks import ApplyMasksUDF

__all__ = [
    "BaseMasksAnalysis",
    "MasksAnalysis",
    "MasksResultSet",
    "SingleMaskAnalysis",
    "SingleMaskResultSet",
]


class BaseMasksAnalysis(BaseAnalysis):
    """An Analysis on :class:`ApplyMasksUDF`: subclasses give :meth:`get_mask_factories` and
    :meth:`get_udf_results`; the parameters ``use_sparse``, ``mask_count``, ``mask_dtype`` and
    ``dtype`` (the preferred input dtype) go to the UDF."""

    def get_udf(self) -> ApplyMasksUDF:
        return ApplyMasksUDF(
            mask_factories=self.get_mask_factories(),
            use_sparse=self.get_use_sparse(),
            mask_count=self.get_preset_mask_count(),
            mask_dtype=self.get_preset_mask_dtype(),
            preferred_dtype=self.get_preset_dtype(),
        )

    def get_mask_factories(self) -> Any:
        """The masks: one factory returning the stack, or a list of per-mask factories."""
        raise NotImplementedError()

    def get_use_sparse(self) -> Any:
        return self.parameters.get("use_sparse")

    def get_preset_mask_count(self) -> int | None:
        return self.parameters.get("mask_count")

    def get_preset_mask_dtype(self) -> Any:
        return self.parameters.get("mask_dtype")

    def get_preset_dtype(self) -> Any:
        return self.parameters.get("dtype")


class MasksResultSet(AnalysisResultSet):
    """The result of a :class:`MasksAnalysis`: ``mask_0``, ``mask_1``, ... (nav-shaped, one per
    mask). With complex data or masks, ``mask_<i>`` is the magnitude and each mask also has
    ``mask_<i>_log``, ``_real``, ``_imag``, ``_angle`` and ``_complex``."""


class SingleMaskResultSet(AnalysisResultSet):
    """The result of a one-mask Analysis (disk, ring, point): ``intensity`` (linear picture) and
    ``intensity_log`` (logarithmic picture), both nav-shaped. With complex data,
    ``intensity`` is the magnitude, plus ``intensity_real``, ``_imag``, ``_angle``,
    ``_complex``."""


class SingleMaskAnalysis(BaseMasksAnalysis):
    """A one-mask Analysis; subclasses give the mask and :meth:`get_description`."""

    def get_udf_results(self, udf_results: Any, roi: Any, damage: Any) -> AnalysisResultSet:
        data = udf_results["intensity"].data
        return self.get_generic_results(data[..., 0], damage=damage)

    def get_description(self) -> str:
        """What the intensity is the sum of (for the results' ``desc``)."""
        raise NotImplementedError()

    def get_generic_results(self, data: np.ndarray, damage: Any) -> AnalysisResultSet:
        """``intensity`` and ``intensity_log`` (complex: see :meth:`get_complex_results`)."""
        from ferrotem.viz.base import visualize_simple

        desc = self.get_description()
        if data.dtype.kind == "c":
            return SingleMaskResultSet(
                self.get_complex_results(
                    data, key_prefix="intensity", title="intensity", desc=desc, damage=damage
                )
            )
        return SingleMaskResultSet(
            [
                AnalysisResult(
                    raw_data=data,
                    visualized=lambda: visualize_simple(data, damage=damage),
                    key="intensity",
                    title="intensity [lin]",
                    desc=f"{desc} lin-scaled",
                ),
                AnalysisResult(
                    raw_data=data,
                    visualized=lambda: visualize_simple(data, logarithmic=True, damage=damage),
                    key="intensity_log",
                    title="intensity [log]",
                    desc=f"{desc} log-scaled",
                ),
            ]
        )


class MasksAnalysis(BaseMasksAnalysis):
    """Applies the masks of ``parameters['factories']``; see
    :meth:`ferrotem.api.Context.create_mask_analysis`."""

    def get_mask_factories(self) -> Any:
        return self.parameters["factories"]

    def get_roi(self) -> Any:
        return get_roi(params=self.parameters, shape=self.dataset.shape.nav)

    def get_udf_results(self, udf_results: Any, roi: Any, damage: Any) -> AnalysisResultSet:
        return self.get_generic_results(udf_results["intensity"].data, damage=damage)

    def get_generic_results(self, data: np.ndarray, damage: Any) -> AnalysisResultSet:
        """``mask_<i>`` for each mask (last axis of ``data``)."""
        from ferrotem.viz.base import visualize_simple

        n_masks = data.shape[-1]
        if data.dtype.kind == "c":
            results: list[AnalysisResult] = []
            for idx in range(n_masks):
                results.extend(
                    self.get_complex_results(
                        data[..., idx],
                        key_prefix=f"mask_{idx}",
                        title=f"mask {idx}",
                        desc=f"integrated intensity for mask {idx}",
                        damage=damage,
                    )
                )
            return MasksResultSet(results)

        def picture(image: np.ndarray) -> Any:
            return lambda: visualize_simple(image, damage=damage)

        return MasksResultSet(
            [
                AnalysisResult(
                    raw_data=data[..., idx],
                    visualized=picture(data[..., idx]),
                    key=f"mask_{idx}",
                    title=f"mask {idx}",
                    desc=f"integrated intensity for mask {idx}",
                )
                for idx in range(n_masks)
            ]
        )
