"""LiberTEM's half of the Dask benchmark (issues 3 and 4); runs in ``.venv-libertem``, started by
``benchmarks/dask_bench.py`` (same pattern as ``libertem_side.py``).

Usage: ``python libertem_dask_side.py CONFIG.json RESULT.json``. CONFIG holds ``small`` and
``large`` datasets (path, dtype, nav, sig), ``reps`` and ``parts`` (which of ``delayed``,
``cluster`` to run); RESULT receives ``{"version", "cells": {label: [seconds, ...]},
"startup": [seconds, ...], "chunks": str}``: the times of ``reps`` runs after one untimed
warm-up run.
"""

from __future__ import annotations

import json
import sys
import time


def run_times(fn, reps):
    """Wall times of ``reps`` calls after one untimed warm-up call."""
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def load(ctx, d):
    return ctx.load(
        "raw",
        path=d["path"],
        nav_shape=tuple(d["nav"]),
        sig_shape=tuple(d["sig"]),
        dtype=d["dtype"],
    )


def main():
    import libertem
    from libertem.api import Context
    from libertem.contrib.daskadapter import make_dask_array
    from libertem.executor.inline import InlineJobExecutor
    from libertem.udf.sum import SumUDF
    from libertem.udf.sumsigudf import SumSigUDF

    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    reps = cfg["reps"]
    parts = cfg["parts"]
    cells = {}
    startup = None
    chunks = None
    udfs = {"sum": (SumUDF, "intensity"), "sumsig": (SumSigUDF, "intensity")}

    if "delayed" in parts:
        # issue 3: DelayedJobExecutor runs, computed through .data (default threaded scheduler)
        ctx = Context.make_with("delayed")
        try:
            ds = load(ctx, cfg["small"])
            for key, (cls, name) in udfs.items():
                cells[f"delayed {key}"] = run_times(
                    lambda cls=cls, name=name: ctx.run_udf(dataset=ds, udf=cls())[name].data,
                    reps,
                )
        finally:
            ctx.close()
        # issue 3: make_dask_array + sum, on a dataset of an inline Context (no cluster)
        ctx = Context(executor=InlineJobExecutor())
        try:
            ds = load(ctx, cfg["small"])
            cells["make_dask_array sum"] = run_times(
                lambda: make_dask_array(ds)[0].sum(axis=(0, 1)).compute(), reps
            )
            chunks = str(make_dask_array(ds)[0].chunks)
        finally:
            ctx.close()

    if "cluster" in parts:
        # issue 4: start-up of the default Context (a local Dask cluster), reps times after
        # one untimed warm-up start
        times = []
        for _ in range(reps + 1):
            t0 = time.perf_counter()
            ctx = Context()
            times.append(time.perf_counter() - t0)
            ctx.close()
        startup = times[1:]
        ctx = Context()
        try:
            ds = load(ctx, cfg["large"])
            for key, (cls, _) in udfs.items():
                cells[f"cluster {key}"] = run_times(
                    lambda cls=cls: ctx.run_udf(dataset=ds, udf=cls()), reps
                )
        finally:
            ctx.close()

    with open(sys.argv[2], "w") as f:
        json.dump(
            {
                "version": f"LiberTEM {libertem.__version__}",
                "cells": cells,
                "startup": startup,
                "chunks": chunks,
            },
            f,
        )


if __name__ == "__main__":
    main()
