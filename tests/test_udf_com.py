"""``CoMUDF`` and the helpers of ``ferrotem.udf.com`` against a float64 numpy oracle: every
result on every executor, ROIs (partitions left empty too), stored dtypes (big-endian and
complex included), zero-intensity frames, regression on a field with known coefficients, scan
rotation and flip on a known field, parameters and their errors, the Python path of
subclasses, corrections, and guessing corrections back from a rotated field."""

from __future__ import annotations

import numpy as np
import pytest
from ferrotem.api import Context
from ferrotem.corrections import CorrectionSet
from ferrotem.executor.dask import DaskJobExecutor, cluster_spec
from ferrotem.udf.com import (
    CoMParams,
    CoMUDF,
    RegressionOptions,
    apply_correction,
    center_shifts,
    com_masks_factory,
    coordinate_check,
    curl_2d,
    divergence,
    guess_corrections,
    magnitude,
)
from ferrotem.udf.native import native_descriptor
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SIG = (16, 20)
NAV_RESULTS = ("raw_com", "raw_shifts", "field", "field_y", "field_x")
DERIVED = ("magnitude", "divergence", "curl")


# -- the oracle -------------------------------------------------------------------------------
def oracle(data, cy=None, cx=None, r=np.inf, ri=0.0, scan_rotation=0.0, flip_y=False,
           regression=-1, roi=None):  # fmt: skip
    """Every result of CoMUDF in float64 (complex128), NaN outside the ROI, written out from
    the definitions: moments over the disk/ring, shift 0 where the masked sum is 0, flip then
    rotate, regression over the ROI, ``np.gradient`` for divergence and curl."""
    nav, (sy, sx) = data.shape[:2], data.shape[2:]
    cy = sy // 2 if cy is None else cy
    cx = sx // 2 if cx is None else cx
    yy, xx = np.mgrid[0:sy, 0:sx].astype(np.float64)
    d2 = (yy - cy) ** 2 + (xx - cx) ** 2
    sel = d2 <= r**2
    if ri:
        sel &= d2 > ri**2
    wide = np.complex128 if np.iscomplexobj(data) else np.float64
    frames = data.astype(wide)
    s = np.einsum("abyx,yx->ab", frames, sel.astype(np.float64))
    my = np.einsum("abyx,yx->ab", frames, yy * sel)
    mx = np.einsum("abyx,yx->ab", frames, xx * sel)
    safe = np.where(s == 0, 1, s)
    shift = np.stack([np.where(s == 0, 0, my / safe - cy), np.where(s == 0, 0, mx / safe - cx)], -1)
    valid = np.ones(nav, bool) if roi is None else roi
    shift = np.where(valid[..., None], shift, np.nan)
    fy = -shift[..., 0] if flip_y else shift[..., 0]
    a = np.deg2rad(scan_rotation)
    field = np.stack([np.cos(a) * fy + np.sin(a) * shift[..., 1],
                      -np.sin(a) * fy + np.cos(a) * shift[..., 1]], -1)  # fmt: skip
    iy, ix = np.mgrid[0 : nav[0], 0 : nav[1]]
    design = np.stack([np.ones(nav), iy, ix], -1)
    if isinstance(regression, np.ndarray):
        reg = regression.astype(np.float64)
    elif regression == 0 and valid.any():
        reg = np.zeros((3, 2))
        reg[0] = np.real(field[valid].mean(axis=0))
    elif regression == 1 and valid.any():
        reg = np.real(np.linalg.lstsq(design[valid], field[valid], rcond=None)[0])
    else:
        reg = np.zeros((3, 2))
    field = field - np.where(valid[..., None], design @ reg, 0)

    def grad(a, axis):  # a scan of one row or column does not vary across it
        return np.gradient(a, axis=axis) if a.shape[axis] > 1 else np.zeros_like(a)

    out = {
        "raw_shifts": shift,
        "raw_com": shift + np.array([cy, cx]),
        "field": field,
        "field_y": field[..., 0],
        "field_x": field[..., 1],
        "magnitude": np.sqrt(field[..., 0] ** 2 + field[..., 1] ** 2),
        "divergence": grad(field[..., 0], 0) + grad(field[..., 1], 1),
        "curl": grad(field[..., 0], 1) - grad(field[..., 1], 0),
    }
    # results exist at the selected positions only (a central difference may straddle a
    # position outside the ROI; LiberTEM leaves those NaN too)
    out = {k: np.where(valid.reshape(nav + (1,) * (v.ndim - 2)), v, np.nan) for k, v in out.items()}
    out["regression"] = reg
    return out


