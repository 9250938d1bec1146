"""``CrystallinityUDF`` / ``run_analysis_crystall`` (ferrotem.udf.crystallinity) against
LiberTEM's definition, written here in numpy float64: blank the disk of ``real_rad`` around
``real_center`` ``(y, x)`` in each frame (when both are given), take the magnitude of its 2-D
Fourier transform, and sum it over the half spectrum ``rfft2`` keeps, weighted by a ring
``rad_in < d <= rad_out`` centred on ``(height/2, width/2)`` of a spectrum that LiberTEM moves
to the unshifted layout with ``np.fft.fftshift`` (``np.roll`` by half the size). The comparison
with LiberTEM 0.16 itself is in ``test_udf_fem.py`` (slow)."""

from __future__ import annotations

import numpy as np
import pytest
from ferrotem.api import Context
from ferrotem.udf.crystallinity import CrystallinityUDF, run_analysis_crystall
from hypothesis import given, settings
from hypothesis import strategies as st

EXECUTORS = ["inline", "threads", "delayed"]


@pytest.fixture(scope="module")
def cryst_contexts():
    ctxs = {name: Context.make_with(name) for name in EXECUTORS}
    yield ctxs
    for c in ctxs.values():
        c.close()


@pytest.fixture(params=EXECUTORS)
def any_ctx(request, cryst_contexts):
    return cryst_contexts[request.param]


