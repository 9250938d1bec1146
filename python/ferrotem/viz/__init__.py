"""Live plots and colour helpers for UDF results (LiberTEM's ``libertem.viz``).

``Context.run_udf(..., plots=True)`` draws every 2-D result while the run goes on; see
``docs/live-plots.md``. The plot classes live in :mod:`ferrotem.viz.base` (``Live2DPlot``,
``Dummy2DPlot``), :mod:`ferrotem.viz.mpl`, :mod:`ferrotem.viz.bqp` and :mod:`ferrotem.viz.gms`.
"""

from __future__ import annotations

from typing import Any

from ferrotem.viz.base import (
    encode_image,
    get_plottable_2D_channels,
    rgb_from_2dvector,
    visualize_simple,
)

__all__ = [
    "encode_image",
    "get_plottable_2D_channels",
    "libertem_cyclic",
    "rgb_from_2dvector",
    "visualize_simple",
]


def __getattr__(name: str) -> Any:
    # a matplotlib colormap, made on first use (see ferrotem.viz.base)
    if name == "libertem_cyclic":
        from ferrotem.viz import base

        return base.libertem_cyclic
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
