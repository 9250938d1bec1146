"""The Analysis interface: a UDF plus the conversion of its results into an
:class:`AnalysisResultSet` of named, visualised images.

``Context.run(analysis)`` runs ``analysis.get_udf()`` on ``analysis.dataset`` (over
``analysis.get_roi()`` unless the caller gives a ROI) and returns
``analysis.get_udf_results(udf_results, roi, damage)``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np

from ferrotem.common.analysis import AnalysisResult, AnalysisResultSet
from ferrotem.io.dataset.base import DataSet
from ferrotem.udf.base import UDF

__all__ = ["Analysis", "AnalysisResult", "AnalysisResultSet", "BaseAnalysis"]


class Analysis:
    """Base class of Analyses: the bridge between a UDF and named, visualised results.

    Subclasses registered with ``class X(Analysis, id_="NAME")`` can be looked up by that name
    (:meth:`get_analysis_by_type`), as a GUI does with the analysis type it receives.
    """

    TYPE: Literal["UDF"] = "UDF"
    registry: ClassVar[dict[str, type[Analysis]]] = {}

    def __init__(self, dataset: DataSet, parameters: dict[str, Any]):
        self.dataset = dataset

    def __init_subclass__(cls, id_: str | None = None, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if id_ is not None:
            cls.registry[id_] = cls

    @classmethod
    def get_analysis_by_type(cls, id_: str) -> type[Analysis]:
        """The Analysis class registered under ``id_`` (e.g. ``'APPLY_DISK_MASK'``)."""
        try:
            return cls.registry[id_]
        except KeyError:
            raise ValueError(
                f"id_: got {id_!r}, expected one of {', '.join(sorted(cls.registry))}"
            ) from None

    @classmethod
    def get_template_helper(cls) -> Any:
        """The notebook-code generator of LiberTEM's web GUI; not in ferrotem yet (issue 11)."""
        raise NotImplementedError("notebook generation comes with the ferrotem server (issue 11)")

    @classmethod
    def get_rpc_definitions(cls) -> dict[str, Any]:
        """Remote procedures a GUI may call for this Analysis (none here)."""
        return {}

    async def controller(
        self, cancel_id: Any, executor: Any, job_is_cancelled: Any, send_results: Any
    ) -> None:
        """A custom run loop for Analyses that need several passes (GUI only)."""
        raise NotImplementedError()

    def get_udf_results(self, udf_results: Any, roi: Any, damage: Any) -> AnalysisResultSet:
        """Turns the UDF's result dict into the result set (``damage``: where results are
        valid, ``True`` or a bool nav array)."""
        raise NotImplementedError()

    def get_udf(self) -> UDF:
        """The UDF this Analysis runs."""
        raise NotImplementedError()

    def get_roi(self) -> Any:
        """The ROI the UDF runs on when the caller gives none (None: all frames)."""
        raise NotImplementedError()

    def get_complex_results(
        self,
        job_result: np.ndarray,
        key_prefix: str,
        title: str,
        desc: str,
        damage: Any,
        default_lin: bool = True,
    ) -> list[AnalysisResult]:
        """The results of a complex image; see :meth:`BaseAnalysis.get_complex_results`."""
        raise NotImplementedError()

    def get_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """The parameters with defaults filled in (and checked)."""
        raise NotImplementedError()

    def need_rerun(self, old_params: dict[str, Any], new_params: dict[str, Any]) -> bool:
        """Whether new parameters need a new pass over the data (not only a new picture)."""
        return True


class BaseAnalysis(Analysis):
    """An Analysis whose ``parameters`` are :meth:`get_parameters`' defaults updated with the
    given ones, and which runs on all frames unless told otherwise."""

    def __init__(self, dataset: DataSet, parameters: dict[str, Any]):
        super().__init__(dataset, parameters)
        self.parameters = self.get_parameters(parameters)
        self.parameters.update(parameters)

    def get_roi(self) -> Any:
        return None

    def get_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        return dict(parameters)

    def get_complex_results(
        self,
        job_result: np.ndarray,
        key_prefix: str,
        title: str,
        desc: str,
        damage: Any,
        default_lin: bool = True,
    ) -> list[AnalysisResult]:
        """Six results of a complex image, keyed after ``key_prefix``: magnitude with a linear
        and with a logarithmic picture (the linear one is keyed ``key_prefix`` when
        ``default_lin``, else the logarithmic one, the other gets ``_lin``/``_log``), then
        ``_real``, ``_imag``, ``_angle`` and ``_complex`` (a colour-wheel picture)."""
        from ferrotem.viz.base import rgb_from_2dvector, visualize_simple

        valid = np.asarray(damage, dtype=bool) & np.isfinite(job_result)
        magn = np.abs(job_result)
        angle = np.angle(job_result)
        vmax = float(np.max(magn[valid])) if np.any(valid) else None

        def wheel() -> np.ndarray:
            return rgb_from_2dvector(x=job_result.real, y=job_result.imag, vmax=vmax)

        def simple(data: np.ndarray, log: bool = False) -> Any:
            return lambda: visualize_simple(data, logarithmic=log, damage=valid)

        lin_key, log_key = (
            (key_prefix, f"{key_prefix}_log") if default_lin else (f"{key_prefix}_lin", key_prefix)
        )
        parts = (
            (magn, simple(magn), lin_key, "magn"),
            (magn, simple(magn, log=True), log_key, "log(magn)"),
            (job_result.real, simple(job_result.real), f"{key_prefix}_real", "real"),
            (job_result.imag, simple(job_result.imag), f"{key_prefix}_imag", "imag"),
            (angle, simple(angle), f"{key_prefix}_angle", "angle"),
            (job_result, wheel, f"{key_prefix}_complex", "complex"),
        )
        return [
            AnalysisResult(
                raw_data=data,
                visualized=picture,
                key=key,
                title=f"{title} [{label}]",
                desc=f"{desc} [{label}]",
            )
            for data, picture, key, label in parts
        ]


def valid_everywhere(image: np.ndarray) -> np.ndarray:
    """The damage mask of a result valid on every pixel: zeros take part in the colour range
    (LiberTEM's ``damage=True``)."""
    return np.ones(np.shape(image), dtype=bool)
