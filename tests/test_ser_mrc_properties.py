"""Property tests of 'ser' and 'mrc': random scans, frame shapes, dtypes, element orders and gaps
(.ser), modes, byte orders and extended headers (.mrc), partitions, sync offsets and ROIs — the
per-frame and per-pixel sums of SumSigUDF and SumUDF against numpy, and the frames read back."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from conftest import assert_close, dataset_shapes, rois
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF
from helpers.mrc_writer import write_mrc
from helpers.ser_writer import write_ser
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def logical(data: np.ndarray, sync_offset: int) -> np.ndarray:
    """The frames as the dataset sees them: stored frame ``f + sync_offset`` at ``f``, zeros
    where there is none."""
    flat = data.reshape(data.shape[0], -1).astype(np.float64)
    out = np.zeros_like(flat)
    n = flat.shape[0]
    for f in range(n):
        s = f + sync_offset
        if 0 <= s < n:
            out[f] = flat[s]
    return out


def check_sums(ctx, ds, frames: np.ndarray, roi, nav, sig):
    total, per_frame = ctx.run_udf(ds, [SumUDF(), SumSigUDF()], roi=roi)
    sel = np.ones(int(np.prod(nav)), bool) if roi is None else roi.reshape(-1)
    assert_close(
        np.asarray(total["intensity"].data).reshape(-1),
        frames[sel].sum(axis=0),
        dtype="f4",
    )
    got = np.asarray(per_frame["intensity"].data).reshape(-1)[sel]
    assert_close(got, frames[sel].sum(axis=1), dtype="f4")


# the session's inline context is shared by all examples: nothing in it changes between them
@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    shapes=dataset_shapes(max_nav_dims=2, max_sig_dims=2),
    dtype=st.sampled_from(["u1", "<u2", "<i4", "<f4", "<f8"]),
    version=st.sampled_from([0x0210, 0x0220]),
    shuffle=st.booleans(),
    gap=st.integers(0, 9),
    partitions=st.integers(1, 4),
    data=st.data(),
)
def test_ser_properties(contexts, shapes, dtype, version, shuffle, gap, partitions, data):
    inline_ctx = contexts["inline"]
    nav, sig = shapes
    n = int(np.prod(nav))
    rng = np.random.default_rng(n * 31 + len(sig))
    frames = (rng.random((n, *sig)) * 200).astype(dtype)
    sync = data.draw(st.integers(-(n - 1), n - 1))
    roi = data.draw(rois(nav))
    order = rng.permutation(n) if shuffle else None
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "p.ser"
        write_ser(path, frames.reshape(*nav, *sig), nav_dims=len(nav), version=version,
                  order=order, gap=gap)  # fmt: skip
        ds = inline_ctx.load("ser", path=path, sync_offset=sync, num_partitions=min(partitions, n))
        assert tuple(ds.shape) == (*nav, *sig)
        check_sums(inline_ctx, ds, logical(frames, sync), roi, nav, sig)


# the session's inline context is shared by all examples: nothing in it changes between them
@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    shapes=dataset_shapes(max_nav_dims=3, max_sig_dims=1),
    mode=st.sampled_from([0, 1, 2, 6, 12]),
    byteorder=st.sampled_from(["<", ">"]),
    nsymbt=st.sampled_from([0, 1, 131, 1024]),
    partitions=st.integers(1, 4),
    data=st.data(),
)
def test_mrc_properties(contexts, shapes, mode, byteorder, nsymbt, partitions, data):
    inline_ctx = contexts["inline"]
    nav, (width,) = shapes
    height = data.draw(st.integers(1, 5))
    n = int(np.prod(nav))
    rng = np.random.default_rng(n * 17 + width)
    kinds = {0: "i1", 1: "i2", 2: "f4", 6: "u2", 12: "f2"}
    frames = (rng.random((n, height, width)) * 100).astype(kinds[mode])
    sync = data.draw(st.integers(-(n - 1), n - 1))
    roi = data.draw(rois(nav))
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "p.mrc"
        write_mrc(path, frames, mode, byteorder=byteorder, nsymbt=nsymbt)
        ds = inline_ctx.load(
            "mrc", path=path, nav_shape=nav, sync_offset=sync, num_partitions=min(partitions, n)
        )
        assert tuple(ds.shape) == (*nav, height, width)
        check_sums(inline_ctx, ds, logical(frames, sync), roi, nav, (height, width))
