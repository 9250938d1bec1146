"""Side-by-side benchmark of ferrotem (the first half of ``make bench``).

Measures, in one run on this machine, with the data in the page cache:

* memory-read bandwidth of the machine (the ceiling for any reduction);
* SumUDF, SumSigUDF and both in one pass, as GB/s of dataset bytes, for ferrotem and LiberTEM
  (``Context()`` against ``Context()``, ``make_with('inline')`` against the same, both with
  ``--threads`` workers), a numpy reduction over ``np.memmap`` and a dask.array reduction over
  that memmap (threaded scheduler, ``--threads`` workers); LiberTEM when ``.venv-libertem``
  exists (``make bench-libertem``);
* beside each warm figure (median of ``--reps`` after a warm-up, in one process that keeps its
  dataset open), the first run: a fresh process, file in the page cache but not yet mapped, from
  loading the dataset to the result;
* per-frame cost of a Python ``process_frame`` UDF doing ``np.sum(frame)`` on 256x256 frames
  (reading included), and the engines' bare dispatch cost per frame (4x4-pixel frames);
* time for a fresh process to import, load a 100 MB raw file and get its first SumUDF result;
* Merlin ``.mib`` files (12-bit, 6-bit, RAW 1-bit) of the uint16 file's scan, SumUDF and
  SumSigUDF, ferrotem against LiberTEM's ``'mib'`` reader and against ferrotem on the same
  pixels as the raw uint16 file (``--only mib`` runs this part alone);
* statistics UDFs, ``Context()`` against ``Context()``: StdDevUDF on the uint16 and float32
  files, LogsumUDF on the uint16 file (``--only stats`` runs this part alone).

Every result is checked against numpy (float64 references) before its time counts. Results are
printed and written to ``benchmarks/results/run.md`` and ``run.json``; ``benchmarks/report.py``
combines them with ``dask_bench.py``'s into ``results/latest.md``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np
from common import (
    HERE,
    LIBERTEM_PY,
    ROOT,
    Cell,
    Dataset,
    ensure_com_references,
    ensure_file,
    ensure_references,
    ensure_stats_references,
    first_run,
    gbs_first,
    git_commit,
    load_references,
    machine,
    off_reference,
    result_header,
    run_side,
    run_specs,
    step,
    verdict,
    warm_page_cache,
    write_results,
)
from formats import ensure_mib, ensure_mib_references

NAV = (64, 64)
SIG = (256, 256)
DATASETS = (
    Dataset("uint16", "uint16", NAV, SIG),  # 512 MiB
    Dataset("float32", "float32", NAV, SIG),  # 1 GiB
)
PER_FRAME = DATASETS[1]
STARTUP = Dataset("startup", "uint16", (24, 32), SIG)  # 768 frames, 100.7 MB
UDF_SETS = {
    "sum": "SumUDF",
    "sumsig": "SumSigUDF",
    "both": "SumUDF + SumSigUDF",
    "com": "CoMUDF (r=64 disk)",
}
#: UDF sets only the engines run (numpy and dask have no counterpart)
ENGINE_ONLY_SETS = {"com"}

#: engine label -> (package, setup, workload prefix, has a first-run column)
ENGINES = {
    "ferrotem Context()": ("ferrotem", "default", "", True),
    "ferrotem inline": ("ferrotem", "inline", "", False),
    "numpy memmap": ("numpy", None, "numpy-", True),
    "dask memmap": ("dask", None, "dask-", True),
    "LiberTEM Context()": ("libertem", "default", "", True),
    "LiberTEM inline": ("libertem", "inline", "", False),
}
FRAME_ENGINES = {
    "ferrotem Context()": ("ferrotem", "default"),
    "ferrotem inline": ("ferrotem", "inline"),
    "LiberTEM Context()": ("libertem", "default"),
    "LiberTEM inline": ("libertem", "inline"),
}
TAG = "bench"

#: Merlin files of the uint16 file's scan, written from its pixels (benchmarks/formats.py); the
#: dtype is what the frames decode to (GB/s are of decoded bytes, as the issue counts them)
MIB_SOURCE = DATASETS[0]
MIB_DATASETS = (
    Dataset("mib12", "uint16", NAV, SIG, "12"),
    Dataset("mib6", "uint8", NAV, SIG, "6"),
    Dataset("mibr1", "uint8", NAV, SIG, "r1"),
)
MIB_LABELS = {"mib12": "12-bit (>u2)", "mib6": "6-bit (u1)", "mibr1": "RAW 1-bit"}
MIB_UDFS = {"sum": "SumUDF", "sumsig": "SumSigUDF"}
#: LiberTEM 0.16 on a machine like this one (issue 8; GB/s of decoded bytes, middle of the
#: ranges given there): a measured LiberTEM figure more than 2x off is shown but not judged
MIB_REFERENCE = {"mib12": 1.65, "mib6": 0.8, "mibr1": 0.75}
#: targets (issue 8): ferrotem / LiberTEM, and ferrotem MIB / ferrotem raw uint16 (12-bit only)
MIB_GOAL_X = 4.0
MIB_GOAL_RAW = 0.70
#: ``--only mib``: rounds of (ferrotem, LiberTEM), each of ``--reps`` runs per cell
MIB_ROUNDS = 2

#: statistics UDFs side by side: (dataset name, workload), and the UDFs' names
STATS_CELLS = (("uint16", "stddev"), ("float32", "stddev"), ("uint16", "logsum"))
STATS_UDFS = {"stddev": "StdDevUDF", "logsum": "LogsumUDF"}


# -- memory bandwidth -----------------------------------------------------------------------------
def memory_bandwidth(threads: int, reps: int) -> tuple[float, str]:
    """Memory-read bandwidth in GB/s: ``threads`` threads reduce disjoint parts of a 1 GiB
    in-memory array (``np.max`` over float64 and ``np.count_nonzero`` over its uint8 view; numpy
    releases the GIL in both); the best of the two medians."""
    a = np.ones((1 << 30) // 8)
    a[::4096] = 2.0  # touch every page, and keep max() honest
    parts = np.array_split(a, threads)
    parts8 = [p.view(np.uint8) for p in parts]
    best = 0.0
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        for fn, chunks in ((np.max, parts), (np.count_nonzero, parts8)):
            times = []
            list(pool.map(fn, chunks))
            for _ in range(reps):
                t0 = time.perf_counter()
                list(pool.map(fn, chunks))
                times.append(time.perf_counter() - t0)
            best = max(best, a.nbytes / statistics.median(times) / 1e9)
    method = (
        f"{threads} threads reducing disjoint parts of a 1 GiB in-memory array "
        "(np.max on float64, np.count_nonzero on uint8; best of the two medians)"
    )
    return best, method


# -- cells ----------------------------------------------------------------------------------------
def cell_specs(engines: list[str]) -> list[dict[str, Any]]:
    """The throughput and per-frame cells of ``engines`` as JSON-able specs."""
    specs = []
    for engine in engines:
        _, setup, prefix, _ = ENGINES[engine]
        for ds in DATASETS:
            for key in UDF_SETS:
                if prefix and key in ENGINE_ONLY_SETS:
                    continue
                specs.append(
                    {
                        "label": f"{engine}|{ds.name}|{key}",
                        "setup": setup,
                        "workload": prefix + key,
                        "dataset": ds.to_json(),
                    }
                )
        if engine in FRAME_ENGINES:
            specs.append(
                {
                    "label": f"{engine}|{PER_FRAME.name}|frame",
                    "setup": setup,
                    "workload": "frame",
                    "dataset": PER_FRAME.to_json(),
                }
            )
    return specs


def mib_specs(engine: str, datasets: tuple[Dataset, ...] = MIB_DATASETS) -> list[dict[str, Any]]:
    """SumUDF and SumSigUDF cells on the Merlin files, with ``engine`` (a ``Context()``)."""
    _, setup, _, _ = ENGINES[engine]
    return [
        {
            "label": f"{engine}|{ds.name}|{key}",
            "setup": setup,
            "workload": key,
            "dataset": ds.to_json(),
        }
        for ds in datasets
        for key in MIB_UDFS
    ]


def stats_specs(engine: str) -> list[dict[str, Any]]:
    """The statistics cells (``STATS_CELLS``) with ``engine``."""
    _, setup, _, _ = ENGINES[engine]
    by_name = {ds.name: ds for ds in DATASETS}
    return [
        {
            "label": f"{engine}|{name}|{key}",
            "setup": setup,
            "workload": key,
            "dataset": by_name[name].to_json(),
        }
        for name, key in STATS_CELLS
    ]


def stats_table(times: dict[str, list[float]]) -> list[str]:
    """The report's section on the statistics UDFs."""
    by_name = {ds.name: ds for ds in DATASETS}
    lines = [
        "## Statistics UDFs (GB/s of dataset bytes; `Context()` on both sides)",
        "",
        "StdDevUDF checked on `varsum` against numpy's two-pass float64 moments, LogsumUDF on "
        "`logsum` against numpy in float64.",
        "",
        "| dataset | UDF | ferrotem `Context()` | LiberTEM `Context()` | x LiberTEM |",
        "|---|---|---:|---:|---:|",
    ]
    for name, key in STATS_CELLS:
        ds = by_name[name]
        mine = times.get(f"ferrotem Context()|{name}|{key}")
        lt = times.get(f"LiberTEM Context()|{name}|{key}")
        row = [ds.label, STATS_UDFS[key]]
        row.append(f"**{ds.nbytes / statistics.median(mine) / 1e9:.2f}**" if mine else "-")
        row.append(f"{ds.nbytes / statistics.median(lt) / 1e9:.2f}" if lt else "not run")
        row.append(
            f"x{statistics.median(lt) / statistics.median(mine):.1f}" if lt and mine else "-"
        )
        lines.append("| " + " | ".join(row) + " |")
    return lines


