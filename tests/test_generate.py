"""``ferrotem.utils`` (vector geometry) and ``ferrotem.utils.generate`` (synthetic test data),
with LiberTEM's signatures, checked against expectations computed here independently: brute-force
lattices, closed-form fringes, distances between pixels."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from ferrotem.utils import (
    calc_coords,
    frame_peaks,
    make_cartesian,
    make_polar,
    regularize_indices,
    rotate_deg,
    rotate_rad,
    within_frame,
)
from ferrotem.utils.generate import cbed_frame, exclude_pixels, gradient_data, hologram_frame
from hypothesis import given
from hypothesis import strategies as st


# -- geometry ------------------------------------------------------------------------------------
def test_polar_cartesian_round_trip_and_known_values():
    cart = np.array([[0.0, 1.0], [1.0, 0.0], [-2.0, 0.0], [3.0, 4.0]])
    polar = make_polar(cart)
    np.testing.assert_allclose(polar[:, 0], [1, 1, 2, 5])
    np.testing.assert_allclose(polar[:3, 1], [0, np.pi / 2, -np.pi / 2])
    np.testing.assert_allclose(make_cartesian(polar), cart, atol=1e-12)


def test_rotation_is_clockwise_on_screen():
    # y points down: turning the x axis by +90 degrees gives the y axis
    np.testing.assert_allclose(rotate_deg(0.0, 1.0, 90), (1.0, 0.0), atol=1e-12)
    np.testing.assert_allclose(rotate_rad(1.0, 0.0, np.pi / 2), (0.0, -1.0), atol=1e-12)
    y, x = rotate_deg(np.array([3.0]), np.array([4.0]), 37.0)
    assert np.hypot(y, x)[0] == pytest.approx(5.0)


def test_lattice_helpers():
    grid = np.mgrid[-1:2, -2:3]
    pairs = regularize_indices(grid)
    # np.mgrid pairs are listed with the first index varying fastest
    assert pairs.tolist() == [[i, j] for j in range(-2, 3) for i in range(-1, 2)]
    assert regularize_indices(pairs) is pairs
    with pytest.raises(ValueError, match="indices"):
        regularize_indices(np.zeros((3, 3)))
    coords = calc_coords((10, 20), (1, 0), (0, 2), np.array([[0, 0], [2, 3]]))
    np.testing.assert_array_equal(coords, [[10, 20], [12, 26]])
    inside = within_frame(np.array([[2, 2], [1.9, 5], [7.9, 7.9], [8, 5]]), 2, 10, 10)
    assert inside.tolist() == [True, False, True, False]
    idx, peaks = frame_peaks(10, 10, (5, 5), (3, 0), (0, 3), 1, np.mgrid[-2:3, -2:3])
    assert len(peaks) == 9 and np.all(peaks >= 1) and np.all(peaks < 9)
    np.testing.assert_array_equal(peaks, 5 + idx * 3)


# -- cbed_frame ----------------------------------------------------------------------------------
def _lattice(fy, fx, zero, a, b, margin, span=10):
    """Brute force: every lattice point within ``margin`` of the frame's inner edge."""
    out = {}
    for i, j in itertools.product(range(-span, span + 1), repeat=2):
        p = np.asarray(zero, float) + i * np.asarray(a, float) + j * np.asarray(b, float)
        if margin <= p[0] < fy - margin and margin <= p[1] < fx - margin:
            out[(i, j)] = p
    return out


def test_cbed_frame_defaults():
    data, indices, peaks = cbed_frame(all_equal=True)
    assert data.shape == (1, 128, 128) and data.dtype == np.float32
    # defaults: centre (64, 64), a = (16, 0), b = a turned by -90 degrees = (0, 16), margin 4
    expect = _lattice(128, 128, (64, 64), (16, 0), (0, 16), 4)
    got = {tuple(int(v) for v in ij): p for ij, p in zip(indices, peaks, strict=True)}
    assert got.keys() == expect.keys()
    for ij, p in expect.items():
        np.testing.assert_allclose(got[ij], p, atol=1e-9)


@pytest.mark.parametrize("radius", [2, 3.5, 5])
def test_cbed_frame_disks(radius):
    fy, fx, a, b = 96, 80, (20, 3), (-2, 18)
    data, _, peaks = cbed_frame(fy, fx, zero=(47, 41), a=a, b=b, radius=radius)
    frame = data[0]
    yy, xx = np.mgrid[0:fy, 0:fx]
    d = np.min([np.hypot(yy - p[0], xx - p[1]) for p in peaks], axis=0)
    # nothing outside the disks, full weight well inside
    assert np.all(frame[d > radius + 0.5] == 0)
    assert np.all(frame[d <= radius - 0.5] >= 1)
    # brightness rule: weight = max(1, top - distance to centre + position in the list)
    dist = np.linalg.norm(peaks - (47, 41), axis=1)
    top = max(dist.max() + 1, len(peaks) + 1)
    for k, (py, px) in enumerate(peaks):
        near = np.hypot(yy - py, xx - px) <= radius - 0.5
        np.testing.assert_allclose(frame[near], max(1.0, top - dist[k] + k), rtol=1e-6)


