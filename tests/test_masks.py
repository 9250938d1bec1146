"""``ferrotem.masks`` and ``ferrotem.common.container.MaskContainer`` against oracles computed
here independently: exact rational arithmetic (``fractions.Fraction``) for which pixels a disk,
ring or rectangle holds, closed-form areas, ``np.hypot``/``np.arctan2``/complex rotation for the
polar map, Python loops for the sparse stacks, and numpy slicing of the dense stack for the
container. Parity with LiberTEM itself is checked by ``tests/parity_masks_libertem.py`` (run by
the slow test at the end where ``.venv-libertem`` exists)."""

from __future__ import annotations

import math
import pickle
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import cloudpickle
import numpy as np
import pytest
import scipy.sparse
import sparse
from ferrotem import masks
from ferrotem.common.container import MaskContainer
from ferrotem.common.shape import Shape
from ferrotem.common.slice import Slice
from ferrotem.common.sparse import assert_sparse, is_sparse, sparse_to_coo, to_dense, to_sparse
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]

# Quarter-pixel coordinates are exact in binary floating point, so the float computation and the
# rational oracle must agree on every pixel, boundary ties included.
quarters = st.integers(-40, 120).map(lambda q: Fraction(q, 4))
radii = st.integers(0, 48).map(lambda q: Fraction(q, 4))
sizes = st.integers(1, 24)


def rational_distances2(cx: Fraction, cy: Fraction, sx: int, sy: int) -> list[list[Fraction]]:
    return [[(y - cy) ** 2 + (x - cx) ** 2 for x in range(sx)] for y in range(sy)]


def hypot_map(cx: float, cy: float, sx: int, sy: int) -> np.ndarray:
    y, x = np.indices((sy, sx))
    return np.hypot(y - cy, x - cx)


def patched_pixel(cx: float, cy: float, sx: int, sy: int) -> np.ndarray:
    """Where radial_bins (radius_inner < 0.5) overwrites the first bin: the centre rounded half
    to even, if on the frame."""
    out = np.zeros((sy, sx), dtype=bool)
    yy, xx = round(cy), round(cx)
    if 0 <= yy < sy and 0 <= xx < sx:
        out[yy, xx] = True
    return out


def one_bin(cx: float, cy: float, sx: int, sy: int, r: float, ri: float) -> np.ndarray:
    """The antialiased bin ri..r for r - ri >= 1: each pixel is a unit interval of radius around
    its distance d, weighted by its overlap with [ri, r]; the pixel at the centre rounded half
    to even gets 1 - ri instead."""
    d = hypot_map(cx, cy, sx, sy)
    expected = np.clip(np.minimum(d + 0.5, r) - np.maximum(d - 0.5, ri), 0, 1)
    yy, xx = round(cy), round(cx)
    if ri < 0.5 and 0 <= yy < sy and 0 <= xx < sx:
        expected[yy, xx] = 1 - ri
    return expected


# -- disks and rings: which pixels -------------------------------------------------------------
@given(cx=quarters, cy=quarters, sx=sizes, sy=sizes, r=radii)
def test_circular_holds_exactly_the_pixels_within_the_radius(cx, cy, sx, sy, r):
    d2 = rational_distances2(cx, cy, sx, sy)
    expected = np.array([[v <= r * r for v in row] for row in d2], dtype=bool)
    got = masks.circular(float(cx), float(cy), sx, sy, float(r))
    assert got.dtype == bool and got.shape == (sy, sx)
    np.testing.assert_array_equal(got, expected)


@given(cx=quarters, cy=quarters, sx=sizes, sy=sizes, r=radii, ri=radii)
def test_ring_holds_the_pixels_between_the_radii(cx, cy, sx, sy, r, ri):
    r, ri = max(r, ri), min(r, ri)
    d2 = rational_distances2(cx, cy, sx, sy)
    expected = np.array([[ri * ri < v <= r * r for v in row] for row in d2], dtype=bool)
    np.testing.assert_array_equal(
        masks.ring(float(cx), float(cy), sx, sy, float(r), float(ri)), expected
    )


