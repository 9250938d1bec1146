"""``FEMUDF`` / ``run_fem`` (ferrotem.udf.FEM) against LiberTEM's definition, written here in
numpy float64: the population standard deviation (``np.std``) of each frame's pixels whose
centre lies within ``rad_out`` of ``center`` but not within ``rad_in``, ``center`` read as
``(y, x)`` (LiberTEM's mask takes ``center[0]`` as the row). Executors, ROIs with empty
partitions, partial-signal tiles, dtypes, 3-D scans, complex data and bad parameters; the
slow test at the end compares with LiberTEM 0.16 itself where ``.venv-libertem`` exists."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from ferrotem.api import Context
from ferrotem.executor.dask import DaskJobExecutor, cluster_spec
from ferrotem.udf.FEM import FEMUDF, run_fem
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
EXECUTORS = ["inline", "threads", "delayed"]


@pytest.fixture(scope="module")
def fem_contexts():
    ctxs = {name: Context.make_with(name) for name in EXECUTORS}
    yield ctxs
    for c in ctxs.values():
        c.close()


@pytest.fixture(params=EXECUTORS)
def any_ctx(request, fem_contexts):
    return fem_contexts[request.param]


def ring_oracle(sig_shape, center, rad_in, rad_out) -> np.ndarray:
    """LiberTEM's ring: outer disk minus inner disk, boundaries on the disks."""
    y, x = np.mgrid[0 : sig_shape[0], 0 : sig_shape[1]]
    d2 = (y - center[0]) ** 2 + (x - center[1]) ** 2
    return (d2 <= rad_out**2) & ~(d2 <= rad_in**2)


def fem_oracle(data, center, rad_in, rad_out, roi=None) -> np.ndarray:
    """float64 standard deviations per frame, NaN where the ROI leaves a frame out."""
    ring = ring_oracle(data.shape[-2:], center, rad_in, rad_out)
    values = data[..., ring]
    values = values.astype(np.complex128 if np.iscomplexobj(values) else np.float64)
    out = np.std(values, axis=-1)
    if roi is not None:
        out = np.where(roi, out, np.nan)
    return out


