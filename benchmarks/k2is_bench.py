"""K2IS reading, side by side with LiberTEM 0.16's ``'k2is'`` reader (part of ``make bench``).

A synthesised K2IS acquisition (``tests/helpers/k2is_writer.py``: eight sector files of
12-bit packed blocks, a time-series ``.gtg``) of ``N_FRAMES`` 1860x2048 frames, over 1 GB of
sector files, is made once under ``benchmarks/data``. SumUDF on it, as GB/s of sector-file
bytes: ferrotem ``Context()`` and LiberTEM ``Context()``, each in its own process with
``--threads`` workers, a checked warm-up run and then ``--reps`` timed runs, every result
checked against the numpy sum of the frames that were packed (so LiberTEM is a second oracle of
the synthesised files). Target (issue 10): ferrotem at least 4x LiberTEM. Results go to
``benchmarks/results/k2is.md`` and ``k2is.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
from common import (
    DATA,
    LIBERTEM_PY,
    ROOT,
    import_api,
    libertem_part,
    make_context,
    median,
    result_header,
    step,
    verdict,
    warm_page_cache,
    write_results,
)
from common import number_cell as cell

N_FRAMES = 200
TAG = "k2is"
GOAL_X = 4.0
FRAME_SHAPE = (1860, 2048)


def ensure_files() -> tuple[str, str]:
    """The acquisition's directory and the ``.npy`` of its frames' sum, made once."""
    d = os.path.join(DATA, f"bench_k2is_{N_FRAMES}")
    ref = os.path.join(d, "sum.npy")
    if os.path.exists(ref):
        return d, ref
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from helpers.k2is_writer import write_k2is

    step(TAG, f"writing {N_FRAMES} K2IS frames to {d} (once)")
    tmp = d + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    base = np.random.default_rng(0).integers(0, 4096, size=(4, *FRAME_SHAPE), dtype=np.uint16)
    total = np.zeros(FRAME_SHAPE, np.int64)

    def frames() -> Iterator[np.ndarray]:
        for f in range(N_FRAMES):
            frame = (base[f % 4] + f) % 4096
            total[...] += frame
            yield frame

    write_k2is(tmp, frames(), n_frames=N_FRAMES, nav_shape=None, name="bench")
    np.save(os.path.join(tmp, "sum.npy"), total)
    os.rename(tmp, d)
    return d, ref


def side(package: str, directory: str, ref: str, reps: int, threads: int) -> dict[str, Any]:
    """In a process of ``package``: SumUDF on the acquisition, warm-up then ``reps`` timed runs,
    each result checked against ``ref``."""
    api = import_api(package)
    expected = np.load(ref).astype(np.float64)
    ctx = make_context(api, "default", threads)
    try:
        t0 = time.perf_counter()
        ds = ctx.load("k2is", path=os.path.join(directory, "bench_1.bin"))
        load = time.perf_counter() - t0
        assert tuple(ds.shape) == (N_FRAMES, *FRAME_SHAPE), tuple(ds.shape)
        times = []
        for i in range(reps + 1):
            t0 = time.perf_counter()
            got = np.asarray(ctx.run_udf(ds, api.SumUDF())["intensity"].data, np.float64)
            seconds = time.perf_counter() - t0
            np.testing.assert_allclose(got, expected, rtol=1e-5)
            if i > 0:
                times.append(seconds)
    finally:
        ctx.close()
    return {"version": api.version, "load": load, "times": times}


def run_side(python: str, package: str, args: argparse.Namespace, d: str, ref: str) -> Any:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.json")
        cmd = [python, os.path.abspath(__file__), "--side", package, "--dir", d, "--ref", ref]
        cmd += ["--reps", str(args.reps), "--threads", str(args.threads), "--out", out]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
        except subprocess.TimeoutExpired:
            return {"error": "timed out"}
        if proc.returncode != 0:
            return {"error": " | ".join(proc.stderr.strip().splitlines()[-3:])}
        with open(out) as f:
            return json.load(f)


def rate(nbytes: int, side: dict[str, Any]) -> float | None:
    """Median GB/s of a side's timed runs, if it has any."""
    m = median(side.get("times"))
    return None if not m else nbytes / m / 1e9