@pytest.mark.parametrize("r", [0.0, 1.0, 2.5, 7.3, 15.0, 30.0])
@pytest.mark.parametrize("centre", [(32.0, 32.0), (31.5, 30.25), (32.7, 33.1)])
def test_disk_and_ring_areas_are_pi_r_squared_within_the_pixel_bound(r, centre):
    """The unit squares of the pixels in the disk lie inside the disk of radius r + sqrt(2)/2
    and cover the one of radius r - sqrt(2)/2: pi (r -+ 0.71)^2 bounds the pixel count."""
    cx, cy = centre
    half_diag = math.sqrt(2) / 2
    count = int(masks.circular(cx, cy, 64, 64, r).sum())
    assert math.pi * max(0.0, r - half_diag) ** 2 <= count <= math.pi * (r + half_diag) ** 2
    ri = r / 2
    ring_count = int(masks.ring(cx, cy, 64, 64, r, ri).sum())
    low = math.pi * (max(0.0, r - half_diag) ** 2 - (ri + half_diag) ** 2)
    high = math.pi * ((r + half_diag) ** 2 - max(0.0, ri - half_diag) ** 2)
    assert low <= ring_count <= high


def test_known_pixel_counts():
    assert masks.circular(4, 4, 9, 9, 2).sum() == 13  # 1 + 4 (distance 1) + 4 (sqrt 2) + 4 (2)
    assert masks.circular(4, 4, 9, 9, 0).sum() == 1
    assert masks.circular(4.5, 4, 9, 9, 0).sum() == 0  # the centre hits no pixel centre
    assert masks.ring(4, 4, 9, 9, 1, 0).sum() == 4  # the centre belongs to the hole


def test_off_frame_centre_clips():
    whole = masks.circular(20, 20, 40, 40, 6)
    cut = masks.circular(2, 3, 10, 10, 6)  # the same disk seen through a window at (17, 18)
    np.testing.assert_array_equal(cut, whole[17:27, 18:28])
    assert not masks.circular(-10, -10, 8, 8, 3).any()


# -- antialiased disks and rings ---------------------------------------------------------------
@given(cx=st.floats(-5, 30), cy=st.floats(-5, 30), r=st.floats(0.6, 12), sx=sizes, sy=sizes)
def test_antialiased_disk_is_a_one_pixel_ramp_at_the_radius(cx, cy, r, sx, sy):
    got = masks.circular(cx, cy, sx, sy, r, antialiased=True)
    assert got.dtype == np.float64 and got.shape == (sy, sx)
    np.testing.assert_allclose(got, one_bin(cx, cy, sx, sy, r, 0), atol=1e-12)
    # a ramp from 1 at r - 0.5 to 0 at r + 0.5 (away from the centre pixel)
    d = hypot_map(cx, cy, sx, sy)
    away = ~patched_pixel(cx, cy, sx, sy)
    np.testing.assert_allclose(got[away], np.clip(r + 0.5 - d, 0, 1)[away], atol=1e-12)


@pytest.mark.parametrize("r", [3.0, 8.5, 20.0])
def test_antialiased_disk_area(r):
    """The ramp clip(r + 0.5 - d, 0, 1) integrates to pi r^2 + pi/12 over the plane; pixel
    sampling adds an error far below one pixel for these radii."""
    got = masks.circular(40.3, 39.6, 81, 81, r, antialiased=True).sum()
    assert got == pytest.approx(math.pi * r**2 + math.pi / 12, abs=0.5)


@given(cx=st.floats(-5, 30), cy=st.floats(-5, 30), r=st.floats(1, 12), f=st.floats(0, 1))
def test_antialiased_ring_is_the_bin_between_the_radii(cx, cy, r, f):
    ri = (r - 1) * f
    got = masks.ring(cx, cy, 24, 20, r, ri, antialiased=True)
    np.testing.assert_allclose(got, one_bin(cx, cy, 24, 20, r, ri), atol=1e-12)


def test_narrow_antialiased_ring_is_a_one_pixel_blur():
    """A ring of width 0 is a tent of half-width 1/2 around the radius, peaking at 1/2."""
    got = masks.ring(0, 0, 6, 1, 3, 3, antialiased=True)
    np.testing.assert_allclose(got[0], [0, 0, 0, 0.5, 0, 0])
    got = masks.ring(0.1, 0, 6, 1, 3, 3, antialiased=True)
    np.testing.assert_allclose(got[0], [0, 0, 0, 0.4, 0, 0])


