"""The Analysis API (``ferrotem.analysis``, ``Context.create_*_analysis``, ``Context.run``) against
numpy oracles written from LiberTEM 0.16's documented definitions.

Oracles are computed here in float64 from the raw data with plain numpy: the virtual detector
masks from the distance formula, centre-of-mass moments as weighted sums of pixel coordinates,
radial Fourier coefficients as ``sum(w_b * I * exp(i n phi))``. Result keys and their order are
LiberTEM's. Every case runs on the inline and the threads executor (``ctx`` fixture); one runs
on the delayed executor.
"""

from __future__ import annotations

import numpy as np
import pytest
from ferrotem.analysis.base import AnalysisResult, AnalysisResultSet
from ferrotem.api import Context
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = [pytest.mark.timeout(120)]

NAV = (5, 6)
SIG = (16, 18)


def _data(seed: int = 0, dtype=np.float32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 50, size=(*NAV, *SIG)).astype(dtype)


@pytest.fixture
def data():
    return _data()


@pytest.fixture
def ds(ctx, data):
    return ctx.load("memory", data=data, num_partitions=3)


def _distance2(cx: float, cy: float) -> np.ndarray:
    y, x = np.mgrid[0 : SIG[0], 0 : SIG[1]]
    return (y - cy) ** 2 + (x - cx) ** 2


