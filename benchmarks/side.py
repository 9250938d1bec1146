"""One benchmark process for either package: the LiberTEM side of the comparisons (run in
``.venv-libertem``), and every fresh-process first run (either venv).

Usage: ``python side.py CONFIG.json RESULT.json``. CONFIG holds ``mode`` and ``package``
(``ferrotem`` or ``libertem``; ignored by the numpy/dask workloads) and ``threads``, which
both sides apply the same way (``common.make_context``):

* ``mode: "cells"``: ``cells`` (label, setup, workload, dataset, optional chunks) timed by
  ``common.time_cells`` over ``reps`` rounds, every result checked against the numpy
  references; with ``startup: true`` also the start-up of ``make_with('dask', cpus=threads)``.
  RESULT: ``{"version", "times": {label: [s, ...]}, "startup": [s, ...] | null, "chunks":
  {label: make_dask_array's chunks}}``.
* ``mode: "first-run"``: one ``workload`` on one ``dataset`` in this fresh process: the context
  is made first, then the clock runs from loading the dataset to the checked result. RESULT:
  ``{"seconds"}``.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from common import (
    WORKLOAD_REFS,
    Dataset,
    check,
    import_api,
    load_references,
    make_context,
    prepare,
    run_specs,
    startup_times,
)


def expected(workload: str, ds: Dataset) -> tuple[Any, ...]:
    refs = load_references(ds)
    return tuple(refs[k] for k in WORKLOAD_REFS[workload])


def run_cells(cfg: dict[str, Any]) -> dict[str, Any]:
    out = run_specs(cfg["package"], cfg["cells"], cfg["threads"], cfg["reps"])
    out["startup"] = None
    if cfg.get("startup"):
        api = import_api(cfg["package"])
        out["startup"] = startup_times(
            lambda: make_context(api, "cluster", cfg["threads"]), cfg["reps"]
        )
    return out


def first_run(cfg: dict[str, Any]) -> dict[str, Any]:
    ds = Dataset.from_json(cfg["dataset"])
    workload = cfg["workload"]
    # Imports happen before the clock, so that the figure is the run, not the interpreter
    # warming up: dask.array and distributed too (LiberTEM imports both with its API; ferrotem,
    # and dask's first compute(), which looks for a distributed client, import them on first use).
    import dask.array  # noqa: F401

    try:
        import distributed  # noqa: F401
    except ImportError:
        pass

    api = ctx = None
    if not (workload.startswith("numpy-") or workload.startswith("dask-")):
        api = import_api(cfg["package"])
        ctx = make_context(api, cfg["setup"], cfg["threads"])
    chunks = cfg.get("chunks")
    if chunks is not None:
        chunks = tuple(tuple(c) for c in chunks)
    try:
        t0 = time.perf_counter()
        fn = prepare(workload, ds, api=api, ctx=ctx, threads=cfg["threads"], chunks=chunks)
        result = fn()
        seconds = time.perf_counter() - t0
    finally:
        if ctx is not None:
            ctx.close()
    check(f"first run of {workload}", result, expected(workload, ds))
    return {"seconds": seconds}


def main() -> None:
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    modes = {"cells": run_cells, "first-run": first_run}
    out = modes[cfg["mode"]](cfg)
    with open(sys.argv[2], "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