def rng_data(shape, dtype, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype.kind == "u":
        return rng.integers(0, 60000, shape).astype(dtype)
    if dtype.kind == "c":
        return (rng.normal(5, 2, shape) + 1j * rng.normal(-3, 1, shape)).astype(dtype)
    return (rng.normal(100, 30, shape)).astype(dtype)


def assert_fem_close(actual, expected) -> None:
    assert actual.dtype == np.float32
    # float32 result of a float64 computation: only the final rounding differs
    np.testing.assert_allclose(actual, expected, rtol=2e-7 * 4, atol=0, equal_nan=True)


@pytest.mark.parametrize("dtype", ["u2", ">u2", "f4"])
def test_fem_matches_numpy_with_roi_and_empty_partitions(any_ctx, dtype):
    data = rng_data((6, 5, 17, 19), dtype)
    roi = np.zeros((6, 5), bool)
    roi[0, 1] = roi[1, 4] = roi[4, :] = True  # partitions 1 (rows 2-3) and 3 (row 5) empty
    ds = any_ctx.load("memory", data=data, sig_dims=2, num_partitions=4)
    center, rad_in, rad_out = (8.5, 7), 2.5, 7
    res = any_ctx.run_udf(ds, FEMUDF(center=center, rad_in=rad_in, rad_out=rad_out), roi=roi)
    assert list(res) == ["intensity"]
    assert_fem_close(res["intensity"].data, fem_oracle(data, center, rad_in, rad_out, roi))
    assert res["intensity"].raw_data.shape == (int(roi.sum()),)


def test_fem_on_a_3d_scan(any_ctx):
    data = rng_data((2, 3, 4, 12, 10), "f4", seed=3)
    ds = any_ctx.load("memory", data=data, sig_dims=2, num_partitions=3)
    res = run_fem(any_ctx, ds, center=(5, 4.5), rad_in=1, rad_out=4)
    assert res["intensity"].data.shape == (2, 3, 4)
    assert_fem_close(res["intensity"].data, fem_oracle(data, (5, 4.5), 1, 4))


def test_run_fem_passes_the_roi(inline_ctx):
    data = rng_data((4, 4, 16, 16), "u2", seed=5)
    roi = np.eye(4, dtype=bool)
    ds = inline_ctx.load("memory", data=data, sig_dims=2)
    res = run_fem(inline_ctx, ds, center=(8, 8), rad_in=4, rad_out=6, roi=roi)
    assert_fem_close(res["intensity"].data, fem_oracle(data, (8, 8), 4, 6, roi))


def test_the_centre_is_row_first(inline_ctx):
    """Bright pixels in one corner: only a ring around (y=2, x=13) holds them."""
    data = np.zeros((1, 1, 16, 16), np.float32)
    data[0, 0, 0:5, 11:16] = np.arange(25).reshape(5, 5)
    ds = inline_ctx.load("memory", data=data, sig_dims=2, num_partitions=1)
    on = inline_ctx.run_udf(ds, FEMUDF(center=(2, 13), rad_in=0, rad_out=2))
    off = inline_ctx.run_udf(ds, FEMUDF(center=(13, 2), rad_in=0, rad_out=2))
    assert on["intensity"].data[0, 0] > 1
    assert off["intensity"].data[0, 0] == 0


def test_complex_data_follow_np_std(inline_ctx):
    data = rng_data((3, 4, 9, 9), "c8", seed=2)
    ds = inline_ctx.load("memory", data=data, sig_dims=2)
    res = inline_ctx.run_udf(ds, FEMUDF(center=(4, 4), rad_in=1, rad_out=4))
    assert_fem_close(res["intensity"].data, fem_oracle(data, (4, 4), 1, 4))


@settings(max_examples=25, deadline=None)
@given(
    sig=st.tuples(st.integers(3, 14), st.integers(3, 14)),
    center=st.tuples(st.floats(-2, 15), st.floats(-2, 15)),
    radii=st.tuples(st.floats(0, 8), st.floats(0.5, 12)),
    tile=st.tuples(st.integers(1, 4), st.integers(1, 14), st.integers(1, 14)),
    roi_bits=st.lists(st.booleans(), min_size=6, max_size=6),
    dtype=st.sampled_from(["u2", "f4", "f8"]),
)
def test_fem_property_partial_tiles(fem_contexts, sig, center, radii, tile, roi_bits, dtype):
    """Any ring, any partial-signal tiling and ROI: the same as the whole-frame oracle."""
    inline_ctx = fem_contexts["inline"]
    rad_in, rad_out = min(radii), max(radii)
    ring = ring_oracle(sig, center, rad_in, rad_out)
    if not ring.any():
        ds = inline_ctx.load("memory", data=np.zeros((1, 1, *sig)), sig_dims=2)
        with pytest.raises(ValueError, match="holds no pixel"):
            inline_ctx.run_udf(ds, FEMUDF(center=center, rad_in=rad_in, rad_out=rad_out))
        return
    data = rng_data((2, 3, *sig), dtype, seed=sum(sig))
    roi = np.array(roi_bits).reshape(2, 3)
    tileshape = (tile[0], min(tile[1], sig[0]), min(tile[2], sig[1]))
    ds = inline_ctx.load("memory", data=data, sig_dims=2, num_partitions=2, tileshape=tileshape)
    res = inline_ctx.run_udf(ds, FEMUDF(center=center, rad_in=rad_in, rad_out=rad_out), roi=roi)
    expected = fem_oracle(data, center, rad_in, rad_out, roi)
    # partial tiles combine partial moments: a few float64 roundings more than one pass
    np.testing.assert_allclose(res["intensity"].data, expected, rtol=1e-6, equal_nan=True)


def test_partial_tiles_on_threads_agree(fem_contexts):
    data = rng_data((4, 6, 20, 18), "u2", seed=9)
    out = []
    for name in ("inline", "threads"):
        ctx = fem_contexts[name]
        ds = ctx.load("memory", data=data, sig_dims=2, num_partitions=3, tileshape=(3, 7, 5))
        out.append(ctx.run_udf(ds, FEMUDF(center=(10, 9), rad_in=3, rad_out=8))["intensity"].data)
    np.testing.assert_allclose(out[0], fem_oracle(data, (10, 9), 3, 8), rtol=1e-6)
    np.testing.assert_array_equal(out[0], out[1])


# -- bad parameters --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"center": (8,), "rad_in": 1, "rad_out": 2}, "center"),
        ({"center": "ab", "rad_in": 1, "rad_out": 2}, "center"),
        ({"center": (8, np.nan), "rad_in": 1, "rad_out": 2}, "center"),
        ({"center": (8, 8), "rad_in": -1, "rad_out": 2}, "rad_in"),
        ({"center": (8, 8), "rad_in": 1, "rad_out": np.inf}, "rad_out"),
        ({"center": (8, 8), "rad_in": 3, "rad_out": 2}, "rad_in: got 3, expected <= rad_out"),
        ({"center": (8, 8), "rad_in": 1, "rad_out": "2"}, "rad_out"),
    ],
)
def test_bad_parameters_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FEMUDF(**kwargs)


def test_a_ring_without_pixels_is_refused(inline_ctx):
    ds = inline_ctx.load("memory", data=np.ones((2, 2, 8, 8), np.float32), sig_dims=2)
    with pytest.raises(ValueError, match=r"center, rad_in, rad_out: .* holds no pixel"):
        inline_ctx.run_udf(ds, FEMUDF(center=(40, 40), rad_in=1, rad_out=3))
    with pytest.raises(ValueError, match="holds no pixel"):
        inline_ctx.run_udf(ds, FEMUDF(center=(4, 4), rad_in=2, rad_out=2))


def test_frames_must_be_2d(inline_ctx):
    ds = inline_ctx.load("memory", data=np.ones((2, 2, 8), np.float32), sig_dims=1)
    with pytest.raises(ValueError, match="FEMUDF needs 2-D frames"):
        inline_ctx.run_udf(ds, FEMUDF(center=(4, 4), rad_in=1, rad_out=3))


