"""Synthetic test data: diffraction patterns, holograms, gradients and excluded pixels, with the
signatures of LiberTEM's ``libertem.utils.generate`` (used by its docs, tests and add-ons).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ferrotem.common.math import prod
from ferrotem.utils.geometry import frame_peaks, make_cartesian, make_polar

__all__ = ["cbed_frame", "exclude_pixels", "gradient_data", "hologram_frame"]


def _disk(fy: int, fx: int, cy: float, cx: float, radius: float) -> np.ndarray:
    """An antialiased disk: 1 inside, falling linearly to 0 over the pixel at the rim (a pixel
    centre at distance ``d`` from the centre gets ``clip(radius + 0.5 - d, 0, 1)``)."""
    y, x = np.ogrid[0:fy, 0:fx]
    d = np.hypot(y - cy, x - cx)
    return np.clip(radius + 0.5 - d, 0.0, 1.0)


def cbed_frame(
    fy: int = 128,
    fx: int = 128,
    zero: Any = None,
    a: Any = None,
    b: Any = None,
    indices: Any = None,
    radius: float = 4,
    all_equal: bool = False,
    margin: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A convergent-beam diffraction pattern: disks of ``radius`` on the lattice
    ``zero + i * a + j * b``.

    Defaults: ``zero`` the frame centre ``(fy // 2, fx // 2)``, ``a = (fy // 8, 0)``, ``b`` the
    vector ``a`` turned by -90 degrees, ``indices`` all ``(i, j)`` in ``-10..10`` (``np.mgrid``
    output or ``(n, 2)`` pairs), and only lattice points at least ``margin`` (default
    ``radius``) inside the frame are drawn. Disks are weighted so that the pattern has a
    structure (peaks nearer the centre are brighter) unless ``all_equal``; overlapping disks add.

    Returns ``(data, indices, peaks)``: ``data`` of shape ``(1, fy, fx)``, float32; the ``(n, 2)``
    indices and ``(y, x)`` positions of the drawn peaks. Unlike LiberTEM 0.16, whose disks are
    dimmed to about half within half a pixel of their centre, a disk is 1 all the way in.
    """
    zero = np.array((fy // 2, fx // 2) if zero is None else zero, dtype=float)
    a = np.array((fy // 8, 0) if a is None else a, dtype=float)
    if b is None:
        b = make_cartesian(make_polar(a) - (0, np.pi / 2))
    b = np.array(b, dtype=float)
    if indices is None:
        indices = np.mgrid[-10:11, -10:11]
    if margin is None:
        margin = radius
    indices, peaks = frame_peaks(fy=fy, fx=fx, zero=zero, a=a, b=b, r=margin, indices=indices)
    data = np.zeros((1, fy, fx), dtype=np.float32)
    if len(peaks) == 0:
        return data, indices, peaks
    dists = np.linalg.norm(peaks - zero, axis=-1)
    top = max(dists.max() + 1, len(peaks) + 1)
    for i, (py, px) in enumerate(peaks):
        weight = 1.0 if all_equal else max(1.0, top - dists[i] + i)
        data[0] += (_disk(fy, fx, py, px, radius) * weight).astype(np.float32)
    return data, indices, peaks


def hologram_frame(
    amp: np.ndarray,
    phi: np.ndarray,
    counts: float = 1000.0,
    sampling: float = 5.0,
    visibility: float = 1.0,
    f_angle: float = 30.0,
    gaussian_noise: float | None = None,
    poisson_noise: float | None = None,
) -> np.ndarray:
    """An off-axis electron hologram of an object with amplitude ``amp`` and phase ``phi``.

    ``counts / 2 * (1 + amp**2 + 2 * amp * visibility * cos(2 pi (y cos f + x sin f) / sampling
    - phi))`` with fringes at ``f_angle`` degrees from the x axis, ``sampling`` pixels per
    fringe and ``counts`` electrons per pixel in vacuum (theory: Lichte and Lehmann, Rep. Prog.
    Phys. 71 (2008) 016102). ``poisson_noise`` adds shot noise at that fraction of ``counts``
    (numpy's global random generator, as in LiberTEM: seed it with ``np.random.seed``);
    ``gaussian_noise`` then blurs with a Gaussian of that sigma (needs SciPy).
    """
    amp = np.asarray(amp)
    phi = np.asarray(phi)
    if amp.shape != phi.shape or phi.ndim != 2:
        raise ValueError(
            f"amp, phi: got shapes {amp.shape} and {phi.shape}, expected 2-D arrays of the same "
            "shape"
        )
    for name, value in (("poisson_noise", poisson_noise), ("gaussian_noise", gaussian_noise)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError(f"{name}: got {value!r}, expected a float, an int or None")
    sy, sx = phi.shape
    y, x = np.mgrid[0:sy, 0:sx]
    angle = np.deg2rad(f_angle)
    carrier = 2.0 * np.pi * (y * np.cos(angle) + x * np.sin(angle)) / sampling
    holo = counts / 2 * (1.0 + amp**2 + 2.0 * amp * visibility * np.cos(carrier - phi))
    if poisson_noise:
        scale = poisson_noise * counts
        holo = scale * np.random.poisson(holo / scale)
    if gaussian_noise:
        try:
            from scipy.ndimage import gaussian_filter
        except ImportError:
            raise ImportError("hologram_frame(gaussian_noise=...) needs SciPy") from None
        holo = gaussian_filter(holo, gaussian_noise)
    out: np.ndarray = holo
    return out


def gradient_data(nav_dims: tuple[int, ...], sig_dims: tuple[int, ...]) -> np.ndarray:
    """A dataset of shape ``nav_dims + sig_dims`` whose values rise linearly from 5 to 30 in
    flat order (float32): every interior pixel is the mean of its neighbours."""
    shape = tuple(nav_dims) + tuple(sig_dims)
    return np.linspace(5, 30, num=prod(shape), dtype=np.float32).reshape(shape)


def exclude_pixels(
    sig_dims: tuple[int, ...], num_excluded: int, rng: Any = None
) -> np.ndarray | None:
    """``num_excluded`` random pixel coordinates in a frame of shape ``sig_dims`` that can each
    be rebuilt from their neighbours in :func:`gradient_data`: none on the border, and no two
    within each other's 3x3 (3x3x3...) neighbourhood.

    Returns an array of shape ``(len(sig_dims), num_excluded)`` (one row per axis, as
    ``arr[tuple(result)]`` indexes), or None when ``num_excluded`` is 0. ``rng``: a numpy
    ``Generator``, a seed, or None. Raises ``ValueError`` when the frame has no room for that
    many.
    """
    if num_excluded == 0:
        return None
    sig_dims = tuple(int(s) for s in sig_dims)
    if isinstance(num_excluded, bool) or not isinstance(num_excluded, int | np.integer):
        raise TypeError(f"num_excluded: got {num_excluded!r}, expected an int")
    if num_excluded < 0:
        raise ValueError(f"num_excluded: got {num_excluded}, expected >= 0")
    rng = np.random.default_rng(rng)
    free = np.zeros(sig_dims, dtype=bool)
    free[tuple(slice(1, s - 1) for s in sig_dims)] = True
    picked: list[tuple[int, ...]] = []
    for _ in range(num_excluded):
        candidates = np.flatnonzero(free)
        if len(candidates) == 0:
            raise ValueError(
                f"num_excluded: got {num_excluded}, but a frame of shape {sig_dims} has room for "
                f"only {len(picked)} pixels apart from each other and the border"
            )
        pixel = np.unravel_index(rng.choice(candidates), sig_dims)
        picked.append(tuple(int(c) for c in pixel))
        free[tuple(slice(max(0, c - 1), c + 2) for c in pixel)] = False
    return np.array(picked).T
