"""Fluctuation electron microscopy (FEM): the standard deviation of each frame's pixels in a ring
around the zero-order peak (Gibson and Treacy, Ultramicroscopy 68 (1997) 193).

``FEMUDF`` and ``run_fem`` take LiberTEM's parameters and give its result: ``intensity``, one
float32 value per scan position.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ferrotem import masks
from ferrotem.common.buffers import BufferWrapper
from ferrotem.udf import _checks as check
from ferrotem.udf.base import UDF

__all__ = ["FEMUDF", "run_fem"]


class FEMUDF(UDF):
    """The standard deviation of each frame's pixels in a ring (fluctuation EM).

    Parameters
    ----------
    center : (float, float)
        Centre of the ring as ``(y, x)``: the first number is the row. (LiberTEM's docstring
        says ``(x, y)``, but its mask takes the first number as the row; this follows what
        LiberTEM computes, so results agree.)
    rad_in : float
        Inner radius: pixels whose centre lies at this distance or closer are left out.
    rad_out : float
        Outer radius: pixels whose centre lies at this distance or closer are kept (unless
        within ``rad_in``).

    Result ``intensity``: ``kind='nav'``, float32, the population standard deviation
    (``ddof=0``, as ``np.std``) of the ring's pixels in each frame, computed in float64. Frames
    may arrive in parts (partial-signal tiles): each part's mean and squared deviations are
    combined exactly (Chan et al.'s pairwise update), so tiling does not change the result.
    Complex data: ``np.std``'s definition, the root mean squared magnitude of the deviations.

    A ring that holds no pixel of the frame raises ``ValueError`` (LiberTEM returns NaN).

    Examples
    --------
    >>> import numpy as np
    >>> from ferrotem.api import Context
    >>> ctx = Context.make_with("inline")
    >>> ds = ctx.load("memory", data=np.ones((4, 4, 16, 16), np.float32), sig_dims=2)
    >>> res = ctx.run_udf(dataset=ds, udf=FEMUDF(center=(8, 8), rad_in=4, rad_out=6))
    >>> res["intensity"].data.shape
    (4, 4)
    """

    def __init__(self, center: Any, rad_in: Any, rad_out: Any) -> None:
        check.point("center", center)
        check.ring_radii(rad_in, rad_out)
        super().__init__(center=center, rad_in=rad_in, rad_out=rad_out)

    def _ring(self, sig_shape: Any) -> np.ndarray:
        sy, sx = check.frame_2d("FEMUDF", sig_shape)
        cy, cx = check.point("center", self.params.center)
        rad_in, rad_out = check.ring_radii(self.params.rad_in, self.params.rad_out)
        ring: np.ndarray = masks.ring(cx, cy, sx, sy, radius=rad_out, radius_inner=rad_in)
        return ring

    def get_result_buffers(self) -> dict[str, BufferWrapper]:
        ring = self._ring(self.meta.dataset_shape.sig)
        if not ring.any():
            raise ValueError(
                f"center, rad_in, rad_out: the ring around {self.params.center!r} from "
                f"{self.params.rad_in!r} to {self.params.rad_out!r} holds no pixel of the "
                f"{ring.shape[0]}x{ring.shape[1]} frame"
            )
        return {
            "intensity": self.buffer(kind="nav", dtype="float32"),
            # per frame: ring pixels seen so far, their mean (real, imaginary part) and their
            # sum of squared deviations
            "ring_moments": self.buffer(
                kind="nav", dtype="float64", extra_shape=(4,), use="private"
            ),
        }

    def get_task_data(self) -> dict[str, Any]:
        return {"ring": self._ring(self.meta.partition_shape.sig)}

    def process_tile(self, tile: np.ndarray) -> None:
        tile_slice = self.meta.slice
        assert tile_slice is not None  # set for every tile
        ring_part = tile_slice.get(self.task_data.ring, sig_only=True)
        pixels = np.flatnonzero(ring_part)
        n_b = pixels.size
        if n_b == 0:
            return
        values = tile.reshape(tile.shape[0], -1)[:, pixels]
        # a complex value's variance is that of its real part plus that of its imaginary part
        parts = (values.real, values.imag) if np.iscomplexobj(values) else (values,)
        mean_b = np.zeros((values.shape[0], 2))
        m2_b = np.zeros(values.shape[0])
        for i, part in enumerate(parts):
            part64 = part.astype(np.float64)
            mean_b[:, i] = part64.mean(axis=1)
            m2_b += np.square(part64 - mean_b[:, i, np.newaxis]).sum(axis=1)
        moments = self.results.ring_moments
        n_a = moments[:, 0].copy()
        n = n_a + n_b
        delta = mean_b - moments[:, 1:3]
        moments[:, 3] += m2_b + np.square(delta).sum(axis=1) * (n_a * n_b / n)
        moments[:, 1:3] += delta * (n_b / n)[:, np.newaxis]
        moments[:, 0] = n

    def postprocess(self) -> None:
        moments = self.results.ring_moments
        # every frame has seen the whole ring here, and the ring is not empty
        self.results.intensity[:] = np.sqrt(moments[:, 3] / moments[:, 0])


def run_fem(ctx: Any, dataset: Any, center: Any, rad_in: Any, rad_out: Any, roi: Any = None) -> Any:
    """Run :class:`FEMUDF` on ``dataset``: the ring's standard deviation for each frame.

    ``center`` is ``(y, x)``, as for :class:`FEMUDF`. Returns the result of
    ``ctx.run_udf``: ``result["intensity"].data`` is the map over the scan.
    """
    udf = FEMUDF(center=center, rad_in=rad_in, rad_out=rad_out)
    return ctx.run_udf(dataset=dataset, udf=udf, roi=roi)
