"""Per-frame dispatch cost of a Python ``process_frame`` UDF, without I/O or compute.

Run as ``python frame_dispatch.py ferrotem|libertem REPS``; prints µs per frame as JSON. A
memory dataset of 256x256 frames of 4x4 pixels makes reading and the UDF's work negligible, so
what is left is the engine's per-frame work: setting views, meta, calling the method. Both
packages run ``Context.make_with('inline')``; the result is checked before the time counts.
"""

import json
import sys

import numpy as np
from common import Cell, import_api, make_context, median, time_cells

N_FRAMES = 256 * 256


def main() -> None:
    api = import_api(sys.argv[1])
    reps = int(sys.argv[2])

    class FirstPixelUDF(api.UDF):
        def get_result_buffers(self):
            return {"s": self.buffer(kind="nav", dtype="float32")}

        def process_frame(self, frame):
            self.results.s[:] = frame[0, 0]

    ctx = make_context(api, "inline", 1)
    data = np.ones((256, 256, 4, 4), dtype=np.float32)
    data[..., 0, 0] = np.arange(N_FRAMES, dtype=np.float32).reshape(256, 256) % 1000
    ds = ctx.load("memory", data=data, num_partitions=4)
    cell = Cell(
        "dispatch",
        lambda: (np.asarray(ctx.run_udf(dataset=ds, udf=FirstPixelUDF())["s"].data),),
        (data[..., 0, 0].astype(np.float64),),
    )
    times = time_cells([cell], reps)["dispatch"]
    ctx.close()
    print(json.dumps({"us_per_frame": median(times) / N_FRAMES * 1e6}))


if __name__ == "__main__":
    main()