def check_all(res, want, rtol=1e-5, names=None) -> None:
    for name in names or want:
        got = np.asarray(res[name].data)
        exp = want[name]
        assert got.shape == exp.shape, (name, got.shape, exp.shape)
        scale = np.nanmax(np.abs(exp)) if np.isfinite(exp).any() else 1.0
        np.testing.assert_allclose(
            got, exp, rtol=rtol, atol=rtol * max(scale, 1.0), equal_nan=True, err_msg=name
        )


class PythonCoMUDF(CoMUDF):
    """The Python path of the same UDF (an override disables the native one)."""

    def process_tile(self, tile):
        super().process_tile(tile)


@pytest.fixture(scope="module")
def cluster_ctx():
    spec = cluster_spec(cpus=[0, 1], cudas=[], has_cupy=False, num_service=0)
    ctx = Context(executor=DaskJobExecutor.make_local(spec=spec))
    yield ctx
    ctx.close()


@pytest.fixture(scope="module")
def all_contexts(contexts):
    delayed = Context.make_with("delayed")
    yield {**contexts, "delayed": delayed}
    delayed.close()


def u16_data(seed=1, nav=(6, 5)):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 4000, size=(*nav, *SIG)).astype(np.uint16)


# -- every executor, ROIs ---------------------------------------------------------------------
PARAMS = [
    {},
    {"cy": 7.3, "cx": 9.6, "r": 5.5},
    {"cy": 8, "cx": 10, "r": 7, "ri": 2.5, "scan_rotation": 33.0, "flip_y": True},
    {"cy": 8, "cx": 9, "r": 6, "regression": 1, "scan_rotation": -20.0},
]


@pytest.mark.parametrize("executor", ["inline", "threads", "delayed"])
@pytest.mark.parametrize("params", PARAMS, ids=range(len(PARAMS)))
def test_every_executor_with_roi(all_contexts, executor, params):
    ctx = all_contexts[executor]
    data = u16_data()
    roi = np.random.default_rng(2).random((6, 5)) < 0.6
    ds = ctx.load("memory", data=data, num_partitions=3)
    for r in (None, roi):
        res = ctx.run_udf(dataset=ds, udf=CoMUDF.with_params(**params), roi=r)
        check_all(res, oracle(data, roi=r, **params))
        assert res["field"].data.dtype == np.float32
        assert res["regression"].data.dtype == np.float64


def test_dask_cluster_with_roi_leaving_partitions_empty(cluster_ctx):
    data = u16_data(3)
    roi = np.zeros((6, 5), bool)
    roi[4:, 1:4] = True  # the first partitions have nothing to do
    ds = cluster_ctx.load("memory", data=data, num_partitions=3)
    params = {"cy": 7.5, "cx": 9.5, "r": 6.0, "regression": 0}
    res = cluster_ctx.run_udf(dataset=ds, udf=CoMUDF.with_params(**params), roi=roi)
    check_all(res, oracle(data, roi=roi, **params))
    assert res["raw_com"].raw_data.shape == (roi.sum(), 2)
    assert res["curl"].raw_data.shape == (roi.sum(),)


