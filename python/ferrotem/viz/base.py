"""Live plots of UDF results (LiberTEM's ``libertem.viz.base``): the :class:`Live2DPlot` base
class that ``Context.run_udf(..., plots=...)`` feeds after every merged partition, and the
colour helpers (``visualize_simple``, ``rgb_from_2dvector``) that turn results into images.

Nothing here needs matplotlib until a colour helper or a matplotlib plot is used: a plot class
that draws with something else (bqplot, a GUI toolkit) works without it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ferrotem.common.viz import encode_image
from ferrotem.udf.runner import UDFRunner

if TYPE_CHECKING:
    from ferrotem.common.buffers import BufferWrapper
    from ferrotem.io.dataset.base import DataSet
    from ferrotem.udf.base import UDF
    from ferrotem.udf.runner import UDFResults

__all__ = [
    "Dummy2DPlot",
    "Live2DPlot",
    "encode_image",
    "get_plottable_2D_channels",
    "make_colormap",
    "rgb_from_2dvector",
    "visualize_simple",
]

logger = logging.getLogger(__name__)

#: ``channel`` as a function: ``(udf_results, damage) -> (image, damage)``
ChannelFunction = Callable[[Mapping[str, Any], Any], tuple[Any, Any]]


def _get_stat_limits(data: np.ndarray, quantile: float = 0.001) -> tuple[float, float]:
    """Colour limits that ignore a few extreme pixels (hot pixels, a dead centre beam).

    The limits are the finite minimum and maximum, unless the ``quantile`` tails are far
    outside the bulk of the non-zero values (more than ten times the bulk's magnitude away):
    then that end is cut to the bulk. Zeros always stay inside the range. An empty or
    constant input gives a range of one floating-point step, which every norm accepts.
    """
    values = np.real(np.asarray(data)).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 1.0, math.nextafter(1.0, math.inf)
    lo, hi = float(values.min()), float(values.max())
    nonzero = values[values != 0]
    if nonzero.size:
        q_lo, q_hi = np.quantile(nonzero, (quantile, 1 - quantile))
        if np.any(values == 0):
            q_lo, q_hi = min(q_lo, 0.0), max(q_hi, 0.0)
        bulk = values[(values >= q_lo) & (values <= q_hi)]
        if bulk.size:
            b_lo, b_hi = float(bulk.min()), float(bulk.max())
            if b_lo != 0 and abs(lo - b_lo) > 10 * abs(b_lo):
                lo = b_lo
            if b_hi != 0 and abs(hi - b_hi) > 10 * abs(b_hi):
                hi = b_hi
    if lo >= hi:
        hi = math.nextafter(lo, math.inf)
    return lo, hi


def get_plottable_2D_channels(buffers: Mapping[str, BufferWrapper]) -> list[str]:
    """Names of the buffers whose data is an image once axes of length 1 are dropped."""
    return [name for name, buf in buffers.items() if np.squeeze(buf.data).ndim == 2]


def visualize_simple(
    result: np.ndarray,
    colormap: Any = None,
    logarithmic: bool = False,
    vmin: float | None = None,
    vmax: float | None = None,
    damage: np.ndarray | None = None,
) -> np.ndarray:
    """``result`` (2-D) as RGBA bytes of shape ``(Y, X, 4)``, normalised between ``vmin`` and
    ``vmax`` (by default robust limits of the finite values where ``damage`` is True, or of
    the non-zero values without ``damage``), through ``colormap`` (default ``gist_earth``)."""
    from matplotlib import colormaps, colors

    arr = np.asarray(result)
    norm_cls: Any = colors.Normalize
    if logarithmic:
        # shift to >= 1 in a dtype in which the subtraction cannot wrap
        arr = arr.astype(np.result_type(arr, np.int8))
        arr = arr - np.min(arr) + 1
        norm_cls = colors.LogNorm
    as_float = arr.astype(np.float32)
    if vmin is None or vmax is None:
        where = (as_float != 0) if damage is None else np.asarray(damage, dtype=bool)
        where = where & np.isfinite(as_float)
        lo, hi = _get_stat_limits(as_float[where]) if where.any() else (1.0, 1.0)
        vmin = lo if vmin is None else vmin
        vmax = hi if vmax is None else vmax
    cmap = colormaps["gist_earth"] if colormap is None else colormap
    normalised = norm_cls(vmin=vmin, vmax=vmax)(as_float)
    return np.asarray(cmap(normalised, bytes=True))


def rgb_from_2dvector(y: Any, x: Any, vmax: float | None = None) -> np.ndarray:
    """A vector field as RGB bytes (``uint8``, last axis of length 3): the direction picks the
    hue on a colour wheel, the length (relative to ``vmax``, default the largest finite length)
    the saturation, so that zero vectors are grey and long ones fully coloured."""
    from matplotlib.colors import hsv_to_rgb

    y = np.asarray(y, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    length = np.hypot(np.abs(y), np.abs(x))
    if vmax is None:
        finite = length[np.isfinite(length)]
        vmax = float(finite.max()) if finite.size else 1.0
    if not vmax:
        vmax = 1.0
    strength = np.clip(np.nan_to_num(length / vmax), 0.0, 1.0)
    hue = (np.arctan2(-y, -x) / (2 * np.pi)) % 1.0
    hsv = np.stack([np.nan_to_num(hue), strength, np.full_like(strength, 0.85)], axis=-1)
    return np.asarray(np.round(hsv_to_rgb(hsv) * 255), dtype=np.uint8)


def make_colormap() -> Any:
    """The cyclic colormap of :func:`rgb_from_2dvector` (angle -> colour), for colour bars."""
    from matplotlib.colors import LinearSegmentedColormap

    angles = np.linspace(0, 2 * np.pi, 360, endpoint=False)
    colours = rgb_from_2dvector(y=-np.sin(angles), x=-np.cos(angles)) / 255
    return LinearSegmentedColormap.from_list("libertem_cyclic", colours)


def __getattr__(name: str) -> Any:
    # colormap objects need matplotlib: made on first use, not at import
    if name == "libertem_cyclic":
        cmap = make_colormap()
        globals()[name] = cmap
        return cmap
    if name == "cet_cyclic_isoluminant":
        # colorcet's map where colorcet has been imported (it registers its maps with
        # matplotlib), else matplotlib's own cyclic map
        from matplotlib import colormaps

        cmap = (
            colormaps["cet_cyclic_isoluminant"]
            if "cet_cyclic_isoluminant" in colormaps
            else (colormaps["twilight"])
        )
        globals()[name] = cmap
        return cmap
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Live2DPlot:
    """A 2-D live plot of one UDF result, updated while the UDF runs.

    ``Context.run_udf(dataset, udf, plots=[plot])`` (or ``plots=True``, which builds plots of
    the Context's ``plot_class``) calls :meth:`new_data` after every merged partition and once
    more, forced, at the end; subclasses draw in :meth:`update` and show in :meth:`display`.

    Parameters: ``dataset``, ``udf`` (the instance passed to ``run_udf``), ``roi`` (as given to
    ``run_udf``; it shapes some buffers), ``channel`` (``None``: the first 2-D buffer; a buffer
    name; ``(name, fn)``: ``fn`` applied to that buffer's data; or a function
    ``(udf_results, damage) -> (image, damage)``), ``title`` (default ``"<UDF class>:
    <channel>"``), ``min_delta`` (seconds: updates closer together than this are skipped unless
    forced), ``udfresult`` (a :class:`UDFResults` to start from; default: a dry run).

    :attr:`data` holds the latest image: for a buffer channel, a masked array with the
    positions not yet computed masked.
    """

    def __init__(
        self,
        dataset: DataSet,
        udf: UDF,
        roi: Any = None,
        channel: Any = None,
        title: str | None = None,
        min_delta: float = 0,
        udfresult: UDFResults | None = None,
    ):
        if isinstance(min_delta, bool) or not isinstance(min_delta, int | float) or min_delta < 0:
            raise ValueError(f"min_delta: got {min_delta!r}, expected seconds >= 0")
        if udfresult is None:
            udfresult = UDFRunner.dry_run([udf], dataset, roi)
        buffers = udfresult.buffers[0]
        plottable = get_plottable_2D_channels(buffers)
        self._extract: ChannelFunction | None = None
        if channel is None:
            if not plottable:
                raise ValueError(
                    f"channel: {type(udf).__name__} has no 2-D result buffer to plot "
                    f"(buffers: {sorted(buffers)}); pass channel=(name, fn) or a function"
                )
            channel = plottable[0]
        if callable(channel):
            self._extract = channel
            label = getattr(channel, "__name__", type(channel).__name__)
            channel = None
        elif isinstance(channel, tuple | list):
            if len(channel) != 2 or not isinstance(channel[0], str) or not callable(channel[1]):
                raise ValueError(f"channel: got {channel!r}, expected (buffer name, function)")
            channel, fn = channel
            if channel not in buffers:
                raise ValueError(
                    f"channel: {channel!r} is not a result of {type(udf).__name__} "
                    f"(have {sorted(buffers)})"
                )
            self._extract = _apply_to_buffer(channel, fn, buffers[channel].kind == "nav")
            label = f"{getattr(fn, '__name__', 'fn')}({channel})"
        elif isinstance(channel, str):
            if channel not in plottable:
                raise ValueError(
                    f"channel: {channel!r} is not a 2-D result of {type(udf).__name__} "
                    f"(plottable: {plottable}); pass (name, fn) to make one"
                )
            label = channel
        else:
            raise TypeError(
                f"channel: got {type(channel).__name__}, expected None, a buffer name, "
                "(name, function) or a function"
            )
        self.channel: str | None = channel
        self.title = f"{type(udf).__name__}: {label}" if title is None else title
        self.udf = udf
        self.min_delta = float(min_delta)
        self.last_update = -math.inf  # the first update is never throttled
        # the damage as the runs hand it over: a navigation-shaped bool array
        self.data, _ = self.extract(buffers, udfresult.damage.data)

    def get_udf(self) -> UDF:
        """The UDF instance this plot shows."""
        return self.udf

    def extract(
        self, udf_results: Mapping[str, BufferWrapper], damage: Any
    ) -> tuple[np.ndarray, Any]:
        """The image and its damage (True where computed) from (partial) results: a buffer's
        masked data and valid mask, or what the channel function returns."""
        if self._extract is not None:
            return self._extract(udf_results, damage)
        assert self.channel is not None
        buffer = udf_results[self.channel]
        return np.squeeze(buffer.masked_data), np.squeeze(buffer.valid_mask)

    def new_data(
        self, udf_results: Mapping[str, BufferWrapper], damage: Any, force: bool = False
    ) -> None:
        """Takes new (partial) results: unless an update happened less than ``min_delta``
        seconds ago (and ``force`` is False), extracts the image into :attr:`data` and calls
        :meth:`update` with the damage restricted to finite values."""
        start = time.monotonic()
        if not force and start - self.last_update < self.min_delta:
            return
        self.data, damage = self.extract(udf_results, damage)
        finite = np.isfinite(np.ma.getdata(self.data))
        if hasattr(damage, "shape"):
            # images with extra axes (RGB): a pixel is finite if all its values are
            extra = tuple(range(np.ndim(damage), finite.ndim))
            if extra:
                finite = np.all(finite, axis=extra)
        self.update(np.logical_and(damage, finite), force=force)
        self.last_update = time.monotonic()
        logger.debug("%s updated in %.3f s", type(self).__name__, self.last_update - start)

    def update(self, damage: np.ndarray, force: bool = False) -> None:
        """Redraws from :attr:`data`; ``damage`` is True where the values are computed and
        finite (use it for the colour range). Subclasses implement this."""
        raise NotImplementedError(f"{type(self).__name__} must implement update()")

    def display(self) -> None:
        """Shows the plot (for example in the current notebook cell). Subclasses implement
        this."""
        raise NotImplementedError(f"{type(self).__name__} must implement display()")


def _apply_to_buffer(name: str, fn: Callable[[Any], Any], is_nav: bool) -> ChannelFunction:
    def extract(udf_results: Mapping[str, Any], damage: Any) -> tuple[Any, Any]:
        # a nav buffer's image is damaged where frames are missing; others are whole images
        return fn(udf_results[name].data), (damage if is_nav else True)

    extract.__name__ = f"{getattr(fn, '__name__', 'fn')}({name})"
    return extract


class Dummy2DPlot(Live2DPlot):
    """A plot that draws nothing: for tests and batch runs, where no display exists. It still
    keeps :attr:`data` up to date."""

    def update(self, damage: np.ndarray, force: bool = False) -> None:
        """Draws nothing."""

    def display(self) -> None:
        """Shows nothing."""
