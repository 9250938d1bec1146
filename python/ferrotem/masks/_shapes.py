"""Disks, rings, rectangles, gradients and the templates built from them."""

from __future__ import annotations

from typing import Any

import numpy as np

from ferrotem.masks import _validate as check
from ferrotem.masks._geometry import squared_distance
from ferrotem.masks._radial import radial_bins, radial_gradient_background_subtraction


def _disk(cx: float, cy: float, sx: int, sy: int, radius: float) -> np.ndarray:
    """Pixels whose centre lies within ``radius`` of the centre, boundary included."""
    inside: np.ndarray = squared_distance(cx, cy, sx, sy) <= radius * radius
    return inside


def _single_bin(cx: float, cy: float, sx: int, sy: int, radius: float, inner: float) -> Any:
    """The antialiased ring from ``inner`` to ``radius``: one radial bin, as a float64 array."""
    return radial_bins(
        cx, cy, sx, sy, radius=radius, radius_inner=inner, n_bins=1, use_sparse=False
    )[0]


def circular(
    centerX: Any,
    centerY: Any,
    imageSizeX: Any,
    imageSizeY: Any,
    radius: Any,
    antialiased: bool = False,
) -> np.ndarray:
    """A disk of ``radius`` around ``(centerY, centerX)`` in an image of shape ``(imageSizeY,
    imageSizeX)``.

    Plain (``antialiased=False``): a bool array, ``True`` where the pixel's centre lies within
    the radius, boundary included: ``(y - centerY)**2 + (x - centerX)**2 <= radius**2``. Pixel
    centres are on the integer grid (pixel ``(0, 0)`` is at ``(0, 0)``), so ``circular(4, 4, 9,
    9, 2)`` holds 13 pixels, and a radius of 0 keeps only a pixel the centre falls on exactly.
    The centre may lie off the frame.

    Antialiased: a float64 array, the single bin ``0 .. radius`` of :func:`radial_bins`: 1 up to
    ``radius - 0.5``, falling linearly to 0 at ``radius + 0.5``, and 1 on the pixel nearest the
    centre.

    Same values as LiberTEM 0.16 (checked on random parameters). Differences: a negative or
    non-finite radius raises ``ValueError`` (LiberTEM squares a negative radius); and where
    LiberTEM's ``np.ogrid`` over a fractional range yields one row or column too many (about 2 %
    of random fractional centres), the shape here is always ``(imageSizeY, imageSizeX)``.
    """
    cx, cy = check.real("centerX", centerX), check.real("centerY", centerY)
    sx, sy = check.size("imageSizeX", imageSizeX), check.size("imageSizeY", imageSizeY)
    r = check.radius("radius", radius)
    if antialiased:
        return _single_bin(cx, cy, sx, sy, r, 0.0)  # type: ignore[no-any-return]
    return _disk(cx, cy, sx, sy, r)


def ring(
    centerX: Any,
    centerY: Any,
    imageSizeX: Any,
    imageSizeY: Any,
    radius: Any,
    radius_inner: Any,
    antialiased: bool = False,
) -> np.ndarray:
    """A ring between ``radius_inner`` and ``radius`` around ``(centerY, centerX)``.

    Plain: bool, ``radius_inner**2 < d**2 <= radius**2`` for the distance ``d`` of each pixel
    centre (the outer boundary belongs to the ring, the inner one to the hole): the disk of
    :func:`circular` with ``radius`` minus the one with ``radius_inner``.

    Antialiased: float64, the single bin ``radius_inner .. radius`` of :func:`radial_bins`; for
    ``radius_inner < 0.5`` that includes the centre pixel, set to ``1 - radius_inner``.

    As LiberTEM 0.16's, except that ``radius_inner > radius`` raises ``ValueError``.
    """
    cx, cy = check.real("centerX", centerX), check.real("centerY", centerY)
    sx, sy = check.size("imageSizeX", imageSizeX), check.size("imageSizeY", imageSizeY)
    r = check.radius("radius", radius)
    ri = check.inner_radius(radius_inner, r)
    if antialiased:
        return _single_bin(cx, cy, sx, sy, r, ri)  # type: ignore[no-any-return]
    d2 = squared_distance(cx, cy, sx, sy)
    inside: np.ndarray = (d2 <= r * r) & ~(d2 <= ri * ri)
    return inside


def radial_gradient(
    centerX: Any,
    centerY: Any,
    imageSizeX: Any,
    imageSizeY: Any,
    radius: Any,
    antialiased: bool = False,
) -> np.ndarray:
    """A linear gradient from 0 at the centre to 1 at ``radius``, 0 outside (float64).

    Plain: ``d / radius`` for pixels with ``d <= radius`` (the disk of :func:`circular`).
    Antialiased: :func:`radial_gradient_background_subtraction` with ``r0=radius`` and no
    negative ring: ``d / radius`` up to ``radius - 0.5``, then falling linearly from +1 to -1
    over ``radius +- 0.5`` (so the outer half-pixel rim is negative, as in LiberTEM), 0 beyond.

    ``radius`` must be > 0 (LiberTEM returns NaN everywhere for 0).
    """
    cx, cy = check.real("centerX", centerX), check.real("centerY", centerY)
    sx, sy = check.size("imageSizeX", imageSizeX), check.size("imageSizeY", imageSizeY)
    r = check.radius("radius", radius)
    if r == 0:
        raise ValueError("radius: got 0, expected > 0 (the gradient is distance / radius)")
    d2 = squared_distance(cx, cy, sx, sy)
    if antialiased:
        return radial_gradient_background_subtraction(np.sqrt(d2), r0=r, r_outer=0)
    gradient: np.ndarray = (d2 <= r * r) * (np.sqrt(d2) / r)
    return gradient


