"""The analyses the GUI offers: how a request's parameters become an Analysis (with its UDF and
ROI), and how a UDF's (partial) result becomes the named images ("channels") the page shows.

Every analysis is one of ferrotem's registered Analysis classes (or, for the rectangle, a
:class:`~ferrotem.analysis.masks.MasksAnalysis` of :func:`ferrotem.masks.rectangular`), so the
GUI computes exactly what ``Context.run(ctx.create_*_analysis(...))`` does. Channels are read
from the Analysis' own result set (``get_udf_results``) after every merged partition; a few are
derived here (the centre of mass' field ``direction``, the ``mean`` frame of a sum).
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ferrotem.gui.protocol import ProtocolError

__all__ = ["ANALYSES", "AnalysisKind", "BuiltAnalysis", "build_analysis"]

#: "name: got ..." at the start of ferrotem's error messages names the parameter
_PARAM_PREFIX = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*:")
#: parameter names in Analysis error messages -> the GUI's names for them
_ALIASES = {"mask_radius": "r", "mask_radius_inner": "ri"}

Channels = dict[str, np.ndarray]


@dataclass(frozen=True)
class AnalysisKind:
    """One analysis type a client may ask for."""

    #: the registered Analysis id (``Analysis.get_analysis_by_type``), None: built here
    analysis_id: str | None
    #: parameters the request may give (anything else is refused)
    parameters: frozenset[str]
    #: the result is frame-shaped (sum, std, pick) rather than scan-shaped
    frame_shaped: bool
    #: reads the channels from the Analysis' result set (and the merged-frame mask)
    channels: Callable[[Any, Any, np.ndarray], Channels]


@dataclass
class BuiltAnalysis:
    """An analysis ready to run: its Analysis object, UDF, ROI and channel reader."""

    kind: str
    analysis: Any
    udf: Any
    roi: np.ndarray | None
    read: Callable[[Any, np.ndarray], Channels]


def _raw(results: Any, key: str) -> np.ndarray:
    return np.asarray(results[key].raw_data)


def _single_mask(analysis: Any, buffers: Any, damage: np.ndarray) -> Channels:
    return {"intensity": _raw(analysis.get_udf_results(buffers, None, damage), "intensity")}


def _rectangle(analysis: Any, buffers: Any, damage: np.ndarray) -> Channels:
    return {"intensity": _raw(analysis.get_udf_results(buffers, None, damage), "mask_0")}


def _com(analysis: Any, buffers: Any, damage: np.ndarray) -> Channels:
    results = analysis.get_udf_results(buffers, None, damage)
    names = ("magnitude", "x", "y", "divergence", "curl")
    channels = {k: _raw(results, k) for k in names if k in results.keys()}
    # the field's direction (radians, 0 = +x, pi/2 = +y down): the page colours it on a wheel
    channels["direction"] = np.arctan2(channels["y"], channels["x"])
    return channels


def _frames_merged(damage: np.ndarray) -> int:
    return int(np.count_nonzero(damage))


def _sum(analysis: Any, buffers: Any, damage: np.ndarray) -> Channels:
    total = _raw(analysis.get_udf_results(buffers, None, damage), "intensity")
    # the mean over the frames merged so far (of the ROI): the detector view's "mean frame"
    n = _frames_merged(damage)
    mean = total / n if n else np.zeros_like(total)
    return {"intensity": total, "mean": mean}


def _std(analysis: Any, buffers: Any, damage: np.ndarray) -> Channels:
    return {"intensity": _raw(analysis.get_udf_results(buffers, None, damage), "intensity")}


def _sum_sig(analysis: Any, buffers: Any, damage: np.ndarray) -> Channels:
    data = _raw(analysis.get_udf_results(buffers, None, damage), "intensity")
    return {"intensity": data.reshape(tuple(analysis.dataset.shape.nav))}


def _pick(analysis: Any, buffers: Any, damage: np.ndarray) -> Channels:
    return {"intensity": _raw(analysis.get_udf_results(buffers, None, damage), "intensity")}


def _radial_fourier(analysis: Any, buffers: Any, damage: np.ndarray) -> Channels:
    results = analysis.get_udf_results(buffers, None, damage)
    # the real-valued results: dominant order and absolute value per bin and order
    return {k: _raw(results, k) for k in results.keys() if k.startswith(("dominant_", "absolute_"))}


ANALYSES: dict[str, AnalysisKind] = {
    "ring": AnalysisKind(
        "APPLY_RING_MASK", frozenset({"cx", "cy", "ri", "ro"}), False, _single_mask
    ),
    "disk": AnalysisKind("APPLY_DISK_MASK", frozenset({"cx", "cy", "r"}), False, _single_mask),
    "point": AnalysisKind("APPLY_POINT_SELECTOR", frozenset({"cx", "cy"}), False, _single_mask),
    "rectangle": AnalysisKind(None, frozenset({"x", "y", "width", "height"}), False, _rectangle),
    "com": AnalysisKind(
        "CENTER_OF_MASS",
        frozenset({"cx", "cy", "r", "ri", "scan_rotation", "flip_y"}),
        False,
        _com,
    ),
    "radial_fourier": AnalysisKind(
        "RADIAL_FOURIER",
        frozenset({"cx", "cy", "ri", "ro", "n_bins", "max_order"}),
        False,
        _radial_fourier,
    ),
    "sum": AnalysisKind("SUM_FRAMES", frozenset({"roi"}), True, _sum),
    "std": AnalysisKind("SD_FRAMES", frozenset({"roi"}), True, _std),
    # the scan image beside a frame-shaped result: each frame's total, to pick frames on
    "sumsig": AnalysisKind("SUM_SIG", frozenset(), False, _sum_sig),
    "pick": AnalysisKind("PICK_FRAME", frozenset({"x", "y", "z"}), True, _pick),
}


def _param_of(exc: BaseException, names: set[str]) -> str | None:
    """The GUI parameter an exception's message starts with, when it is one of ``names``."""
    m = _PARAM_PREFIX.match(str(exc))
    if not m:
        return None
    name = _ALIASES.get(m.group(1), m.group(1))
    return name if name in names else None