def libertem_mib(threads: int, reps: int) -> dict[str, Any]:
    """LiberTEM's ``'mib'`` cells, one side process per file so that a file LiberTEM cannot
    read (its 0.16 fails some RAW files) costs only its own cells; returns ``{"times",
    "errors"}``."""
    times: dict[str, list[float]] = {}
    errors: dict[str, str] = {}
    for ds in MIB_DATASETS:
        side = run_side(
            LIBERTEM_PY,
            {
                "mode": "cells",
                "package": "libertem",
                "threads": threads,
                "reps": reps,
                "cells": mib_specs("LiberTEM Context()", (ds,)),
            },
        )
        if "error" in side:
            errors[ds.name] = side["error"]
        else:
            times.update(side["times"])
    return {"times": times, "errors": errors}


def mib_table(r: dict[str, Any]) -> list[str]:
    """The report's section on Merlin files."""
    times, lt_errors = r["times"], r.get("mib_lt_errors", {})
    with_lt = "LiberTEM Context()" in r["engines"]
    lines = [
        "## Merlin MIB: 64x64 scan of 256x256 frames (GB/s of decoded bytes)",
        "",
        "The files are written from the uint16 file's pixels (12-bit: the same pixels; 6-bit: "
        "modulo 64; RAW 1-bit: modulo 2, packed as the chips deliver them), one 384-byte header "
        "per frame; every result checked against numpy sums of those pixels. raw uint16: "
        "ferrotem `Context()` on the uint16 raw file, i.e. the 12-bit file's pixels without "
        "headers, in little-endian order. Goals (issue 8): x LiberTEM >= "
        f"{MIB_GOAL_X:.0f}; 12-bit also >= {100 * MIB_GOAL_RAW:.0f} % of raw uint16.",
        "",
        "| file | UDF | ferrotem `Context()` | LiberTEM `Context()` | x LiberTEM | raw uint16 | "
        "% of raw | goals met |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    flagged = False
    for ds in MIB_DATASETS:
        for key, udf in MIB_UDFS.items():
            mine = times.get(f"ferrotem Context()|{ds.name}|{key}")
            lt = times.get(f"LiberTEM Context()|{ds.name}|{key}")
            raw = times.get(f"ferrotem Context()|{MIB_SOURCE.name}|{key}")
            m = statistics.median(mine) if mine else None
            row = [MIB_LABELS[ds.name], udf, "-" if m is None else f"**{ds.nbytes / m / 1e9:.2f}**"]
            ok = []
            if not with_lt:
                row += ["not run", "-"]
            elif lt and m:
                lt_gbs = ds.nbytes / statistics.median(lt) / 1e9
                off = off_reference(lt_gbs, MIB_REFERENCE[ds.name])
                flagged |= off
                x = statistics.median(lt) / m
                row += [f"{lt_gbs:.2f}" + (" ⚠" if off else ""), f"x{x:.1f}"]
                ok.append(verdict(x, lambda v: v >= MIB_GOAL_X, off))
            else:
                row += ["fails: " + lt_errors.get(ds.name, "no result")[:60], "-"]
                ok.append("not judged: LiberTEM gave no figure")
            if ds.mib == "12" and raw and m:
                ratio = statistics.median(raw) / m
                row += [
                    f"{MIB_SOURCE.nbytes / statistics.median(raw) / 1e9:.2f}",
                    f"{100 * ratio:.0f} %",
                ]
                ok.append(verdict(ratio, lambda v: v >= MIB_GOAL_RAW))
            else:
                row += ["-", "-"]
            row.append(", ".join(ok) or "-")
            lines.append("| " + " | ".join(row) + " |")
    if flagged:
        lines += [
            "",
            "⚠: more than 2x off LiberTEM's figure for this file in issue 8 (on a similar "
            "machine); the x LiberTEM goal is not judged on it.",
        ]
    for name, err in lt_errors.items():
        lines += ["", f"LiberTEM on {MIB_LABELS[name]}: {err}"]
    return lines


def plain_frame_loop(expected: np.ndarray) -> Cell:
    """``np.sum`` over each frame of a memmap in a Python loop: the per-frame table's floor."""
    n = int(np.prod(PER_FRAME.nav))
    mm = np.memmap(PER_FRAME.path, dtype=PER_FRAME.dtype, mode="r", shape=(n,) + PER_FRAME.sig)
    out = np.empty(n, np.float32)

    def loop() -> tuple[np.ndarray, ...]:
        for i in range(n):
            out[i] = np.sum(mm[i])
        return (out.reshape(PER_FRAME.nav),)

    return Cell(f"plain np.sum loop (memmap)|{PER_FRAME.name}|frame", loop, (expected,))


def first_runs(engines: list[str], threads: int) -> dict[str, float | str]:
    """Fresh-process first run of every throughput cell of the engines that have the column."""
    out: dict[str, float | str] = {}
    for engine in engines:
        package, setup, prefix, has_first = ENGINES[engine]
        if not has_first:
            continue
        python = LIBERTEM_PY if package == "libertem" else sys.executable
        for ds in DATASETS:
            for key in UDF_SETS:
                if prefix and key in ENGINE_ONLY_SETS:
                    continue
                out[f"{engine}|{ds.name}|{key}"] = first_run(
                    python, package, setup or "", prefix + key, ds, threads
                )
    return out


def frame_dispatch(python: str, package: str, reps: int) -> float:
    """µs per frame of the engine's own per-frame work (see benchmarks/frame_dispatch.py)."""
    proc = subprocess.run(
        [python, os.path.join(HERE, "frame_dispatch.py"), package, str(max(3, reps))],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"frame_dispatch run of {package} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])["us_per_frame"]


STARTUP_SCRIPT = """\
import json, sys, time
t0 = time.perf_counter()
if sys.argv[1] == "ferrotem":
    from ferrotem.api import Context
    from ferrotem.udf.sum import SumUDF
else:
    from libertem.api import Context
    from libertem.udf.sum import SumUDF
t1 = time.perf_counter()


def main():
    ctx = Context() if sys.argv[2] == "default" else Context.make_with("inline")
    ds = ctx.load("raw", path=sys.argv[3], nav_shape=NAV, sig_shape=SIG, dtype=DTYPE)
    t2 = time.perf_counter()
    res = ctx.run_udf(dataset=ds, udf=SumUDF())
    float(res["intensity"].data[0, 0])
    t3 = time.perf_counter()
    print(json.dumps({"import": t1 - t0, "load": t2 - t1, "first_result": t3 - t2}))
    sys.stdout.flush()
    ctx.close()


if __name__ == "__main__":
    main()
"""


def startup(python: str, package: str, executor: str, reps: int) -> dict[str, float]:
    """Median wall time of a fresh process that imports ``package``, loads the 100 MB file and
    gets its first SumUDF result (the process's start included), and the median split inside
    it."""
    script = STARTUP_SCRIPT.replace("NAV", repr(STARTUP.nav)).replace("SIG", repr(STARTUP.sig))
    script = script.replace("DTYPE", repr(STARTUP.dtype))
    with tempfile.TemporaryDirectory() as d:
        file = os.path.join(d, "startup.py")
        with open(file, "w") as f:
            f.write(script)
        walls, parts = [], []
        for _ in range(reps + 1):  # the first run warms the OS file cache of the imports
            t0 = time.perf_counter()
            proc = subprocess.run(
                [python, file, package, executor, STARTUP.path],
                capture_output=True,
                text=True,
                cwd=d,
                timeout=300,
            )
            walls.append(time.perf_counter() - t0)
            if proc.returncode != 0:
                raise RuntimeError(f"startup run of {package} failed:\n{proc.stderr[-2000:]}")
            parts.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    walls, parts = walls[1:], parts[1:]
    result = {"wall": statistics.median(walls)}
    for key in parts[0]:
        result[key] = statistics.median(p[key] for p in parts)
    return result


# -- report ---------------------------------------------------------------------------------------
def build_report(r: dict[str, Any]) -> str:
    lines: list[str] = []
    add = lines.append
    add("# ferrotem benchmark")
    add("")
    add(
        f"{r['when']} · commit {r['commit']} · {r['machine']} · {r['threads']} workers on both "
        f"sides · median of {r['reps']} runs per cell after a checked warm-up run, every result "
        "checked against numpy · data in the page cache · load average "
        f"{r['load0']:.2f} at start, {r['load1']:.2f} at end (other work on the machine skews "
        "the numbers; compare the ratios)"
    )
    add("")
    add(f"Memory-read bandwidth: **{r['bw']:.1f} GB/s** ({r['bw_method']}).")
    add("")
    add(f"LiberTEM: {r['libertem']}")
    add("")
    add(
        "## Throughput (GB/s of dataset bytes; xN: ferrotem `Context()` is N times faster; "
        "first: a fresh process's first run)"
    )
    add("")
    engines = r["engines"]
    header = ["dataset", "UDFs"]
    for e in engines:
        header.append(e)
        if ENGINES[e][3]:
            header.append("first")
    add("| " + " | ".join(header) + " |")
    add("|---|---|" + "---:|" * (len(header) - 2))
    times, first = r["times"], r["first"]
    for ds in DATASETS:
        nbytes = ds.nbytes
        for key, label in UDF_SETS.items():
            base = statistics.median(times[f"ferrotem Context()|{ds.name}|{key}"])
            row = [ds.label, label]
            for e in engines:
                t = times.get(f"{e}|{ds.name}|{key}")
                if not t:
                    row.append("-")
                else:
                    m = statistics.median(t)
                    if e == "ferrotem Context()":
                        pct = 100 * nbytes / m / 1e9 / r["bw"]
                        row.append(f"**{nbytes / m / 1e9:.2f}** ({pct:.0f}% of mem. BW)")
                    else:
                        row.append(f"{nbytes / m / 1e9:.2f} (x{m / base:.1f})")
                if ENGINES[e][3]:
                    row.append(gbs_first(nbytes, first.get(f"{e}|{ds.name}|{key}")))
            add("| " + " | ".join(row) + " |")
    add("")
    add(
        "`Context()`: ferrotem's embedded thread pool, LiberTEM's local Dask cluster; inline: "
        "`Context.make_with('inline')` in both. numpy: `mm.sum(axis=0, dtype=float32)` / "
        "`mm.sum(axis=(1, 2), dtype=float32)` on one `np.memmap` (both: two passes); dask: a "
        "`map_blocks` array over that memmap (dask's raw-file recipe; ~16 MiB chunks; not "
        "`da.from_array`, which copies a memmap whole since dask 2024.12), both reductions in "
        "one `dask.compute`, threaded scheduler. Warm figures reuse the open dataset or memmap "
        "(ferrotem also keeps opened files per process); first runs pay mapping and page faults."
    )
    add("")
    add("## Per-frame cost: `process_frame` doing `np.sum(frame)`, float32 256x256 frames")
    add("")
    add("Reading included; 4096 frames.")
    add("")
    add("| runner | µs/frame |")
    add("|---|---:|")
    n_frames = int(np.prod(PER_FRAME.nav))
    for label, t in r["frame"].items():
        add(f"| {label} | {statistics.median(t) / n_frames * 1e6:.1f} |")
    add("")
    add("## Per-frame dispatch: `process_frame` on 4x4-pixel frames (no I/O, no compute)")
    add("")
    add("| runner | µs/frame |")
    add("|---|---:|")
    for engine, us in r["dispatch"].items():
        add(f"| {engine} | {us:.2f} |")
    add("")
    add(
        "## Fresh process: import, load a 100 MB raw file (uint16, 24x32 x 256x256), "
        "first SumUDF result"
    )
    add("")
    add("| runner | wall (s) | import (s) | Context + load (s) | first result (s) |")
    add("|---|---:|---:|---:|---:|")
    for engine, s in r["startup"].items():
        add(
            f"| {engine} | {s['wall']:.2f} | {s['import']:.2f} | {s['load']:.2f} | "
            f"{s['first_result']:.2f} |"
        )
    add("")
    if r.get("mib"):
        lines += mib_table(r)
        add("")
    lines += stats_table(r["times"])
    add("")
    add(f"Command: `{r['command']}` · {r['total']:.0f} s in all")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="timed runs per cell (default 3)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="workers for both engines, dask and the bandwidth test (default: physical cores)",
    )
    parser.add_argument("--no-libertem", action="store_true", help="skip LiberTEM even if found")
    parser.add_argument(
        "--no-first-run", action="store_true", help="skip the fresh-process first runs"
    )
    parser.add_argument(
        "--only",
        choices=["mib", "stats"],
        help="run one part alone (mib: the Merlin table and the raw uint16 cells it compares "
        "with; written to results/run_mib.md; stats: the statistics UDFs, results/run_stats.md)",
    )
    args = parser.parse_args(argv)
    reps = max(1, args.reps)
    if args.only == "mib":
        return main_mib(args, reps)
    if args.only == "stats":
        return main_stats(args, reps)

    from ferrotem.executor.base import physical_cores

    threads = args.threads or physical_cores()
    t_start = time.perf_counter()
    load0 = os.getloadavg()[0]
    step(TAG, "preparing data in benchmarks/data (files and references are created once)")
    for ds in (*DATASETS, STARTUP):
        ensure_file(ds)
    for ds in DATASETS:
        ensure_references(ds)
        ensure_com_references(ds)
        ensure_stats_references(ds)
    prepare_mib()
    for ds in (*DATASETS, STARTUP, *MIB_DATASETS):
        warm_page_cache(ds.path)
    step(TAG, "memory bandwidth")
    bw, bw_method = memory_bandwidth(threads, reps)

    with_libertem = not args.no_libertem and os.path.exists(LIBERTEM_PY)
    engines = [e for e in ENGINES if with_libertem or ENGINES[e][0] != "libertem"]
    local = [e for e in engines if ENGINES[e][0] != "libertem"]
    step(TAG, "ferrotem, numpy and dask (interleaved)")
    loop = plain_frame_loop(load_references(PER_FRAME)["sumsig"])
    specs = cell_specs(local) + mib_specs("ferrotem Context()") + stats_specs("ferrotem Context()")
    times = run_specs("ferrotem", specs, threads, reps, [loop])["times"]
    dispatch = {"ferrotem inline": frame_dispatch(sys.executable, "ferrotem", reps)}
    step(TAG, "startup")
    startup_res = {"ferrotem Context()": startup(sys.executable, "ferrotem", "default", reps)}
    mib_lt_errors: dict[str, str] = {}
    if args.no_libertem:
        libertem = "skipped (--no-libertem)"
    elif not with_libertem:
        libertem = "not installed (make bench-libertem)"
    else:
        step(TAG, "LiberTEM (.venv-libertem)")
        lt_engines = [e for e in engines if ENGINES[e][0] == "libertem"]
        side = run_side(
            LIBERTEM_PY,
            {
                "mode": "cells",
                "package": "libertem",
                "threads": threads,
                "reps": reps,
                "cells": cell_specs(lt_engines) + stats_specs("LiberTEM Context()"),
            },
        )
        if "error" in side:
            libertem = side["error"]
            engines = local
        else:
            libertem = f"{side['version']} (in .venv-libertem)"
            times.update(side["times"])
            step(TAG, "LiberTEM on the Merlin files")
            lt_mib = libertem_mib(threads, reps)
            times.update(lt_mib["times"])
            mib_lt_errors = lt_mib["errors"]
            dispatch["LiberTEM inline"] = frame_dispatch(LIBERTEM_PY, "libertem", reps)
            for executor in ("inline", "default"):
                label = "LiberTEM " + ("inline" if executor == "inline" else "Context()")
                startup_res[label] = startup(LIBERTEM_PY, "libertem", executor, reps)
    first: dict[str, float | str] = {}
    if not args.no_first_run:
        step(TAG, "first runs (fresh processes)")
        first = first_runs(engines, threads)
    print(f"LiberTEM: {libertem}", flush=True)

    frame = {label.split("|")[0]: t for label, t in times.items() if label.endswith("|frame")}
    result = {
        **result_header("run.py", threads, reps, load0, t_start, argv),
        "bw": bw,
        "bw_method": bw_method,
        "libertem": libertem,
        "engines": engines,
        "datasets": {ds.name: {"label": ds.label, "nbytes": ds.nbytes} for ds in DATASETS},
        "times": {k: v for k, v in times.items() if not k.endswith("|frame")},
        "first": first,
        "frame": frame,
        "dispatch": dispatch,
        "startup": startup_res,
        "mib": True,
        "mib_lt_errors": mib_lt_errors,
    }
    report = build_report(result)
    print(report)
    out = write_results("run", report, result)
    print(f"written to {os.path.relpath(out, ROOT)}")
    return 0


def prepare_mib() -> None:
    """The Merlin files and their references (created once, from the uint16 file)."""
    for ds in MIB_DATASETS:
        ensure_mib(ds, MIB_SOURCE)
        ensure_mib_references(ds, MIB_SOURCE)


def main_mib(args: argparse.Namespace, reps: int) -> int:
    """``--only mib``: the Merlin table alone."""
    from ferrotem.executor.base import physical_cores

    threads = args.threads or physical_cores()
    t_start = time.perf_counter()
    load0 = os.getloadavg()[0]
    step(TAG, "preparing data in benchmarks/data (files and references are created once)")
    ensure_file(MIB_SOURCE)
    ensure_references(MIB_SOURCE)
    prepare_mib()
    for ds in (MIB_SOURCE, *MIB_DATASETS):
        warm_page_cache(ds.path)
    raw_specs = [
        spec
        for spec in cell_specs(["ferrotem Context()"])
        if spec["dataset"]["name"] == MIB_SOURCE.name and spec["workload"] in MIB_UDFS
    ]
    with_lt = not args.no_libertem and os.path.exists(LIBERTEM_PY)
    engines = ["ferrotem Context()"] + (["LiberTEM Context()"] if with_lt else [])
    times: dict[str, list[float]] = {}
    errors: dict[str, str] = {}
    # The two packages run in different processes, one after the other; in rounds, so that
    # load from other work on a shared machine hits both sides alike.
    for i in range(MIB_ROUNDS):
        step(TAG, f"round {i + 1}/{MIB_ROUNDS}: ferrotem (interleaved)")
        mine = run_specs("ferrotem", raw_specs + mib_specs("ferrotem Context()"), threads, reps)
        for label, t in mine["times"].items():
            times.setdefault(label, []).extend(t)
        if with_lt:
            step(TAG, f"round {i + 1}/{MIB_ROUNDS}: LiberTEM on the Merlin files")
            lt = libertem_mib(threads, reps)
            for label, t in lt["times"].items():
                times.setdefault(label, []).extend(t)
            errors.update(lt["errors"])
    r = {"times": times, "engines": engines, "mib_lt_errors": errors}
    head = (
        f"# ferrotem benchmark: Merlin MIB\n\n{time.strftime('%Y-%m-%d %H:%M')} · commit "
        f"{git_commit()} · {machine()} · {threads} workers on both sides · median of "
        f"{MIB_ROUNDS * reps} "
        f"runs per cell in {MIB_ROUNDS} rounds of both sides · load average {load0:.2f} at "
        f"start, {os.getloadavg()[0]:.2f} at end\n\n"
    )
    report = head + "\n".join(mib_table(r)) + "\n"
    report += f"\n{time.perf_counter() - t_start:.0f} s in all\n"
    print(report)
    out = write_results("run_mib", report, {**r, "threads": threads, "reps": reps})
    print(f"written to {os.path.relpath(out, ROOT)}")
    return 0


def main_stats(args: argparse.Namespace, reps: int) -> int:
    """``--only stats``: the statistics UDFs alone, ferrotem then LiberTEM."""
    from ferrotem.executor.base import physical_cores

    threads = args.threads or physical_cores()
    t_start = time.perf_counter()
    load0 = os.getloadavg()[0]
    step(TAG, "preparing data in benchmarks/data (files and references are created once)")
    names = {name for name, _ in STATS_CELLS}
    datasets = [ds for ds in DATASETS if ds.name in names]
    for ds in datasets:
        ensure_file(ds)
        ensure_references(ds)
        ensure_stats_references(ds)
        warm_page_cache(ds.path)
    step(TAG, "ferrotem")
    times = run_specs("ferrotem", stats_specs("ferrotem Context()"), threads, reps)["times"]
    if not args.no_libertem and os.path.exists(LIBERTEM_PY):
        step(TAG, "LiberTEM (.venv-libertem)")
        side = run_side(
            LIBERTEM_PY,
            {
                "mode": "cells",
                "package": "libertem",
                "threads": threads,
                "reps": reps,
                "cells": stats_specs("LiberTEM Context()"),
            },
        )
        if "error" in side:
            print(f"LiberTEM: {side['error']}", flush=True)
        else:
            times.update(side["times"])
    head = (
        f"# ferrotem benchmark: statistics UDFs\n\n{time.strftime('%Y-%m-%d %H:%M')} · commit "
        f"{git_commit()} · {machine()} · {threads} workers on both sides · median of {reps} "
        f"runs per cell · load average {load0:.2f} at start, {os.getloadavg()[0]:.2f} at end\n\n"
    )
    report = head + "\n".join(stats_table(times)) + "\n"
    command = " ".join(["python benchmarks/run.py", *sys.argv[1:]])
    report += f"\nCommand: `{command}` · {time.perf_counter() - t_start:.0f} s in all\n"
    print(report)
    out = write_results("run_stats", report, {"times": times, "threads": threads, "reps": reps})
    print(f"written to {os.path.relpath(out, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
