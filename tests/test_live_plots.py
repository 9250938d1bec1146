"""Live plots (``ferrotem.viz``), ``run_udf(plots=...)``, the async run API and
``Context.display``.

The oracle is numpy: the image a plot holds after a run equals the result computed here, and
while the run goes on the image shows exactly the merged frames (the rest masked), with one
update per merged partition (fewer when throttled by ``min_delta``) and a forced one at the end.
"""

from __future__ import annotations

import asyncio
import importlib.util
import io
import math

import matplotlib

matplotlib.use("Agg")  # headless: draws, shows nothing

import distributed
import matplotlib.pyplot as plt
import numpy as np
import pytest
from conftest import make_data
from ferrotem.api import Context, ResultAsyncGenerator
from ferrotem.executor.dask import DaskJobExecutor
from ferrotem.io.dataset.memory import MemoryDataSet
from ferrotem.udf.base import UDF
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF
from ferrotem.viz import (
    encode_image,
    get_plottable_2D_channels,
    rgb_from_2dvector,
    visualize_simple,
)
from ferrotem.viz.base import Dummy2DPlot, Live2DPlot, _get_stat_limits
from ferrotem.viz.bqp import BQLive2DPlot
from ferrotem.viz.gms import GMSLive2DPlot
from ferrotem.viz.mpl import MPLLive2DPlot
from hypothesis import given
from hypothesis import strategies as st

NAV, SIG = (6, 5), (4, 3)
N_PARTS = 3  # 30 frames: partitions of 10 (two scan rows each)


class RecordingPlot(Live2DPlot):
    """Keeps every image and damage it is given; ``made`` lists the plots of a run."""

    made: list[RecordingPlot] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.updates: list[tuple[np.ma.MaskedArray, np.ndarray, bool]] = []
        self.displayed = 0
        RecordingPlot.made.append(self)

    def update(self, damage, force=False):
        self.updates.append((np.ma.copy(self.data), np.array(damage), force))

    def display(self):
        self.displayed += 1


@pytest.fixture(autouse=True)
def _fresh_plots():
    RecordingPlot.made = []
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def data():
    return make_data(3, NAV + SIG, np.float32)


def _ds(ctx, data, parts=N_PARTS):
    return ctx.load("memory", data=data, num_partitions=parts)


def _sumsig(data):
    return data.sum(axis=(2, 3), dtype=np.float64)


class FrameMaxUDF(UDF):
    """A nav result (frame maxima) and a 1-D result (column sums): one image, one not."""

    def get_result_buffers(self):
        return {
            "fmax": self.buffer(kind="nav", dtype=np.float32),
            "cols": self.buffer(kind="single", dtype=np.float64, extra_shape=(SIG[1],)),
            "hidden": self.buffer(kind="single", dtype=np.float64, use="private"),
        }

    def process_frame(self, frame):
        self.results.fmax[:] = frame.max()
        self.results.cols[:] += frame.sum(axis=0)

    def merge(self, dest, src):
        dest.fmax[:] = src.fmax
        dest.cols[:] += src.cols

    def get_results(self):
        return {"fmax": self.results.fmax, "cols": self.results.cols}


class NoImageUDF(UDF):
    def get_result_buffers(self):
        return {"total": self.buffer(kind="single", dtype=np.float64)}

    def process_frame(self, frame):
        self.results.total[:] += frame.sum()

    def merge(self, dest, src):
        dest.total[:] += src.total


def _frames_merged(damage: np.ndarray) -> int:
    return int(np.count_nonzero(damage))


