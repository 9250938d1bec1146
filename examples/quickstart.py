"""A first ferrotem script: an in-memory 4D-STEM dataset, the built-in UDFs and a custom UDF.

Run it with ``python examples/quickstart.py``.
"""

import numpy as np
from ferrotem.api import Context
from ferrotem.udf.base import UDF
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF


class VirtualBrightFieldUDF(UDF):
    """Counts inside a disk of ``radius`` pixels around the frame centre, for every frame."""

    def __init__(self, radius):
        super().__init__(radius=radius)

    def get_result_buffers(self):
        return {"bf": self.buffer(kind="nav", dtype="float32")}

    def get_task_data(self):
        fy, fx = self.meta.dataset_shape.sig
        y, x = np.ogrid[0:fy, 0:fx]
        mask = (y - (fy - 1) / 2) ** 2 + (x - (fx - 1) / 2) ** 2 < self.params.radius**2
        return {"mask": mask.astype(self.meta.input_dtype)}

    def process_tile(self, tile):
        # one matrix-vector product per tile: (frames, pixels) @ (pixels,)
        flat = tile.reshape(tile.shape[0], -1)
        self.results.bf[:] = flat @ self.task_data.mask.ravel()


def make_data(scan=(32, 32), frame=(64, 64), seed=0):
    """A bright disk whose intensity drops inside a round 'particle' in the scan, with noise."""
    rng = np.random.default_rng(seed)
    fy, fx = frame
    y, x = np.ogrid[0:fy, 0:fx]
    disk = ((y - fy / 2) ** 2 + (x - fx / 2) ** 2 < (fy / 8) ** 2).astype(np.float32)
    sy, sx = np.ogrid[0 : scan[0], 0 : scan[1]]
    particle = (sy - scan[0] / 2) ** 2 + (sx - scan[1] / 2) ** 2 < (scan[0] / 4) ** 2
    transmission = np.where(particle, 0.4, 1.0)[..., None, None]
    return rng.poisson(50 * disk * transmission + 0.5).astype(np.uint16)


def main():
    data = make_data()
    with Context() as ctx:
        ds = ctx.load("memory", data=data, sig_dims=2)
        print(f"dataset: shape {tuple(ds.shape)}, dtype {ds.dtype}")

        # Built-in UDFs run natively; several UDFs in one call read the data once.
        sum_res, sumsig_res = ctx.run_udf(dataset=ds, udf=[SumUDF(), SumSigUDF()])
        mean_pattern = sum_res["intensity"].data / np.prod(ds.shape.nav)
        total = sumsig_res["intensity"].data
        print(f"mean pattern {mean_pattern.shape}, max {mean_pattern.max():.1f} counts/pixel")
        print(f"total intensity {total.shape}: {total.min():.0f} .. {total.max():.0f}")

        bf = ctx.run_udf(dataset=ds, udf=VirtualBrightFieldUDF(radius=10))["bf"].data
        assert np.all(bf <= total)  # the disk holds part of each frame's counts
        inside, outside = bf[16, 16], bf[0, 0]
        print(f"virtual bright field: {inside:.0f} counts in the particle, {outside:.0f} outside")

        # Restrict a run to part of the scan with a region of interest.
        roi = np.zeros(ds.shape.nav, dtype=bool)
        roi[:8, :8] = True
        corner = ctx.run_udf(dataset=ds, udf=SumUDF(), roi=roi)["intensity"].data
        assert np.allclose(corner, data[:8, :8].sum(axis=(0, 1)))
        print("ROI sum matches numpy")


if __name__ == "__main__":
    main()
