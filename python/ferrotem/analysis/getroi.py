"""The ROI a GUI describes as a shape: ``parameters['roi'] = {'shape': 'disk', 'cx', 'cy', 'r'}``
or ``{'shape': 'rect', 'x', 'y', 'width', 'height'}``."""

from __future__ import annotations

from typing import Any

import numpy as np

from ferrotem import masks

__all__ = ["get_roi"]


def get_roi(params: dict[str, Any], shape: Any) -> np.ndarray | None:
    """The bool navigation mask of ``shape`` (height, width) that ``params['roi']`` describes;
    None where ``params`` has no ROI shape."""
    spec = params.get("roi")
    if not isinstance(spec, dict) or "shape" not in spec:
        return None
    ny, nx = tuple(shape)
    if spec["shape"] == "disk":
        return masks.circular(spec["cx"], spec["cy"], nx, ny, spec["r"])
    if spec["shape"] == "rect":
        return masks.rectangular(spec["x"], spec["y"], spec["width"], spec["height"], nx, ny)
    raise ValueError(f"roi: got shape {spec['shape']!r}, expected 'disk' or 'rect'")
