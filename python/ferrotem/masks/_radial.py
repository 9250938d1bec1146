"""Antialiased radial bins, and the radial template used for background-subtracted peak
matching."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ferrotem.common.sparse import import_pydata_sparse, pydata_sparse_available
from ferrotem.masks import _validate as check
from ferrotem.masks._geometry import bounding_radius, polar_map

#: :func:`radial_bins` with ``use_sparse=None`` goes sparse below this fraction of the frame
SPARSE_AREA_FRACTION = 0.1


def _bin_weights(r: np.ndarray, r0: float, width: float) -> np.ndarray:
    """Weight of each pixel (radius ``r``) in the bin of width ``width`` centred on ``r0``.

    A pixel is taken as a unit interval of radius around its centre: the weight is the length of
    that interval inside the bin, ``clip(width/2 + 0.5 - |r - r0|, 0, 1)``. Neighbouring bins
    therefore share their boundary pixels and the weights of all bins sum to 1 on every pixel
    they cover.
    """
    weights: np.ndarray = np.maximum(0, np.minimum(1, width / 2 + 0.5 - np.abs(r - r0)))
    return weights


def _normalized(weights: np.ndarray) -> np.ndarray:
    """``weights`` scaled to sum to 1 (left alone where their sum is about 0)."""
    total = weights.sum()
    if np.isclose(total, 0):
        return weights
    scaled: np.ndarray = weights / total
    return scaled


def radial_bins(
    centerX: Any,
    centerY: Any,
    imageSizeX: Any,
    imageSizeY: Any,
    radius: Any = None,
    radius_inner: Any = 0,
    n_bins: Any = None,
    normalize: bool = False,
    use_sparse: bool | None = None,
    dtype: Any = None,
) -> Any:
    """A stack of ``n_bins`` antialiased rings of equal width between ``radius_inner`` and
    ``radius``, shape ``(n_bins, imageSizeY, imageSizeX)``.

    Bin ``k`` is centred on radius ``r_k = radius_inner + width * (k + 1/2)`` with ``width =
    (radius - radius_inner) / n_bins``; a pixel at distance ``r`` from the centre (see
    :func:`polar_map`) has the weight ``clip(width/2 + 0.5 - |r - r_k|, 0, 1)`` in it. For bins
    at least one pixel wide that is the overlap of the interval ``[r - 0.5, r + 0.5]`` with the
    bin: edges are blurred over one pixel, adjacent bins share their boundary pixels, and the
    weights of all bins add up to exactly 1 on every pixel from ``radius_inner + 0.5`` to
    ``radius - 0.5``. Narrower bins are tents one pixel wider than the bin, overlapping their
    neighbours more (a bin of width 0 peaks at 0.5).

    - ``radius`` defaults to :func:`bounding_radius` (the bins cover the frame), ``n_bins`` to
      ``round(radius - radius_inner)`` (bins about one pixel wide; ``round`` rounds halves to
      even, as numpy does).
    - ``normalize=True`` scales each bin to sum to 1 (a bin whose sum is about 0 is left as it
      is).
    - With ``radius_inner < 0.5`` the pixel at the centre rounded half to even is set to ``1 -
      radius_inner`` in the first bin, if it lies on the frame, after any normalisation: the
      formula above gives a pixel closer than 0.5 to the centre too little weight, since its
      interval reaches below radius 0. LiberTEM does this even when the centre lies between
      pixels (that pixel up to 0.71 away); it then keeps its share of the second bin as well, and
      its weights add up to ``1 + (r - 0.5)``. Kept, for identical results.
    - ``use_sparse``: ``True`` returns a pydata ``sparse.COO`` stack (needs the ``sparse``
      package), ``False`` a numpy array; ``None`` chooses sparse if the outermost bin covers less
      than a tenth of the frame's area (``pi * (radius**2 - (radius - width)**2)``) *and* the
      pydata ``sparse`` package is installed (LiberTEM requires it; here it is optional).
    - ``dtype``: of the values, float64 by default.

    Results equal LiberTEM 0.16's bit for bit (checked on random centres, radii and bin counts
    in ``tests/parity_masks_libertem.py``). Unlike LiberTEM, ``n_bins`` (given or derived)
    below 1 raises ``ValueError`` instead of dividing by zero, and ``radius_inner > radius``
    raises ``ValueError``.
    """
    cx = check.real("centerX", centerX)
    cy = check.real("centerY", centerY)
    sx = check.size("imageSizeX", imageSizeX)
    sy = check.size("imageSizeY", imageSizeY)
    outer = (
        float(bounding_radius(cx, cy, sx, sy)) if radius is None else check.radius("radius", radius)
    )
    inner = check.inner_radius(radius_inner, outer)
    bins = _bin_count(n_bins, outer, inner)
    out_dtype = np.dtype(dtype)  # None -> float64, as astype(None)

    width = (outer - inner) / bins
    if use_sparse is None:
        outer_bin_area = math.pi * (outer**2 - (outer - width) ** 2)
        use_sparse = outer_bin_area / (sx * sy) < SPARSE_AREA_FRACTION and pydata_sparse_available()

    r = polar_map(cx, cy, sx, sy)[0].reshape(-1)
    centres = np.linspace(inner, outer - width, bins) + width / 2
    stack = [_bin_weights(r, float(r0), width) for r0 in centres]
    centre_pixel = _centre_pixel(cx, cy, sx, sy) if inner < 0.5 else None
    if use_sparse:
        return _sparse_stack(stack, normalize, centre_pixel, inner, out_dtype, (bins, sy, sx))
    if normalize:
        stack = [_normalized(w) for w in stack]
    dense = np.stack([w.astype(out_dtype) for w in stack]).reshape((bins, sy, sx))
    if centre_pixel is not None:
        dense[(0,) + np.unravel_index(centre_pixel, (sy, sx))] = 1 - inner
    return dense


def _bin_count(n_bins: Any, outer: float, inner: float) -> int:
    if n_bins is None:
        derived = round(outer - inner)
        if derived < 1:
            raise ValueError(
                f"n_bins: radius - radius_inner = {outer - inner!r} gives {derived} bins of one "
                "pixel; pass n_bins >= 1"
            )
        return derived
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer):
        raise TypeError(f"n_bins: got {n_bins!r}, expected an integer >= 1")
    if n_bins < 1:
        raise ValueError(f"n_bins: got {n_bins!r}, expected an integer >= 1")
    return int(n_bins)


def _centre_pixel(cx: float, cy: float, sx: int, sy: int) -> int | None:
    """Flat index of the pixel nearest the centre (halves rounded to even), if on the frame."""
    yy, xx = round(cy), round(cx)
    if 0 <= yy < sy and 0 <= xx < sx:
        return yy * sx + xx
    return None


def _sparse_stack(
    stack: list[np.ndarray],
    normalize: bool,
    centre_pixel: int | None,
    inner: float,
    dtype: np.dtype[Any],
    shape: tuple[int, int, int],
) -> Any:
    sparse = import_pydata_sparse("radial_bins(use_sparse=True)")
    bin_idx, pixel, values = [], [], []
    for k, weights in enumerate(stack):
        nonzero = np.flatnonzero(weights)
        # normalised over the stored values only: a sum over fewer terms rounds differently
        # from the dense one, and LiberTEM's sparse path sums these
        vals = weights[nonzero]
        vals = (_normalized(vals) if normalize else vals).astype(dtype)
        if k == 0 and centre_pixel is not None:
            nonzero, vals = _patch_centre(nonzero, vals, centre_pixel, inner)
        bin_idx.append(np.full(len(nonzero), k, dtype=np.int64))
        pixel.append(nonzero.astype(np.int64))
        values.append(vals)
    flat = sparse.COO(
        coords=np.stack([np.concatenate(bin_idx), np.concatenate(pixel)]),
        data=np.concatenate(values).astype(dtype),
        shape=(shape[0], shape[1] * shape[2]),
    )
    return flat.reshape(shape)


def _patch_centre(
    pixels: np.ndarray, vals: np.ndarray, centre: int, inner: float
) -> tuple[np.ndarray, np.ndarray]:
    """The first bin's entries with the centre pixel raised to ``1 - inner``.

    LiberTEM's sparse path adds a correction ``1 - value - inner`` to the stored value instead of
    assigning ``1 - inner``; the sum is computed the same way here (in the values' dtype), so
    that the results agree to the last bit.
    """
    at = int(np.searchsorted(pixels, centre))
    present = at < len(pixels) and pixels[at] == centre
    current = vals[at] if present else vals.dtype.type(0)
    patched = current + (1 - current - inner)
    if present:
        vals = vals.copy()
        vals[at] = patched
        return pixels, vals
    return np.insert(pixels, at, centre), np.insert(vals, at, patched)


def radial_gradient_background_subtraction(
    r: Any, r0: Any, r_outer: Any, delta: Any = 1
) -> np.ndarray:
    """A radial template from a map of radii ``r`` (any shape, e.g. from :func:`polar_map`):

    - ``r / r0`` where ``r < r0 - delta/2`` (a gradient from 0 to 1 inside the disk);
    - ``(r0 - r) / (delta/2)`` where ``r0 - delta/2 <= r < r0 + delta/2``: a linear transition
      of width ``delta`` that falls from +1 through 0 (at ``r0``) to -1;
    - ``-1`` where ``r0 + delta/2 <= r <= r_outer`` (a negative ring for the background);
    - 0 elsewhere.

    The result has the shape *and dtype* of ``r`` (an integer map gives truncated values, as in
    LiberTEM). :func:`balance` scales the negative part so that the template sums to zero.
    """
    radii = np.asarray(r)
    peak = check.real("r0", r0)
    outer = check.real("r_outer", r_outer)
    half = check.radius("delta", delta) / 2
    out = np.zeros_like(radii)
    inside = radii < peak - half
    out[inside] = radii[inside] / peak
    transition = (radii >= peak - half) & (radii < peak + half)
    out[transition] = (peak - radii[transition]) / half
    out[(radii >= peak + half) & (radii <= outer)] = -1
    return out