def test_roi_leaving_partitions_empty_and_an_empty_roi(ctx):
    data = u16_data(4)
    ds = ctx.load("memory", data=data, num_partitions=4)
    roi = np.zeros((6, 5), bool)
    roi[0, 0] = roi[5, 4] = True
    res = ctx.run_udf(dataset=ds, udf=CoMUDF.with_params(r=5, regression=1), roi=roi)
    check_all(res, oracle(data, r=5, regression=1, roi=roi))
    none = np.zeros((6, 5), bool)
    res = ctx.run_udf(dataset=ds, udf=CoMUDF.with_params(regression=1), roi=none)
    assert np.isnan(res["raw_com"].data).all()
    assert np.array_equal(res["regression"].data, np.zeros((3, 2)))


# -- dtypes -----------------------------------------------------------------------------------
@pytest.mark.parametrize("stored", ["u1", "u2", ">u2", "i4", "f4", ">f4", "f8", "c8"])
def test_stored_dtypes(ctx, stored):
    rng = np.random.default_rng(5)
    data = (rng.random((4, 5, *SIG)) * 200).astype(stored)
    if np.dtype(stored).kind == "i":
        data -= 20  # negative values too
    if np.dtype(stored).kind == "c":
        data = data + 1j * (rng.random(data.shape) * 50).astype(stored)
    ds = ctx.load("memory", data=data)
    params = {"cy": 7.2, "cx": 10.1, "r": 6.5, "scan_rotation": 12.0}
    res = ctx.run_udf(dataset=ds, udf=CoMUDF.with_params(**params))
    input_dtype = np.result_type(np.dtype(stored).newbyteorder("="), np.float32)
    want_dtype = np.result_type(input_dtype, np.float32)
    for name in (*NAV_RESULTS, *DERIVED):
        assert res[name].data.dtype == want_dtype, name
    rtol = 1e-5 if want_dtype.itemsize <= 8 else 1e-11
    check_all(res, oracle(data, **params), rtol=rtol)


def test_native_and_python_paths_agree(ctx):
    data = u16_data(6)
    ds = ctx.load("memory", data=data)
    params = {"cy": 8.5, "cx": 9.5, "r": 7.0, "ri": 2.0, "regression": 1}
    native = CoMUDF.with_params(**params)
    python = PythonCoMUDF.with_params(**params)
    a, b = ctx.run_udf(dataset=ds, udf=[native, python])
    for name in a:
        np.testing.assert_allclose(a[name].data, b[name].data, rtol=1e-6, err_msg=name)
    assert native_descriptor(native) is not None and native_descriptor(native).name == "com"
    assert native_descriptor(python) is None


def test_frames_larger_than_a_tile_both_paths(inline_ctx):
    """768x700 float32 frames (2 MiB) arrive in pixel ranges: moments add up across them."""
    rng = np.random.default_rng(7)
    data = (rng.random((2, 2, 768, 700)) * 100).astype(np.float32)
    ds = inline_ctx.load("memory", data=data)
    params = {"cy": 400.5, "cx": 300.25, "r": 250.0}
    want = oracle(data, **params)
    for cls in (CoMUDF, PythonCoMUDF):
        res = inline_ctx.run_udf(dataset=ds, udf=cls.with_params(**params))
        check_all(res, want, names=NAV_RESULTS)


def test_fused_with_sum_and_sumsig_in_one_run(ctx):
    data = u16_data(8)
    ds = ctx.load("memory", data=data)
    s, ss, c = ctx.run_udf(dataset=ds, udf=[SumUDF(), SumSigUDF(), CoMUDF.with_params(r=6)])
    np.testing.assert_allclose(s["intensity"].data, data.sum(axis=(0, 1), dtype=float), 1e-6)
    np.testing.assert_allclose(ss["intensity"].data, data.sum(axis=(2, 3), dtype=float), 1e-6)
    check_all(c, oracle(data, r=6))