def spectrum_ring(sy: int, sx: int, rad_in: float, rad_out: float) -> np.ndarray:
    """Weight of each unshifted frequency ``(i, j)``: the ring pixel that ``np.roll`` by
    ``(sy // 2, sx // 2)`` carries there, i.e. the one at ``((i - sy//2) % sy, (j - sx//2) % sx)``
    of the centred ring."""
    iy = (np.arange(sy) - sy // 2) % sy - sy / 2
    ix = (np.arange(sx) - sx // 2) % sx - sx / 2
    d2 = iy[:, None] ** 2 + ix[None, :] ** 2
    return (d2 <= rad_out**2) & ~(d2 <= rad_in**2)


def crystallinity_oracle(data, rad_in, rad_out, real_center=None, real_rad=None, roi=None):
    sy, sx = data.shape[-2:]
    frames = data.astype(np.float64)
    if real_center is not None and real_rad is not None:
        y, x = np.mgrid[0:sy, 0:sx]
        blank = (y - real_center[0]) ** 2 + (x - real_center[1]) ** 2 <= real_rad**2
        frames = np.where(blank, 0.0, frames)
    half = sx // 2 + 1
    magnitude = np.abs(np.fft.fft2(frames))[..., :half]
    out = (magnitude * spectrum_ring(sy, sx, rad_in, rad_out)[:, :half]).sum(axis=(-2, -1))
    if roi is not None:
        out = np.where(roi, out, np.nan)
    return out


def rng_data(shape, dtype, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "u":
        return rng.integers(0, 60000, shape).astype(dtype)
    return rng.normal(100, 30, shape).astype(dtype)


def assert_float32_close(actual, expected) -> None:
    assert actual.dtype == np.float32
    np.testing.assert_allclose(actual, expected, rtol=1e-6, equal_nan=True)


def test_the_ring_is_centred_on_zero_frequency_for_even_sizes():
    """The oracle's ring, for even sizes, is the ring of ``|k|`` in spectrum pixels."""
    sy, sx = 12, 16
    ky = np.fft.fftfreq(sy) * sy
    kx = np.fft.fftfreq(sx) * sx
    k2 = ky[:, None] ** 2 + kx[None, :] ** 2
    assert np.array_equal(spectrum_ring(sy, sx, 2, 5), (k2 <= 25) & (k2 > 4))


@pytest.mark.parametrize(("ky", "kx", "inside"), [(3, 4, True), (0, 5, True), (1, 1, False)])
def test_a_plane_wave_lands_in_the_ring(inline_ctx, ky, kx, inside):
    """A cosine of frequency (ky, kx): its peaks have height N/2; the half spectrum holds one
    of them (both where kx = 0), so the ring 4.5 < |k| <= 5.5 sums to N/2 (or N) or to 0."""
    sy, sx = 16, 20
    y, x = np.mgrid[0:sy, 0:sx]
    frame = np.cos(2 * np.pi * (ky * y / sy + kx * x / sx))
    data = frame[None, None].astype(np.float32)
    ds = inline_ctx.load("memory", data=data, sig_dims=2, num_partitions=1)
    res = inline_ctx.run_udf(ds, CrystallinityUDF(rad_in=4.5, rad_out=5.5))
    n = sy * sx
    expected = (n if kx == 0 else n / 2) if inside else 0.0
    np.testing.assert_allclose(res["intensity"].data[0, 0], expected, atol=1e-3)


@pytest.mark.parametrize("dtype", ["u2", ">u2", "f4"])
@pytest.mark.parametrize("real", [None, ((7, 9.5), 3)])
def test_crystallinity_matches_numpy(any_ctx, dtype, real):
    data = rng_data((5, 6, 15, 18), dtype)
    roi = np.zeros((5, 6), bool)
    roi[0, 2] = roi[3, :] = roi[4, 5] = True  # the partitions of rows 1-2 are empty
    ds = any_ctx.load("memory", data=data, sig_dims=2, num_partitions=5)
    center, rad = real if real is not None else (None, None)
    udf = CrystallinityUDF(rad_in=2, rad_out=6.5, real_center=center, real_rad=rad)
    res = any_ctx.run_udf(ds, udf, roi=roi)
    assert list(res) == ["intensity"]
    expected = crystallinity_oracle(data, 2, 6.5, center, rad, roi)
    assert_float32_close(res["intensity"].data, expected)


def test_one_of_centre_and_radius_alone_blanks_nothing(inline_ctx):
    data = rng_data((2, 3, 12, 12), "f4", seed=1)
    ds = inline_ctx.load("memory", data=data, sig_dims=2)
    expected = crystallinity_oracle(data, 1, 4)
    for center, rad in [((6, 6), None), (None, 3)]:
        udf = CrystallinityUDF(rad_in=1, rad_out=4, real_center=center, real_rad=rad)
        assert_float32_close(inline_ctx.run_udf(ds, udf)["intensity"].data, expected)


def test_run_analysis_crystall_with_roi(any_ctx):
    data = rng_data((2, 3, 4, 11, 13), "u2", seed=2)  # a 3-D scan, odd frame sizes
    roi = np.zeros((2, 3, 4), bool)
    roi[1, 2] = roi[0, 0, 1] = True
    ds = any_ctx.load("memory", data=data, sig_dims=2, num_partitions=3)
    res = run_analysis_crystall(any_ctx, ds, 1.5, 5, real_center=(5, 6), real_rad=2, roi=roi)
    assert_float32_close(res["intensity"].data, crystallinity_oracle(data, 1.5, 5, (5, 6), 2, roi))


@settings(max_examples=20, deadline=None)
@given(
    sig=st.tuples(st.integers(2, 13), st.integers(2, 13)),
    radii=st.tuples(st.floats(0, 6), st.floats(0, 9)),
    real=st.one_of(st.none(), st.tuples(st.floats(-2, 14), st.floats(-2, 14), st.floats(0, 5))),
    dtype=st.sampled_from(["u2", "f4", "f8"]),
)
def test_crystallinity_property(cryst_contexts, sig, radii, real, dtype):
    ctx = cryst_contexts["inline"]
    rad_in, rad_out = min(radii), max(radii)
    center, rad = (None, None) if real is None else (real[:2], real[2])
    data = rng_data((2, 2, *sig), dtype, seed=sum(sig))
    ds = ctx.load("memory", data=data, sig_dims=2, num_partitions=2)
    udf = CrystallinityUDF(rad_in=rad_in, rad_out=rad_out, real_center=center, real_rad=rad)
    res = ctx.run_udf(ds, udf)["intensity"].data
    expected = crystallinity_oracle(data, rad_in, rad_out, center, rad)
    np.testing.assert_allclose(res, expected, rtol=1e-6, atol=1e-6 * np.abs(expected).max())


# -- bad parameters --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rad_in": -1, "rad_out": 2}, "rad_in"),
        ({"rad_in": 1, "rad_out": np.nan}, "rad_out"),
        ({"rad_in": 3, "rad_out": 2}, "rad_in: got 3, expected <= rad_out"),
        ({"rad_in": 1, "rad_out": 2, "real_center": (3,), "real_rad": 1}, "real_center"),
        ({"rad_in": 1, "rad_out": 2, "real_center": (3, "a"), "real_rad": 1}, "real_center"),
        ({"rad_in": 1, "rad_out": 2, "real_center": (3, 3), "real_rad": -2}, "real_rad"),
    ],
)
def test_bad_parameters_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CrystallinityUDF(**kwargs)


def test_complex_and_1d_data_are_refused(inline_ctx):
    ds = inline_ctx.load("memory", data=np.ones((2, 2, 8, 8), np.complex64), sig_dims=2)
    with pytest.raises(ValueError, match="real-valued frames, got dtype complex64"):
        inline_ctx.run_udf(ds, CrystallinityUDF(rad_in=1, rad_out=3))
    ds = inline_ctx.load("memory", data=np.ones((2, 2, 8), np.float32), sig_dims=1)
    with pytest.raises(ValueError, match="CrystallinityUDF needs 2-D frames"):
        inline_ctx.run_udf(ds, CrystallinityUDF(rad_in=1, rad_out=3))
