"""Dask benchmark of ferrotem (issues 3 and 4; run by ``make bench`` after ``run.py``).

Measures, in one run on this machine, with the data in the page cache:

* issue 3, on run.py's 512 MiB uint16 raw file (64x64 scan of 256x256 frames): SumUDF and
  SumSigUDF through ``Context.make_with('delayed')`` + ``.data`` (default threaded scheduler)
  against the embedded default ``Context()``; ``make_dask_array(ds)[0].sum(axis=(0, 1))``
  against ``da.from_array(np.memmap(...))`` with the same chunks; LiberTEM's equivalents;
* issue 4, on a 4 GiB uint16 raw file (256x128 scan of 256x256 frames; 2 GiB, 128x128, when
  the disk has less than 10 GiB free): SumUDF and SumSigUDF on a local Dask cluster with two
  CPU workers (``DaskJobExecutor.make_local``) against the embedded ``Context()`` and LiberTEM's
  default ``Context()``; the wall time from ``Context.make_with('dask', cpus=2)`` to a ready
  executor, and LiberTEM's default ``Context()`` start-up.

Every cell is the median of ``--reps`` timed repetitions after one untimed warm-up run, as in
run.py. The ferrotem runs compared with each other take turns within each repetition (A, B, A,
B, ...), so that load from other work on the shared machine hits both alike; LiberTEM runs in
its own venv (``benchmarks/libertem_dask_side.py``) right after the ferrotem runs it is
compared with. Tables give the median and, in brackets, the slowest and fastest repetition.
Results are printed as markdown and written to ``benchmarks/results/dask.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from run import (
    DATA,
    LIBERTEM_PY,
    NAV,
    RESULTS,
    ROOT,
    SIG,
    data_path,
    ensure_file,
    warm_page_cache,
)

HERE = os.path.dirname(os.path.abspath(__file__))
SMALL = ("uint16", NAV, SIG)  # 512 MiB, run.py's file
LARGE = ("uint16", (256, 128), SIG)  # 4 GiB
LARGE_FALLBACK = ("uint16", (128, 128), SIG)  # 2 GiB, when the disk is short
MIN_FREE = 10 << 30
STARTUP_CPUS = 2

# Reference figures of LiberTEM 0.16 on a similar 2-core machine (GB/s; start-up in s).
REFERENCE = {
    "delayed sum": 3.9,
    "delayed sumsig": 3.6,
    "make_dask_array sum": 0.97,
    "memmap dask sum": 4.1,
    "cluster sum": 3.6,
    "startup": 1.5,
}


def step(msg: str) -> None:
    print(f"[dask-bench] {msg}", file=sys.stderr, flush=True)


def large_spec() -> tuple[tuple[str, tuple[int, ...], tuple[int, ...]], str]:
    """The issue-4 dataset: 4 GiB unless it is missing and the disk has < 10 GiB free."""
    path = data_path(*LARGE)
    if os.path.exists(path):
        return LARGE, ""
    os.makedirs(DATA, exist_ok=True)
    free = shutil.disk_usage(DATA).free
    if free < MIN_FREE:
        return LARGE_FALLBACK, f"2 GiB instead of 4 GiB: only {free / 2**30:.1f} GiB free on disk"
    return LARGE, ""


def interleaved(fns: dict[str, Callable[[], Any]], reps: int) -> dict[str, list[float]]:
    """Wall times of each function over ``reps`` rounds after one untimed warm-up call of each;
    within a round the functions take turns."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(reps):
        for key, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - t0)
    return times


def load(ctx: Any, path: str, spec: tuple[str, tuple[int, ...], tuple[int, ...]]) -> Any:
    dtype, nav, sig = spec
    return ctx.load("raw", path=path, nav_shape=nav, sig_shape=sig, dtype=dtype)


