"""Pixel coordinates relative to a centre, the polar map, and the radius that covers a frame.

The convention, shared by every mask factory and identical to LiberTEM's: pixel ``(y, x)`` of
an image has the coordinates ``(y, x)`` (its centre lies on the integer grid, the first pixel at
0), and a centre ``(centerY, centerX)`` may be any finite real number, on or off the frame.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ferrotem.masks import _validate as check


def centre_offsets(
    centerX: float, centerY: float, imageSizeX: int, imageSizeY: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(dy, dx)``: each pixel's offset from the centre, as a column ``(imageSizeY, 1)`` and a
    row ``(1, imageSizeX)`` of float64 that broadcast to the image."""
    dy = (np.arange(imageSizeY, dtype=np.float64) - centerY)[:, np.newaxis]
    dx = (np.arange(imageSizeX, dtype=np.float64) - centerX)[np.newaxis, :]
    return dy, dx


def squared_distance(
    centerX: float, centerY: float, imageSizeX: int, imageSizeY: int
) -> np.ndarray:
    """Each pixel's squared distance from the centre, ``dy*dy + dx*dx`` (float64)."""
    dy, dx = centre_offsets(centerX, centerY, imageSizeX, imageSizeY)
    d2: np.ndarray = dy * dy + dx * dx
    return d2


def polar_map(
    centerX: Any,
    centerY: Any,
    imageSizeX: Any,
    imageSizeY: Any,
    stretchY: Any = 1.0,
    angle: Any = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Radius and angle of every pixel around a centre, as two float64 arrays of shape
    ``(imageSizeY, imageSizeX)``.

    The radius is ``sqrt(dy*dy + dx*dx)`` and the angle ``arctan2(dy, dx)`` (radians, in
    ``[-pi, pi]``; 0 along +x, +pi/2 along +y, i.e. downwards on screen), with ``dy = y -
    centerY`` and ``dx = x - centerX``. The radius is computed as that square root rather than
    with ``np.hypot`` so that it equals LiberTEM's to the last bit (``hypot`` may differ by one
    unit in the last place, which moves pixels across antialiasing thresholds).

    ``stretchY`` and ``angle`` (radians) turn the map elliptical: the offsets are first rotated,
    ``dy' = (dy cos(angle) - dx sin(angle)) / stretchY`` and ``dx' = dx cos(angle) + dy
    sin(angle)``, so that the radius is shrunk by ``stretchY`` along the direction ``angle``
    (``angle = 0``: the y axis). Templates defined as a function of radius and angle (see
    :func:`radial_gradient_background_subtraction`) can be built on such a map to match
    elliptically distorted diffraction patterns.
    """
    cx = check.real("centerX", centerX)
    cy = check.real("centerY", centerY)
    sx = check.size("imageSizeX", imageSizeX)
    sy = check.size("imageSizeY", imageSizeY)
    stretch = check.real("stretchY", stretchY)
    if stretch == 0:
        raise ValueError("stretchY: got 0, expected a non-zero stretch factor")
    rot = check.real("angle", angle)
    col, row = centre_offsets(cx, cy, sx, sy)
    dy, dx = np.broadcast_arrays(col, row)
    if stretch != 1.0 or rot != 0.0:
        cos, sin = np.cos(rot), np.sin(rot)
        dy, dx = (dy * cos - dx * sin) / stretch, dx * cos + dy * sin
    radius: np.ndarray = np.sqrt(dy * dy + dx * dx)
    phi: np.ndarray = np.arctan2(dy, dx)
    return radius, phi


def bounding_radius(centerX: Any, centerY: Any, imageSizeX: Any, imageSizeY: Any) -> int:
    """An integer radius around the centre that covers the whole frame.

    It is ``ceil(sqrt(dy**2 + dx**2)) + 1`` with ``dy = max(centerY, imageSizeY - centerY)`` and
    ``dx = max(centerX, imageSizeX - centerX)`` (as LiberTEM: the frame's far edges, not the far
    pixel centres, plus one pixel to spare). :func:`radial_bins` uses it when no radius is given.
    """
    cx = check.real("centerX", centerX)
    cy = check.real("centerY", centerY)
    sx = check.size("imageSizeX", imageSizeX)
    sy = check.size("imageSizeY", imageSizeY)
    dy = max(cy, sy - cy)
    dx = max(cx, sx - cx)
    return math.ceil(math.sqrt(dy**2 + dx**2)) + 1