def _rectangle_analysis(dataset: Any, parameters: dict[str, Any]) -> Any:
    """A one-mask :class:`MasksAnalysis` over ``masks.rectangular(x, y, width, height)``."""
    from ferrotem import masks
    from ferrotem.analysis import _params as check
    from ferrotem.analysis.masks import MasksAnalysis

    height, width = check.two_sig_dims(dataset)
    values = {}
    for name in ("x", "y", "width", "height"):
        if name not in parameters:
            raise ValueError(f"{name}: missing; a rectangle needs x, y, width and height")
        values[name] = check.real(name, parameters[name])
    if values["width"] == 0 or values["height"] == 0:
        raise ValueError("width: a rectangle of zero width or height selects no pixel")

    def rectangle() -> np.ndarray:
        return masks.rectangular(
            values["x"], values["y"], values["width"], values["height"], width, height
        )

    return MasksAnalysis(dataset, {"factories": [rectangle], "mask_count": 1,
                                   "mask_dtype": np.float32})  # fmt: skip


def _check_roi(dataset: Any, roi: Any) -> None:
    """A scan ROI as :mod:`ferrotem.analysis.getroi` reads it, with finite numbers only."""
    if roi is None:
        return
    if not isinstance(roi, dict) or roi.get("shape") not in ("rect", "disk"):
        raise ProtocolError(f"roi: got {roi!r}, expected {{'shape': 'rect' or 'disk', ...}}", "roi")
    keys = ("x", "y", "width", "height") if roi["shape"] == "rect" else ("cx", "cy", "r")
    for key in keys:
        value = roi.get(key)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ProtocolError(f"roi: {key} got {value!r}, expected a number", "roi")
    if len(tuple(dataset.shape.nav)) != 2:
        raise ProtocolError("roi: a scan ROI needs two navigation dimensions", "roi")


def build_analysis(kind: str, dataset: Any, parameters: Any) -> BuiltAnalysis:
    """The Analysis of type ``kind`` on ``dataset``; a bad type or parameter raises
    :class:`ProtocolError` naming it."""
    # The registry fills as ferrotem.analysis imports its submodules; importing the package
    # (not only .base) waits while another thread is still importing it: runs are prepared on
    # several threads at once, and a lookup during that import missed classes.
    import ferrotem.analysis  # noqa: F401
    from ferrotem.analysis.base import Analysis

    if kind not in ANALYSES:
        raise ProtocolError(f"analysis type: got {kind!r}, expected one of {sorted(ANALYSES)}")
    spec = ANALYSES[kind]
    if not isinstance(parameters, dict):
        raise ProtocolError(f"parameters: got {parameters!r}, expected an object")
    unknown = sorted(set(parameters) - spec.parameters)
    if unknown:
        raise ProtocolError(
            f"{unknown[0]}: not a parameter of {kind}; expected some of {sorted(spec.parameters)}",
            unknown[0],
        )
    _check_roi(dataset, parameters.get("roi"))
    try:
        if spec.analysis_id is None:
            analysis = _rectangle_analysis(dataset, parameters)
        else:
            cls = Analysis.get_analysis_by_type(spec.analysis_id)
            analysis = cls(dataset, dict(parameters))
        udf = analysis.get_udf()
        roi = analysis.get_roi()
    except (TypeError, ValueError, KeyError) as e:  # the analysis' own parameter checks
        raise ProtocolError(str(e), _param_of(e, set(spec.parameters))) from None
    roi = None if roi is None else np.asarray(roi, dtype=bool)
    if roi is not None and not roi.any():
        raise ProtocolError("roi: selects no scan position", "roi")

    def read(buffers: Any, damage: np.ndarray) -> Channels:
        return spec.channels(analysis, buffers, damage)

    return BuiltAnalysis(kind, analysis, udf, roi, read)