# -- radial bins --------------------------------------------------------------------------------
@given(cx=st.floats(-20, 50), cy=st.floats(-20, 50), sx=sizes, sy=sizes)
def test_default_radial_bins_partition_the_frame(cx, cy, sx, sy):
    """With the default radius every pixel lies inside the bins (one pixel wide), and the
    one-pixel blurs of neighbouring bins add up to 1 on every pixel. The exception is the
    pixel at the rounded centre: set to 1 in the first bin, it keeps its share of the second
    bin, so where the centre lies between pixels (that pixel at distance 0.5 .. 0.71) its sum
    exceeds 1 (LiberTEM's quirk, kept)."""
    bins = masks.radial_bins(cx, cy, sx, sy, use_sparse=False)
    radius = masks.bounding_radius(cx, cy, sx, sy)
    assert bins.shape == (radius, sy, sx)
    assert bins.min() >= 0 and bins.max() <= 1
    total = bins.sum(axis=0)
    patched = patched_pixel(cx, cy, sx, sy)
    np.testing.assert_allclose(total[~patched], 1, atol=1e-9)
    d = hypot_map(cx, cy, sx, sy)
    np.testing.assert_allclose(total[patched], 1 + np.maximum(0, d[patched] - 0.5), atol=1e-9)


@given(
    cx=st.floats(0, 24),
    cy=st.floats(0, 24),
    ri=st.floats(0, 6),
    span=st.floats(1, 15),
    data=st.data(),
)
def test_radial_bins_cover_their_annulus_once(cx, cy, ri, span, data):
    """Bins at least one pixel wide: the sum over bins is 1 between the radii (0.5 px in from
    either), 0 beyond them, and a pixel deep inside one bin is all in that bin."""
    n_bins = data.draw(st.integers(1, int(span)))
    r = ri + span
    bins = masks.radial_bins(cx, cy, 24, 24, radius=r, radius_inner=ri, n_bins=n_bins)
    total = to_dense(bins).sum(axis=0)
    d = hypot_map(cx, cy, 24, 24)
    inside = (d >= ri + 0.5) & (d <= r - 0.5) & ~patched_pixel(cx, cy, 24, 24)
    np.testing.assert_allclose(total[inside], 1, atol=1e-9)
    assert np.all(total[(d >= r + 0.5) | ((d <= ri - 0.5) & (d >= 0.5))] == 0)
    # each pixel well inside one bin belongs to the bin whose radii hold its distance
    width = span / n_bins
    k = np.floor((d - ri) / width).astype(int)
    deep = inside & (np.abs((d - ri) / width - (k + 0.5)) * width < width / 2 - 0.5)
    dense = to_dense(bins)
    for y, x in zip(*np.nonzero(deep), strict=True):
        assert dense[k[y, x], y, x] == 1


def test_radial_bins_options():
    dense = masks.radial_bins(10, 12, 32, 30, radius=12, n_bins=4, use_sparse=False)
    assert isinstance(dense, np.ndarray) and dense.dtype == np.float64
    sp = masks.radial_bins(10, 12, 32, 30, radius=12, n_bins=4, use_sparse=True)
    assert isinstance(sp, sparse.COO) and sp.shape == (4, 30, 32)
    np.testing.assert_array_equal(sp.todense(), dense)
    f32 = masks.radial_bins(10, 12, 32, 30, radius=12, n_bins=4, dtype=np.float32)
    assert f32.dtype == np.float32
    for layout in (True, False):
        normed = masks.radial_bins(
            10.5,
            12.5,
            32,
            30,
            radius=12,
            radius_inner=1,
            n_bins=4,
            normalize=True,
            use_sparse=layout,
        )
        np.testing.assert_allclose(to_dense(normed).sum(axis=(1, 2)), 1)
    # the centre pixel is set to 1 - radius_inner after normalising
    normed = to_dense(masks.radial_bins(10, 12, 32, 30, radius=12, n_bins=4, normalize=True))
    assert normed[0, 12, 10] == 1 and normed[0].sum() > 1
    # use_sparse=None: sparse when the outer bin covers < 10 % of the frame
    assert isinstance(masks.radial_bins(50, 50, 100, 100, radius=40, n_bins=40), sparse.COO)
    assert isinstance(masks.radial_bins(5, 5, 10, 10, radius=4, n_bins=1), np.ndarray)


