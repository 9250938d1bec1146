"""One whole frame, picked by its navigation coordinates, on :class:`PickUDF`."""

from __future__ import annotations

from typing import Any

import numpy as np

from ferrotem.analysis.base import (
    AnalysisResult,
    AnalysisResultSet,
    BaseAnalysis,
    valid_everywhere,
)
from ferrotem.udf.raw import PickUDF

__all__ = ["PickFrameAnalysis", "PickResultSet"]

_AXES = ("z", "y", "x")


class PickResultSet(AnalysisResultSet):
    """The result of a :class:`PickFrameAnalysis`: ``intensity`` (logarithmic picture) and
    ``intensity_lin`` (linear picture), both the frame in the dataset's dtype. With complex
    data, ``intensity`` is the magnitude, plus ``intensity_lin``, ``_real``, ``_imag``,
    ``_angle``, ``_complex``."""


class PickFrameAnalysis(BaseAnalysis, id_="PICK_FRAME"):
    """Picks the frame at ``(z, y, x)``; give as many coordinates as the dataset has navigation
    dimensions (1 to 3), the last ones: ``x`` for 1-D, ``x, y`` for 2-D, ``x, y, z`` for 3-D.
    A ROI given to ``Context.run`` replaces the coordinates: its first frame is picked."""

    def get_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        self._check_origin(parameters)
        return dict(parameters)

    def _check_origin(self, parameters: dict[str, Any]) -> tuple[int, ...]:
        nav = tuple(self.dataset.shape.nav)
        dims = len(nav)
        if dims not in (1, 2, 3):
            raise ValueError(
                f"dataset: can only pick from 1D/2D/3D navigation, got navigation shape {nav}"
            )
        zyx = tuple(parameters.get(a) for a in _AXES)
        keep, drop = zyx[3 - dims :], zyx[: 3 - dims]
        needed = ", ".join(_AXES[3 - dims :][::-1])
        if any(v is None for v in keep) or any(v is not None for v in drop):
            given = ", ".join(f"{a}={v!r}" for a, v in zip(_AXES, zyx, strict=True))
            raise ValueError(f"{dims}D navigation {nav} needs exactly {needed}; got {given}")
        origin = []
        for axis, value, size in zip(_AXES[3 - dims :], keep, nav, strict=True):
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise ValueError(f"{axis}: got {value!r}, expected an integer index")
            if not 0 <= value < size:
                raise ValueError(f"{axis}: got {value!r}, expected 0 <= {axis} < {size}")
            origin.append(int(value))
        return tuple(origin)

    def get_origin(self) -> tuple[int, ...]:
        """The navigation index of the frame, ``(y, x)`` for 2-D navigation."""
        return self._check_origin(self.parameters)

    def get_udf(self) -> PickUDF:
        return PickUDF()

    def get_roi(self) -> np.ndarray:
        roi = np.zeros(tuple(self.dataset.shape.nav), dtype=bool)
        roi[self.get_origin()] = True
        return roi

    def get_udf_results(self, udf_results: Any, roi: Any, damage: Any) -> AnalysisResultSet:
        return self.get_generic_results(udf_results["intensity"].data[0], damage=True)

    def get_coords(self) -> str:
        """The coordinates as text, ``'x=3 y=2'``."""
        return " ".join(
            f"{a}={self.parameters[a]}" for a in ("x", "y", "z") if a in self.parameters
        )

    def get_generic_results(self, data: np.ndarray, damage: Any) -> AnalysisResultSet:
        """``intensity`` (log picture) and ``intensity_lin`` of the frame ``data``."""
        from ferrotem.viz.base import visualize_simple

        coords = self.get_coords()
        if data.dtype.kind == "c":
            return PickResultSet(
                self.get_complex_results(
                    data,
                    key_prefix="intensity",
                    title="intensity",
                    desc=f"the frame at {coords}",
                    damage=True,
                    default_lin=False,
                )
            )
        return PickResultSet(
            [
                AnalysisResult(
                    raw_data=data,
                    visualized=lambda: visualize_simple(
                        data, logarithmic=True, damage=valid_everywhere(data)
                    ),
                    key="intensity",
                    title="intensity [log]",
                    desc=f"the frame at {coords} log-scaled",
                ),
                AnalysisResult(
                    raw_data=data,
                    visualized=lambda: visualize_simple(data, damage=valid_everywhere(data)),
                    key="intensity_lin",
                    title="intensity [lin]",
                    desc=f"the frame at {coords} lin-scaled",
                ),
            ]
        )
