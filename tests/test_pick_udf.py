"""``PickUDF``: the ROI's frames, unchanged, on every executor (numpy indexing as the oracle)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from ferrotem.api import Context
from ferrotem.udf.raw import PickUDF

EXECUTORS = ["inline", "threads", "delayed"]


@pytest.fixture(scope="module")
def pick_contexts():
    ctxs = {name: Context.make_with(name) for name in EXECUTORS}
    yield ctxs
    for c in ctxs.values():
        c.close()


@pytest.fixture(params=EXECUTORS)
def any_ctx(request, pick_contexts):
    return pick_contexts[request.param]


@pytest.mark.parametrize("dtype", ["u2", ">u2", "f4", "i1"])
@pytest.mark.parametrize("which", ["one", "scattered", "all"])
def test_pick_returns_the_selected_frames(any_ctx, dtype, which):
    rng = np.random.default_rng(7)
    data = rng.integers(-100, 30000, (5, 6, 9, 7)).astype(np.int64).astype(dtype)
    roi = np.zeros((5, 6), bool)
    if which == "one":
        roi[3, 4] = True
    elif which == "scattered":
        roi[0, 1] = roi[2, 5] = roi[4, 0] = True  # frames in different partitions
    else:
        roi[:] = True
    ds = any_ctx.load("memory", data=data, sig_dims=2, num_partitions=3)
    res = any_ctx.run_udf(ds, PickUDF(), roi=roi)
    picked = np.asarray(res["intensity"].raw_data)
    # the stored kind, delivered in native byte order as every tile is
    assert picked.dtype == np.dtype(dtype).newbyteorder("=")
    assert np.array_equal(picked, data[roi])


def test_pick_without_roi_is_every_frame(inline_ctx):
    data = np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4)
    ds = inline_ctx.load("memory", data=data, sig_dims=2)
    res = inline_ctx.run_udf(ds, PickUDF())
    assert np.array_equal(res["intensity"].data, data.reshape(6, 4, 4))


def test_a_large_pick_warns(inline_ctx, caplog, monkeypatch):
    import ferrotem.udf.raw as raw

    monkeypatch.setattr(raw, "PICK_WARN_BYTES", 100)
    ds = inline_ctx.load("memory", data=np.zeros((2, 2, 8, 8), np.float32), sig_dims=2)
    with caplog.at_level(logging.WARNING, logger="ferrotem.udf.raw"):
        inline_ctx.run_udf(ds, PickUDF())
    assert "PickUDF gathers 1024 bytes" in caplog.text