def test_bounding_radius_covers_every_pixel():
    for cx, cy, sx, sy in [(0, 0, 10, 10), (4.5, 2.25, 9, 7), (-5, 30, 20, 12)]:
        corners = np.array([[0, 0], [0, sx], [sy, 0], [sy, sx]], dtype=float)
        far = np.hypot(corners[:, 0] - cy, corners[:, 1] - cx).max()
        radius = masks.bounding_radius(cx, cy, sx, sy)
        assert isinstance(radius, int) and far < radius <= far + 2


# -- polar map, gradients -----------------------------------------------------------------------
@given(
    cx=st.floats(-10, 30),
    cy=st.floats(-10, 30),
    sx=sizes,
    sy=sizes,
    stretch=st.floats(0.2, 4),
    angle=st.floats(-7, 7),
)
def test_polar_map_against_complex_rotation(cx, cy, sx, sy, stretch, angle):
    """Oracle: z = dx + i dy turned by -angle, its imaginary part (the rotated y) shrunk by
    stretchY; radius and angle of that point."""
    y, x = np.indices((sy, sx))
    z = ((x - cx) + 1j * (y - cy)) * np.exp(-1j * angle)
    w = z.real + 1j * z.imag / stretch
    r, phi = masks.polar_map(cx, cy, sx, sy, stretchY=stretch, angle=angle)
    np.testing.assert_allclose(r, np.abs(w), rtol=1e-12, atol=1e-12)
    # compare angles on the circle (pi and -pi are the same direction)
    np.testing.assert_allclose(np.exp(1j * phi), np.exp(1j * np.angle(w)), atol=1e-9)


def test_polar_map_plain_and_stretched_values():
    r, phi = masks.polar_map(1, 1, 3, 3)
    np.testing.assert_allclose(r, np.hypot(*np.indices((3, 3)) - 1.0))
    assert phi[1, 2] == 0 and phi[2, 1] == pytest.approx(np.pi / 2)  # +x, then +y (down)
    r2, _ = masks.polar_map(0, 0, 1, 3, stretchY=2.0)
    np.testing.assert_allclose(r2[:, 0], [0, 0.5, 1.0])  # y distances halved


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.uint16])
def test_gradients(dtype):
    gx, gy = masks.gradient_x(5, 3, dtype), masks.gradient_y(5, 3, dtype)
    y, x = np.indices((3, 5))
    assert gx.dtype == dtype and gy.dtype == dtype and gx.shape == gy.shape == (3, 5)
    np.testing.assert_array_equal(gx, x)
    np.testing.assert_array_equal(gy, y)
    assert masks.gradient_x(4, 2).dtype == np.float32


# -- gradients and templates ----------------------------------------------------------------------
@given(cx=st.floats(-5, 30), cy=st.floats(-5, 30), r=st.floats(0.5, 15))
def test_radial_gradient(cx, cy, r):
    d = hypot_map(cx, cy, 20, 24)
    got = masks.radial_gradient(cx, cy, 20, 24, r)
    disk = masks.circular(cx, cy, 20, 24, r)
    np.testing.assert_allclose(got, np.where(disk, d / r, 0), atol=1e-12)
    smooth = masks.radial_gradient(cx, cy, 20, 24, r, antialiased=True)
    expected = np.select([d < r - 0.5, d < r + 0.5], [d / r, (r - d) / 0.5], 0)
    np.testing.assert_allclose(smooth, expected, atol=1e-12)


def test_radial_gradient_background_subtraction_piecewise():
    r = np.linspace(0, 10, 101)
    got = masks.radial_gradient_background_subtraction(r, r0=4, r_outer=7, delta=2)
    for ri, v in zip(r, got, strict=True):
        if ri < 3:
            assert v == pytest.approx(ri / 4)
        elif ri < 5:
            assert v == pytest.approx((4 - ri) / 1)
        elif ri <= 7:
            assert v == -1
        else:
            assert v == 0
    ints = masks.radial_gradient_background_subtraction(np.arange(10), r0=4, r_outer=7)
    assert ints.dtype == np.arange(10).dtype  # the map's dtype, values truncated