def _apply(data: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.einsum("...yx,yx->...", data.astype(np.float64), mask.astype(np.float64))


# -- virtual detectors -------------------------------------------------------------------------
@pytest.mark.parametrize(("cx", "cy", "r"), [(8, 7, 4), (3.5, 10.2, 6.3), (0, 0, 0)])
def test_disk_analysis_sums_the_disk(ctx, ds, data, cx, cy, r):
    res = ctx.run(ctx.create_disk_analysis(dataset=ds, cx=cx, cy=cy, r=r))
    expected = _apply(data, _distance2(cx, cy) <= r * r)
    assert res.keys() == ["intensity", "intensity_log"]
    np.testing.assert_allclose(res.intensity.raw_data, expected, rtol=1e-6)
    assert res.intensity.raw_data.shape == NAV
    assert res.intensity_log.raw_data is res.intensity.raw_data


def test_disk_analysis_defaults(ctx, ds, data):
    res = ctx.run(ctx.create_disk_analysis(dataset=ds))
    # LiberTEM's defaults: the frame's centre, radius 0.3 * half the smaller side
    mask = _distance2(SIG[1] / 2, SIG[0] / 2) <= (min(SIG) / 2 * 0.3) ** 2
    np.testing.assert_allclose(res.intensity.raw_data, _apply(data, mask), rtol=1e-6)


@pytest.mark.parametrize(("ri", "ro"), [(2, 5), (0, 7.5), (4, 4)])
def test_ring_analysis_sums_the_ring(ctx, ds, data, ri, ro):
    res = ctx.run(ctx.create_ring_analysis(dataset=ds, cx=9, cy=7, ri=ri, ro=ro))
    d2 = _distance2(9, 7)
    expected = _apply(data, (d2 > ri * ri) & (d2 <= ro * ro))
    np.testing.assert_allclose(res.intensity.raw_data, expected, rtol=1e-6)
    assert res.keys() == ["intensity", "intensity_log"]


def test_point_analysis_picks_the_pixel(ctx, ds, data):
    res = ctx.run(ctx.create_point_analysis(dataset=ds, x=11, y=3))
    np.testing.assert_array_equal(res.intensity.raw_data, data[..., 3, 11])


def test_mask_analysis_one_result_per_mask(ctx, ds, data):
    rng = np.random.default_rng(5)
    stack = rng.random((3, *SIG))
    factories = [lambda i=i: stack[i] for i in range(3)]
    res = ctx.run(ctx.create_mask_analysis(factories=factories, dataset=ds))
    assert isinstance(res, AnalysisResultSet)
    assert res.keys() == ["mask_0", "mask_1", "mask_2"]
    for i in range(3):
        np.testing.assert_allclose(res[f"mask_{i}"].raw_data, _apply(data, stack[i]), rtol=1e-5)
        assert res[i].title == f"mask {i}"


def test_mask_analysis_single_factory_stack(ctx, ds, data):
    stack = np.stack([np.ones(SIG), np.eye(*SIG)])
    analysis = ctx.create_mask_analysis(
        factories=lambda: stack, dataset=ds, mask_count=2, mask_dtype=np.float32
    )
    res = ctx.run(analysis)
    assert res.mask_0.raw_data.dtype == np.float32  # mask_dtype takes part in the result dtype
    np.testing.assert_allclose(res.mask_1.raw_data, _apply(data, np.eye(*SIG)), rtol=1e-6)


def test_complex_masks_give_the_complex_keys(inline_ctx, data):
    ds = inline_ctx.load("memory", data=data, num_partitions=2)
    mask = np.exp(1j * np.arange(SIG[0] * SIG[1]).reshape(SIG) / 7)
    res = inline_ctx.run(inline_ctx.create_mask_analysis(factories=[lambda: mask], dataset=ds))
    assert res.keys() == [
        "mask_0",
        "mask_0_log",
        "mask_0_real",
        "mask_0_imag",
        "mask_0_angle",
        "mask_0_complex",
    ]
    expected = np.einsum("...yx,yx->...", data.astype(np.complex128), mask)
    np.testing.assert_allclose(res.mask_0_complex.raw_data, expected, rtol=1e-5)
    np.testing.assert_allclose(res.mask_0.raw_data, np.abs(expected), rtol=1e-5)
    np.testing.assert_allclose(res.mask_0_angle.raw_data, np.angle(expected), atol=1e-4)
    assert res.mask_0_complex.visualized.shape == (*NAV, 3)


# -- whole frames ------------------------------------------------------------------------------
def test_sum_analysis(ctx, ds, data):
    res = ctx.run(ctx.create_sum_analysis(dataset=ds))
    assert res.keys() == ["intensity", "intensity_lin"]
    np.testing.assert_allclose(res.intensity.raw_data, data.sum(axis=(0, 1), dtype=np.float64))
    assert res.intensity.raw_data.dtype == np.float32


def test_sum_analysis_of_integers_is_float32(ctx):
    data = _data(1, dtype=np.uint16)
    ds = ctx.load("memory", data=data, num_partitions=2)
    res = ctx.run(ctx.create_sum_analysis(dataset=ds))
    assert res.intensity.raw_data.dtype == np.float32
    np.testing.assert_array_equal(res.intensity.raw_data, data.sum(axis=(0, 1)))


def test_pick_analysis_returns_the_stored_frame(ctx):
    data = _data(2, dtype=np.uint16)
    ds = ctx.load("memory", data=data, num_partitions=3)
    res = ctx.run(ctx.create_pick_analysis(dataset=ds, x=4, y=3))
    assert res.keys() == ["intensity", "intensity_lin"]
    assert res.intensity.raw_data.dtype == np.uint16
    np.testing.assert_array_equal(res.intensity.raw_data, data[3, 4])
    assert "x=4 y=3" in res.intensity.desc


@pytest.mark.parametrize("nav", [(7,), (2, 3, 4)])
def test_pick_analysis_other_nav_dims(inline_ctx, nav):
    data = np.random.default_rng(3).random((*nav, 4, 5))
    ds = inline_ctx.load("memory", data=data, sig_dims=2)
    coords = {"x": nav[-1] - 1}
    if len(nav) == 3:
        coords.update(y=1, z=1)
    res = inline_ctx.run(inline_ctx.create_pick_analysis(dataset=ds, **coords))
    index = (nav[-1] - 1,) if len(nav) == 1 else (1, 1, nav[-1] - 1)
    np.testing.assert_array_equal(res.intensity.raw_data, data[index])


def test_sumsig_analysis(ctx, ds, data):
    from ferrotem.analysis import SumSigAnalysis

    res = ctx.run(SumSigAnalysis(dataset=ds, parameters={}))
    np.testing.assert_allclose(res.intensity.raw_data, data.sum(axis=(2, 3), dtype=np.float64))
    assert res.intensity.visualized.shape == (*NAV, 4)


def test_fft_analyses(inline_ctx, data):
    from ferrotem.analysis import PickFFTFrameAnalysis, SumfftAnalysis

    ds = inline_ctx.load("memory", data=data)
    pick = inline_ctx.run(PickFFTFrameAnalysis(dataset=ds, parameters={"x": 2, "y": 1}))
    expected = np.fft.fftshift(np.abs(np.fft.fft2(data[1, 2].astype(np.float64))))
    np.testing.assert_allclose(pick.intensity.raw_data, expected, rtol=1e-5, atol=1e-3)
    params = {"real_rad": 3, "real_centerx": 9, "real_centery": 8}
    masked = inline_ctx.run(PickFFTFrameAnalysis(dataset=ds, parameters={"x": 2, "y": 1, **params}))
    outside = (_distance2(9, 8) > 9).astype(np.float64)
    expected = np.fft.fftshift(np.abs(np.fft.fft2(data[1, 2] * outside)))
    np.testing.assert_allclose(masked.intensity.raw_data, expected, rtol=1e-5, atol=1e-3)
    total = inline_ctx.run(SumfftAnalysis(dataset=ds, parameters={}))
    np.testing.assert_allclose(total.intensity.raw_data, data.sum(axis=(0, 1), dtype=np.float64))
    assert total.intensity.visualized.shape == (*SIG, 4)


def test_sd_analysis_pixel_std_over_frames(ctx, ds, data):
    from ferrotem.analysis import SDAnalysis

    res = ctx.run(SDAnalysis(dataset=ds, parameters={}))
    assert res.keys() == ["intensity", "intensity_lin"]
    expected = data.astype(np.float64).std(axis=(0, 1))
    np.testing.assert_allclose(res.intensity.raw_data, expected, rtol=1e-5, atol=1e-6)
    assert res.intensity_lin.visualized.shape == (*SIG, 4)
    roi = np.zeros(NAV, dtype=bool)
    roi[1:3, 2:5] = True
    part = ctx.run(SDAnalysis(dataset=ds, parameters={}), roi=roi)
    expected = data[roi].astype(np.float64).std(axis=0)
    np.testing.assert_allclose(part.intensity.raw_data, expected, rtol=1e-5, atol=1e-6)


def test_fem_analysis_ring_std(ctx, ds, data):
    from ferrotem.analysis import FEMAnalysis

    res = ctx.run(FEMAnalysis(dataset=ds, parameters={"cx": 9, "cy": 7, "ri": 2, "ro": 6}))
    d2 = _distance2(9, 7)
    ring = (d2 > 4) & (d2 <= 36)
    expected = data[..., ring].astype(np.float64).std(axis=-1)
    np.testing.assert_allclose(res.intensity.raw_data, expected, rtol=1e-5)
    assert res.keys() == ["intensity"]
    assert res.intensity.visualized.shape == (*NAV, 4)


def test_apply_fft_mask_integrates_the_spectrum_ring(ctx, ds, data):
    from ferrotem.analysis import ApplyFFTMask

    params = {"rad_in": 2, "rad_out": 5, "real_centerx": 9, "real_centery": 8, "real_rad": 3}
    res = ctx.run(ApplyFFTMask(dataset=ds, parameters=params))
    # LiberTEM's definition: blank the disk in the frame, take |rfft2|, sum it over the ring
    # 2 < |k| <= 5 around the spectrum's centre, moved to the unshifted half spectrum
    keep = _distance2(9, 8) > 9
    y, x = np.mgrid[0 : SIG[0], 0 : SIG[1]]
    k2 = (y - SIG[0] / 2) ** 2 + (x - SIG[1] / 2) ** 2
    ring = np.fft.fftshift((k2 > 4) & (k2 <= 25))[:, : SIG[1] // 2 + 1]
    spectra = np.abs(np.fft.rfft2(data.astype(np.float64) * keep))
    expected = (spectra * ring).sum(axis=(-2, -1))
    np.testing.assert_allclose(res.intensity.raw_data, expected, rtol=1e-5)


@pytest.mark.parametrize(
    ("cls", "params", "missing"),
    [
        ("FEMAnalysis", {"cx": 1, "cy": 1, "ri": 1}, "ro: missing"),
        ("ApplyFFTMask", {"rad_in": 1, "rad_out": 2}, "real_centerx, real_centery, real_rad"),
    ],
)
def test_required_parameters(inline_ctx, data, cls, params, missing):
    import ferrotem.analysis

    ds = inline_ctx.load("memory", data=data)
    with pytest.raises(ValueError, match=missing):
        getattr(ferrotem.analysis, cls)(dataset=ds, parameters=params)


# -- radial Fourier ----------------------------------------------------------------------------
def _radial_oracle(data, cx, cy, ri, ro, n_bins, max_order):
    """``c[b, n] = sum(w_b * I * exp(i n phi))`` in float64; ``w_b``: LiberTEM's antialiased
    radial bins (ferrotem.masks.radial_bins, checked bit for bit against LiberTEM's)."""
    from ferrotem.masks import radial_bins

    weights = radial_bins(cx, cy, SIG[1], SIG[0], ro, ri, n_bins, use_sparse=False)
    y, x = np.mgrid[0 : SIG[0], 0 : SIG[1]]
    phi = np.arctan2(y - cy, x - cx)
    orders = np.arange(max_order + 1)
    waves = np.exp(1j * orders[:, None, None] * phi)
    return np.einsum("...yx,byx,oyx->bo...", data.astype(np.float64), weights, waves)


@pytest.mark.parametrize("use_sparse", [None, False, True, "scipy.sparse"])
def test_radial_fourier_coefficients(ctx, ds, data, use_sparse):
    params = {"cx": 8.5, "cy": 7, "ri": 1, "ro": 7, "n_bins": 3, "max_order": 4}
    analysis = ctx.create_radial_fourier_analysis(dataset=ds, use_sparse=use_sparse, **params)
    res = ctx.run(analysis)
    expected = _radial_oracle(data, **params)
    assert res.raw_results.shape == (3, 5, *NAV)
    np.testing.assert_allclose(res.raw_results, expected, rtol=1e-4, atol=1e-2)
    np.testing.assert_allclose(res.absolute_2_3.raw_data, np.abs(expected[2, 3]), rtol=1e-4)
    np.testing.assert_allclose(
        res.complex_1_2.raw_data, expected[1, 2] / np.maximum(1, np.abs(expected[1, 0])), rtol=1e-4
    )
    np.testing.assert_allclose(res.phase_0_1.raw_data, np.angle(expected[0, 1]), atol=1e-3)


def test_radial_fourier_keys_in_libertem_order(inline_ctx, data):
    ds = inline_ctx.load("memory", data=data)
    res = inline_ctx.run(inline_ctx.create_radial_fourier_analysis(ds, n_bins=2, max_order=1))
    assert res.keys() == [
        "dominant_0",
        "absolute_0_0",
        "absolute_0_1",
        "dominant_1",
        "absolute_1_0",
        "absolute_1_1",
        "phase_0_0",
        "phase_0_1",
        "phase_1_0",
        "phase_1_1",
        "complex_0_0",
        "complex_0_1",
        "complex_1_0",
        "complex_1_1",
    ]
    assert res.complex_0_1.visualized.shape == (*NAV, 3)
    assert res.phase_1_1.visualized.shape == (*NAV, 4)


def test_radial_fourier_finds_the_symmetry(inline_ctx):
    """Frames of ``1 + cos(k phi)`` around the centre: order k dominates (known values)."""
    y, x = np.mgrid[0 : SIG[0], 0 : SIG[1]]
    phi = np.arctan2(y - 8, x - 9)
    symmetries = np.array([[2, 3, 4], [5, 6, 3]])
    data = 10 * (1 + np.cos(symmetries[..., None, None] * phi))
    ds = inline_ctx.load("memory", data=data)
    res = inline_ctx.run(
        inline_ctx.create_radial_fourier_analysis(ds, cx=9, cy=8, ri=2, ro=7, max_order=8)
    )
    np.testing.assert_array_equal(res.dominant_0.raw_data, symmetries)


# -- centre of mass ----------------------------------------------------------------------------
def _com_oracle(data, cx, cy, r, ri=0.0, flip_y=False, scan_rotation=0.0):
    """The shift of the centre of mass within the selection from ``(cy, cx)``, corrected as
    LiberTEM documents: y flipped first, then rotated clockwise by ``scan_rotation``."""
    y, x = np.mgrid[0 : SIG[0], 0 : SIG[1]]
    d2 = _distance2(cx, cy)
    sel = (d2 <= r * r) & (d2 > ri * ri if ri else True)
    w = data.astype(np.float64) * sel
    total = w.sum(axis=(-2, -1))
    dy = (w * y).sum(axis=(-2, -1)) / total - cy
    dx = (w * x).sum(axis=(-2, -1)) / total - cx
    if flip_y:
        dy = -dy
    a = np.deg2rad(scan_rotation)
    return np.cos(a) * dy + np.sin(a) * dx, -np.sin(a) * dy + np.cos(a) * dx


@pytest.mark.parametrize(
    "params",
    [
        {"cx": 9, "cy": 8, "mask_radius": 6},
        {"cx": 8.5, "cy": 7.5, "mask_radius": 7, "mask_radius_inner": 2},
        {"cx": 9, "cy": 8, "mask_radius": 6, "flip_y": True, "scan_rotation": 33.0},
    ],
)
def test_com_analysis(ctx, ds, data, params):
    res = ctx.run(ctx.create_com_analysis(dataset=ds, **params))
    dy, dx = _com_oracle(
        data,
        params["cx"],
        params["cy"],
        params["mask_radius"],
        params.get("mask_radius_inner", 0.0),
        params.get("flip_y", False),
        params.get("scan_rotation", 0.0),
    )
    assert res.keys() == ["field", "magnitude", "divergence", "curl", "x", "y"]
    np.testing.assert_allclose(res.x.raw_data, dx, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(res.y.raw_data, dy, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(res.magnitude.raw_data, np.hypot(dx, dy), rtol=1e-5, atol=1e-5)
    div = np.gradient(dy, axis=0) + np.gradient(dx, axis=1)
    curl = np.gradient(dy, axis=1) - np.gradient(dx, axis=0)
    np.testing.assert_allclose(res.divergence.raw_data, div, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(res.curl.raw_data, curl, rtol=1e-4, atol=1e-5)
    fx, fy = res.field.raw_data
    np.testing.assert_allclose(fx, dx, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(fy, dy, rtol=1e-5, atol=1e-5)
    assert res.field.visualized.shape == (*NAV, 3)
    assert res.field.visualized.dtype == np.uint8


def test_com_analysis_default_is_whole_frame(inline_ctx, data):
    ds = inline_ctx.load("memory", data=data)
    res = inline_ctx.run(inline_ctx.create_com_analysis(dataset=ds))
    dy, dx = _com_oracle(data, SIG[1] / 2, SIG[0] / 2, np.inf)
    np.testing.assert_allclose(res.x.raw_data, dx, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(res.y.raw_data, dy, rtol=1e-5, atol=1e-5)


def test_com_analysis_line_scan_has_no_gradients(inline_ctx):
    data = _data(4).reshape((1, NAV[0] * NAV[1], *SIG))
    ds = inline_ctx.load("memory", data=data)
    res = inline_ctx.run(inline_ctx.create_com_analysis(dataset=ds, cx=9, cy=8, mask_radius=5))
    assert res.keys() == ["field", "magnitude", "x", "y"]


# -- ROI, progress, executors ------------------------------------------------------------------
def test_roi_selects_frames(ctx, ds, data):
    roi = np.zeros(NAV, dtype=bool)
    roi[1, 2:5] = True
    roi[4, 0] = True
    res = ctx.run(ctx.create_disk_analysis(dataset=ds, cx=8, cy=8, r=5), roi=roi)
    expected = _apply(data, _distance2(8, 8) <= 25)
    np.testing.assert_allclose(res.intensity.raw_data[roi], expected[roi], rtol=1e-6)
    assert np.all(np.isnan(res.intensity.raw_data[~roi]))
    assert res.intensity.visualized.shape == (*NAV, 4)
    total = ctx.run(ctx.create_sum_analysis(dataset=ds), roi=roi)
    np.testing.assert_allclose(total.intensity.raw_data, data[roi].sum(axis=0, dtype=np.float64))


def test_complex_results_outside_the_roi_are_nan(inline_ctx, data):
    cdata = (data + 1j * data[..., ::-1]).astype(np.complex64)
    ds = inline_ctx.load("memory", data=cdata, num_partitions=2)
    roi = np.zeros(NAV, dtype=bool)
    roi[1, 2:4] = True
    res = inline_ctx.run(inline_ctx.create_disk_analysis(dataset=ds, cx=8, cy=7, r=4), roi=roi)
    expected = np.einsum("...yx,yx->...", cdata.astype(np.complex128), _distance2(8, 7) <= 16)
    np.testing.assert_allclose(res.intensity_complex.raw_data[roi], expected[roi], rtol=1e-5)
    # LiberTEM leaves both parts unset (NaN), so the imaginary part is NaN as well
    assert np.all(np.isnan(res.intensity_real.raw_data[~roi]))
    assert np.all(np.isnan(res.intensity_imag.raw_data[~roi]))


def test_roi_replaces_the_picked_frame(ctx, ds, data):
    roi = np.zeros(NAV, dtype=bool)
    roi[2, 5] = True
    res = ctx.run(ctx.create_pick_analysis(dataset=ds, x=0, y=0), roi=roi)
    np.testing.assert_array_equal(res.intensity.raw_data, data[2, 5])


def test_gui_roi_parameter(inline_ctx, data):
    from ferrotem.analysis import SumAnalysis

    ds = inline_ctx.load("memory", data=data)
    rect = {"shape": "rect", "x": 1, "y": 2, "width": 2, "height": 1}
    res = inline_ctx.run(SumAnalysis(dataset=ds, parameters={"roi": rect}))
    np.testing.assert_allclose(res.intensity.raw_data, data[2:4, 1:4].sum(axis=(0, 1)))


def test_progress_bar_does_not_change_results(ctx, ds, data, capsys):
    res = ctx.run(ctx.create_ring_analysis(dataset=ds, cx=9, cy=7, ri=2, ro=6), progress=True)
    d2 = _distance2(9, 7)
    np.testing.assert_allclose(
        res.intensity.raw_data, _apply(data, (d2 > 4) & (d2 <= 36)), rtol=1e-6
    )


def test_delayed_executor(data, tmp_path):
    ctx = Context.make_with("delayed")
    try:
        ds = ctx.load("memory", data=data, num_partitions=3)
        res = ctx.run(ctx.create_disk_analysis(dataset=ds, cx=8, cy=8, r=5))
        expected = _apply(data, _distance2(8, 8) <= 25)
        np.testing.assert_allclose(np.asarray(res.intensity.raw_data), expected, rtol=1e-6)
        assert res.intensity.visualized.shape == (*NAV, 4)
        total = ctx.run(ctx.create_sum_analysis(dataset=ds))
        np.testing.assert_allclose(np.asarray(total.intensity.raw_data), data.sum(axis=(0, 1)))
        # a lazy run writes too: the export computes its result
        ctx.export_dataset(ds, path=tmp_path / "out.npy")
        np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), data)
    finally:
        ctx.close()


# -- result sets -------------------------------------------------------------------------------
def test_result_set_access_patterns(inline_ctx, data):
    ds = inline_ctx.load("memory", data=data)
    res = inline_ctx.run(
        inline_ctx.create_mask_analysis(factories=[lambda: np.ones(SIG)] * 2, dataset=ds)
    )
    assert len(res) == 2
    assert res.mask_1 is res["mask_1"] is res[1] is res[-1]
    assert [r.key for r in res] == res.keys() == ["mask_0", "mask_1"]
    assert all(isinstance(r, AnalysisResult) for r in res)
    assert repr(res.mask_0) == "<AnalysisResult: mask_0>"
    np.testing.assert_array_equal(np.asarray(res.mask_0), res.mask_0.raw_data)
    assert "mask 0" in str(res.mask_0)
    with pytest.raises(AttributeError, match=r"mask_7.*mask_0, mask_1"):
        _ = res.mask_7
    with pytest.raises(KeyError, match="mask_7"):
        _ = res["mask_7"]
    with pytest.raises(IndexError):
        _ = res[2]
    png = res.mask_0.get_image()
    assert png.read(8) == b"\x89PNG\r\n\x1a\n"


def test_visualized_is_rgba_bytes(inline_ctx, data):
    ds = inline_ctx.load("memory", data=data)
    disk = inline_ctx.run(inline_ctx.create_disk_analysis(dataset=ds))
    total = inline_ctx.run(inline_ctx.create_sum_analysis(dataset=ds))
    for result, shape in (
        (disk.intensity, NAV),
        (disk.intensity_log, NAV),
        (total.intensity, SIG),
        (total.intensity_lin, SIG),
    ):
        image = result.visualized
        assert image.shape == (*shape, 4)
        assert image.dtype == np.uint8
        assert len(np.unique(image.reshape(-1, 4), axis=0)) > 1  # not one flat colour


def test_lazy_results_and_registry():
    from ferrotem.analysis import DiskMaskAnalysis
    from ferrotem.analysis.base import Analysis

    made = []

    def results():
        made.append(1)
        return [AnalysisResult(raw_data=1, visualized=lambda: 2, title="t", desc="d", key="k")]

    res = AnalysisResultSet(results)
    assert not made
    assert res.k.visualized == 2
    assert made == [1]
    assert Analysis.get_analysis_by_type("APPLY_DISK_MASK") is DiskMaskAnalysis
    with pytest.raises(ValueError, match="id_: got 'NOPE'"):
        Analysis.get_analysis_by_type("NOPE")


# -- bad parameters ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda c, d: c.create_disk_analysis(d, r=-1), "r: got -1"),
        (lambda c, d: c.create_disk_analysis(d, cx=float("nan")), "cx: got nan"),
        (lambda c, d: c.create_ring_analysis(d, ri=6, ro=3), "ri: got 6.0.*ro=3.0"),
        (lambda c, d: c.create_ring_analysis(d, ro="5"), "ro: got '5'"),
        (lambda c, d: c.create_point_analysis(d, x=18, y=2), "x: got 18"),
        (lambda c, d: c.create_pick_analysis(d, x=1), "needs exactly x, y"),
        (lambda c, d: c.create_pick_analysis(d, x=1, y=5), "y: got 5"),
        (lambda c, d: c.create_pick_analysis(d, x=1, y=2, z=0), "needs exactly x, y"),
        (lambda c, d: c.create_pick_analysis(d, x=1.5, y=2), "x: got 1.5"),
        (lambda c, d: c.create_radial_fourier_analysis(d, n_bins=0), "n_bins: got 0"),
        (lambda c, d: c.create_radial_fourier_analysis(d, max_order=-1), "max_order: got -1"),
        (lambda c, d: c.create_radial_fourier_analysis(d, ri=3, ro=3), "ro: got 3"),
        (lambda c, d: c.create_com_analysis(d, mask_radius_inner=2), "mask_radius_inner"),
        (lambda c, d: c.create_com_analysis(d, mask_radius=-2), "mask_radius: got -2"),
    ],
)
def test_bad_parameters_raise_value_error(inline_ctx, data, make, match):
    ds = inline_ctx.load("memory", data=data)
    with pytest.raises(ValueError, match=match):
        make(inline_ctx, ds)


def test_wrong_dimensions_raise(inline_ctx):
    ds1 = inline_ctx.load("memory", data=np.zeros((4, 5, 6)), sig_dims=1)
    for make in (
        inline_ctx.create_disk_analysis,
        inline_ctx.create_ring_analysis,
        inline_ctx.create_radial_fourier_analysis,
    ):
        with pytest.raises(ValueError, match="dataset: incompatible, need two signal"):
            make(ds1)
    ds3 = inline_ctx.load("memory", data=np.zeros((2, 2, 2, 4, 4)), sig_dims=2)
    with pytest.raises(ValueError, match="at most two navigation"):
        inline_ctx.create_point_analysis(ds3, x=1, y=1)


def test_run_needs_an_analysis(inline_ctx, data):
    from ferrotem.udf.sum import SumUDF

    with pytest.raises(TypeError, match="job: got SumUDF"):
        inline_ctx.run(SumUDF())
    with pytest.raises(TypeError, match="dataset: got ndarray"):
        inline_ctx.create_sum_analysis(data)


# -- export_dataset ----------------------------------------------------------------------------
def test_export_dataset_round_trip(ctx, tmp_path):
    data = _data(6, dtype=np.uint16)
    ds = ctx.load("memory", data=data, num_partitions=4)
    path = tmp_path / "out.npy"
    ctx.export_dataset(ds, path=path)
    back = np.load(path)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, data)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        ctx.export_dataset(ds, path=path)
    other = ctx.load("memory", data=data[::-1].copy())
    ctx.export_dataset(other, path=str(path), overwrite=True, progress=True)
    np.testing.assert_array_equal(np.load(path), data[::-1])


def test_export_dataset_bakes_in_reshape_and_offset(inline_ctx, tmp_path):
    data = _data(7, dtype=np.float32).reshape((-1, *SIG))
    raw = tmp_path / "in.raw"
    data.tofile(raw)
    ds = inline_ctx.load(
        "raw", path=raw, nav_shape=(3, 9), sig_shape=SIG, dtype="float32", sync_offset=2
    )
    inline_ctx.export_dataset(ds, path=tmp_path / "out.npy")
    back = np.load(tmp_path / "out.npy")
    expected = np.zeros((27, *SIG), dtype=np.float32)
    expected[:28] = data[2:29]
    np.testing.assert_array_equal(back, expected.reshape((3, 9, *SIG)))


def test_export_dataset_bad_arguments(inline_ctx, data, tmp_path):
    ds = inline_ctx.load("memory", data=data)
    with pytest.raises(ValueError, match=r"path: got .*out.txt.*extension '.txt'"):
        inline_ctx.export_dataset(ds, path=tmp_path / "out.txt")
    with pytest.raises(TypeError):
        inline_ctx.export_dataset(ds, tmp_path / "out.npy")  # path is keyword-only, as LiberTEM
    assert not (tmp_path / "out.npy").exists()


# -- LiberTEM-style scripts ----------------------------------------------------------------------
def test_libertem_docs_style_script(tmp_path):
    """A script as LiberTEM's docs write them, with ``libertem`` replaced by ``ferrotem``."""
    frames = _data(8, dtype=np.uint16)
    frames.tofile(tmp_path / "scan.raw")
    script = f"""
import numpy as np
import ferrotem.api as lt

with lt.Context.make_with("inline") as ctx:
    ds = ctx.load("raw", path={str(tmp_path / "scan.raw")!r}, nav_shape={NAV},
                  sig_shape={SIG}, dtype="uint16")
    ring = ctx.create_ring_analysis(dataset=ds, cx=9, cy=8, ri=2, ro=6)
    res = ctx.run(ring, progress=False)
    intensity = res.intensity.raw_data
    picked = ctx.run(ctx.create_pick_analysis(dataset=ds, x=3, y=2))["intensity"].raw_data
    summed = np.asarray(ctx.run(ctx.create_sum_analysis(dataset=ds)).intensity)
"""
    ns: dict = {}
    exec(compile(script, "script.py", "exec"), ns)
    d2 = _distance2(9, 8)
    np.testing.assert_allclose(ns["intensity"], _apply(frames, (d2 > 4) & (d2 <= 36)))
    np.testing.assert_array_equal(ns["picked"], frames[2, 3])
    np.testing.assert_array_equal(ns["summed"], frames.sum(axis=(0, 1)))


# -- shapes, dtypes, partitions and ROIs combined ------------------------------------------------
@st.composite
def _ring_cases(draw):
    nav = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=2)))
    sig = (draw(st.integers(1, 12)), draw(st.integers(1, 12)))
    dtype = draw(st.sampled_from(["u1", "u2", "i4", "f4", "f8", ">u2"]))
    n_frames = int(np.prod(nav))
    partitions = draw(st.integers(1, n_frames))
    roi = draw(st.one_of(st.none(), st.lists(st.booleans(), min_size=n_frames, max_size=n_frames)))
    cx = draw(st.floats(-2, sig[1] + 2, allow_nan=False))
    cy = draw(st.floats(-2, sig[0] + 2, allow_nan=False))
    ro = draw(st.floats(0, 10, allow_nan=False))
    ri = draw(st.floats(0, ro, allow_nan=False))
    seed = draw(st.integers(0, 2**16))
    return nav, sig, dtype, partitions, roi, cx, cy, ri, ro, seed


