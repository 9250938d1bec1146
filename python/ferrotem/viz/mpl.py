"""A live plot drawn with matplotlib (LiberTEM's ``libertem.viz.mpl``).

In a script or a test, any backend works: with the non-interactive ``Agg`` backend (headless
machines, ``MPLBACKEND=Agg``) the figure is drawn but not shown, and :attr:`fig` can be saved.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from ferrotem.viz.base import Live2DPlot, _get_stat_limits

if TYPE_CHECKING:
    from ferrotem.io.dataset.base import DataSet
    from ferrotem.udf.base import UDF
    from ferrotem.udf.runner import UDFResults

__all__ = ["MPLLive2DPlot"]


class MPLLive2DPlot(Live2DPlot):
    """Matplotlib live plot: an ``imshow`` image whose data and colour range follow the run.

    Parameters as :class:`Live2DPlot` (``min_delta`` defaults to 0.5 s: redrawing a figure is
    slow); further keyword arguments go to ``imshow``. :meth:`display` creates the figure
    (:attr:`fig`, :attr:`axes`, :attr:`im_obj`).
    """

    def __init__(
        self,
        dataset: DataSet,
        udf: UDF,
        roi: Any = None,
        channel: Any = None,
        title: str | None = None,
        min_delta: float = 0.5,
        udfresult: UDFResults | None = None,
        **kwargs: Any,
    ):
        import matplotlib.pyplot  # noqa: F401  (fail here, not in the middle of a run)

        super().__init__(
            dataset,
            udf,
            roi=roi,
            channel=channel,
            title=title,
            min_delta=min_delta,
            udfresult=udfresult,
        )
        self.kwargs = kwargs
        self.fig: Any = None
        self.axes: Any = None
        self.im_obj: Any = None

    def display(self) -> None:
        """Creates the figure and shows it (a no-op show on non-interactive backends)."""
        import matplotlib.pyplot as plt

        self.fig, self.axes = plt.subplots()
        self.im_obj = self.axes.imshow(self.data, **self.kwargs)
        # a range that also suits a logarithmic norm until real data arrives
        self.im_obj.norm.vmin, self.im_obj.norm.vmax = 1, 1 + 1e-12
        self.axes.set_title(self.title)
        if plt.get_backend().lower() != "agg":
            self.fig.show()

    def update(self, damage: np.ndarray, force: bool = False) -> None:
        """New image data and a colour range from the computed finite values."""
        if self.im_obj is None:
            warnings.warn(
                "MPLLive2DPlot: not displayed, nothing drawn (call display() first)",
                stacklevel=2,
            )
            return
        self.im_obj.set_data(self.data)
        valid = np.ma.getdata(self.data)[np.asarray(damage, dtype=bool)]
        valid = valid[np.isfinite(valid)]
        if valid.size:
            self.im_obj.norm.vmin, self.im_obj.norm.vmax = _get_stat_limits(valid)
        self.im_obj.changed()
        self.fig.canvas.draw_idle()
        self.fig.canvas.flush_events()