@given(
    cx=st.floats(3, 20),
    cy=st.floats(3, 20),
    r=st.floats(3, 9),
    f=st.floats(0.2, 0.8),
    aa=st.booleans(),
)
def test_background_subtraction_sums_to_zero(cx, cy, r, f, aa):
    ri = r * f
    got = masks.background_subtraction(cx, cy, 24, 24, r, ri, antialiased=aa)
    disk = masks.circular(cx, cy, 24, 24, ri, antialiased=aa)
    ring = masks.ring(cx, cy, 24, 24, r, ri, antialiased=aa)
    assert got.dtype == np.float64
    assert got.sum() == pytest.approx(0, abs=1e-9)
    np.testing.assert_allclose(got, disk - ring * disk.sum() / ring.sum())
    if not aa and disk.any():  # (an empty disk, e.g. a small one between pixels, gives 0)
        np.testing.assert_array_equal(got > 0, disk)
        np.testing.assert_array_equal(got < 0, ring)


@given(
    values=st.lists(
        st.one_of(st.just(0.0), st.floats(0.01, 100), st.floats(-100, -0.01)),
        min_size=2,
        max_size=30,
    ),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_balance(values, dtype):
    template = np.array(values, dtype=dtype)
    got = masks.balance(template)
    assert got.dtype == dtype
    positive, negative = template > 0, template < 0
    np.testing.assert_array_equal(got[~negative], template[~negative])  # untouched
    if negative.any() and positive.any():
        assert float(got.sum()) == pytest.approx(0, abs=1e-3 * float(np.abs(template).sum()))
        ratios = got[negative] / template[negative]
        np.testing.assert_allclose(ratios, ratios[0], rtol=1e-5)  # one common factor
    elif negative.any():
        assert not got[negative].any()  # nothing positive to balance: the negatives vanish


# -- rectangles ---------------------------------------------------------------------------------
def rectangle_oracle(x0, y0, w, h, sx, sy):
    if w == 0 or h == 0:
        return np.zeros((sy, sx), dtype=bool)
    ys = range(int(min(y0, y0 + h)), int(max(y0, y0 + h)) + 1)
    xs = range(int(min(x0, x0 + w)), int(max(x0, x0 + w)) + 1)
    return np.array([[y in ys and x in xs for x in range(sx)] for y in range(sy)])


coords = st.one_of(st.integers(-30, 40), st.floats(-30, 40))


@given(x0=coords, y0=coords, w=coords, h=coords, sx=sizes, sy=sizes)
def test_rectangular_against_a_loop(x0, y0, w, h, sx, sy):
    got = masks.rectangular(x0, y0, w, h, sx, sy)
    assert got.dtype == bool and got.shape == (sy, sx)
    np.testing.assert_array_equal(got, rectangle_oracle(x0, y0, w, h, sx, sy))


def test_rectangular_counts_include_both_corners():
    assert masks.rectangular(2, 3, 4, 5, 20, 20).sum() == 5 * 6
    assert masks.rectangular(6, 8, -4, -5, 20, 20).sum() == 5 * 6
    assert masks.rectangular(2, 3, 0, 5, 20, 20).sum() == 0
    assert masks.rectangular(-5, -5, 2, 2, 8, 8).sum() == 0  # entirely above and left


# -- sparse stacks --------------------------------------------------------------------------------
@given(
    data=st.data(),
    n=st.integers(1, 5),
    sx=sizes,
    sy=sizes,
    th=st.integers(1, 4),
    tw=st.integers(1, 4),
)
def test_sparse_template_multi_stack_against_a_loop(data, n, sx, sy, th, tw):
    index = data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    offx = data.draw(st.lists(st.integers(-5, sx + 1), min_size=n, max_size=n))
    offy = data.draw(st.lists(st.integers(-5, sy + 1), min_size=n, max_size=n))
    template = np.arange(1, th * tw + 1).reshape(th, tw)
    got = masks.sparse_template_multi_stack(index, offx, offy, template, sx, sy)
    assert isinstance(got, sparse.COO) and got.dtype == template.dtype
    expected = np.zeros((max(index) + 1, sy, sx), dtype=template.dtype)
    for i, ox, oy in zip(index, offx, offy, strict=True):
        for ty in range(th):
            for tx in range(tw):
                if 0 <= oy + ty < sy and 0 <= ox + tx < sx:
                    expected[i, oy + ty, ox + tx] += template[ty, tx]
    np.testing.assert_array_equal(got.todense(), expected)


def test_sparse_circular_multi_stack_is_disks_on_truncated_centres():
    cx, cy = [3.7, 10.0, -1.2], [4.0, 2.5, 6.9]
    got = masks.sparse_circular_multi_stack([0, 2, 2], cx, cy, 16, 12, 2.5)
    assert got.shape == (3, 12, 16) and got.dtype == bool
    dense = got.todense()
    np.testing.assert_array_equal(dense[0], masks.circular(3, 4, 16, 12, 2.5))
    assert not dense[1].any()
    both = masks.circular(10, 2, 16, 12, 2.5) | masks.circular(-1, 6, 16, 12, 2.5)
    np.testing.assert_array_equal(dense[2], both)


# -- dense <-> sparse ---------------------------------------------------------------------------
@given(
    shape=st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(1, 6)),
    density=st.floats(0, 1),
    seed=st.integers(0, 2**16),
)
def test_sparse_dense_round_trips(shape, density, seed):
    rng = np.random.default_rng(seed)
    dense = np.where(rng.random(shape) < density, rng.normal(size=shape), 0)
    coo = to_sparse(dense)
    assert isinstance(coo, sparse.COO) and is_sparse(coo)
    np.testing.assert_array_equal(to_dense(coo), dense)
    assert to_dense(dense) is dense
    flat = dense.reshape(shape[0], -1)
    for matrix in (scipy.sparse.csr_matrix(flat), scipy.sparse.csc_array(flat)):
        assert is_sparse(matrix)
        np.testing.assert_array_equal(to_dense(matrix), flat)
        np.testing.assert_array_equal(to_sparse(matrix).todense(), flat)
    np.testing.assert_array_equal(to_dense(sparse.GCXS(coo)), dense)
    np.testing.assert_array_equal(to_sparse(sparse.GCXS(coo)).todense(), dense)