def test_corrections_apply_before_the_moments(ctx):
    rng = np.random.default_rng(9)
    data = u16_data(9)
    dark = (rng.random(SIG) * 30).astype(np.float32)
    gain = (0.5 + rng.random(SIG)).astype(np.float32)
    ds = ctx.load("memory", data=data)
    corrected = (data.astype(np.float32) - dark) * gain
    params = {"cy": 8.0, "cx": 9.0, "r": 6.0}
    res = ctx.run_udf(
        dataset=ds,
        udf=CoMUDF.with_params(**params),
        corrections=CorrectionSet(dark=dark, gain=gain),
    )
    check_all(res, oracle(corrected.astype(np.float64), **params), rtol=1e-4)


# -- defined values ---------------------------------------------------------------------------
def test_zero_intensity_frames_have_zero_shift(ctx):
    data = u16_data(10)
    data[0, 0] = 0  # a dark frame
    data[2, 3] = 0
    data[2, 3, 0, 0] = 500  # intensity only outside the disk
    ds = ctx.load("memory", data=data)
    udf = CoMUDF.with_params(cy=8.0, cx=10.0, r=4.0, regression=1)
    res = ctx.run_udf(dataset=ds, udf=udf)
    for pos in ((0, 0), (2, 3)):
        assert np.array_equal(res["raw_shifts"].data[pos], [0.0, 0.0])
        assert np.array_equal(res["raw_com"].data[pos], [8.0, 10.0])
    for name in (*NAV_RESULTS, *DERIVED):
        assert np.isfinite(res[name].data).all(), name
    check_all(res, oracle(data, cy=8.0, cx=10.0, r=4.0, regression=1))
    sy, sx = center_shifts(np.array([0.0, 2.0]), np.array([5.0, 6.0]), np.array([1.0, 8.0]), 1, 2)
    assert np.array_equal(sy, [0.0, 2.0]) and np.array_equal(sx, [0.0, 2.0])


def test_scan_of_one_row_has_defined_derivatives(ctx):
    data = u16_data(11, nav=(1, 7))
    ds = ctx.load("memory", data=data)
    res = ctx.run_udf(dataset=ds, udf=CoMUDF.with_params(r=6))
    want = oracle(data[:, :, :, :], r=6)
    check_all(res, want, names=NAV_RESULTS)
    fy, fx = want["field_y"], want["field_x"]
    # nothing varies across a single row: only the x derivatives remain
    np.testing.assert_allclose(res["divergence"].data, np.gradient(fx, axis=1), rtol=1e-5)
    np.testing.assert_allclose(res["curl"].data, np.gradient(fy, axis=1), rtol=1e-5)


@pytest.mark.parametrize("nav", [(30,), (2, 3, 5)])
def test_scans_that_are_not_2d_are_refused(inline_ctx, nav):
    ds = inline_ctx.load("memory", data=np.ones((*nav, *SIG), np.float32), sig_dims=2)
    with pytest.raises(ValueError, match="2-D scan"):
        inline_ctx.run_udf(dataset=ds, udf=CoMUDF())


# -- regression, rotation, flip ---------------------------------------------------------------
def spot_frames(shift_y, shift_x, cy=8.0, cx=8.0, sig=(16, 16)) -> np.ndarray:
    """float64 frames whose whole-frame centre of mass is ``(cy + shift_y, cx + shift_x)``
    exactly: a spot spread bilinearly over four pixels."""
    nav = shift_y.shape
    out = np.zeros((*nav, *sig))
    ty, tx = cy + shift_y, cx + shift_x
    y0, x0 = np.floor(ty).astype(int), np.floor(tx).astype(int)
    wy, wx = ty - y0, tx - x0
    for idx in np.ndindex(nav):
        for dy, fy in ((0, 1 - wy[idx]), (1, wy[idx])):
            for dx, fx in ((0, 1 - wx[idx]), (1, wx[idx])):
                out[(*idx, y0[idx] + dy, x0[idx] + dx)] += fy * fx
    return out


COEFFS = np.array([[0.5, -0.3], [0.25, 0.05], [-0.1, 0.2]])  # [[y, x], [d/dy], [d/dx]]