def check_nav_plot_history(plot, expected, roi=None, n_parts=N_PARTS):
    """Every update shows the merged frames' values and masks the rest; the computed area only
    grows; the run ends with a forced update holding the whole result."""
    selected = np.ones(expected.shape, bool) if roi is None else roi
    previous = 0
    for image, damage, _force in plot.updates:
        mask = np.ma.getmaskarray(image)
        np.testing.assert_array_equal(mask, ~damage)
        assert not np.any(damage & ~selected)
        np.testing.assert_allclose(image.data[damage], expected[damage], rtol=1e-5)
        assert _frames_merged(damage) >= previous
        previous = _frames_merged(damage)
    final, damage, force = plot.updates[-1]
    assert force
    np.testing.assert_array_equal(damage, selected)
    np.testing.assert_allclose(final.data[selected], expected[selected], rtol=1e-5)
    np.testing.assert_allclose(np.ma.getdata(plot.data)[selected], expected[selected], rtol=1e-5)
    # one update per merged partition, and the forced one
    assert len(plot.updates) == n_parts + 1


# -- plots=True ----------------------------------------------------------------------------------
def test_plots_true_makes_one_plot_per_image_and_ends_on_the_result(ctx, data):
    ds = _ds(ctx, data)
    udfs = [SumUDF(), SumSigUDF(), FrameMaxUDF()]
    res = ctx.run_udf(ds, udfs, plots=True, plot_class=RecordingPlot)
    plots = RecordingPlot.made
    # the 2-D results: SumUDF's frame, SumSigUDF's and FrameMaxUDF's scan maps (not 1-D cols)
    assert [(type(p.udf).__name__, p.channel) for p in plots] == [
        ("SumUDF", "intensity"),
        ("SumSigUDF", "intensity"),
        ("FrameMaxUDF", "fmax"),
    ]
    assert [p.title for p in plots] == [
        "SumUDF: intensity",
        "SumSigUDF: intensity",
        "FrameMaxUDF: fmax",
    ]
    assert all(p.displayed == 1 for p in plots)
    np.testing.assert_allclose(plots[0].data, data.sum(axis=(0, 1)), rtol=1e-5)
    check_nav_plot_history(plots[1], _sumsig(data))
    check_nav_plot_history(plots[2], data.max(axis=(2, 3)))
    # the plot's last image is the run's result
    np.testing.assert_array_equal(np.ma.getdata(plots[1].data), res[1]["intensity"].data)


def test_sig_plot_is_whole_during_the_run(inline_ctx, data):
    ds = _ds(inline_ctx, data)
    inline_ctx.run_udf(ds, SumUDF(), plots=True, plot_class=RecordingPlot)
    (plot,) = RecordingPlot.made
    # inline merges in partition order: after k partitions, the sum of their frames
    frames = data.reshape((-1,) + SIG)
    for k, (image, damage, _) in enumerate(plot.updates[:N_PARTS], start=1):
        assert damage.all()
        np.testing.assert_allclose(image, frames[: 10 * k].sum(axis=0), rtol=1e-5)


@given(
    roi_bits=st.lists(st.booleans(), min_size=30, max_size=30),
    parts=st.integers(1, 6),
)
def test_nav_plot_with_roi_and_partitions(contexts, data, roi_bits, parts):
    RecordingPlot.made = []
    ctx = contexts["inline"]
    roi = np.array(roi_bits).reshape(NAV)
    ds = _ds(ctx, data, parts)
    with_work = sum(roi.reshape(-1)[p.start : p.stop].any() for p in ds.get_partitions())
    ctx.run_udf(ds, SumSigUDF(), roi=roi, plots=True, plot_class=RecordingPlot)
    (plot,) = RecordingPlot.made
    if with_work == 0:
        # no partition with work: the run's only step, shown as fully masked
        assert [f for _, _, f in plot.updates] == [False, True]
        assert not any(d.any() for _, d, _ in plot.updates)
        assert np.ma.getmaskarray(plot.data).all()
        return
    check_nav_plot_history(plot, _sumsig(data), roi=roi, n_parts=with_work)


