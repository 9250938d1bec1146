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
    Cell,
    Dataset,
    check,
    import_api,
    load_references,
    make_context,
    prepare,
    startup_times,
    time_cells,
)


def expected(workload: str, ds: Dataset) -> tuple[Any, ...]:
    refs = load_references(ds)
    return tuple(refs[k] for k in WORKLOAD_REFS[workload])


def run_cells(cfg: dict[str, Any]) -> dict[str, Any]:
    api = import_api(cfg["package"])
    threads = cfg["threads"]
    contexts: dict[str, Any] = {}
    try:
        cells, chunks = [], {}
        for spec in cfg["cells"]:
            ds = Dataset.from_json(spec["dataset"])
            setup = spec["setup"]
            if setup not in contexts:
                contexts[setup] = make_context(api, setup, threads)
            fn = prepare(spec["workload"], ds, api=api, ctx=contexts[setup], threads=threads)
            cells.append(Cell(spec["label"], fn, expected(spec["workload"], ds)))
            if spec["workload"] == "mda-sum":
                data = contexts[setup].load(
                    "raw", path=ds.path, nav_shape=ds.nav, sig_shape=ds.sig, dtype=ds.dtype
                )
                chunks[spec["label"]] = [list(c) for c in api.make_dask_array(data)[0].chunks]
        times = time_cells(cells, cfg["reps"])
    finally:
        for ctx in contexts.values():
            ctx.close()
    startup = None
    if cfg.get("startup"):
        startup = startup_times(lambda: make_context(api, "cluster", threads), cfg["reps"])
    return {
        "version": f"{api.name} {api.version}",
        "times": times,
        "startup": startup,
        "chunks": chunks,
    }


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