def linear_field(nav=(6, 7)):
    iy, ix = np.mgrid[0 : nav[0], 0 : nav[1]]
    design = np.stack([np.ones(nav), iy, ix], -1)
    shifts = design @ COEFFS
    return shifts, spot_frames(shifts[..., 0], shifts[..., 1])


@pytest.mark.parametrize("regression", [-1, 0, 1, RegressionOptions.SUBTRACT_LINEAR, "array"])
def test_regression_on_a_known_linear_field(ctx, regression):
    shifts, data = linear_field()
    ds = ctx.load("memory", data=data)
    roi = np.ones((6, 7), bool)
    roi[::2, 1::3] = False
    reg_param = COEFFS if regression == "array" else regression
    for r in (None, roi):
        res = ctx.run_udf(dataset=ds, udf=CoMUDF.with_params(regression=reg_param), roi=r)
        np.testing.assert_allclose(res["raw_shifts"].raw_data, shifts[r if r is not None else ...]
                                   .reshape(-1, 2), atol=1e-12)  # fmt: skip
        reg = res["regression"].data
        field = res["field"].data
        sel = np.ones((6, 7), bool) if r is None else r
        if regression == -1:
            assert np.array_equal(reg, np.zeros((3, 2)))
            np.testing.assert_allclose(field[sel], shifts[sel], atol=1e-12)
        elif regression == 0:
            mean = shifts[sel].mean(axis=0)
            np.testing.assert_allclose(reg, [mean, [0, 0], [0, 0]], atol=1e-12)
            np.testing.assert_allclose(field[sel], shifts[sel] - mean, atol=1e-12)
        else:  # the fit finds the coefficients the field was made with; nothing remains
            np.testing.assert_allclose(reg, COEFFS, atol=1e-10)
            np.testing.assert_allclose(field[sel], 0, atol=1e-10)
            div = res["divergence"].data[sel]  # NaN next to positions outside the ROI
            assert np.isfinite(div).all() if r is None else np.isfinite(div).any()
            np.testing.assert_allclose(div[np.isfinite(div)], 0, atol=1e-9)


def test_scan_rotation_and_flip_on_a_known_field(ctx):
    nav = (3, 4)
    shifts = np.zeros((*nav, 2))
    shifts[..., 0] = 1.0  # one pixel down
    data = spot_frames(shifts[..., 0], shifts[..., 1])
    ds = ctx.load("memory", data=data)
    # rotating (1, 0) by +90 degrees gives (0, -1); flipping y gives (-1, 0); both: (0, 1)
    for rot, flip, want in [(90, False, (0, -1)), (0, True, (-1, 0)), (90, True, (0, 1)),
                            (45, False, (np.sqrt(0.5), -np.sqrt(0.5)))]:  # fmt: skip
        res = ctx.run_udf(dataset=ds, udf=CoMUDF.with_params(scan_rotation=rot, flip_y=flip))
        np.testing.assert_allclose(res["field"].data, np.broadcast_to(want, (*nav, 2)), atol=1e-6)
        np.testing.assert_allclose(res["raw_shifts"].data, shifts, atol=1e-6)
        np.testing.assert_allclose(res["magnitude"].data, 1.0, rtol=1e-6)


def test_apply_correction_round_trip_and_helpers():
    rng = np.random.default_rng(12)
    y, x = rng.random((2, 5, 6))
    fy, fx = apply_correction(y, x, scan_rotation=37.0, flip_y=True)
    by, bx = apply_correction(fy, fx, scan_rotation=37.0, flip_y=True, forward=False)
    np.testing.assert_allclose(by, y, atol=1e-12)
    np.testing.assert_allclose(bx, x, atol=1e-12)
    np.testing.assert_allclose(magnitude(fy, fx), np.hypot(y, x), rtol=1e-12)
    iy, ix = np.mgrid[0:5, 0:6].astype(float)
    # field (2y, 3x): divergence 5, curl 0; field (x, -y): divergence 0, curl 2
    np.testing.assert_allclose(divergence(2 * iy, 3 * ix), 5.0)
    np.testing.assert_allclose(curl_2d(2 * iy, 3 * ix), 0.0)
    np.testing.assert_allclose(divergence(ix, -iy), 0.0)
    np.testing.assert_allclose(curl_2d(ix, -iy), 2.0)
    masks = [f() for f in com_masks_factory(4, 5, 1.5, 2.0, 1.2)]
    yy, xx = np.mgrid[0:4, 0:5]
    disk = (yy - 1.5) ** 2 + (xx - 2.0) ** 2 <= 1.44
    assert np.array_equal(masks[0], disk)
    assert np.array_equal(masks[1], yy * disk) and np.array_equal(masks[2], xx * disk)