@settings(max_examples=25, deadline=None, derandomize=True)
@given(case=_ring_cases())
def test_ring_and_sum_agree_with_numpy_on_any_layout(contexts, case):
    nav, sig, dtype, partitions, roi_list, cx, cy, ri, ro, seed = case
    ctx = contexts["inline"]
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 100, size=(*nav, *sig)).astype(dtype)
    roi = None if roi_list is None else np.array(roi_list).reshape(nav)
    ds = ctx.load("memory", data=data, num_partitions=partitions, sig_dims=2)
    y, x = np.mgrid[0 : sig[0], 0 : sig[1]]
    d2 = (y - cy) ** 2 + (x - cx) ** 2
    ring = (d2 > ri * ri) & (d2 <= ro * ro)
    res = ctx.run(ctx.create_ring_analysis(dataset=ds, cx=cx, cy=cy, ri=ri, ro=ro), roi=roi)
    expected = np.einsum("...yx,yx->...", data.astype(np.float64), ring.astype(np.float64))
    inside = np.ones(nav, bool) if roi is None else roi
    np.testing.assert_allclose(res.intensity.raw_data[inside], expected[inside], rtol=1e-6)
    assert np.all(np.isnan(res.intensity.raw_data[~inside]))
    total = ctx.run(ctx.create_sum_analysis(dataset=ds), roi=roi)
    np.testing.assert_allclose(
        total.intensity.raw_data, data[inside].sum(axis=0, dtype=np.float64), rtol=1e-6
    )


