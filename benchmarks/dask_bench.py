"""Dask benchmark of ferrotem (the second half of ``make bench``, after ``run.py``).

Measures, in one run on this machine, with the data in the page cache:

* on run.py's files (64x64 scans of 256x256 frames, uint16 512 MiB and float32 1 GiB): SumUDF
  and SumSigUDF through ``Context.make_with('delayed')`` + ``.data`` (default threaded
  scheduler) against the embedded ``Context()`` and against LiberTEM's same call;
  ``make_dask_array(ds)[0].sum(axis=(0, 1)).compute()`` against LiberTEM's same call (datasets
  of ``make_with('inline')`` on both sides) and against a plain Dask array over ``np.memmap``
  with the same chunks;
* on a 4 GiB uint16 file (256x128 scan; 2 GiB, 128x128, when the disk has less than 10 GiB
  free): SumUDF and SumSigUDF on a local Dask cluster, ``Context.make_with('dask', cpus=N)`` on
  both sides, against the embedded ``Context()``; the start-up of that same call on both sides.

Each warm cell is the median of ``--reps`` after a checked warm-up run, and every result is
checked against numpy before its time counts; ferrotem's cells take turns within each
repetition, LiberTEM's run in their own venv right after. Beside them, first runs in fresh
processes. Baselines with a reference figure (LiberTEM 0.16 and plain Dask on a similar 2-core
machine) are flagged when more than 2x off it, and then not used for a verdict. Results are
written to ``benchmarks/results/dask.md`` and ``dask.json``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from typing import Any

from common import (
    DATA,
    LIBERTEM_PY,
    ROOT,
    Dataset,
    ensure_file,
    ensure_references,
    first_run,
    gbs,
    gbs_first,
    git_commit,
    import_api,
    machine,
    make_context,
    median,
    off_reference,
    run_side,
    run_specs,
    seconds_cell,
    startup_times,
    step,
    verdict,
    warm_page_cache,
    write_results,
)
from run import DATASETS

SMALL, FLOAT = DATASETS  # uint16 512 MiB, float32 1 GiB
LARGE = Dataset("large", "uint16", (256, 128), (256, 256))  # 4 GiB
LARGE_FALLBACK = Dataset("large", "uint16", (128, 128), (256, 256))  # 2 GiB
MIN_FREE = 10 << 30
TAG = "dask-bench"

#: Reference figures (GB/s; start-up in s) of the baselines on a similar 2-core machine:
#: LiberTEM 0.16, and plain Dask over a memmap (uint16 512 MiB).
REFERENCE = {
    "LiberTEM delayed|sum": 3.9,
    "LiberTEM delayed|sumsig": 3.6,
    "LiberTEM make_dask_array|uint16": 0.97,
    "memmap dask|uint16": 4.1,
    "LiberTEM cluster|sum": 3.6,
    "LiberTEM startup": 1.5,
}
UDFS = (("sum", "SumUDF"), ("sumsig", "SumSigUDF"))


def large_dataset() -> tuple[Dataset, str]:
    """The cluster dataset: 4 GiB unless it is missing and the disk has < 10 GiB free."""
    if os.path.exists(LARGE.path):
        return LARGE, ""
    os.makedirs(DATA, exist_ok=True)
    free = shutil.disk_usage(DATA).free
    if free < MIN_FREE:
        return LARGE_FALLBACK, f"2 GiB instead of 4 GiB: only {free / 2**30:.1f} GiB free on disk"
    return LARGE, ""


def spec(label: str, setup: str, workload: str, ds: Dataset) -> dict[str, Any]:
    return {"label": label, "setup": setup, "workload": workload, "dataset": ds.to_json()}


def describe_chunks(chunks: Any, itemsize: int) -> str:
    """``N blocks of up to F frames (X MiB)`` for a chunks tuple of a 4-D array."""
    if not chunks:
        return "-"
    n_blocks, largest = 1, 1
    for axis in chunks:
        n_blocks *= len(axis)
    for axis in chunks[:2]:
        largest *= max(axis)
    frame = 1
    for axis in chunks[2:]:
        frame *= max(axis)
    mib = largest * frame * itemsize / 2**20
    return f"{n_blocks} blocks of up to {largest} frames ({mib:.0f} MiB as float32)"


# -- report ---------------------------------------------------------------------------------------
def build_report(r: dict[str, Any]) -> str:
    lines: list[str] = []
    add = lines.append
    t, lt, first = r["times"], r["lt"].get("times", {}), r["first"]

    def lt_m(key: str) -> float | None:
        return median(lt.get(key))

    def flag(ref_key: str, nbytes: int, times: list[float] | None) -> tuple[str, bool]:
        ref = REFERENCE.get(ref_key)
        m = median(times)
        measured = None if m is None else nbytes / m / 1e9
        off = off_reference(measured, ref)
        return ("" if ref is None else f"{ref:.2f}" + (" ⚠ off by >2x" if off else "")), off

    add("# ferrotem Dask benchmark")
    add("")
    add(
        f"{r['when']} · commit {r['commit']} · {r['machine']} · {r['threads']} workers on both "
        f"sides · median of {r['reps']} runs per cell after a checked warm-up run (in brackets: "
        "slowest and fastest run), every result checked against numpy · data in the page cache "
        f"· load average {r['load0']:.2f} at start, {r['load1']:.2f} at end (compare the "
        "ratios, measured side by side)"
    )
    add("")
    add(f"LiberTEM: {r['libertem']}")
    if r["large_note"]:
        add("")
        add(f"Note: {r['large_note']}")
    add("")
    add("## Delayed executor and `make_dask_array` (64x64 scans of 256x256 frames)")
    add("")
    add(
        "GB/s of dataset bytes; first: a fresh process's first run (load to result). Dask "
        "computes with its default threaded scheduler. Reference: the baseline on a similar "
        "2-core machine; a baseline more than 2x off its reference is flagged and not judged."
    )
    add("")
    add("| run | ferrotem | first | LiberTEM | first | reference |")
    add("|---|---:|---:|---:|---:|---:|")
    n3 = SMALL.nbytes
    for key, label in UDFS:
        add(
            f"| uint16 512 MiB, `Context()` (embedded), {label} | {gbs(n3, t[f'embedded|{key}'])}"
            " | - | - | - | - |"
        )
    offs: dict[str, bool] = {}
    for key, label in UDFS:
        ref, offs[f"delayed {key}"] = flag(f"LiberTEM delayed|{key}", n3, lt.get(f"delayed|{key}"))
        add(
            f"| uint16 512 MiB, `make_with('delayed')`, {label} + `.data` | "
            f"{gbs(n3, t[f'delayed|{key}'])} | {gbs_first(n3, first.get(f'delayed|{key}'))} | "
            f"{gbs(n3, lt.get(f'delayed|{key}'))} | "
            f"{gbs_first(n3, first.get(f'LiberTEM delayed|{key}'))} | {ref} |"
        )
    for ds in (SMALL, FLOAT):
        n = ds.nbytes
        ref, offs[f"lt mda {ds.name}"] = flag(
            f"LiberTEM make_dask_array|{ds.name}", n, lt.get(f"mda|{ds.name}")
        )
        add(
            f"| {ds.label}, `make_dask_array(ds)[0].sum(axis=(0, 1)).compute()` | "
            f"{gbs(n, t[f'mda|{ds.name}'])} | {gbs_first(n, first.get(f'mda|{ds.name}'))} | "
            f"{gbs(n, lt.get(f'mda|{ds.name}'))} | "
            f"{gbs_first(n, first.get(f'LiberTEM mda|{ds.name}'))} | {ref} |"
        )
        ref, offs[f"memmap {ds.name}"] = flag(f"memmap dask|{ds.name}", n, t[f"memmap|{ds.name}"])
        add(
            f"| {ds.label}, plain Dask over `np.memmap`, same chunks, `.astype('float32')"
            f".sum(axis=(0, 1))` | {gbs(n, t[f'memmap|{ds.name}'])} | "
            f"{gbs_first(n, first.get(f'memmap|{ds.name}'))} | - | - | {ref} |"
        )
    add("")
    for ds in (SMALL, FLOAT):
        key = f"mda|{ds.name}"
        add(
            f"Chunks, {ds.label}: ferrotem {describe_chunks(r['chunks'].get(key), 4)}; "
            f"LiberTEM {describe_chunks(r['lt'].get('chunks', {}).get(key), 4)}."
        )
    add("")
    add(
        "Plain Dask: one `map_blocks` task per chunk slicing one open `np.memmap` (dask's "
        "raw-file recipe); `da.from_array(memmap)` is not used because dask 2024.12 and later "
        "copy the whole memmap into memory inside it (dask issue 11850), which measured that "
        "copy rather than the reduction."
    )
    add("")
    add("| ratio (of medians) | measured | target | met |")
    add("|---|---:|---|---|")

    def row(what: str, value: float | None, target: str, ok: Any, off: bool = False) -> None:
        met = "-" if ok is None else verdict(value, ok, off)
        add(f"| {what} | {'-' if value is None else f'{value:.2f}'} | {target} | {met} |")

    def ratio(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else a / b

    for key, label in UDFS:
        row(
            f"{label}: delayed time / embedded time",
            ratio(median(t[f"delayed|{key}"]), median(t[f"embedded|{key}"])),
            "≤ 1.25",
            lambda v: v <= 1.25,
        )
    for key, label in UDFS:
        row(
            f"{label}: delayed throughput, ferrotem / LiberTEM",
            ratio(lt_m(f"delayed|{key}"), median(t[f"delayed|{key}"])),
            "≥ 3",
            lambda v: v >= 3,
            offs[f"delayed {key}"],
        )
    for ds in (SMALL, FLOAT):
        row(
            f"{ds.dtype}: make_dask_array + sum throughput / plain Dask memmap",
            ratio(median(t[f"memmap|{ds.name}"]), median(t[f"mda|{ds.name}"])),
            "≥ 1.5",
            lambda v: v >= 1.5,
            offs[f"memmap {ds.name}"],
        )
    for ds in (SMALL, FLOAT):
        row(
            f"{ds.dtype}: make_dask_array + sum throughput, ferrotem / LiberTEM",
            ratio(lt_m(f"mda|{ds.name}"), median(t[f"mda|{ds.name}"])),
            "≥ 4",
            lambda v: v >= 4,
            offs[f"lt mda {ds.name}"],
        )
    add("")

    n4 = r["large"]["nbytes"]
    add(f"## Local Dask cluster, {r['large']['label']} ({r['large']['shape']})")
    add("")
    add(
        f"GB/s of dataset bytes. Both sides: `Context.make_with('dask', cpus={r['threads']})` "
        f"(ferrotem: {r['threads']} CPU workers + 1 service worker; LiberTEM: its local "
        "cluster); first: a fresh process, cluster started before the clock, load to result."
    )
    add("")
    add(
        "| UDF | ferrotem `Context()` (embedded) | ferrotem cluster | first | LiberTEM cluster "
        "| first | reference |"
    )
    add("|---|---:|---:|---:|---:|---:|---:|")
    for key, label in UDFS:
        ref, offs[f"cluster {key}"] = flag(f"LiberTEM cluster|{key}", n4, lt.get(f"cluster|{key}"))
        add(
            f"| {label} | {gbs(n4, t[f'large embedded|{key}'])} | {gbs(n4, t[f'cluster|{key}'])}"
            f" | {gbs_first(n4, first.get(f'cluster|{key}'))} | {gbs(n4, lt.get(f'cluster|{key}'))}"
            f" | {gbs_first(n4, first.get(f'LiberTEM cluster|{key}'))} | {ref} |"
        )
    add("")
    lt_start = r["lt"].get("startup")
    ref, start_off = "", False
    if lt_start:
        start_off = off_reference(median(lt_start), REFERENCE["LiberTEM startup"])
    ref = f"{REFERENCE['LiberTEM startup']:.2f}" + (" ⚠ off by >2x" if start_off else "")
    add(f"| start-up of `Context.make_with('dask', cpus={r['threads']})` | seconds | reference |")
    add("|---|---:|---:|")
    add(f"| ferrotem | {seconds_cell(r['startup'])} | - |")
    add(f"| LiberTEM | {seconds_cell(lt_start)} | {ref} |")
    add("")
    add("| ratio (of medians) | measured | target | met |")
    add("|---|---:|---|---|")
    for key, label in UDFS:
        row(
            f"{label}: cluster time / embedded time",
            ratio(median(t[f"cluster|{key}"]), median(t[f"large embedded|{key}"])),
            "≤ 1.3",
            lambda v: v <= 1.3,
        )
    for key, label in UDFS:
        row(
            f"{label}: cluster throughput, ferrotem / LiberTEM",
            ratio(lt_m(f"cluster|{key}"), median(t[f"cluster|{key}"])),
            "≥ 3",
            lambda v: v >= 3,
            offs.get(f"cluster {key}", False),
        )
    row(
        "start-up time, LiberTEM / ferrotem",
        ratio(median(lt_start), median(r["startup"])),
        "-",
        None,
    )
    add("")
    add(f"Command: `{r['command']}` · {r['total']:.0f} s in all")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="timed runs per cell (default 3)")
    parser.add_argument(
        "--threads", type=int, default=None, help="workers on both sides (default: physical cores)"
    )
    parser.add_argument("--no-libertem", action="store_true", help="skip LiberTEM even if found")
    parser.add_argument(
        "--no-first-run", action="store_true", help="skip the fresh-process first runs"
    )
    args = parser.parse_args(argv)
    reps = max(1, args.reps)

    from ferrotem.executor.base import physical_cores

    threads = args.threads or physical_cores()
    with_lt = not args.no_libertem and os.path.exists(LIBERTEM_PY)
    t_start = time.perf_counter()
    load0 = os.getloadavg()[0]
    step(TAG, "preparing data in benchmarks/data (created once; the 4 GiB file takes a while)")
    large, large_note = large_dataset()
    for ds in (SMALL, FLOAT, large):
        ensure_file(ds)
        ensure_references(ds)

    # -- delayed and make_dask_array --------------------------------------------------------------
    for ds in (SMALL, FLOAT):
        warm_page_cache(ds.path)
    step(TAG, "delayed and make_dask_array: ferrotem and plain Dask (interleaved)")
    specs = [spec(f"embedded|{k}", "default", k, SMALL) for k, _ in UDFS]
    specs += [spec(f"delayed|{k}", "delayed", k, SMALL) for k, _ in UDFS]
    for ds in (SMALL, FLOAT):
        specs.append(spec(f"mda|{ds.name}", "inline", "mda-sum", ds))
        specs.append(
            spec(f"memmap|{ds.name}", "", "dask-mda-sum", ds) | {"chunks_from": f"mda|{ds.name}"}
        )
    local = run_specs("ferrotem", specs, threads, reps)
    times, chunks = local["times"], local["chunks"]
    lt: dict[str, Any] = {
        "error": "skipped (--no-libertem)"
        if args.no_libertem
        else "not installed (make bench-libertem)"
    }
    lt_specs = [spec(f"delayed|{k}", "delayed", k, SMALL) for k, _ in UDFS]
    lt_specs += [spec(f"mda|{ds.name}", "inline", "mda-sum", ds) for ds in (SMALL, FLOAT)]
    if with_lt:
        step(TAG, "delayed and make_dask_array: LiberTEM (.venv-libertem)")
        lt = run_side(
            LIBERTEM_PY,
            {
                "mode": "cells",
                "package": "libertem",
                "threads": threads,
                "reps": reps,
                "cells": lt_specs,
            },
        )
    first: dict[str, Any] = {}
    if not args.no_first_run:
        step(TAG, "delayed and make_dask_array: first runs (fresh processes)")
        for key, _ in UDFS:
            first[f"delayed|{key}"] = first_run(
                sys.executable, "ferrotem", "delayed", key, SMALL, threads
            )
        for ds in (SMALL, FLOAT):
            first[f"mda|{ds.name}"] = first_run(
                sys.executable, "ferrotem", "inline", "mda-sum", ds, threads
            )
            first[f"memmap|{ds.name}"] = first_run(
                sys.executable, "", "", "dask-mda-sum", ds, threads, chunks=chunks[f"mda|{ds.name}"]
            )
        if with_lt and "error" not in lt:
            for key, _ in UDFS:
                first[f"LiberTEM delayed|{key}"] = first_run(
                    LIBERTEM_PY, "libertem", "delayed", key, SMALL, threads
                )
            for ds in (SMALL, FLOAT):
                first[f"LiberTEM mda|{ds.name}"] = first_run(
                    LIBERTEM_PY, "libertem", "inline", "mda-sum", ds, threads
                )

    # -- local cluster ----------------------------------------------------------------------------
    warm_page_cache(large.path)
    step(TAG, "local cluster: ferrotem start-up, then cluster vs embedded (interleaved)")
    api = import_api("ferrotem")
    startup = startup_times(lambda: make_context(api, "cluster", threads), reps)
    specs = [spec(f"large embedded|{k}", "default", k, large) for k, _ in UDFS]
    specs += [spec(f"cluster|{k}", "cluster", k, large) for k, _ in UDFS]
    times.update(run_specs("ferrotem", specs, threads, reps)["times"])
    lt4: dict[str, Any] = {}
    if with_lt and "error" not in lt:
        step(TAG, "local cluster: LiberTEM (.venv-libertem)")
        warm_page_cache(large.path)
        lt4 = run_side(
            LIBERTEM_PY,
            {
                "mode": "cells",
                "package": "libertem",
                "threads": threads,
                "reps": reps,
                "cells": [spec(f"cluster|{k}", "cluster", k, large) for k, _ in UDFS],
                "startup": True,
            },
        )
    if not args.no_first_run:
        step(TAG, "local cluster: first runs (fresh processes)")
        first["cluster|sum"] = first_run(
            sys.executable, "ferrotem", "cluster", "sum", large, threads
        )
        if with_lt and "error" not in lt:
            first["LiberTEM cluster|sum"] = first_run(
                LIBERTEM_PY, "libertem", "cluster", "sum", large, threads
            )

    errors = [x["error"] for x in (lt, lt4) if "error" in x]
    if errors:
        status = "; ".join(errors)
    else:
        status = f"{lt['version']} (in .venv-libertem)"
        lt["times"].update(lt4["times"])
        lt["startup"] = lt4["startup"]
    result = {
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "commit": git_commit(),
        "machine": machine(),
        "threads": threads,
        "reps": reps,
        "load0": load0,
        "load1": os.getloadavg()[0],
        "libertem": status,
        "large_note": large_note,
        "large": {
            "label": large.label,
            "nbytes": large.nbytes,
            "shape": "x".join(map(str, large.nav + large.sig)),
        },
        "datasets": {ds.name: {"label": ds.label, "nbytes": ds.nbytes} for ds in (SMALL, FLOAT)},
        "times": times,
        "first": first,
        "chunks": chunks,
        "startup": startup,
        "lt": lt if not errors else {},
        "command": " ".join(["python benchmarks/dask_bench.py", *(argv or sys.argv[1:])]),
        "total": time.perf_counter() - t_start,
    }
    report = build_report(result)
    print(report)
    out = write_results("dask", report, result)
    print(f"written to {os.path.relpath(out, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