def test_sparse_helpers():
    assert not is_sparse(np.zeros(3)) and not is_sparse([1, 2])
    np.testing.assert_array_equal(to_dense([[1, 2]]), [[1, 2]])
    roi = to_sparse([((0, 1), True), ((2, 2), True)], shape=(3, 3))
    np.testing.assert_array_equal(roi.todense(), np.isin(np.arange(9), [1, 8]).reshape(3, 3))
    inverted = to_sparse([((1, 1), False)], shape=(3, 3)).todense()
    np.testing.assert_array_equal(inverted, np.arange(9).reshape(3, 3) != 4)
    assert to_sparse([1, 2], shape=(3, 3)).todense()[1, 2]
    with pytest.raises(ValueError, match="single value"):
        to_sparse([((0, 1), True), ((2, 2), False)], shape=(3, 3))
    assert sparse_to_coo(None) is None
    assert isinstance(sparse_to_coo(scipy.sparse.eye(3)), sparse.COO)
    with pytest.raises(TypeError, match="sparse"):
        assert_sparse(np.zeros(3))


# -- MaskContainer --------------------------------------------------------------------------------
SIG = (12, 10)


def dense_factories():
    return [
        lambda: masks.circular(4, 5, SIG[1], SIG[0], 3),
        lambda: masks.ring(6, 6, SIG[1], SIG[0], 5, 2).astype(np.float32),
        lambda: masks.gradient_x(SIG[1], SIG[0]),
    ]


def expected_stack():
    return np.stack([f() for f in dense_factories()]).astype(np.float32)


def sig_slices(nav_dims):
    @st.composite
    def build(draw):
        oy = draw(st.integers(0, SIG[0] - 1))
        ox = draw(st.integers(0, SIG[1] - 1))
        h = draw(st.integers(1, SIG[0] - oy))
        w = draw(st.integers(1, SIG[1] - ox))
        nav_origin = tuple(draw(st.integers(0, 5)) for _ in range(nav_dims))
        nav_shape = tuple(draw(st.integers(1, 4)) for _ in range(nav_dims))
        return Slice(nav_origin + (oy, ox), Shape(nav_shape + (h, w), sig_dims=2))

    return build()


@given(sl=sig_slices(nav_dims=2), transpose=st.booleans())
def test_container_dense_slices_match_numpy_slicing(sl, transpose):
    mc = MaskContainer(dense_factories(), dtype=np.float32)
    (oy, ox), (h, w) = sl.origin[2:], tuple(sl.shape)[2:]
    expected = expected_stack()[:, oy : oy + h, ox : ox + w].reshape(3, -1)
    if transpose:
        expected = expected.T
    got = mc.get(sl, transpose=transpose)
    assert isinstance(got, np.ndarray) and got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)
    sig_only = Slice((oy, ox), Shape((h, w), sig_dims=2))
    np.testing.assert_array_equal(mc.get_for_sig_slice(sig_only, transpose=transpose), expected)