# -- issue 3 --------------------------------------------------------------------------------------
def issue3(path: str, reps: int) -> tuple[dict[str, list[float]], str]:
    import dask.array as da
    from ferrotem.api import Context
    from ferrotem.contrib.daskadapter import make_dask_array
    from ferrotem.udf.sum import SumUDF
    from ferrotem.udf.sumsigudf import SumSigUDF

    cells: dict[str, list[float]] = {}
    embedded = Context()
    delayed = Context.make_with("delayed")
    try:
        ds_e = load(embedded, path, SMALL)
        ds_d = load(delayed, path, SMALL)
        for key, cls in (("sum", SumUDF), ("sumsig", SumSigUDF)):
            step(f"issue 3: {cls.__name__}, delayed vs embedded")
            cells.update(
                interleaved(
                    {
                        f"embedded {key}": lambda cls=cls: embedded.run_udf(ds_e, cls()),
                        f"delayed {key}": lambda cls=cls: (
                            delayed.run_udf(ds_d, cls())["intensity"].data
                        ),
                    },
                    reps,
                )
            )
        step("issue 3: make_dask_array + sum vs memmap dask array")
        chunks = make_dask_array(ds_e)[0].chunks
        dtype, nav, sig = SMALL

        def mda_sum() -> Any:
            return make_dask_array(ds_e)[0].sum(axis=(0, 1)).compute()

        def memmap_sum() -> Any:
            mm = np.memmap(path, dtype=dtype, mode="r", shape=nav + sig)
            return da.from_array(mm, chunks=chunks).astype("float32").sum(axis=(0, 1)).compute()

        np.testing.assert_allclose(mda_sum(), memmap_sum(), rtol=1e-5)
        cells.update(
            interleaved({"make_dask_array sum": mda_sum, "memmap dask sum": memmap_sum}, reps)
        )
    finally:
        delayed.close()
        embedded.close()
    return cells, str(chunks)


# -- issue 4 --------------------------------------------------------------------------------------
def issue4(path: str, spec: Any, reps: int) -> dict[str, list[float]]:
    from ferrotem.api import Context
    from ferrotem.executor.dask import DaskJobExecutor, cluster_spec
    from ferrotem.udf.sum import SumUDF
    from ferrotem.udf.sumsigudf import SumSigUDF

    cells: dict[str, list[float]] = {}
    step("issue 4: ferrotem start-up of make_with('dask')")
    times = []
    for _ in range(reps + 1):  # the first start is an untimed warm-up
        t0 = time.perf_counter()
        ctx = Context.make_with("dask", cpus=STARTUP_CPUS)
        times.append(time.perf_counter() - t0)
        ctx.close()
    cells["startup"] = times[1:]
    embedded = Context()
    executor = DaskJobExecutor.make_local(spec=cluster_spec(cpus=[0, 1], cudas=[], has_cupy=False))
    cluster = Context(executor=executor)
    try:
        ds_e = load(embedded, path, spec)
        ds_c = load(cluster, path, spec)
        for key, cls in (("sum", SumUDF), ("sumsig", SumSigUDF)):
            step(f"issue 4: {cls.__name__}, local cluster (2 CPU workers) vs embedded")
            cells.update(
                interleaved(
                    {
                        f"embedded {key}": lambda cls=cls: embedded.run_udf(ds_e, cls()),
                        f"cluster {key}": lambda cls=cls: cluster.run_udf(ds_c, cls()),
                    },
                    reps,
                )
            )
    finally:
        cluster.close()
        embedded.close()
    return cells


# -- LiberTEM -------------------------------------------------------------------------------------
def libertem(parts: list[str], paths: dict[str, tuple[str, Any]], reps: int) -> dict[str, Any]:
    """Runs benchmarks/libertem_dask_side.py in .venv-libertem; returns its result, or
    ``{"error": reason}``."""
    if not os.path.exists(LIBERTEM_PY):
        return {"error": "not installed (make bench-libertem)"}
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "config.json")
        res = os.path.join(d, "result.json")
        with open(cfg, "w") as f:
            json.dump(
                {
                    name: {"path": p, "dtype": s[0], "nav": s[1], "sig": s[2]}
                    for name, (p, s) in paths.items()
                }
                | {"reps": reps, "parts": parts},
                f,
            )
        proc = subprocess.run(
            [LIBERTEM_PY, os.path.join(HERE, "libertem_dask_side.py"), cfg, res],
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-5:]
            return {"error": "failed: " + " | ".join(tail)}
        with open(res) as f:
            return json.load(f)


# -- report ---------------------------------------------------------------------------------------
def med(times: list[float] | None) -> float | None:
    return None if not times else statistics.median(times)