def test_run_udf_iter_feeds_plots_per_step(ctx, data):
    ds = _ds(ctx, data)
    steps = 0
    for step in ctx.run_udf_iter(ds, SumSigUDF(), plots=True, plot_class=RecordingPlot):
        steps += 1
        (plot,) = RecordingPlot.made
        # the plot has seen this step before the caller does
        _, damage, _ = plot.updates[-1]
        np.testing.assert_array_equal(damage, step.damage.data)
    assert steps == N_PARTS
    check_nav_plot_history(RecordingPlot.made[0], _sumsig(data))


# -- channels ------------------------------------------------------------------------------------
def test_channel_lists_select_and_transform(inline_ctx, data):
    ds = _ds(inline_ctx, data)

    def brightest(results, damage):
        # as the runner hands it over, from the dry run on: a nav-shaped bool array
        assert isinstance(damage, np.ndarray) and damage.shape == NAV and damage.dtype == bool
        return np.ma.getdata(results["fmax"].masked_data) * 2, damage

    plots = [
        [("intensity", np.log1p)],  # SumUDF: a function of a sig buffer
        [],  # SumSigUDF: nothing
        ["fmax", brightest, ("cols", np.diag)],
    ]
    inline_ctx.run_udf(
        ds, [SumUDF(), SumSigUDF(), FrameMaxUDF()], plots=plots, plot_class=RecordingPlot
    )
    log_sum, fmax, twice, diag = RecordingPlot.made
    assert log_sum.title == "SumUDF: log1p(intensity)"
    np.testing.assert_allclose(log_sum.data, np.log1p(data.sum(axis=(0, 1))), rtol=1e-5)
    assert fmax.title == "FrameMaxUDF: fmax"
    np.testing.assert_allclose(fmax.data, data.max(axis=(2, 3)))
    assert twice.title == "FrameMaxUDF: brightest"
    np.testing.assert_allclose(twice.data, 2 * data.max(axis=(2, 3)))
    # a function channel keeps the damage it returns: only merged frames count, finite ones
    _, damage, _ = twice.updates[0]
    assert _frames_merged(damage) == 10
    np.testing.assert_allclose(diag.data, np.diag(data.sum(axis=(0, 1, 2))), rtol=1e-5)


def test_plots_given_as_objects_are_updated_not_displayed(ctx, data):
    ds = _ds(ctx, data)
    udf = SumSigUDF()
    mine = RecordingPlot(ds, udf, channel="intensity", title="mine")
    ctx.run_udf(ds, [SumUDF(), udf], plots=[mine])
    assert mine.displayed == 0  # made by the caller: shown by the caller
    assert mine.title == "mine"
    check_nav_plot_history(mine, _sumsig(data))


def test_dummy_plot_keeps_data(inline_ctx, data):
    ds = _ds(inline_ctx, data)
    udf = SumSigUDF()
    plot = Dummy2DPlot(ds, udf)
    assert np.ma.getmaskarray(plot.data).all()  # from the dry run: nothing computed yet
    inline_ctx.run_udf(ds, udf, plots=[plot])
    np.testing.assert_allclose(plot.data, _sumsig(data), rtol=1e-5)


def test_get_plottable_2d_channels(inline_ctx, data):
    ds = _ds(inline_ctx, data)
    res = inline_ctx.run_udf(ds, [FrameMaxUDF(), NoImageUDF(), SumUDF()])
    assert get_plottable_2D_channels(res[0]) == ["fmax"]
    assert get_plottable_2D_channels(res[1]) == []
    assert get_plottable_2D_channels(res[2]) == ["intensity"]


# -- throttling ----------------------------------------------------------------------------------
def test_min_delta_throttles_but_the_last_update_is_forced(ctx, data):
    ds = _ds(ctx, data, parts=6)
    udf = SumSigUDF()
    slow = RecordingPlot(ds, udf, min_delta=3600)
    fast = RecordingPlot(ds, udf, min_delta=0)
    ctx.run_udf(ds, udf, plots=[slow, fast])
    # the first update is never throttled, later ones within an hour are, the last is forced
    assert [f for _, _, f in slow.updates] == [False, True]
    assert len(fast.updates) == 6 + 1
    for plot in (slow, fast):
        np.testing.assert_allclose(plot.data, _sumsig(data), rtol=1e-5)


