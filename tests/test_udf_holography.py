"""``HoloReconstructUDF`` and its helpers (ferrotem.udf.holography), LiberTEM <= 0.14.1's
interface (LiberTEM 0.16 removed the module: importing it raises ``ImportError``, so there is no
side-by-side run).

Two oracles: a synthetic hologram of a known object (``ferrotem.utils.generate.hologram_frame``)
whose amplitude and phase the reconstruction must recover, and LiberTEM's documented procedure
written here in numpy float64 (FFT; ``np.roll`` by ``sb_position``; the central ``out_shape``
of the ``fftshift``-ed spectrum; a ``tanh`` aperture of radius ``sb_size`` on the output grid;
inverse FFT)."""

from __future__ import annotations

import numpy as np
import pytest
from ferrotem.api import Context
from ferrotem.udf.holography import (
    HoloReconstructUDF,
    aperture_function,
    freq_array,
    get_slice_fft,
)
from ferrotem.utils.generate import hologram_frame
from hypothesis import given, settings
from hypothesis import strategies as st

EXECUTORS = ["inline", "threads", "delayed"]

#: LiberTEM 0.14.1's ``libertem.udf.holography`` names, plus ``get_slice_fft`` (LiberTEM-holo's
#: name for the crop, which LiberTEM computed inline)
HOLOGRAPHY_NAMES = ("HoloReconstructUDF", "aperture_function", "freq_array", "get_slice_fft")


@pytest.fixture(scope="module")
def holo_contexts():
    ctxs = {name: Context.make_with(name) for name in EXECUTORS}
    yield ctxs
    for c in ctxs.values():
        c.close()


@pytest.fixture(params=EXECUTORS)
def any_ctx(request, holo_contexts):
    return holo_contexts[request.param]


def test_module_names():
    import ferrotem.udf.holography as holo

    assert sorted(holo.__all__) == sorted(HOLOGRAPHY_NAMES)
    for name in HOLOGRAPHY_NAMES:
        assert callable(getattr(holo, name))


# -- the documented procedure, in float64 ------------------------------------------------------
def reconstruct_oracle(frame, out_shape, sb_position, sb_size, sb_smoothness=0.05):
    frame = np.asarray(frame, dtype=np.float64)
    sy, sx = frame.shape
    oy, ox = out_shape
    spectrum = np.fft.fft2(frame)
    # np.roll by sb_position: frequency index k takes the value of k - sb_position
    ky = (np.arange(sy) - sb_position[0]) % sy
    kx = (np.arange(sx) - sb_position[1]) % sx
    rolled = spectrum[np.ix_(ky, kx)]
    centred = np.fft.fftshift(rolled)
    y0, x0 = int(sy / 2 - oy / 2), int(sx / 2 - ox / 2)
    cropped = np.fft.fftshift(centred[y0 : y0 + oy, x0 : x0 + ox])
    unit = (1 / oy + 1 / ox) / 2
    radius = sb_size * unit
    width = radius * sb_smoothness * unit
    f = np.hypot(np.fft.fftfreq(oy)[:, None], np.fft.fftfreq(ox)[None, :])
    aperture = 0.5 * (1 - np.tanh((f - radius) / (0.5 * width)))
    return np.fft.ifft2(cropped * aperture)