def background_subtraction(
    centerX: Any,
    centerY: Any,
    imageSizeX: Any,
    imageSizeY: Any,
    radius: Any,
    radius_inner: Any,
    antialiased: bool = False,
) -> np.ndarray:
    """A disk of ``radius_inner`` (weight +1) minus the ring ``radius_inner .. radius``, the
    ring scaled so that the mask sums to 0: applied to a frame, it gives the disk's intensity
    above the local background (float64).

    It is ``disk - ring * disk.sum() / ring.sum()`` with the disk of :func:`circular` and the
    ring of :func:`ring` (both antialiased or both plain). If the ring holds no pixel of the
    frame (``radius == radius_inner`` without antialiasing, or a ring off the frame), the scale
    is undefined: ``ValueError`` (LiberTEM returns NaN everywhere).
    """
    disk = circular(centerX, centerY, imageSizeX, imageSizeY, radius_inner, antialiased)
    rim = ring(centerX, centerY, imageSizeX, imageSizeY, radius, radius_inner, antialiased)
    rim_sum = np.sum(rim)
    if rim_sum == 0:
        raise ValueError(
            f"radius, radius_inner: the ring from {radius_inner!r} to {radius!r} around "
            f"({centerY!r}, {centerX!r}) holds no pixel of the {imageSizeY}x{imageSizeX} frame"
        )
    mask: np.ndarray = disk - rim * np.sum(disk) / rim_sum
    return mask


def _clipped_range(low: int, high: int, size: int) -> slice:
    """The pixels ``low .. high`` (inclusive) that lie in ``0 .. size - 1``."""
    return slice(min(max(0, low), size), max(0, min(high + 1, size)))


def rectangular(
    X: Any, Y: Any, Width: Any, Height: Any, imageSizeX: Any, imageSizeY: Any
) -> np.ndarray:
    """A bool rectangle with one corner at ``(Y, X)`` and the opposite one at ``(Y + Height, X
    + Width)``; ``Width``/``Height`` may be negative (the rectangle extends to the left/up).

    Both corners are included: the rows ``int(min(Y, Y + Height)) .. int(max(Y, Y + Height))``
    and likewise the columns, so a rectangle of ``Width = Height = 2`` covers 3 x 3 pixels
    (``int`` truncates towards 0, as in LiberTEM). A zero ``Width`` or ``Height`` gives an empty
    mask; the rectangle is clipped to the frame.

    LiberTEM 0.16's values, except for rectangles that end two or more pixels *before* the frame
    (above or left of it): LiberTEM's slice then counts from the far edge and selects most of the
    frame; here such a rectangle is empty.
    """
    x0, y0 = check.real("X", X), check.real("Y", Y)
    w, h = check.real("Width", Width), check.real("Height", Height)
    sx, sy = check.size("imageSizeX", imageSizeX), check.size("imageSizeY", imageSizeY)
    mask = np.zeros((sy, sx), dtype=bool)
    if w == 0 or h == 0:
        return mask
    ys = _clipped_range(int(min(y0, y0 + h)), int(max(y0, y0 + h)), sy)
    xs = _clipped_range(int(min(x0, x0 + w)), int(max(x0, x0 + w)), sx)
    mask[ys, xs] = True
    return mask


def gradient_x(imageSizeX: Any, imageSizeY: Any, dtype: Any = np.float32) -> np.ndarray:
    """Each pixel's x coordinate (column index), shape ``(imageSizeY, imageSizeX)``."""
    sx, sy = check.size("imageSizeX", imageSizeX), check.size("imageSizeY", imageSizeY)
    row = np.arange(sx).astype(dtype)
    return np.repeat(row[np.newaxis, :], sy, axis=0)


def gradient_y(imageSizeX: Any, imageSizeY: Any, dtype: Any = np.float32) -> np.ndarray:
    """Each pixel's y coordinate (row index), shape ``(imageSizeY, imageSizeX)`` (C-contiguous;
    LiberTEM returns a transposed view with the same values)."""
    sx, sy = check.size("imageSizeX", imageSizeX), check.size("imageSizeY", imageSizeY)
    column = np.arange(sy).astype(dtype)
    return np.repeat(column[:, np.newaxis], sx, axis=1)


def balance(template: Any) -> np.ndarray:
    """A copy of ``template`` with its negative part scaled so that the whole sums to 0.

    The negative values are multiplied by ``-(sum of positives) / (sum of negatives)``, in the
    template's dtype. Useful for templates that should give 0 on a uniform background or a
    linear gradient. A template without negative values is returned unchanged (LiberTEM warns
    about a division by zero there); a non-float template raises ``TypeError`` (so does
    LiberTEM's, with a casting error).
    """
    arr = np.asarray(template)
    if arr.dtype.kind != "f":
        raise TypeError(f"template: got dtype {arr.dtype}, expected a floating-point array")
    result = arr.copy()
    positive = arr > 0
    negative = arr < 0
    if not negative.any():
        return result
    scale = arr[positive].sum() / arr[negative].sum() * -1
    result[negative] *= scale
    return result
