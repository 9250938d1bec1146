"""LiberTEM's half of the side-by-side benchmark; runs in ``.venv-libertem`` (``make
bench-libertem``), started by ``benchmarks/run.py``.

Usage: ``python libertem_side.py CONFIG.json RESULT.json``. CONFIG holds the datasets
(path, dtype, nav, sig), ``reps`` and ``threads``; RESULT receives
``{"version", "cells": {engine: {dataset: {udfs: seconds}}}, "per_frame_us": {engine: µs}}``.
Each time is the median of ``reps`` runs after one untimed warm-up run, as in run.py.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import numpy as np


def median_time(fn, reps):
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    import libertem
    from libertem.api import Context
    from libertem.executor.inline import InlineJobExecutor
    from libertem.udf.base import UDF
    from libertem.udf.sum import SumUDF
    from libertem.udf.sumsigudf import SumSigUDF

    class NpSumFrameUDF(UDF):
        def get_result_buffers(self):
            return {"s": self.buffer(kind="nav", dtype="float32")}

        def process_frame(self, frame):
            self.results.s[:] = np.sum(frame)

    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    reps = cfg["reps"]
    udf_sets = {
        "sum": lambda: [SumUDF()],
        "sumsig": lambda: [SumSigUDF()],
        "both": lambda: [SumUDF(), SumSigUDF()],
    }
    cells, per_frame = {}, {}
    contexts = (
        ("LiberTEM inline", lambda: Context(executor=InlineJobExecutor())),
        ("LiberTEM Context()", lambda: Context()),
    )
    for engine, make_ctx in contexts:
        ctx = make_ctx()
        try:
            by_ds = cells.setdefault(engine, {})
            datasets = {}
            for name, d in cfg["datasets"].items():
                ds = ctx.load(
                    "raw",
                    path=d["path"],
                    nav_shape=tuple(d["nav"]),
                    sig_shape=tuple(d["sig"]),
                    dtype=d["dtype"],
                )
                datasets[name] = ds
                by_ds[name] = {
                    key: median_time(lambda c=ctx, ds=ds, make=make: c.run_udf(ds, make()), reps)
                    for key, make in udf_sets.items()
                }
            ds = datasets[cfg["per_frame"]]
            n = int(np.prod(ds.shape.nav))
            t = median_time(lambda c=ctx, ds=ds: c.run_udf(ds, NpSumFrameUDF()), reps)
            per_frame[engine] = t / n * 1e6
        finally:
            ctx.close()
    with open(sys.argv[2], "w") as f:
        json.dump(
            {
                "version": f"LiberTEM {libertem.__version__}",
                "cells": cells,
                "per_frame_us": per_frame,
            },
            f,
        )


if __name__ == "__main__":
    main()