# -- bad specs -----------------------------------------------------------------------------------
def test_plot_objects_and_channel_lists_do_not_mix(inline_ctx, data):
    ds = _ds(inline_ctx, data)
    udf = SumSigUDF()
    with pytest.raises(TypeError, match="plots: got a Live2DPlot among channel lists"):
        inline_ctx.run_udf(ds, udf, plots=[RecordingPlot(ds, udf), ["intensity"]])


@pytest.mark.parametrize(
    ("plots", "error", "match"),
    [
        ("intensity", TypeError, r"^plots: got str"),
        (3, TypeError, r"^plots: got int"),
        ([["intensity"], "x"], TypeError, r"^plots: got an entry 'x'"),
        ([[1]], TypeError, r"^plots\[0\]\[0\]: got 1"),
        ([[("intensity", "log")]], TypeError, r"^plots\[0\]\[0\]"),
        ([["intensity"], ["intensity"]], ValueError, r"^plots: got 2 channel lists for 1 UDF"),
        ([["nope"]], ValueError, r"^plots\[0\]\[0\]: channel: 'nope' is not a 2-D result"),
        ([[("nope", np.log)]], ValueError, r"^plots\[0\]\[0\]: channel: 'nope' is not a result"),
    ],
)
def test_bad_plots_name_the_parameter(inline_ctx, data, plots, error, match):
    ds = _ds(inline_ctx, data)
    with pytest.raises(error, match=match):
        inline_ctx.run_udf(ds, SumSigUDF(), plots=plots, plot_class=RecordingPlot)
    assert all(p.updates == [] for p in RecordingPlot.made)


def test_plot_of_another_udf_instance_is_refused(inline_ctx, data):
    ds = _ds(inline_ctx, data)
    other = RecordingPlot(ds, SumSigUDF())
    with pytest.raises(ValueError, match=r"plots: RecordingPlot 'SumSigUDF: intensity'.*not part"):
        inline_ctx.run_udf(ds, SumSigUDF(), plots=[other])


def test_udf_without_images(inline_ctx, data):
    ds = _ds(inline_ctx, data)
    with pytest.warns(UserWarning, match="NoImageUDF has no 2-D result buffer"):
        res = inline_ctx.run_udf(ds, NoImageUDF(), plots=True, plot_class=RecordingPlot)
    assert RecordingPlot.made == []
    assert res["total"].data[0] == pytest.approx(data.sum(dtype=np.float64), rel=1e-6)
    with pytest.raises(ValueError, match="channel: NoImageUDF has no 2-D result buffer"):
        RecordingPlot(ds, NoImageUDF())


@pytest.mark.parametrize("min_delta", [-1, "1", True])
def test_bad_min_delta(inline_ctx, data, min_delta):
    with pytest.raises(ValueError, match="min_delta"):
        RecordingPlot(_ds(inline_ctx, data), SumSigUDF(), min_delta=min_delta)


def test_live2dplot_base_must_be_subclassed(inline_ctx, data):
    ds = _ds(inline_ctx, data)
    with pytest.raises(NotImplementedError, match="Live2DPlot must implement display"):
        inline_ctx.run_udf(ds, SumSigUDF(), plots=True, plot_class=Live2DPlot)


def test_gms_plot_is_refused(inline_ctx, data):
    with pytest.raises(NotImplementedError, match="Gatan Microscopy Suite"):
        GMSLive2DPlot(_ds(inline_ctx, data), SumSigUDF())


def test_bqplot_plot_says_what_to_install(inline_ctx, data):
    if importlib.util.find_spec("bqplot") and importlib.util.find_spec("bqplot_image_gl"):
        pytest.skip("bqplot is installed here: nothing to refuse")
    with pytest.raises(ImportError, match="pip install bqplot bqplot-image-gl"):
        BQLive2DPlot(_ds(inline_ctx, data), SumSigUDF())