def test_guess_corrections_recovers_rotation_and_flip():
    """A field pointing towards 'atoms' (negative divergence there), no curl; measured with a
    detector rotated by 30 degrees and flipped: the guess undoes both."""
    iy, ix = np.mgrid[0:24, 0:24].astype(float)
    phi = sum(np.exp(-((iy - cy) ** 2 + (ix - cx) ** 2) / 8.0)
              for cy in (5, 12, 19) for cx in (5, 12, 19))  # fmt: skip
    true_y, true_x = np.gradient(phi, axis=0), np.gradient(phi, axis=1)
    assert divergence(true_y, true_x)[12, 12] < 0
    meas_y, meas_x = apply_correction(true_y, true_x, scan_rotation=30, flip_y=True, forward=False)
    guess = guess_corrections(meas_y + 0.1, meas_x - 0.2)
    assert guess.scan_rotation == 30 and guess.flip_y is True
    np.testing.assert_allclose([guess.cy, guess.cx], [0.1, -0.2], atol=0.05)
    straight, flipped = coordinate_check(meas_y, meas_x)
    assert straight.shape == flipped.shape == (360,)
    assert np.argmin(flipped) in (30, 210) and flipped.min() < straight.min()
    assert isinstance(CoMUDF.with_params(**guess._asdict()), CoMUDF)


# -- parameters -------------------------------------------------------------------------------
def test_with_params_and_get_params_round_trip(inline_ctx):
    ds = inline_ctx.load("memory", data=np.ones((3, 4, *SIG), np.float32))
    reg = np.arange(6.0).reshape(3, 2) / 100
    udf = CoMUDF.with_params(cy=3.5, r=6.0, ri=1.0, scan_rotation=10.0, flip_y=True, regression=reg)
    inline_ctx.run_udf(dataset=ds, udf=udf)
    got = udf.get_params()
    assert got._replace(regression=None) == CoMParams(
        cy=3.5, cx=SIG[1] // 2, r=6.0, ri=1.0, scan_rotation=10.0, flip_y=True, regression=None
    )
    assert got.regression is reg
    again = CoMUDF(got)
    inline_ctx.run_udf(dataset=ds, udf=again)
    assert again.get_params() == got
    default = CoMUDF()
    inline_ctx.run_udf(dataset=ds, udf=default)
    assert default.get_params() == CoMParams(cy=SIG[0] // 2, cx=SIG[1] // 2)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"r": -1.0}, "r"),
        ({"r": 0.0}, "r"),
        ({"r": float("nan")}, "r"),
        ({"r": 3.0, "ri": 5.0}, "ri"),
        ({"r": 3.0, "ri": 3.0}, "ri"),
        ({"ri": -1.0}, "ri"),
        ({"regression": 5}, "regression"),
        ({"regression": np.zeros((2, 2))}, "regression"),
        ({"regression": "linear"}, "regression"),
        ({"cx": float("nan")}, "cx"),
        ({"cy": "middle"}, "cy"),
        ({"scan_rotation": float("inf")}, "scan_rotation"),
        ({"flip_y": "yes"}, "flip_y"),
    ],
)
def test_bad_parameters_name_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name}: "):
        CoMUDF.with_params(**kwargs)
    with pytest.raises(ValueError, match=rf"^{name}: "):
        CoMUDF(CoMParams(**kwargs))