def test_cbed_frame_all_equal_and_margin():
    data, _, peaks = cbed_frame(64, 64, radius=3, all_equal=True, margin=10)
    assert np.all(peaks >= 10) and np.all(peaks < 54)
    assert data.max() == pytest.approx(1.0)
    # antialiased rim: the disk area is pi r^2 (the linear ramp adds what it removes)
    assert data.sum() / len(peaks) == pytest.approx(np.pi * 9, rel=0.04)
    empty, idx, none = cbed_frame(16, 16, margin=20)
    assert len(none) == 0 and len(idx) == 0 and not empty.any()


# -- hologram_frame ------------------------------------------------------------------------------
def test_hologram_fringes_follow_the_formula():
    sy, sx = 24, 30
    amp = np.full((sy, sx), 0.5)
    phi = np.zeros((sy, sx))
    holo = hologram_frame(amp, phi, counts=100.0, sampling=4.0, visibility=0.8, f_angle=0.0)
    # f_angle = 0: fringes run along x, period `sampling` pixels in y
    y = np.arange(sy)[:, None]
    expect = 50.0 * (1 + 0.25 + 2 * 0.5 * 0.8 * np.cos(2 * np.pi * y / 4.0)) * np.ones((1, sx))
    np.testing.assert_allclose(holo, expect, rtol=1e-12)
    # at 90 degrees they run along y instead, and a phase of pi inverts them
    turned = hologram_frame(np.ones((8, 8)), np.full((8, 8), np.pi), sampling=8.0, f_angle=90)
    x = np.arange(8)[None, :]
    np.testing.assert_allclose(
        turned, 500.0 * (2 - 2 * np.cos(2 * np.pi * x / 8)) * np.ones((8, 1))
    )


def test_hologram_noise():
    amp, phi = np.ones((64, 64)), np.zeros((64, 64))
    clean = hologram_frame(amp, phi, counts=1000.0, sampling=8.0)
    np.random.seed(0)
    noisy = hologram_frame(amp, phi, counts=1000.0, sampling=8.0, poisson_noise=0.01)
    # shot noise in units of 10 counts, unbiased
    np.testing.assert_allclose(noisy / 10, np.round(noisy / 10))
    assert abs(noisy.mean() - clean.mean()) < 0.02 * clean.mean()
    assert 0 < np.abs(noisy - clean).mean() < 0.1 * clean.mean()
    pytest.importorskip("scipy")
    blurred = hologram_frame(amp, phi, counts=1000.0, sampling=8.0, gaussian_noise=2)
    assert blurred.std() < clean.std()
    assert blurred.mean() == pytest.approx(clean.mean(), rel=0.02)


def test_hologram_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        hologram_frame(np.ones((4, 4)), np.ones((4, 5)))
    with pytest.raises(ValueError, match="2-D"):
        hologram_frame(np.ones(4), np.ones(4))
    with pytest.raises(ValueError, match="poisson_noise"):
        hologram_frame(np.ones((4, 4)), np.ones((4, 4)), poisson_noise="a lot")
    with pytest.raises(ValueError, match="gaussian_noise"):
        hologram_frame(np.ones((4, 4)), np.ones((4, 4)), gaussian_noise=[1])


# -- gradient_data and exclude_pixels -----------------------------------------------------------
def test_gradient_data():
    g = gradient_data((3, 2), (4, 5))
    assert g.shape == (3, 2, 4, 5) and g.dtype == np.float32
    flat = g.reshape(-1).astype(np.float64)
    assert flat[0] == 5 and flat[-1] == pytest.approx(30)
    np.testing.assert_allclose(np.diff(flat), 25 / (flat.size - 1), rtol=1e-4)
    frame = g[1, 1].astype(np.float64)
    neighbours = (frame[:-2, 1:-1] + frame[2:, 1:-1] + frame[1:-1, :-2] + frame[1:-1, 2:]) / 4
    np.testing.assert_allclose(frame[1:-1, 1:-1], neighbours, rtol=1e-5)


@given(
    sig=st.lists(st.integers(3, 12), min_size=1, max_size=3).map(tuple),
    seed=st.integers(0, 2**32 - 1),
    data=st.data(),
)
def test_exclude_pixels(sig, seed, data):
    # each pick blocks at most 3**d interior pixels, so this many always fit
    room = -(-int(np.prod([s - 2 for s in sig])) // 3 ** len(sig))
    n = data.draw(st.integers(1, room))
    px = exclude_pixels(sig, n, rng=np.random.default_rng(seed))
    assert px.shape == (len(sig), n)
    points = px.T
    for dim, s in enumerate(sig):
        assert np.all(points[:, dim] >= 1) and np.all(points[:, dim] <= s - 2)
    for p, q in itertools.combinations(points, 2):
        assert np.max(np.abs(p - q)) >= 2  # outside each other's 3x3 neighbourhood
    np.testing.assert_array_equal(px, exclude_pixels(sig, n, rng=np.random.default_rng(seed)))


def test_exclude_pixels_edges():
    assert exclude_pixels((8, 8), 0) is None
    g = gradient_data((1,), (16, 16))[0]
    px = exclude_pixels((16, 16), 5, rng=1)
    for y, x in px.T:  # each excluded pixel is the mean of its 4 neighbours
        assert g[y, x] == pytest.approx((g[y - 1, x] + g[y + 1, x] + g[y, x - 1] + g[y, x + 1]) / 4)
    with pytest.raises(ValueError, match="room for only 1"):
        exclude_pixels((3, 3), 2)
    with pytest.raises(ValueError, match="num_excluded"):
        exclude_pixels((8, 8), -1)