# -- a Dask cluster ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster_ctx():
    from ferrotem.executor.dask import DaskJobExecutor, cluster_spec

    spec = cluster_spec(cpus=[0, 1], cudas=[], has_cupy=False, num_service=0)
    ctx = Context(executor=DaskJobExecutor.make_local(spec=spec))
    yield ctx
    ctx.close()


def test_dask_cluster_runs_analyses_and_exports(cluster_ctx, data, tmp_path):
    ctx = cluster_ctx
    ds = ctx.load("memory", data=data, num_partitions=3)
    disk = ctx.run(ctx.create_disk_analysis(dataset=ds, cx=8, cy=8, r=5))
    np.testing.assert_allclose(
        disk.intensity.raw_data, _apply(data, _distance2(8, 8) <= 25), rtol=1e-6
    )
    params = {"cx": 8.5, "cy": 7, "ri": 1, "ro": 7, "n_bins": 2, "max_order": 3}
    radial = ctx.run(ctx.create_radial_fourier_analysis(dataset=ds, **params))
    np.testing.assert_allclose(
        radial.raw_results, _radial_oracle(data, **params), rtol=1e-4, atol=1e-2
    )
    ctx.export_dataset(ds, path=tmp_path / "out.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), data)


def test_code_of_libertem_generated_notebooks(tmp_path, monkeypatch):
    """The cells LiberTEM's GUI writes into notebooks (create, run with progress, save with
    ``np.save``, plot with ``plt.imshow`` of result objects), with ``ferrotem`` for
    ``libertem``."""
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    frames = _data(9)
    np.save(tmp_path / "scan.npy", frames)
    script = """
import numpy as np
import matplotlib.pyplot as plt
import matplotlib.cm as cm
from ferrotem.api import Context
from ferrotem.viz import rgb_from_2dvector, libertem_cyclic

ctx = Context.make_with("inline")
ds = ctx.load("npy", path="scan.npy")
disk_analysis = ctx.create_disk_analysis(dataset=ds, cx=9, cy=8, r=4)
disk_result = ctx.run(disk_analysis, progress=True)
np.save('disk_result.npy', disk_result['intensity'])
plt.figure()
plt.imshow(disk_result['intensity'])
plt.colorbar()
com_analysis = ctx.create_com_analysis(dataset=ds, cx=9, cy=8, mask_radius=6)
com_result = ctx.run(com_analysis, progress=True)
x_centers, y_centers = com_result.field.raw_data
fig, axes = plt.subplots()
axes.imshow(rgb_from_2dvector(x=x_centers, y=y_centers))
for channel in ["field", "magnitude", "divergence", "curl", "x", "y"]:
    np.save(f'com_result_{channel}.npy', com_result[channel].raw_data)
radial_analysis = ctx.create_radial_fourier_analysis(
    dataset=ds, cx=9, cy=8, ri=1, ro=7, n_bins=2, max_order=4
)
radial_result = ctx.run(radial_analysis, progress=True)
plt.imshow(radial_result.dominant_0, cmap=cm.tab20, vmin=0, vmax=20)
plt.imshow(radial_result.phase_0_1.raw_data, cmap=libertem_cyclic)
np.save('radial_result_absolute_0_1.npy', radial_result['absolute_0_1'].raw_data)
plt.close("all")
ctx.close()
"""
    exec(compile(script, "notebook.py", "exec"), {})
    np.testing.assert_allclose(
        np.load(tmp_path / "disk_result.npy"), _apply(frames, _distance2(9, 8) <= 16), rtol=1e-6
    )
    dy, dx = _com_oracle(frames, 9, 8, 6)
    np.testing.assert_allclose(np.load(tmp_path / "com_result_x.npy"), dx, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.load(tmp_path / "com_result_field.npy"), [dx, dy], atol=1e-5)
    expected = _radial_oracle(frames, 9, 8, 1, 7, 2, 4)
    np.testing.assert_allclose(
        np.load(tmp_path / "radial_result_absolute_0_1.npy"), np.abs(expected[0, 1]), rtol=1e-4
    )