def build_report(r: dict[str, Any]) -> str:
    nbytes = r["nbytes"]
    ours, lt = r["ferrotem"], r["libertem_side"]
    ours_gbs, lt_gbs = rate(nbytes, ours), rate(nbytes, lt)
    x = None if not (ours_gbs and lt_gbs) else ours_gbs / lt_gbs
    lines = [
        "# K2IS reading",
        "",
        f"{r['when']} · commit {r['commit']} · {r['machine']} · SumUDF on a synthesised K2IS "
        f"time series of {N_FRAMES} frames of 1860x2048 (12-bit packed, {nbytes / 1e9:.2f} GB "
        f"of sector files), GB/s of sector-file bytes · {r['threads']} workers on both sides · "
        f"median of {r['reps']} runs after a checked warm-up run, every result checked against "
        f"numpy · files in the page cache · load average {r['load0']:.2f} at start, "
        f"{r['load1']:.2f} at end",
        "",
        f"LiberTEM: {r['libertem']}",
        "",
        "| reader | GB/s | seconds (median) | load (s) |",
        "|---|---:|---:|---:|",
    ]
    for name, side, g in (
        ("ferrotem `Context()`", ours, ours_gbs),
        ("LiberTEM `Context()`", lt, lt_gbs),
    ):
        if "error" in side:
            lines.append(f"| {name} | failed: {side['error'][:120]} | | |")
        elif g is not None:
            seconds = median(side["times"]) or 0.0
            lines.append(f"| {name} | **{g:.2f}** | {seconds:.2f} | {side['load']:.2f} |")
    lines += [
        "",
        f"x LiberTEM: {cell(x, 'x{:.1f}')} (goal x{GOAL_X:.0f}: "
        f"{verdict(x, lambda v: v >= GOAL_X)})",
        "",
        f"Command: `{r['command']}` · {r['total']:.0f} s in all",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=3, help="timed runs per side (default 3)")
    p.add_argument("--threads", type=int, default=min(os.cpu_count() or 1, 8))
    p.add_argument("--no-libertem", action="store_true", help="skip LiberTEM even if found")
    p.add_argument("--side", choices=["ferrotem", "libertem"], help=argparse.SUPPRESS)
    p.add_argument("--dir", help=argparse.SUPPRESS)
    p.add_argument("--ref", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.side:
        result = side(args.side, args.dir, args.ref, args.reps, args.threads)
        with open(args.out, "w") as f:
            json.dump(result, f)
        return 0
    t_start = time.perf_counter()
    load0 = os.getloadavg()[0]
    d, ref = ensure_files()
    bins = [os.path.join(d, n) for n in sorted(os.listdir(d)) if n.endswith(".bin")]
    nbytes = sum(os.path.getsize(b) for b in bins)
    for b in bins:
        warm_page_cache(b)
    step(TAG, "ferrotem SumUDF")
    ours = run_side(sys.executable, "ferrotem", args, d, ref)
    sides: dict[str, Any] = {}

    def libertem_run() -> dict[str, Any]:
        sides["libertem"] = run_side(LIBERTEM_PY, "libertem", args, d, ref)
        return dict(sides["libertem"])

    libertem, _ = libertem_part(args.no_libertem, libertem_run, TAG)
    result = {
        **result_header("k2is_bench.py", args.threads, args.reps, load0, t_start, argv),
        "nbytes": nbytes,
        "libertem": libertem,
        "ferrotem": ours,
        "libertem_side": sides.get("libertem", {}),
    }
    ours_gbs, lt_gbs = rate(nbytes, ours), rate(nbytes, result["libertem_side"])
    result["x_libertem"] = None if not (ours_gbs and lt_gbs) else ours_gbs / lt_gbs
    report = build_report(result)
    print(report)
    out = write_results(TAG, report, result)
    print(f"written to {os.path.relpath(out, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