def rng_data(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "u":
        return rng.integers(0, 4000, shape).astype(dtype)
    return rng.normal(100, 30, shape).astype(dtype)


@pytest.mark.parametrize("dtype", ["u2", ">u2", "f4"])
def test_reconstruction_matches_the_procedure(any_ctx, dtype):
    data = rng_data((4, 5, 24, 20), dtype)
    roi = np.zeros((4, 5), bool)
    roi[0, 1] = roi[3, :] = True  # the partitions of rows 1 and 2 are empty
    ds = any_ctx.load("memory", data=data, sig_dims=2, num_partitions=4)
    udf = HoloReconstructUDF(out_shape=(12, 10), sb_position=(5, -3), sb_size=3.5)
    res = any_ctx.run_udf(ds, udf, roi=roi)
    assert list(res) == ["wave"]
    wave = res["wave"].data
    assert wave.dtype == np.complex128 and wave.shape == (4, 5, 12, 10)
    for idx in zip(*np.nonzero(roi), strict=True):
        expected = reconstruct_oracle(data[idx], (12, 10), (5, -3), 3.5)
        np.testing.assert_allclose(wave[idx], expected, rtol=1e-10, atol=1e-9)
    assert res["wave"].raw_data.shape == (int(roi.sum()), 12, 10)


def test_odd_sizes_and_low_precision(inline_ctx):
    data = rng_data((2, 3, 15, 17), "f4", seed=1)
    ds = inline_ctx.load("memory", data=data, sig_dims=2)
    for precision, dtype, rtol in [(True, np.complex128, 1e-10), (False, np.complex64, 2e-5)]:
        udf = HoloReconstructUDF(
            out_shape=(9, 7),
            sb_position=(3, 4),
            sb_size=2.5,
            sb_smoothness=0.3,
            precision=precision,
        )
        wave = inline_ctx.run_udf(ds, udf)["wave"].data
        assert wave.dtype == dtype
        expected = np.stack(
            [reconstruct_oracle(f, (9, 7), (3, 4), 2.5, 0.3) for f in data.reshape(-1, 15, 17)]
        ).reshape(2, 3, 9, 7)
        scale = np.abs(expected).max()
        np.testing.assert_allclose(wave, expected, rtol=rtol, atol=rtol * scale)


@settings(max_examples=30, deadline=None)
@given(
    sig=st.tuples(st.integers(1, 12), st.integers(1, 12)),
    cut=st.tuples(st.floats(0.01, 1), st.floats(0.01, 1)),
    sb_position=st.tuples(st.integers(-30, 30), st.integers(-30, 30)),
    sb_size=st.floats(0.5, 8),
    sb_smoothness=st.floats(0.001, 1),  # 0, the hard edge, in test_aperture_function
    precision=st.booleans(),
)
def test_reconstruction_property(
    holo_contexts, sig, cut, sb_position, sb_size, sb_smoothness, precision
):
    """Any frame and output size (odd, even, 1), any sideband position (negative, beyond the
    frame): the documented procedure's result."""
    out = (max(1, round(sig[0] * cut[0])), max(1, round(sig[1] * cut[1])))
    data = rng_data((2, 1, *sig), "f4", seed=sum(sig))
    ctx = holo_contexts["inline"]
    ds = ctx.load("memory", data=data, sig_dims=2, num_partitions=1)
    udf = HoloReconstructUDF(
        out_shape=out,
        sb_position=sb_position,
        sb_size=sb_size,
        sb_smoothness=sb_smoothness,
        precision=precision,
    )
    wave = ctx.run_udf(ds, udf)["wave"].data.reshape(2, *out)
    expected = np.stack(
        [reconstruct_oracle(f, out, sb_position, sb_size, sb_smoothness) for f in data[:, 0]]
    )
    rtol = 1e-10 if precision else 2e-5
    np.testing.assert_allclose(wave, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


# -- a known object ---------------------------------------------------------------------------
N = 64
#: sideband at (12, 9) pixels of a 64x64 spectrum: 64 / 15 pixels per fringe
SB = (12, 9)
SAMPLING = N / np.hypot(*SB)
F_ANGLE = float(np.degrees(np.arctan2(SB[1], SB[0])))


def known_object():
    """A smooth phase bump of 1.2 rad with a 30 % amplitude dip (periodic enough for the FFT)."""
    y, x = np.mgrid[0:N, 0:N]
    bump = np.exp(-((y - 32) ** 2 + (x - 30) ** 2) / (2 * 10.0**2))
    return 1 - 0.3 * bump, 1.2 * bump


def test_known_object_is_recovered(any_ctx):
    amp, phi = known_object()
    holo = hologram_frame(amp, phi, counts=1000.0, sampling=SAMPLING, f_angle=F_ANGLE)
    vacuum = hologram_frame(np.ones((N, N)), np.zeros((N, N)), sampling=SAMPLING, f_angle=F_ANGLE)
    data = np.stack([holo, vacuum, 2 * holo]).reshape(1, 3, N, N).astype(np.float32)
    ds = any_ctx.load("memory", data=data, sig_dims=2, num_partitions=1)
    res = any_ctx.run_udf(ds, HoloReconstructUDF(out_shape=(N, N), sb_position=SB, sb_size=6))
    wave = res["wave"].data[0]
    # the sideband of counts/2 * 2 * amp * cos(carrier - phi) is counts/2 * amp * exp(i phi)
    np.testing.assert_allclose(np.abs(wave[0]) / 500, amp, atol=5e-3)
    np.testing.assert_allclose(np.angle(wave[0]), phi, atol=1e-2)
    np.testing.assert_allclose(wave[1], 500, rtol=1e-6)  # vacuum: a flat wave
    np.testing.assert_allclose(wave[2], 2 * wave[0], rtol=1e-9)  # linear in the hologram


def test_twin_sideband_gives_the_conjugate_and_a_small_output_samples_coarser(inline_ctx):
    amp, phi = known_object()
    holo = hologram_frame(amp, phi, counts=1000.0, sampling=SAMPLING, f_angle=F_ANGLE)
    ds = inline_ctx.load("memory", data=holo[None, None], sig_dims=2, num_partitions=1)
    twin = (-SB[0], -SB[1])
    res = inline_ctx.run_udf(ds, HoloReconstructUDF(out_shape=(N, N), sb_position=twin, sb_size=6))
    np.testing.assert_allclose(np.angle(res["wave"].data[0, 0]), -phi, atol=1e-2)
    half = HoloReconstructUDF(out_shape=(N // 2, N // 2), sb_position=SB, sb_size=6)
    wave = inline_ctx.run_udf(ds, half)["wave"].data[0, 0]
    np.testing.assert_allclose(np.angle(wave), phi[::2, ::2], atol=1e-2)
    # the cropped transform keeps the field of view on a quarter of the pixels; the inverse
    # FFT normalises by the output's size, so the amplitude grows by frame size / output size
    np.testing.assert_allclose(np.abs(wave) / 4 / 500, amp[::2, ::2], atol=5e-3)


# -- helpers ------------------------------------------------------------------------------------
def test_freq_array():
    f = freq_array((6, 5), sampling=(0.5, 2.0))
    fy = np.array([0, 1, 2, -3, -2, -1]) / (6 * 0.5)
    fx = np.array([0, 1, 2, -2, -1]) / (5 * 2.0)
    np.testing.assert_allclose(f, np.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2))
    assert freq_array((4, 4)).shape == (4, 4)


def test_aperture_function():
    r = np.array([0.0, 1.0, 2.0, 3.0, 4.0, -2.0])
    soft = aperture_function(r, 2.0, 1.0)
    assert soft[2] == pytest.approx(0.5) and soft[5] == pytest.approx(0.5)
    assert soft[0] == pytest.approx(1, abs=1e-3) and soft[4] == pytest.approx(0, abs=1e-3)
    # tanh(2) at one width from the edge: 0.982 and 0.018
    assert soft[1] == pytest.approx(0.5 * (1 + np.tanh(2.0)))
    np.testing.assert_array_equal(aperture_function(r, 2.0, 0), [1, 1, 0.5, 0, 0, 0.5])


@settings(max_examples=60, deadline=None)
@given(
    out=st.tuples(st.integers(1, 40), st.integers(1, 40)),
    extra=st.tuples(st.integers(0, 9), st.integers(0, 9)),
)
def test_get_slice_fft_cuts_out_shape_from_the_middle(out, extra):
    sig = (out[0] + extra[0], out[1] + extra[1])
    ys, xs = get_slice_fft(out, sig)
    assert (ys.stop - ys.start, xs.stop - xs.start) == out
    assert 0 <= ys.start and ys.stop <= sig[0] and 0 <= xs.start and xs.stop <= sig[1]
    # the zero frequency (index size // 2 after fftshift) stays inside the cut, except for
    # LiberTEM's rounding with an output size of 1 from an even size (it keeps index size/2-1)
    for cut, size, o in ((ys, sig[0], out[0]), (xs, sig[1], out[1])):
        if o == 1 and size % 2 == 0:
            assert cut.start == size // 2 - 1
        else:
            assert cut.start <= size // 2 < cut.stop


# -- bad parameters --------------------------------------------------------------------------
GOOD = {"out_shape": (8, 8), "sb_position": (2, 3), "sb_size": 2.0}


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"out_shape": (8,)}, "out_shape"),
        ({"out_shape": (0, 8)}, "out_shape"),
        ({"out_shape": (8.5, 8)}, "out_shape"),
        ({"sb_position": (2, 3, 4)}, "sb_position"),
        ({"sb_position": (2.5, 3)}, "sb_position"),
        ({"sb_size": 0}, "sb_size"),
        ({"sb_size": np.nan}, "sb_size"),
        ({"sb_smoothness": -0.1}, "sb_smoothness"),
        ({"precision": "yes"}, "precision"),
    ],
)
def test_bad_parameters_raise_value_error(change, match):
    with pytest.raises(ValueError, match=match):
        HoloReconstructUDF(**{**GOOD, **change})