# -- matplotlib ----------------------------------------------------------------------------------
def test_matplotlib_plots_headless(ctx, data):
    ds = _ds(ctx, data)
    assert isinstance(ctx.plot_class, type) and issubclass(ctx.plot_class, MPLLive2DPlot)
    before = set(plt.get_fignums())
    ctx.run_udf(ds, [SumUDF(), SumSigUDF()], plots=True)
    figures = [plt.figure(n) for n in sorted(set(plt.get_fignums()) - before)]
    assert [f.axes[0].get_title() for f in figures] == ["SumUDF: intensity", "SumSigUDF: intensity"]
    images = [f.axes[0].images[0] for f in figures]
    np.testing.assert_allclose(images[0].get_array(), data.sum(axis=(0, 1)), rtol=1e-5)
    np.testing.assert_allclose(images[1].get_array(), _sumsig(data), rtol=1e-5)
    # the colour range spans the computed values (no outliers in this data)
    expected = _sumsig(data)
    assert images[1].norm.vmin == pytest.approx(expected.min(), rel=1e-5)
    assert images[1].norm.vmax == pytest.approx(expected.max(), rel=1e-5)


def test_matplotlib_plot_not_displayed_warns(inline_ctx, data):
    ds = _ds(inline_ctx, data)
    udf = SumSigUDF()
    plot = MPLLive2DPlot(ds, udf, min_delta=0, cmap="viridis")
    with pytest.warns(UserWarning, match="call display"):
        inline_ctx.run_udf(ds, udf, plots=[plot])
    plot.display()
    assert plot.im_obj.get_cmap().name == "viridis"
    inline_ctx.run_udf(ds, udf, plots=[plot])
    np.testing.assert_allclose(plot.im_obj.get_array(), _sumsig(data), rtol=1e-5)


# -- other executors -----------------------------------------------------------------------------
def test_delayed_plots_update_when_computed(data):
    ctx = Context.make_with("delayed")
    try:
        ds = _ds(ctx, data)
        res = ctx.run_udf(ds, [SumSigUDF(), FrameMaxUDF()], plots=True, plot_class=RecordingPlot)
        sumsig, fmax = RecordingPlot.made
        assert sumsig.updates == [] and fmax.updates == []  # nothing computed yet
        result = res[0]["intensity"].data  # computes the graph
        np.testing.assert_allclose(result, _sumsig(data), rtol=1e-5)
        for plot, expected in ((sumsig, _sumsig(data)), (fmax, data.max(axis=(2, 3)))):
            history = plot.updates
            # one update per partition as it is computed, the last one forced
            assert [f for _, _, f in history] == [False] * (N_PARTS - 1) + [True]
            assert sorted(_frames_merged(d) for _, d, _ in history) == [10, 20, 30]
            for image, damage, _ in history:
                np.testing.assert_array_equal(np.ma.getmaskarray(image), ~damage)
                np.testing.assert_allclose(image.data[damage], expected[damage], rtol=1e-5)
            np.testing.assert_allclose(plot.data, expected, rtol=1e-5)
        # computing again does not merge again
        np.testing.assert_allclose(res[1]["fmax"].data, data.max(axis=(2, 3)))
        assert len(sumsig.updates) == N_PARTS
    finally:
        ctx.close()


@pytest.mark.dist
@pytest.mark.timeout(90)
def test_dask_cluster_plots(data):
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,  # in-process workers (inproc://): no ports but the dashboard's
        dashboard_address="127.0.0.1:0",
    )
    client = distributed.Client(cluster, set_as_default=False)
    try:
        ctx = Context(executor=DaskJobExecutor(client))
        ds = _ds(ctx, data, parts=4)
        res = ctx.run_udf(ds, SumSigUDF(), plots=True, plot_class=RecordingPlot)
        (plot,) = RecordingPlot.made
        check_nav_plot_history(plot, _sumsig(data), n_parts=4)
        np.testing.assert_array_equal(np.ma.getdata(plot.data), res["intensity"].data)
        ctx.close()
    finally:
        client.close()
        cluster.close()