def test_com_params_must_be_com_params():
    with pytest.raises(TypeError, match="com_params"):
        CoMUDF({"r": 3})  # type: ignore[arg-type]


# -- properties -------------------------------------------------------------------------------
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    nav=st.tuples(st.integers(1, 5), st.integers(2, 6)),
    sig=st.tuples(st.integers(3, 12), st.integers(3, 12)),
    partitions=st.integers(1, 4),
    roi_seed=st.one_of(st.none(), st.integers(0, 2**16)),
    cy=st.floats(-2, 12),
    cx=st.floats(-2, 12),
    r=st.floats(0.5, 20),
    ri_frac=st.sampled_from([0.0, 0.3, 0.7]),
    regression=st.sampled_from([-1, 0, 1]),
)
def test_property_against_the_oracle(
    inline_ctx, nav, sig, partitions, roi_seed, cy, cx, r, ri_frac, regression
):
    rng = np.random.default_rng(roi_seed or 0)
    data = rng.integers(0, 50, size=(*nav, *sig)).astype(np.uint16)
    roi = None if roi_seed is None else rng.random(nav) < 0.7
    ds = inline_ctx.load("memory", data=data, num_partitions=min(partitions, nav[0] * nav[1]))
    params = {"cy": cy, "cx": cx, "r": r, "ri": ri_frac * r, "regression": regression}
    res = inline_ctx.run_udf(dataset=ds, udf=CoMUDF.with_params(**params), roi=roi)
    want = oracle(data, roi=roi, **params)
    names = NAV_RESULTS + (("magnitude",) if nav[0] == 1 else DERIVED)
    check_all(res, want, rtol=1e-4, names=names)


class DoubledMagnitudeCoMUDF(CoMUDF):
    """Overrides only a derived-result hook, as LiberTEM-iCoM does: stays native."""

    def get_field_results(self, field_y, field_x):
        out = super().get_field_results(field_y, field_x)
        out["magnitude"] = 2 * out["magnitude"]
        return out


def test_overriding_a_derived_result_hook_keeps_the_native_path(inline_ctx):
    data = u16_data(13)
    ds = inline_ctx.load("memory", data=data)
    plain, doubled = CoMUDF.with_params(r=6), DoubledMagnitudeCoMUDF.with_params(r=6)
    a, b = inline_ctx.run_udf(dataset=ds, udf=[plain, doubled])
    assert native_descriptor(doubled) is not None
    np.testing.assert_allclose(b["magnitude"].data, 2 * a["magnitude"].data, rtol=1e-6)
    np.testing.assert_array_equal(b["field"].data, a["field"].data)


def test_run_udf_iter_gives_partial_then_final_results(ctx):
    """Results after every merged partition: regression over the positions merged so far,
    the last one as run_udf's."""
    data = u16_data(14)
    ds = ctx.load("memory", data=data, num_partitions=3)
    params = {"cy": 8.0, "cx": 9.0, "r": 6.0, "regression": 1}
    seen = 0
    for part in ctx.run_udf_iter(dataset=ds, udf=CoMUDF.with_params(**params)):
        seen += 1
        res = part.buffers[0]  # read now: the run goes on after this step
        merged = np.asarray(part.damage.data, dtype=bool)
        want = oracle(data, roi=merged, **params)  # the fit sees the merged positions only
        np.testing.assert_allclose(res["regression"].data, want["regression"], atol=1e-5)
        for name in ("raw_com", "field"):
            np.testing.assert_allclose(res[name].data[merged], want[name][merged], rtol=1e-5)
    assert seen >= 1 and merged.all()
    check_all(res, oracle(data, **params))


def test_ri_none_is_a_full_disk(inline_ctx):
    data = u16_data(15)
    ds = inline_ctx.load("memory", data=data)
    a = inline_ctx.run_udf(dataset=ds, udf=CoMUDF(CoMParams(cy=8.0, cx=9.0, r=5.0, ri=None)))
    check_all(a, oracle(data, cy=8.0, cx=9.0, r=5.0))