def div(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a / b


def fmt(x: float | None, spec: str = ".2f") -> str:
    return "-" if x is None else format(x, spec)


def gbs(nbytes: int, times: list[float] | None) -> str:
    """Median GB/s [slowest-fastest repetition]."""
    if not times:
        return "-"
    return (
        f"{nbytes / statistics.median(times) / 1e9:.2f} "
        f"[{nbytes / max(times) / 1e9:.1f}-{nbytes / min(times) / 1e9:.1f}]"
    )


def seconds(times: list[float] | None) -> str:
    if not times:
        return "-"
    return f"{statistics.median(times):.2f} [{min(times):.2f}-{max(times):.2f}]"


def ratio_row(what: str, value: float | None, target: str, ok: Callable[[float], bool]) -> str:
    verdict = "-" if value is None else ("yes" if ok(value) else "**no**")
    return f"| {what} | {fmt(value)} | {target} | {verdict} |"


UDF_LABELS = (("sum", "SumUDF"), ("sumsig", "SumSigUDF"))


def build_report(r: dict[str, Any]) -> str:
    lines: list[str] = []
    add = lines.append
    c3, c4 = r["fe3"], r["fe4"]
    l3, l4 = r["lt3"].get("cells", {}), r["lt4"].get("cells", {})
    n3, n4 = r["bytes3"], r["bytes4"]

    add("# ferrotem Dask benchmark")
    add("")
    add(
        f"{r['when']} · {r['machine']} · median of {r['reps']} runs per cell after a warm-up "
        f"run (in brackets: slowest and fastest run) · data in the page cache · load average "
        f"{r['load0']:.2f} at start, {r['load1']:.2f} at end (other work on the machine skews "
        "the numbers; compare the ratios, measured side by side)"
    )
    add("")
    add(f"LiberTEM: {r['libertem_status']}")
    if r["large_note"]:
        add("")
        add(f"Note: {r['large_note']}")
    add("")
    add(f"## Issue 3: delayed executor and `make_dask_array`, uint16 {n3 / 2**20:.0f} MiB")
    add("")
    add(
        "GB/s of dataset bytes; the reference column is LiberTEM 0.16 on a similar 2-core "
        "machine. Dask computes with its default threaded scheduler."
    )
    add("")
    add("| run | ferrotem | LiberTEM (this run) | LiberTEM (reference) |")
    add("|---|---:|---:|---:|")
    for key, label in UDF_LABELS:
        add(f"| `Context()` (embedded), {label} | {gbs(n3, c3[f'embedded {key}'])} | - | - |")
    for key, label in UDF_LABELS:
        add(
            f"| `make_with('delayed')`, {label} + `.data` | {gbs(n3, c3[f'delayed {key}'])} | "
            f"{gbs(n3, l3.get(f'delayed {key}'))} | {REFERENCE[f'delayed {key}']:.2f} |"
        )
    add(
        f"| `make_dask_array(ds)[0].sum(axis=(0, 1)).compute()` | "
        f"{gbs(n3, c3['make_dask_array sum'])} | {gbs(n3, l3.get('make_dask_array sum'))} | "
        f"{REFERENCE['make_dask_array sum']:.2f} |"
    )
    add(
        "| `da.from_array(np.memmap(...), chunks=<make_dask_array's>)"
        f".astype('float32').sum(axis=(0, 1)).compute()` | {gbs(n3, c3['memmap dask sum'])} | "
        f"- | {REFERENCE['memmap dask sum']:.2f} |"
    )
    add("")
    add(
        f"Chunks: ferrotem `make_dask_array` {r['chunks']}; LiberTEM's "
        f"{r['lt3'].get('chunks') or '-'}."
    )
    add("")
    add("| ratio (of medians) | measured | target | met |")
    add("|---|---:|---|---|")
    for key, label in UDF_LABELS:
        add(
            ratio_row(
                f"{label}: delayed time / embedded time",
                div(med(c3[f"delayed {key}"]), med(c3[f"embedded {key}"])),
                "≤ 1.25",
                lambda v: v <= 1.25,
            )
        )
    for key, label in UDF_LABELS:
        add(
            ratio_row(
                f"{label}: delayed throughput, ferrotem / LiberTEM",
                div(med(l3.get(f"delayed {key}")), med(c3[f"delayed {key}"])),
                "≥ 3",
                lambda v: v >= 3,
            )
        )
    add(
        ratio_row(
            "make_dask_array + sum throughput / memmap dask array",
            div(med(c3["memmap dask sum"]), med(c3["make_dask_array sum"])),
            "≥ 1.5",
            lambda v: v >= 1.5,
        )
    )
    add(
        ratio_row(
            "make_dask_array + sum throughput, ferrotem / LiberTEM",
            div(med(l3.get("make_dask_array sum")), med(c3["make_dask_array sum"])),
            "≥ 4",
            lambda v: v >= 4,
        )
    )
    add("")
    add(f"## Issue 4: local Dask cluster, uint16 {n4 / 2**30:.0f} GiB ({r['large_shape']})")
    add("")
    add(
        "GB/s of dataset bytes. ferrotem local cluster: `DaskJobExecutor.make_local(spec="
        "cluster_spec(cpus=[0, 1], cudas=[], has_cupy=False))` (2 CPU workers + 1 service "
        "worker); LiberTEM: its default `Context()` (a local Dask cluster). Reference: LiberTEM "
        f"0.16 SumUDF {REFERENCE['cluster sum']:.1f} GB/s on a similar machine."
    )
    add("")
    add("| UDF | ferrotem `Context()` (embedded) | ferrotem local cluster | LiberTEM `Context()` |")
    add("|---|---:|---:|---:|")
    for key, label in UDF_LABELS:
        add(
            f"| {label} | {gbs(n4, c4[f'embedded {key}'])} | {gbs(n4, c4[f'cluster {key}'])} | "
            f"{gbs(n4, l4.get(f'cluster {key}'))} |"
        )
    add("")
    add("| start-up to a ready executor | seconds |")
    add("|---|---:|")
    add(f"| ferrotem `Context.make_with('dask', cpus={STARTUP_CPUS})` | {seconds(c4['startup'])} |")
    add(f"| LiberTEM `Context()` (this run) | {seconds(r['lt4'].get('startup'))} |")
    add(f"| LiberTEM `Context()` (reference) | {REFERENCE['startup']:.2f} |")
    add("")
    add("| ratio (of medians) | measured | target | met |")
    add("|---|---:|---|---|")
    for key, label in UDF_LABELS:
        add(
            ratio_row(
                f"{label}: cluster time / embedded time",
                div(med(c4[f"cluster {key}"]), med(c4[f"embedded {key}"])),
                "≤ 1.3",
                lambda v: v <= 1.3,
            )
        )
    for key, label in UDF_LABELS:
        add(
            ratio_row(
                f"{label}: cluster throughput, ferrotem / LiberTEM",
                div(med(l4.get(f"cluster {key}")), med(c4[f"cluster {key}"])),
                "≥ 3",
                lambda v: v >= 3,
            )
        )
    value = div(med(r["lt4"].get("startup")), med(c4["startup"]))
    add(f"| start-up time, LiberTEM / ferrotem | {fmt(value)} | - | - |")
    add("")
    add(f"Command: `{r['command']}` · {r['total']:.0f} s in all")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="timed runs per cell (default 3)")
    parser.add_argument("--no-libertem", action="store_true", help="skip LiberTEM even if found")
    args = parser.parse_args(argv)
    reps = max(1, args.reps)

    import psutil

    t_start = time.perf_counter()
    load0 = os.getloadavg()[0]
    step("preparing data in benchmarks/data (created once; the 4 GiB file takes a while)")
    small = ensure_file(*SMALL)
    spec4, large_note = large_spec()
    large = ensure_file(*spec4)

    no_lt = {"error": "skipped (--no-libertem)"}
    warm_page_cache(small)
    fe3, chunks = issue3(small, reps)
    lt3: dict[str, Any] = no_lt
    if not args.no_libertem:
        step("issue 3: LiberTEM (.venv-libertem)")
        warm_page_cache(small)
        lt3 = libertem(["delayed"], {"small": (small, SMALL)}, reps)

    warm_page_cache(large)
    fe4 = issue4(large, spec4, reps)
    lt4: dict[str, Any] = no_lt
    if not args.no_libertem:
        step("issue 4: LiberTEM (.venv-libertem)")
        warm_page_cache(large)
        lt4 = libertem(["cluster"], {"large": (large, spec4)}, reps)

    errors = [x["error"] for x in (lt3, lt4) if "error" in x]
    version = lt3.get("version") or lt4.get("version")
    status = "; ".join(errors) if errors else f"{version} (in .venv-libertem)"
    report = build_report(
        {
            "when": time.strftime("%Y-%m-%d %H:%M"),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
            f"{psutil.virtual_memory().total / 2**30:.0f} GiB",
            "reps": reps,
            "load0": load0,
            "load1": os.getloadavg()[0],
            "libertem_status": status,
            "large_note": large_note,
            "large_shape": "x".join(map(str, spec4[1] + spec4[2])),
            "fe3": fe3,
            "fe4": fe4,
            "lt3": lt3,
            "lt4": lt4,
            "chunks": chunks,
            "bytes3": os.path.getsize(small),
            "bytes4": os.path.getsize(large),
            "command": " ".join(["python benchmarks/dask_bench.py", *(argv or sys.argv[1:])]),
            "total": time.perf_counter() - t_start,
        }
    )
    print(report)
    os.makedirs(RESULTS, exist_ok=True)
    out = os.path.join(RESULTS, "dask.md")
    with open(out, "w") as f:
        f.write(report)
    print(f"written to {os.path.relpath(out, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
