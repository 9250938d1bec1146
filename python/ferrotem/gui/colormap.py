"""The colour map of PNG downloads: a perceptually ordered blue-green-yellow ramp computed by
linear interpolation between a few control points of our own choosing (the browser's maps are
drawn in JavaScript; this one only has to make the downloaded picture readable)."""

from __future__ import annotations

import numpy as np

__all__ = ["LUT", "apply_colormap"]

#: (position 0..1, red, green, blue): dark blue through teal and green to yellow
_CONTROL = np.array(
    [
        [0.00, 0.27, 0.00, 0.33],
        [0.25, 0.23, 0.32, 0.55],
        [0.50, 0.13, 0.57, 0.55],
        [0.75, 0.37, 0.79, 0.38],
        [1.00, 0.99, 0.91, 0.14],
    ]
)


def _lut() -> np.ndarray:
    at = np.linspace(0.0, 1.0, 256)
    rgb = [np.interp(at, _CONTROL[:, 0], _CONTROL[:, c]) for c in (1, 2, 3)]
    return np.round(np.stack(rgb, axis=-1) * 255).astype(np.uint8)


#: 256 RGB entries, index 0 for the low end of the range
LUT = _lut()


def apply_colormap(image: np.ndarray) -> tuple[np.ndarray, float, float]:
    """``image`` (2-D, real) as RGB bytes, the finite range ``[vmin, vmax]`` spread over the
    256 entries of :data:`LUT` (non-finite pixels get entry 0); returns the picture and the
    range."""
    values = np.asarray(image, dtype=np.float64)
    finite = np.isfinite(values)
    vmin = float(values[finite].min()) if finite.any() else 0.0
    vmax = float(values[finite].max()) if finite.any() else 0.0
    span = vmax - vmin
    scaled = np.zeros(values.shape) if span == 0 else (values - vmin) / span
    index = np.clip(np.round(np.where(finite, scaled, 0.0) * 255), 0, 255).astype(np.uint8)
    return LUT[index], vmin, vmax