# -- async ---------------------------------------------------------------------------------------
def test_async_iter_and_run(ctx, data):
    ds = _ds(ctx, data)

    async def collect():
        gen = ctx.run_udf_iter(ds, [SumUDF(), SumSigUDF()], sync=False)
        assert isinstance(gen, ResultAsyncGenerator)
        return [
            (step.damage.data.sum(), step.buffers[1]["intensity"].data.copy()) async for step in gen
        ]

    steps = asyncio.run(collect())
    assert sorted(int(n) for n, _ in steps) == [10, 20, 30]
    np.testing.assert_allclose(steps[-1][1], _sumsig(data), rtol=1e-5)

    res = asyncio.run(
        ctx.run_udf(ds, SumSigUDF(), sync=False, plots=True, plot_class=RecordingPlot)
    )
    np.testing.assert_allclose(res["intensity"].data, _sumsig(data), rtol=1e-5)
    check_nav_plot_history(RecordingPlot.made[0], _sumsig(data))
    both = asyncio.run(ctx.run_udf(ds, [SumUDF(), SumSigUDF()], sync=False))
    assert isinstance(both, tuple) and len(both) == 2
    np.testing.assert_allclose(both[0]["intensity"].data, data.sum(axis=(0, 1)), rtol=1e-5)


def test_async_iter_can_stop_early(inline_ctx, data):
    ds = _ds(inline_ctx, data)

    async def first_then_close():
        gen = inline_ctx.run_udf_iter(ds, SumSigUDF(), sync=False)
        first = await gen.__anext__()
        await gen.aclose()
        with pytest.raises(StopAsyncIteration):
            await gen.__anext__()
        return first

    first = asyncio.run(first_then_close())
    assert first.damage.data.sum() == 10


def test_async_athrow_raises_inside_the_run(inline_ctx, data):
    ds = _ds(inline_ctx, data)

    class Stop(Exception):
        pass

    async def throw():
        gen = inline_ctx.run_udf_iter(ds, SumSigUDF(), sync=False)
        await gen.__anext__()
        try:
            await gen.athrow(Stop("stop"))
        finally:
            with pytest.raises(StopAsyncIteration):
                await gen.__anext__()  # the run ended with the exception

    with pytest.raises(Stop, match="stop"):
        asyncio.run(throw())


def test_async_checks_arguments_at_call(inline_ctx, data):
    ds = _ds(inline_ctx, data)
    with pytest.raises(TypeError, match="plots"):
        inline_ctx.run_udf_iter(ds, SumSigUDF(), sync=False, plots="x")


# -- Context.display -----------------------------------------------------------------------------
class _WithDiagnostics(MemoryDataSet):
    @property
    def diagnostics(self):
        return [{"name": "detector <b>", "value": "test & co"}]


def test_display_dataset_and_udf(inline_ctx, data):
    ds = _ds(inline_ctx, data)
    info = inline_ctx.display(ds)
    text = repr(info)
    assert "MemoryDataSet" in text and "(6, 5, 4, 3)" in text and "float32" in text
    assert "3 (10 frames each)" in text
    html = info._repr_html_()
    assert "<table>" in html and "(6, 5)" in html and "(4, 3)" in html

    roi = np.zeros(NAV, bool)
    roi[1, 2:4] = True
    with_udf = inline_ctx.display(ds, FrameMaxUDF(), roi=roi)
    rows = {name: rest for name, *rest in with_udf.buffers}
    assert set(rows) == {"fmax", "cols"}  # the private buffer is not shown
    assert rows["fmax"] == ["nav", "()", str(NAV), "float32"]
    assert rows["cols"] == ["single", "(3,)", "(3,)", "float64"]
    assert "UDFMethod.FRAME" in repr(with_udf)
    assert "<th>Concrete shape</th>" in with_udf._repr_html_()


