"""Gatan Microscopy Suite live plots: not supported by ferrotem.

LiberTEM's ``GMSLive2DPlot`` draws into Digital Micrograph from GMS's embedded Python. The name
exists so that ported code imports; making a plot raises :class:`NotImplementedError`.
"""

from __future__ import annotations

from typing import Any

from ferrotem.viz.base import Live2DPlot

__all__ = ["GMSLive2DPlot"]


class GMSLive2DPlot(Live2DPlot):
    """Not supported: raises :class:`NotImplementedError` when made."""

    def __init__(self, *args: Any, **kwargs: Any):
        raise NotImplementedError(
            "GMSLive2DPlot: ferrotem does not run inside Gatan Microscopy Suite (Digital "
            "Micrograph); use MPLLive2DPlot, BQLive2DPlot, or a Live2DPlot subclass of your own"
        )
