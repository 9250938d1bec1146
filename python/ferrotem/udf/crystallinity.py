"""Crystallinity maps: the magnitude of each frame's Fourier transform summed over a ring, after
an optional disk (the zero-order peak) is blanked in the frame.

``CrystallinityUDF`` and ``run_analysis_crystall`` take LiberTEM's parameters and give its
result: ``intensity``, one float32 value per scan position.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ferrotem import masks
from ferrotem.common.buffers import BufferWrapper
from ferrotem.udf import _checks as check
from ferrotem.udf.base import UDF

__all__ = ["CrystallinityUDF", "run_analysis_crystall"]


def _half_spectrum_ring(sy: int, sx: int, rad_in: float, rad_out: float) -> np.ndarray:
    """The ring ``rad_in < |k| <= rad_out`` (in pixels of the spectrum, around its centre
    ``(sy/2, sx/2)``) moved to the unshifted FFT layout, restricted to the half spectrum that
    ``np.fft.rfft2`` returns: a bool array of shape ``(sy, sx // 2 + 1)``."""
    ring = masks.ring(sx * 0.5, sy * 0.5, sx, sy, radius=rad_out, radius_inner=rad_in)
    half: np.ndarray = np.fft.fftshift(ring)[:, : sx // 2 + 1]
    return half


class CrystallinityUDF(UDF):
    """Crystallinity: a ring of each frame's Fourier spectrum, integrated.

    For each frame ``f``: ``sum(|rfft2(f * keep)| * ring)``, where ``keep`` is 0 in the disk of
    radius ``real_rad`` around ``real_center`` and 1 elsewhere (all 1 when either is None),
    and ``ring`` selects the half-spectrum pixels at distance ``rad_in < d <= rad_out`` from the
    spectrum's centre ``(height/2, width/2)`` after ``fftshift``. Only the half spectrum of
    ``rfft2`` counts (each pair of conjugate frequencies once), as in LiberTEM.

    Parameters
    ----------
    rad_in, rad_out : float
        Inner and outer radius of the ring in the Fourier spectrum, in pixels
        (``rad_in <= rad_out``).
    real_center : (float, float) or None
        ``(y, x)`` centre of the disk blanked in the frame (the zero-order peak).
    real_rad : float or None
        Radius of that disk; with either of ``real_center`` and ``real_rad`` None, nothing is
        blanked.

    Result ``intensity``: ``kind='nav'``, float32 (computed in float64). Frames are processed
    whole (``process_frame``): the Fourier transform needs the whole frame. Complex data raise
    ``ValueError``.

    Examples
    --------
    >>> import numpy as np
    >>> from ferrotem.api import Context
    >>> ctx = Context.make_with("inline")
    >>> ds = ctx.load("memory", data=np.ones((4, 4, 16, 16), np.float32), sig_dims=2)
    >>> udf = CrystallinityUDF(rad_in=4, rad_out=6, real_center=(8, 8), real_rad=3)
    >>> ctx.run_udf(dataset=ds, udf=udf)["intensity"].data.shape
    (4, 4)
    """

    def __init__(
        self, rad_in: Any, rad_out: Any, real_center: Any = None, real_rad: Any = None
    ) -> None:
        check.ring_radii(rad_in, rad_out)
        if real_center is not None:
            check.point("real_center", real_center)
        if real_rad is not None:
            check.radius("real_rad", real_rad)
        super().__init__(rad_in=rad_in, rad_out=rad_out, real_center=real_center, real_rad=real_rad)

    def get_result_buffers(self) -> dict[str, BufferWrapper]:
        check.frame_2d("CrystallinityUDF", self.meta.dataset_shape.sig)
        if np.dtype(self.meta.input_dtype).kind == "c":
            # rfft2 takes real frames (LiberTEM's drops the imaginary part with a warning)
            raise ValueError(
                f"dataset: CrystallinityUDF needs real-valued frames, got dtype "
                f"{np.dtype(self.meta.input_dtype)}"
            )
        return {"intensity": self.buffer(kind="nav", dtype="float32")}

    def get_task_data(self) -> dict[str, Any]:
        sy, sx = check.frame_2d("CrystallinityUDF", self.meta.partition_shape.sig)
        rad_in, rad_out = check.ring_radii(self.params.rad_in, self.params.rad_out)
        real_center, real_rad = self.params.real_center, self.params.real_rad
        blank = None
        if real_center is not None and real_rad is not None:
            cy, cx = check.point("real_center", real_center)
            blank = masks.circular(cx, cy, sx, sy, check.radius("real_rad", real_rad))
        ring = _half_spectrum_ring(sy, sx, rad_in, rad_out)
        # only the ring's frequencies are needed: their flat indices in the half spectrum
        return {"blank": blank, "ring": np.flatnonzero(ring)}

    def process_frame(self, frame: np.ndarray) -> None:
        values = frame.astype(np.float64)  # a copy: blanking does not touch the input
        blank = self.task_data.blank
        if blank is not None:
            values[blank] = 0.0
        ring_values = np.fft.rfft2(values).ravel()[self.task_data.ring]
        self.results.intensity[:] = np.abs(ring_values).sum()


def run_analysis_crystall(
    ctx: Any,
    dataset: Any,
    rad_in: Any,
    rad_out: Any,
    real_center: Any = None,
    real_rad: Any = None,
    roi: Any = None,
    progress: bool = False,
) -> Any:
    """Run :class:`CrystallinityUDF` on ``dataset``: one crystallinity value per frame.

    Returns the result of ``ctx.run_udf``: ``result["intensity"].data`` is the map over the
    scan.
    """
    udf = CrystallinityUDF(
        rad_in=rad_in, rad_out=rad_out, real_center=real_center, real_rad=real_rad
    )
    return ctx.run_udf(dataset=dataset, udf=udf, roi=roi, progress=progress)
