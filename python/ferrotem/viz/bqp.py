"""A live plot drawn with bqplot in a Jupyter notebook (LiberTEM's ``libertem.viz.bqp``).

bqplot and bqplot-image-gl are optional: the class can be imported without them, and making a
plot without them raises an ``ImportError`` that says what to install.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ferrotem.viz.base import Live2DPlot, _get_stat_limits

if TYPE_CHECKING:
    from ferrotem.io.dataset.base import DataSet
    from ferrotem.udf.base import UDF
    from ferrotem.udf.runner import UDFResults

__all__ = ["BQLive2DPlot"]


def _require_bqplot() -> tuple[Any, Any]:
    try:
        import bqplot
        import bqplot_image_gl
    except ImportError as e:
        raise ImportError(
            f"BQLive2DPlot needs bqplot and bqplot-image-gl ({e}); install them with "
            "`pip install bqplot bqplot-image-gl`, or use MPLLive2DPlot"
        ) from e
    return bqplot, bqplot_image_gl


class BQLive2DPlot(Live2DPlot):
    """bqplot live plot for notebooks: an ``ImageGL`` mark, y pointing down as in the data.

    Parameters as :class:`Live2DPlot`; ``min_delta`` defaults to 1/60 s (the widget redraws
    cheaply).
    """

    def __init__(
        self,
        dataset: DataSet,
        udf: UDF,
        roi: Any = None,
        channel: Any = None,
        title: str | None = None,
        min_delta: float = 1 / 60,
        udfresult: UDFResults | None = None,
    ):
        bqplot, bqplot_image_gl = _require_bqplot()
        super().__init__(
            dataset,
            udf,
            roi=roi,
            channel=channel,
            title=title,
            min_delta=min_delta,
            udfresult=udfresult,
        )
        scale_x = bqplot.LinearScale(min=0, max=1)
        scale_y = bqplot.LinearScale(min=1, max=0)  # y down, as the data's first axis
        height, width = np.shape(self.data)[:2]
        self.figure = bqplot.Figure(
            axes=[
                bqplot.Axis(scale=scale_x, label="x"),
                bqplot.Axis(scale=scale_y, label="y", orientation="vertical"),
            ],
            scale_x=scale_x,
            scale_y=scale_y,
            min_aspect_ratio=width / height,
            max_aspect_ratio=width / height,
            title=self.title,
        )
        self.color_scale = bqplot.ColorScale(min=0, max=1)
        self.image = bqplot_image_gl.ImageGL(
            image=self._as_signed(np.ma.getdata(self.data)),
            scales={"x": scale_x, "y": scale_y, "image": self.color_scale},
        )
        self.figure.marks = (self.image,)

    @staticmethod
    def _as_signed(arr: np.ndarray) -> np.ndarray:
        # a dtype in which subtracting the minimum cannot wrap around
        return np.asarray(arr).astype(np.result_type(arr, np.int8))

    def display(self) -> None:
        """Shows the figure in the current notebook cell."""
        from IPython.display import display

        display(self.figure)

    def update(self, damage: np.ndarray, force: bool = False) -> None:
        """The image scaled to 0..1 by the colour range of the computed finite values."""
        data = self._as_signed(np.ma.getdata(self.data))
        lo, hi = _get_stat_limits(data[np.asarray(damage, dtype=bool)])
        self.image.image = (data - lo) / ((hi - lo) or 1)