def test_bad_datasets_are_refused(inline_ctx):
    ds = inline_ctx.load("memory", data=np.ones((2, 2, 8, 8), np.float32), sig_dims=2)
    with pytest.raises(ValueError, match=r"out_shape: got \(8, 9\).*frame \(8, 8\)"):
        inline_ctx.run_udf(ds, HoloReconstructUDF(**{**GOOD, "out_shape": (8, 9)}))
    ds = inline_ctx.load("memory", data=np.ones((2, 2, 8, 8), np.complex64), sig_dims=2)
    with pytest.raises(ValueError, match="real-valued holograms"):
        inline_ctx.run_udf(ds, HoloReconstructUDF(**GOOD))
    ds = inline_ctx.load("memory", data=np.ones((2, 2, 8), np.float32), sig_dims=1)
    with pytest.raises(ValueError, match="HoloReconstructUDF needs 2-D frames"):
        inline_ctx.run_udf(ds, HoloReconstructUDF(**GOOD))


def test_helpers_refuse_bad_input():
    with pytest.raises(ValueError, match="shape"):
        freq_array((0, 3))
    with pytest.raises(ValueError, match="sampling"):
        freq_array((3, 3), sampling=(0, 1))
    with pytest.raises(ValueError, match="rsmooth"):
        aperture_function(np.zeros(3), 1.0, -1)
    with pytest.raises(ValueError, match="out_shape"):
        get_slice_fft((9, 4), (8, 8))
