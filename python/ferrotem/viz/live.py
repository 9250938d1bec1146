"""What ``Context.run_udf(..., plots=...)`` does with its ``plots`` argument: check it, make the
plots (from a dry run, so that they show the right shapes before any data is read), and feed
them the merged results as partitions finish.

``plots`` is one of (as in LiberTEM): ``None``/``False`` (no plots); ``True`` (one plot per 2-D
result buffer of every UDF); a list with one list of channels per UDF (a channel is a buffer
name, ``(name, function)`` or a function ``(results, damage) -> (image, damage)``; fewer lists
than UDFs leave the rest unplotted); or a list of ready :class:`Live2DPlot` objects.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ferrotem.udf.runner import UDFResults, UDFRunner
from ferrotem.viz.base import Live2DPlot, get_plottable_2D_channels

if TYPE_CHECKING:
    from ferrotem.common.buffers import BufferWrapper
    from ferrotem.io.dataset.base import DataSet
    from ferrotem.udf.base import UDF

__all__ = ["check_plots", "default_plot_class", "prepare_plots", "update_plots"]


def default_plot_class() -> type[Live2DPlot]:
    """LiberTEM's default: the matplotlib plot."""
    from ferrotem.viz.mpl import MPLLive2DPlot

    return MPLLive2DPlot


def _is_channel(c: Any) -> bool:
    return (
        isinstance(c, str)
        or callable(c)
        or (
            isinstance(c, tuple | list) and len(c) == 2 and isinstance(c[0], str) and callable(c[1])
        )
    )


def check_plots(plots: Any, n_udfs: int) -> None:
    """Raises for a ``plots`` argument of the wrong form, before any work is done."""
    if plots is None or isinstance(plots, bool):
        return
    if isinstance(plots, str | bytes) or not isinstance(plots, Sequence):
        raise TypeError(
            f"plots: got {type(plots).__name__}, expected None, True, a list of channel lists "
            "(one per UDF) or a list of Live2DPlot objects"
        )
    if all(isinstance(p, Live2DPlot) for p in plots):
        return
    odd = [p for p in plots if not isinstance(p, list | tuple)]
    if odd:
        what = (
            "a Live2DPlot among channel lists"
            if isinstance(odd[0], Live2DPlot)
            else (f"an entry {odd[0]!r}")
        )
        raise TypeError(
            f"plots: got {what}; expected a list of channel lists (one per UDF), "
            "e.g. plots=[['intensity']], or a list of Live2DPlot objects"
        )
    if len(plots) > n_udfs:
        raise ValueError(f"plots: got {len(plots)} channel lists for {n_udfs} UDF(s)")
    for i, channels in enumerate(plots):
        for j, c in enumerate(channels):
            if not _is_channel(c):
                raise TypeError(
                    f"plots[{i}][{j}]: got {c!r}, expected a buffer name, (name, function) "
                    "or a function (results, damage) -> (image, damage)"
                )


def prepare_plots(
    udfs: list[UDF], dataset: DataSet, roi: Any, plots: Any, plot_class: type[Live2DPlot]
) -> list[Live2DPlot]:
    """The plots of a run, displayed (call :func:`check_plots` first)."""
    if not plots:
        return []
    if plots is not True and all(isinstance(p, Live2DPlot) for p in plots):
        for p in plots:
            if not any(p.get_udf() is u for u in udfs):
                raise ValueError(
                    f"plots: {type(p).__name__} {p.title!r} shows a UDF instance that is not "
                    "part of this run (make the plot with the same instance you pass as udf)"
                )
        return list(plots)
    dry = UDFRunner.dry_run(udfs, dataset, roi)
    if plots is True:
        channels: list[Any] = [get_plottable_2D_channels(b) for b in dry.buffers]
        for udf, chans in zip(udfs, channels, strict=True):
            if not chans:
                warnings.warn(
                    f"plots=True: {type(udf).__name__} has no 2-D result buffer, not plotting it",
                    stacklevel=3,
                )
    else:
        channels = list(plots)
    made = []
    for i, (udf, chans) in enumerate(zip(udfs, channels, strict=False)):
        for j, channel in enumerate(chans):
            try:
                plot = plot_class(
                    dataset,
                    udf=udf,
                    roi=roi,
                    channel=channel,
                    udfresult=_one_udf(dry, i),
                )
            except ValueError as e:
                raise ValueError(f"plots[{i}][{j}]: {e}") from e
            plot.display()
            made.append(plot)
    return made


def _one_udf(results: UDFResults, index: int) -> UDFResults:
    buffers = (results.buffers[index],)
    return UDFResults(lambda: buffers, results.damage)


def update_plots(
    plots: list[Live2DPlot],
    udfs: Sequence[UDF],
    results: tuple[dict[str, BufferWrapper], ...],
    damage: np.ndarray,
    force: bool = False,
) -> None:
    """Hands every plot its UDF's (partial) results; ``force`` at the end of a run."""
    for plot in plots:
        index = next(i for i, u in enumerate(udfs) if u is plot.get_udf())
        plot.new_data(results[index], damage, force=force)
