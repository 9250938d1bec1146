"""Per-frame dispatch cost of a Python ``process_frame`` UDF, without I/O or compute.

Run as ``python frame_dispatch.py ferrotem|libertem REPS``; prints µs per frame as JSON. A
memory dataset of 256x256 frames of 4x4 pixels makes reading and the UDF's work negligible, so
what is left is the engine's per-frame work: setting views, meta, calling the method.
"""

import json
import sys
import time

import numpy as np

if sys.argv[1] == "ferrotem":
    from ferrotem.api import Context
    from ferrotem.executor.inline import InlineJobExecutor
    from ferrotem.udf.base import UDF
else:
    from libertem.api import Context
    from libertem.executor.inline import InlineJobExecutor
    from libertem.udf.base import UDF


class FirstPixelUDF(UDF):
    def get_result_buffers(self):
        return {"s": self.buffer(kind="nav", dtype="float32")}

    def process_frame(self, frame):
        self.results.s[:] = frame[0, 0]


def main() -> None:
    reps = int(sys.argv[2])
    ctx = Context(executor=InlineJobExecutor())
    ds = ctx.load("memory", data=np.ones((256, 256, 4, 4), dtype=np.float32), num_partitions=4)
    ctx.run_udf(dataset=ds, udf=FirstPixelUDF())
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        ctx.run_udf(dataset=ds, udf=FirstPixelUDF())
        times.append(time.perf_counter() - t0)
    print(json.dumps({"us_per_frame": sorted(times)[len(times) // 2] / 65536 * 1e6}))


if __name__ == "__main__":
    main()