# -- a local Dask cluster: the three per-frame analysis UDFs in one run --------------------------
@pytest.mark.dist
def test_fem_crystallinity_holography_on_a_dask_cluster(fem_contexts):
    from ferrotem.udf.crystallinity import CrystallinityUDF
    from ferrotem.udf.holography import HoloReconstructUDF

    data = rng_data((3, 4, 16, 16), "u2", seed=4)
    roi = np.ones((3, 4), bool)
    roi[1] = False
    udfs = [
        FEMUDF(center=(8, 8), rad_in=2, rad_out=6),
        CrystallinityUDF(rad_in=1, rad_out=5, real_center=(8, 8), real_rad=2),
        HoloReconstructUDF(out_shape=(8, 8), sb_position=(3, 2), sb_size=2.5),
    ]
    spec = cluster_spec(cpus=[0, 1], cudas=[], has_cupy=False, num_service=0)
    with Context(executor=DaskJobExecutor.make_local(spec=spec)) as cluster:
        ds = cluster.load("memory", data=data, sig_dims=2, num_partitions=3)
        on_cluster = cluster.run_udf(ds, udfs, roi=roi)
    inline = fem_contexts["inline"]
    ds = inline.load("memory", data=data, sig_dims=2, num_partitions=3)
    reference = inline.run_udf(ds, udfs, roi=roi)
    assert_fem_close(on_cluster[0]["intensity"].data, fem_oracle(data, (8, 8), 2, 6, roi))
    for got, ref in zip(on_cluster, reference, strict=True):
        for key in ref:
            np.testing.assert_array_equal(got[key].data, ref[key].data)


# -- LiberTEM 0.16 itself ---------------------------------------------------------------------
LIBERTEM_PY = ROOT / ".venv-libertem" / "bin" / "python"

#: run by LiberTEM's interpreter: reads the cases, writes LiberTEM's results next to them
LIBERTEM_SCRIPT = """
import json, sys, numpy as np
from libertem.api import Context
from libertem.executor.inline import InlineJobExecutor
from libertem.udf.FEM import FEMUDF
from libertem.udf.crystallinity import CrystallinityUDF
work = sys.argv[1]
cases = json.load(open(work + "/cases.json"))
ctx = Context(executor=InlineJobExecutor())
for i, case in enumerate(cases):
    data = np.load(f"{work}/data{i}.npy")
    ds = ctx.load("memory", data=data, sig_dims=2)
    udf = FEMUDF(**case["params"]) if case["udf"] == "fem" else CrystallinityUDF(**case["params"])
    np.save(f"{work}/out{i}.npy", ctx.run_udf(dataset=ds, udf=udf)["intensity"].data)
"""


def libertem_cases(rng):
    """FEM and crystallinity parameters and data LiberTEM 0.16 runs (its masks need a centre
    whose ``np.ogrid`` range gives the frame's size, so centres are integers or halves)."""
    cases = []
    for i in range(12):
        sig = tuple(int(s) for s in rng.integers(8, 24, 2))
        dtype = ["u2", "f4", ">u2"][i % 3]
        data = rng_data((3, 2, *sig), dtype, seed=i)
        r_in = float(rng.integers(0, 4))
        r_out = r_in + float(rng.integers(1, 6)) + 0.5
        center = [float(rng.integers(0, 2 * s) / 2) for s in sig]
        if i % 2 == 0:
            params = {"center": center, "rad_in": r_in, "rad_out": r_out}
            cases.append(("fem", params, data))
        else:
            real = None if i % 4 == 1 else center
            params = {"rad_in": r_in, "rad_out": r_out, "real_center": real, "real_rad": 2.5}
            cases.append(("crystallinity", params, data))
    return cases


@pytest.mark.slow
@pytest.mark.skipif(not LIBERTEM_PY.exists(), reason="needs .venv-libertem (make bench-libertem)")
def test_fem_and_crystallinity_agree_with_libertem(tmp_path, inline_ctx):
    from ferrotem.udf.crystallinity import CrystallinityUDF

    cases = libertem_cases(np.random.default_rng(16))
    for i, (_, _, data) in enumerate(cases):
        np.save(tmp_path / f"data{i}.npy", data)
    (tmp_path / "cases.json").write_text(json.dumps([{"udf": u, "params": p} for u, p, _ in cases]))
    proc = subprocess.run(
        [str(LIBERTEM_PY), "-c", LIBERTEM_SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for i, (udf_name, params, data) in enumerate(cases):
        udf = FEMUDF(**params) if udf_name == "fem" else CrystallinityUDF(**params)
        ds = inline_ctx.load("memory", data=data, sig_dims=2)
        ours = inline_ctx.run_udf(ds, udf)["intensity"].data
        theirs = np.load(tmp_path / f"out{i}.npy")
        assert ours.dtype == theirs.dtype == np.float32
        # LiberTEM rounds in float32 along the way, we only at the end: within an ulp or two
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, err_msg=f"{udf_name} {params}")
