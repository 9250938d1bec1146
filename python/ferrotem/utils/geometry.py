"""Vectors in detector pixel coordinates: polar/cartesian conversion, rotation, and the points of
a 2-D lattice that fall inside a frame (for synthetic diffraction patterns).

Conventions, as in LiberTEM: vectors are ``(y, x)`` (row, column); polar vectors are
``(r, phi)`` with ``phi = atan2(y, x)``; with y pointing down, a positive rotation angle turns
clockwise on screen.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "calc_coords",
    "frame_peaks",
    "make_cartesian",
    "make_polar",
    "regularize_indices",
    "rotate_deg",
    "rotate_precalc",
    "rotate_rad",
    "within_frame",
]


def make_cartesian(polar: np.ndarray) -> np.ndarray:
    """``(..., 2)`` polar vectors ``(r, phi)`` as cartesian ``(y, x)`` vectors."""
    polar = np.asarray(polar, dtype=float)
    r, phi = polar[..., 0], polar[..., 1]
    return np.stack((r * np.sin(phi), r * np.cos(phi)), axis=-1)


def make_polar(cartesian: np.ndarray) -> np.ndarray:
    """``(..., 2)`` cartesian ``(y, x)`` vectors as polar ``(r, phi)`` vectors."""
    cartesian = np.asarray(cartesian, dtype=float)
    y, x = cartesian[..., 0], cartesian[..., 1]
    return np.stack((np.hypot(y, x), np.arctan2(y, x)), axis=-1)


def rotate_precalc(y: Any, x: Any, cos_angle: Any, sin_angle: Any) -> tuple[Any, Any]:
    """``(y, x)`` rotated by the angle whose cosine and sine are given (for loops that rotate
    many vectors by one angle); returns the rotated ``(y, x)``."""
    return sin_angle * x + cos_angle * y, cos_angle * x - sin_angle * y


def rotate_rad(y: Any, x: Any, radians: Any) -> tuple[Any, Any]:
    """``(y, x)`` rotated by ``radians``."""
    return rotate_precalc(y, x, np.cos(radians), np.sin(radians))


def rotate_deg(y: Any, x: Any, degrees: Any) -> tuple[Any, Any]:
    """``(y, x)`` rotated by ``degrees``."""
    return rotate_rad(y, x, np.deg2rad(degrees))


def regularize_indices(indices: np.ndarray) -> np.ndarray:
    """Lattice indices as an ``(n, 2)`` array of ``(i, j)`` pairs.

    Accepts ``(n, 2)`` pairs as they are, or the ``(2, ny, nx)`` output of ``np.mgrid``, whose
    pairs are listed with the first index varying fastest.
    """
    indices = np.asarray(indices)
    if indices.ndim == 2 and indices.shape[1] == 2:
        return indices
    if indices.ndim == 3 and indices.shape[0] == 2:
        # (2, ny, nx) -> pairs ordered by the last axis first, then the middle one
        return indices.transpose(2, 1, 0).reshape(-1, 2)
    raise ValueError(f"indices: got shape {indices.shape}, expected (n, 2) or (2, n, m)")


def calc_coords(zero: Any, a: Any, b: Any, indices: np.ndarray) -> np.ndarray:
    """Positions ``zero + i * a + j * b`` of the lattice points with ``(i, j)`` in ``indices``."""
    coords: np.ndarray = np.asarray(zero) + np.asarray(indices) @ np.array((a, b))
    return coords


def within_frame(peaks: np.ndarray, r: float, fy: int, fx: int) -> np.ndarray:
    """For ``(n, 2)`` positions: True where ``r <= y < fy - r`` and ``r <= x < fx - r``."""
    peaks = np.asarray(peaks)
    lo = peaks >= (r, r)
    hi = peaks < (fy - r, fx - r)
    inside: np.ndarray = np.all(lo & hi, axis=-1)
    return inside


def frame_peaks(
    fy: int, fx: int, zero: Any, a: Any, b: Any, r: float, indices: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The lattice points (indices and positions) at least ``r`` inside a ``fy`` x ``fx`` frame."""
    indices = regularize_indices(indices)
    peaks = calc_coords(zero, a, b, indices)
    inside = within_frame(peaks, r, fy, fx)
    return indices[inside], peaks[inside]