@pytest.mark.parametrize(
    ("use_sparse", "kind"),
    [
        (True, scipy.sparse.csr_matrix),
        ("scipy.sparse", scipy.sparse.csr_matrix),
        ("scipy.sparse.csr", scipy.sparse.csr_matrix),
        ("scipy.sparse.csc", scipy.sparse.csc_matrix),
        ("sparse.pydata", sparse.COO),
        ("sparse.pydata.GCXS", sparse.GCXS),
    ],
)
@given(sl=sig_slices(nav_dims=1))
def test_container_sparse_slices_match_numpy_slicing(use_sparse, kind, sl):
    mc = MaskContainer(dense_factories(), dtype=np.float64, use_sparse=use_sparse)
    (oy, ox), (h, w) = sl.origin[1:], tuple(sl.shape)[1:]
    expected = expected_stack()[:, oy : oy + h, ox : ox + w].reshape(3, -1).T
    got = mc.get(sl)
    assert isinstance(got, kind) and got.dtype == np.float64
    np.testing.assert_array_equal(to_dense(got), expected)
    assert isinstance(mc.computed_masks, sparse.COO)


def test_container_resolves_use_sparse_from_the_masks():
    def sp():
        return scipy.sparse.csr_matrix(masks.circular(3, 3, 8, 8, 2))

    def dense():
        return masks.circular(5, 5, 8, 8, 2)

    assert MaskContainer([sp, sp]).use_sparse == "scipy.sparse"
    assert MaskContainer([sp, dense]).use_sparse is False
    assert MaskContainer([sp], default_sparse="sparse.pydata").use_sparse == "sparse.pydata"
    stack = MaskContainer(
        lambda: masks.sparse_circular_multi_stack([0, 1], [2, 5], [3, 4], 8, 8, 1)
    )
    assert stack.use_sparse == "scipy.sparse" and len(stack) == 2
    assert stack.dtype == bool
    # pydata sparse cannot live on the GPU: None means dense there
    assert MaskContainer([sp], default_sparse="sparse.pydata", backend="cupy").use_sparse is False


def test_container_len_dtype_count_and_laziness():
    calls = []

    def stack():
        calls.append(1)
        return np.ones((4, 3, 3), dtype=np.uint8)

    mc = MaskContainer(stack, count=4, dtype=np.float32, use_sparse=False)
    assert len(mc) == 4 and mc.dtype == np.float32 and mc.use_sparse is False
    assert not calls  # nothing computed yet: count, dtype and use_sparse=False were given
    assert MaskContainer(stack).dtype == np.uint8 and len(MaskContainer(stack)) == 4
    assert len(MaskContainer(dense_factories())) == 3
    sl = Slice((0, 0), Shape((3, 3), sig_dims=2))
    assert mc.get(sl) is mc.get(sl)  # cached
    assert mc.get(sl, dtype=np.float64).dtype == np.float64
    assert mc.get_for_idx([sl], 0).shape == (9, 4)
    assert mc.get_masks_for_slice(sl, transpose=False).shape == (4, 9)


def test_container_pickles_without_its_cache():
    mc = MaskContainer(dense_factories(), dtype=np.float32)
    sl = Slice((0, 0), Shape(SIG, sig_dims=2))
    first = mc.get(sl)
    clone = pickle.loads(cloudpickle.dumps(mc))
    assert clone._slice_cache == {} and mc._slice_cache  # the original keeps its cache
    np.testing.assert_array_equal(clone.get(sl), first)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"use_sparse": "dense"}, ValueError, "use_sparse"),
        ({"default_sparse": "scipy.sparse.dok"}, ValueError, "default_sparse"),
        ({"backend": "torch"}, ValueError, "backend"),
        ({"count": -1}, ValueError, "count"),
        ({"dtype": "not-a-dtype"}, TypeError, "not-a-dtype"),
    ],
)
def test_container_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        MaskContainer(dense_factories(), **kwargs)