def test_display_escapes_and_shows_diagnostics(inline_ctx, data):
    ds = _WithDiagnostics(data=data, num_partitions=2)
    info = inline_ctx.display(ds)
    assert info.diagnostics == [("detector <b>", "test & co")]
    html = info._repr_html_()
    assert "detector &lt;b&gt;" in html and "test &amp; co" in html
    assert "1 (" not in repr(info) and "2 (15 frames each)" in repr(info)


def test_display_bad_arguments(inline_ctx, data):
    with pytest.raises(TypeError, match="dataset"):
        inline_ctx.display(data)
    with pytest.raises(TypeError, match="udf"):
        inline_ctx.display(_ds(inline_ctx, data), SumSigUDF)


# -- colour helpers ------------------------------------------------------------------------------
def test_stat_limits():
    rng = np.random.default_rng(1)
    bulk = rng.uniform(1, 100, 10_000)
    lo, hi = _get_stat_limits(bulk)
    assert (lo, hi) == (bulk.min(), bulk.max())  # no outliers: the plain range
    hot = np.concatenate([bulk, [1e9]])
    lo, hi = _get_stat_limits(hot)
    assert lo == bulk.min() and hi < 101  # one hot pixel does not flatten the image
    assert _get_stat_limits(np.array([np.nan, np.inf])) == (1.0, math.nextafter(1.0, math.inf))
    assert _get_stat_limits(np.full(5, 7.0)) == (7.0, math.nextafter(7.0, math.inf))


def test_visualize_simple_maps_range_to_colormap_ends():
    from matplotlib import colormaps

    img = np.arange(12, dtype=np.float32).reshape(3, 4)
    rgba = visualize_simple(img, colormap=colormaps["viridis"])
    assert rgba.shape == (3, 4, 4) and rgba.dtype == np.uint8
    cmap = colormaps["viridis"]
    np.testing.assert_array_equal(rgba[0, 1], cmap(0.0, bytes=True))  # 0 is ignored: min is 1
    np.testing.assert_array_equal(rgba[-1, -1], cmap(1.0, bytes=True))
    fixed = visualize_simple(img, colormap=cmap, vmin=0, vmax=22)
    np.testing.assert_array_equal(fixed[-1, -1], cmap(0.5, bytes=True))
    logged = visualize_simple(img, logarithmic=True)
    assert logged.shape == (3, 4, 4)


def test_rgb_from_2dvector():
    y = np.array([0.0, 1.0, -1.0, 0.0, 0.5])
    x = np.array([0.0, 0.0, 0.0, 1.0, 0.0])
    rgb = rgb_from_2dvector(y, x)
    assert rgb.shape == (5, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0] == rgb[0, 1] == rgb[0, 2]  # no direction: grey
    assert len({tuple(c) for c in rgb[1:4]}) == 3  # three directions, three colours
    # half the length: the same hue, less saturated (closer to grey)
    spread = lambda c: int(c.max()) - int(c.min())  # noqa: E731
    assert 0 < spread(rgb[4]) < spread(rgb[1])


def test_encode_image_round_trip():
    from PIL import Image

    rgba = np.zeros((4, 6, 4), dtype=np.uint8)
    rgba[..., 0] = np.arange(6) * 40
    rgba[..., 3] = 255
    png = encode_image(rgba)
    assert isinstance(png, io.BytesIO)
    back = np.asarray(Image.open(png))
    np.testing.assert_array_equal(back, rgba[..., :3])


def test_libertem_cyclic_is_a_cyclic_colormap():
    from ferrotem import viz

    cmap = viz.libertem_cyclic
    np.testing.assert_allclose(cmap(0.0), cmap(1.0), atol=0.02)  # wraps around
