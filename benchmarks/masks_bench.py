"""ApplyMasksUDF, side by side with LiberTEM 0.16 (part of ``make bench``).

On the raw benchmark files (a 64x64 scan of 256x256 frames, uint16 512 MiB and float32 1 GiB):
1, 16 and 64 dense float32 masks and 16 sparse ring masks (``benchmarks/mask_workloads.py``),
and one fused run of SumUDF + SumSigUDF + 4 dense masks + CoMUDF on uint16, as GB/s of
dataset bytes, ferrotem ``Context()`` against LiberTEM ``Context()`` with ``--threads``
workers each, in rounds of both sides. Every result is checked against float64 numpy. Beside
the figures: the memory-read bandwidth measured in the same run (``run.memory_bandwidth``)
and, for dense masks, GFLOP/s (2 flops per pixel and mask). The targets of issue 9 are judged:
every cell at least 3x LiberTEM, 16 dense masks at least 40 % of the bandwidth, the fused run
at least 60 %. Results go to ``benchmarks/results/masks.md`` and ``masks.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from common import (
    LIBERTEM_PY,
    ROOT,
    Dataset,
    ensure_com_references,
    ensure_file,
    ensure_references,
    gbs,
    median_gbs,
    result_header,
    run_side,
    run_specs,
    step,
    verdict,
    warm_page_cache,
    write_results,
)
from common import (
    number_cell as cell,
)
from mask_workloads import DENSE, FUSED_MASKS, ensure_mask_references
from run import memory_bandwidth

NAV = (64, 64)
SIG = (256, 256)
DATASETS = (
    Dataset("uint16", "uint16", NAV, SIG),
    Dataset("float32", "float32", NAV, SIG),
)
#: (workload, datasets it runs on, label)
CELLS = (
    ("masks1", ("uint16", "float32"), "1 dense mask"),
    ("masks16", ("uint16", "float32"), "16 dense masks"),
    ("masks64", ("uint16", "float32"), "64 dense masks"),
    ("rings16", ("uint16",), "16 sparse ring masks"),
    ("fused", ("uint16",), f"SumUDF + SumSigUDF + {FUSED_MASKS} dense masks + CoMUDF, one run"),
)
#: targets (issue 9): ferrotem / LiberTEM for every cell; share of the bandwidth
GOAL_X = 3.0
GOAL_BW = {"masks16": 0.40, "fused": 0.60}
TAG = "masks"
#: rounds of (ferrotem, LiberTEM), each of ``--reps`` runs per cell
ROUNDS = 2
FERROTEM = "ferrotem Context()"
LIBERTEM = "LiberTEM Context()"


def specs(engine: str, only: set[str] | None) -> list[dict[str, Any]]:
    """The cells of ``engine`` (a ``Context()``), those named in ``only`` if given."""
    by_name = {ds.name: ds for ds in DATASETS}
    return [
        {
            "label": f"{engine}|{name}|{workload}",
            "setup": "default",
            "workload": workload,
            "dataset": by_name[name].to_json(),
        }
        for workload, names, _ in CELLS
        for name in names
        if only is None or workload in only
    ]


def build_report(r: dict[str, Any]) -> str:
    lines: list[str] = []
    add = lines.append
    add("# ApplyMasksUDF")
    add("")
    add(
        f"{r['when']} · commit {r['commit']} · {r['machine']} · 64x64 scan of 256x256 frames, "
        f"GB/s of dataset bytes · {r['threads']} workers on both sides · median of "
        f"{ROUNDS * r['reps']} runs in {ROUNDS} rounds of both sides, each after a checked "
        "warm-up run ([slowest-fastest] in brackets), every result checked against float64 "
        "numpy · files in the page cache · load average "
        f"{r['load0']:.2f} at start, {r['load1']:.2f} at end"
    )
    add("")
    add(
        f"Memory-read bandwidth: **{r['bw']:.1f} GB/s**, the best of {ROUNDS} measurements, one "
        f"before each round ({r['bw_method']})."
    )
    add("")
    add(f"LiberTEM: {r['libertem']}")
    add("")
    add(
        "| masks | dataset | ferrotem `Context()` | % of mem. BW | GFLOP/s | "
        "LiberTEM `Context()` | x LiberTEM | goals met |"
    )
    add("|---|---|---:|---:|---:|---:|---:|---|")
    t = r["times"]
    sig_px = SIG[0] * SIG[1]
    for workload, names, label in CELLS:
        for ds in DATASETS:
            if ds.name not in names:
                continue
            ours_t = t.get(f"{FERROTEM}|{ds.name}|{workload}")
            if not ours_t:
                continue
            ours = median_gbs(ds.nbytes, ours_t)
            lt = median_gbs(ds.nbytes, t.get(f"{LIBERTEM}|{ds.name}|{workload}"))
            share = None if ours is None else ours / r["bw"]
            flops = None
            if workload in DENSE and ours is not None:
                frames_per_s = ours * 1e9 / ds.nbytes * NAV[0] * NAV[1]
                flops = frames_per_s * sig_px * DENSE[workload] * 2 / 1e9
            x = None if not (ours and lt) else ours / lt
            goals = [f"x{GOAL_X:g} LiberTEM: " + verdict(x, lambda v: v >= GOAL_X)]
            if workload in GOAL_BW:
                goal = GOAL_BW[workload]
                goals.append(f"{goal:.0%} of BW: " + verdict(share, lambda v, g=goal: v >= g))
            spread = gbs(ds.nbytes, ours_t).partition(" ")[2]
            add(
                f"| {label} | {ds.label} | **{cell(ours, '{:.2f}')}** {spread} | "
                f"{cell(share, '{:.0%}')} | {cell(flops, '{:.1f}')} | {cell(lt, '{:.2f}')} | "
                f"{cell(x, 'x{:.1f}')} | {', '.join(goals)} |"
            )
    add("")
    add(
        "Dense masks: float32 weights uniform in [0, 1), `use_sparse=False`; rings: 16 "
        "concentric rings 8 pixels wide around the centre, `use_sparse=True` (LiberTEM: "
        "scipy.sparse); results float32. GFLOP/s: 2 per pixel and mask. The fused run's "
        "LiberTEM figure is the same four UDFs in one LiberTEM `run_udf` (CoMUDF: "
        "`with_params(**common.COM_PARAMS)`, result `raw_com`)."
    )
    add("")
    add(f"Command: `{r['command']}` · {r['total']:.0f} s in all")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="timed runs per cell (default 3)")
    parser.add_argument(
        "--threads", type=int, default=None, help="workers of both engines (default: cores)"
    )
    parser.add_argument("--no-libertem", action="store_true", help="skip LiberTEM even if found")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=[c[0] for c in CELLS],
        help="run these workloads only (default: all)",
    )
    args = parser.parse_args(argv)
    reps = max(1, args.reps)
    only = set(args.only) if args.only else None

    from ferrotem.executor.base import physical_cores

    threads = args.threads or physical_cores()
    t_start = time.perf_counter()
    load0 = os.getloadavg()[0]
    step(TAG, "preparing the files and references in benchmarks/data (computed once)")
    for ds in DATASETS:
        ensure_file(ds)
        ensure_references(ds)
        ensure_mask_references(ds.path, ds.dtype, ds.nav, ds.sig)
        ensure_com_references(ds)
    for ds in DATASETS:
        warm_page_cache(ds.path)
    step(TAG, "memory bandwidth")
    bw, bw_method = memory_bandwidth(threads, reps)
    with_lt = not args.no_libertem and os.path.exists(LIBERTEM_PY)
    libertem = "no result"
    if args.no_libertem:
        libertem = "skipped (--no-libertem)"
    elif not with_lt:
        libertem = "not installed (make bench-libertem)"
    times: dict[str, list[float]] = {}
    # The two packages run in different processes, one after the other; in rounds, so that
    # load from other work on a shared machine hits both sides alike.
    for i in range(ROUNDS):
        if i:
            # the best bandwidth of the rounds: the shares of it are then the conservative ones
            bw = max(bw, memory_bandwidth(threads, reps)[0])
        step(TAG, f"round {i + 1}/{ROUNDS}: ferrotem")
        mine = run_specs("ferrotem", specs(FERROTEM, only), threads, reps)["times"]
        for label, t in mine.items():
            times.setdefault(label, []).extend(t)
        if not with_lt:
            continue
        step(TAG, f"round {i + 1}/{ROUNDS}: LiberTEM (.venv-libertem)")
        side = run_side(
            LIBERTEM_PY,
            {
                "mode": "cells",
                "package": "libertem",
                "threads": threads,
                "reps": reps,
                "cells": specs(LIBERTEM, only),
            },
        )
        if "error" in side:
            libertem = side["error"]
            with_lt = False
        else:
            libertem = f"{side['version']} (in .venv-libertem)"
            for label, t in side["times"].items():
                times.setdefault(label, []).extend(t)
    result = {
        **result_header("masks_bench.py", threads, reps, load0, t_start, argv),
        "bw": bw,
        "bw_method": bw_method,
        "libertem": libertem,
        "times": times,
    }
    report = build_report(result)
    print(report)
    out = write_results("masks", report, result)
    print(f"written to {os.path.relpath(out, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