def test_container_bad_factories_and_keys():
    with pytest.raises(TypeError, match="mask_factories"):
        MaskContainer(np.ones((2, 3, 3)))
    with pytest.raises(TypeError, match="entry 1"):
        MaskContainer([lambda: np.ones((3, 3)), np.ones((3, 3))])
    mismatched = MaskContainer([lambda: np.ones((3, 3)), lambda: np.ones((4, 3))])
    with pytest.raises(ValueError, match="differ in shape"):
        _ = mismatched.computed_masks
    with pytest.raises(TypeError, match="Slice"):
        MaskContainer(dense_factories()).get((slice(0, 3),))
    mc = MaskContainer(dense_factories(), use_sparse="sparse.pydata", backend="cuda")
    with pytest.raises(ValueError, match="numpy"):
        mc.get(Slice((0, 0), Shape(SIG, sig_dims=2)))


# -- without pydata sparse ------------------------------------------------------------------------
def test_without_pydata_sparse(monkeypatch):
    monkeypatch.setitem(sys.modules, "sparse", None)  # `import sparse` now raises ImportError
    assert isinstance(masks.radial_bins(50, 50, 100, 100, radius=40, n_bins=40), np.ndarray)
    with pytest.raises(ImportError, match="pip install sparse"):
        masks.radial_bins(5, 5, 10, 10, use_sparse=True)
    with pytest.raises(ImportError, match="sparse_template_multi_stack"):
        masks.sparse_template_multi_stack([0], [0], [0], np.ones((2, 2)), 4, 4)

    def sp():
        return scipy.sparse.csr_matrix(masks.circular(3, 3, 8, 8, 2))

    dense = MaskContainer([sp, sp])
    assert dense.use_sparse is False  # sparse masks are used dense
    np.testing.assert_array_equal(dense.computed_masks[0], masks.circular(3, 3, 8, 8, 2))
    with pytest.raises(ImportError, match=r"use_sparse='scipy\.sparse'"):
        _ = MaskContainer([sp], use_sparse=True).computed_masks


# -- bad parameters -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: masks.circular(1, 1, 8, 8, -1), ValueError, "radius: got -1"),
        (lambda: masks.circular(np.nan, 1, 8, 8, 2), ValueError, "centerX"),
        (lambda: masks.circular(1, 1, 0, 8, 2), ValueError, "imageSizeX: got 0"),
        (lambda: masks.circular(1, 1, 8, 7.5, 2), TypeError, "imageSizeY"),
        (lambda: masks.circular(1, "1", 8, 8, 2), TypeError, "centerY"),
        (lambda: masks.ring(1, 1, 8, 8, 2, 3), ValueError, "radius_inner: got 3"),
        (lambda: masks.radial_gradient(1, 1, 8, 8, 0), ValueError, "radius: got 0"),
        (lambda: masks.background_subtraction(1, 1, 8, 8, 2, 2), ValueError, "no pixel"),
        (lambda: masks.radial_bins(1, 1, 8, 8, radius=0.2), ValueError, "n_bins"),
        (lambda: masks.radial_bins(1, 1, 8, 8, n_bins=0), ValueError, "n_bins: got 0"),
        (lambda: masks.radial_bins(1, 1, 8, 8, n_bins=2.5), TypeError, "n_bins"),
        (lambda: masks.polar_map(1, 1, 8, 8, stretchY=0), ValueError, "stretchY"),
        (lambda: masks.balance(np.array([1, -1])), TypeError, "template"),
        (
            lambda: masks.sparse_template_multi_stack([], [], [], np.ones((2, 2)), 4, 4),
            ValueError,
            "mask_index",
        ),
        (
            lambda: masks.sparse_template_multi_stack([0, 1], [0], [0, 0], np.ones((2, 2)), 4, 4),
            ValueError,
            "offsetX",
        ),
        (
            lambda: masks.sparse_template_multi_stack([-1], [0], [0], np.ones((2, 2)), 4, 4),
            ValueError,
            "mask_index",
        ),
    ],
)
def test_bad_parameters_raise_clearly(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# -- LiberTEM itself ------------------------------------------------------------------------------
LIBERTEM_PY = ROOT / ".venv-libertem" / "bin" / "python"


@pytest.mark.slow
@pytest.mark.skipif(not LIBERTEM_PY.exists(), reason="needs .venv-libertem (make bench-libertem)")
def test_parity_with_libertem():
    proc = subprocess.run(
        [str(LIBERTEM_PY), str(ROOT / "tests" / "parity_masks_libertem.py"), "300"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
