"""Side-by-side benchmark of ferrotem (run by ``make bench``).

Measures, in one run on this machine, with the data in the page cache:

* memory-read bandwidth of the machine (the ceiling for any reduction);
* SumUDF, SumSigUDF and both in one pass, as GB/s of dataset bytes, for ferrotem (default
  ``Context()`` and ``InlineJobExecutor``), a numpy reduction over ``np.memmap``, a dask.array
  reduction over that memmap (threaded scheduler), and LiberTEM when ``.venv-libertem`` exists
  (``make bench-libertem``);
* per-frame overhead of a Python ``process_frame`` UDF doing ``np.sum(frame)``;
* time for a fresh process to import, load a 100 MB raw file and get its first SumUDF result.

Every cell is the median of ``--reps`` timed repetitions after one untimed warm-up run.
Results are printed as markdown and written to ``benchmarks/results/latest.md``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(HERE, "data")
RESULTS = os.path.join(HERE, "results")
LIBERTEM_PY = os.path.join(ROOT, ".venv-libertem", "bin", "python")

NAV = (64, 64)
SIG = (256, 256)
#: name -> (dtype, nav shape, sig shape)
DATASETS = {
    "uint16": ("uint16", NAV, SIG),  # 512 MiB
    "float32": ("float32", NAV, SIG),  # 1 GiB
}
STARTUP = ("uint16", (24, 32), SIG)  # 768 frames, 100.7 MB
UDF_SETS = ("sum", "sumsig", "both")
UDF_LABELS = {"sum": "SumUDF", "sumsig": "SumSigUDF", "both": "SumUDF + SumSigUDF"}


# -- data -----------------------------------------------------------------------------------------
def data_path(dtype: str, nav: tuple[int, ...], sig: tuple[int, ...]) -> str:
    shape = "x".join(map(str, nav + sig))
    return os.path.join(DATA, f"bench_{dtype}_{shape}.raw")


def ensure_file(dtype: str, nav: tuple[int, ...], sig: tuple[int, ...]) -> str:
    """Creates the raw file once (random data, written in 64 MiB chunks); returns its path."""
    path = data_path(dtype, nav, sig)
    dt = np.dtype(dtype)
    n_frames = int(np.prod(nav))
    frame = int(np.prod(sig))
    size = n_frames * frame * dt.itemsize
    if os.path.exists(path) and os.path.getsize(path) == size:
        return path
    os.makedirs(DATA, exist_ok=True)
    rng = np.random.default_rng(42)
    per_chunk = max(1, (64 << 20) // (frame * dt.itemsize))
    tmp = path + ".part"
    with open(tmp, "wb") as f:
        for start in range(0, n_frames, per_chunk):
            n = min(per_chunk, n_frames - start)
            if dt.kind == "f":
                chunk = rng.random((n, frame), dtype=np.float32).astype(dt) * 1000
            else:
                chunk = rng.integers(0, 1000, size=(n, frame), dtype=dt)
            chunk.tofile(f)
    os.replace(tmp, path)
    return path


def warm_page_cache(path: str) -> float:
    """Drops the file from the page cache, then reads it once with large reads; returns GB/s of
    that read.

    Dropping first makes the cached layout the same for every run: a file cached page by page
    while it was being written sits in 4 KiB folios, one re-read with large reads gets large
    folios, and copying out of those (pread or mmap alike) was measured 1.5x faster here.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    buf = bytearray(64 << 20)
    t0 = time.perf_counter()
    total = 0
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            total += n
    return total / (time.perf_counter() - t0) / 1e9


# -- timing ---------------------------------------------------------------------------------------
def median_time(fn: Callable[[], Any], reps: int) -> float:
    """Median wall time of ``reps`` calls after one untimed warm-up call."""
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


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
            t = median_time(lambda fn=fn, chunks=chunks: list(pool.map(fn, chunks)), reps)
            best = max(best, a.nbytes / t / 1e9)
    method = (
        f"{threads} threads reducing disjoint halves of a 1 GiB in-memory array "
        "(np.max on float64, np.count_nonzero on uint8; best of the two medians)"
    )
    return best, method


# -- engines --------------------------------------------------------------------------------------
def ferrotem_cells(
    paths: dict[str, str], reps: int, threads: int
) -> dict[tuple[str, str, str], float]:
    from ferrotem.api import Context
    from ferrotem.executor.inline import InlineJobExecutor
    from ferrotem.udf.sum import SumUDF
    from ferrotem.udf.sumsigudf import SumSigUDF

    out = {}
    contexts = {
        "ferrotem Context()": Context.make_with("threads", cpus=threads),
        "ferrotem inline": Context(executor=InlineJobExecutor()),
    }
    for engine, ctx in contexts.items():
        for name, path in paths.items():
            dtype, nav, sig = DATASETS[name]
            ds = ctx.load("raw", path=path, nav_shape=nav, sig_shape=sig, dtype=dtype)
            udfs = {
                "sum": lambda: [SumUDF()],
                "sumsig": lambda: [SumSigUDF()],
                "both": lambda: [SumUDF(), SumSigUDF()],
            }
            for key, make in udfs.items():
                out[(engine, name, key)] = median_time(
                    lambda ctx=ctx, ds=ds, make=make: ctx.run_udf(dataset=ds, udf=make()), reps
                )
        ctx.close()
    return out


def _memmap(path: str, name: str) -> np.memmap:
    dtype, nav, sig = DATASETS[name]
    return np.memmap(path, dtype=dtype, mode="r", shape=(int(np.prod(nav)),) + sig)


def numpy_cells(paths: dict[str, str], reps: int) -> dict[tuple[str, str, str], float]:
    out = {}
    for name, path in paths.items():
        mm = _memmap(path, name)
        fns = {
            "sum": lambda mm=mm: mm.sum(axis=0, dtype=np.float32),
            "sumsig": lambda mm=mm: mm.sum(axis=(1, 2), dtype=np.float32),
            "both": lambda mm=mm: (
                mm.sum(axis=0, dtype=np.float32),
                mm.sum(axis=(1, 2), dtype=np.float32),
            ),
        }
        for key, fn in fns.items():
            out[("numpy memmap", name, key)] = median_time(fn, reps)
        del mm
    return out


def dask_cells(paths: dict[str, str], reps: int, threads: int) -> dict[tuple[str, str, str], float]:
    import dask
    import dask.array as da

    out = {}
    for name, path in paths.items():
        mm = _memmap(path, name)
        frame_bytes = mm[0].nbytes
        depth = max(1, (16 << 20) // frame_bytes)  # ~16 MiB chunks
        arr = da.from_array(mm, chunks=(depth, -1, -1))
        s = arr.sum(axis=0, dtype=np.float32)
        ss = arr.sum(axis=(1, 2), dtype=np.float32)
        graphs = {"sum": (s,), "sumsig": (ss,), "both": (s, ss)}
        for key, g in graphs.items():
            out[("dask memmap", name, key)] = median_time(
                lambda g=g: dask.compute(*g, scheduler="threads", num_workers=threads), reps
            )
        del mm
    return out


def ferrotem_per_frame(path: str, reps: int, threads: int) -> dict[str, float]:
    """µs per frame of a process_frame UDF doing np.sum(frame), and of a plain loop."""
    from ferrotem.api import Context
    from ferrotem.executor.inline import InlineJobExecutor
    from ferrotem.udf.base import UDF

    class NpSumFrameUDF(UDF):
        def get_result_buffers(self):
            return {"s": self.buffer(kind="nav", dtype="float32")}

        def process_frame(self, frame):
            self.results.s[:] = np.sum(frame)

    class NoOpFrameUDF(UDF):
        def get_result_buffers(self):
            return {"s": self.buffer(kind="nav", dtype="float32")}

        def process_frame(self, frame):
            pass

    name = "float32"
    dtype, nav, sig = DATASETS[name]
    n = int(np.prod(nav))
    out = {}
    for engine, ctx in (
        ("ferrotem inline", Context(executor=InlineJobExecutor())),
        ("ferrotem Context()", Context.make_with("threads", cpus=threads)),
    ):
        ds = ctx.load("raw", path=path, nav_shape=nav, sig_shape=sig, dtype=dtype)
        t = median_time(lambda ctx=ctx, ds=ds: ctx.run_udf(dataset=ds, udf=NpSumFrameUDF()), reps)
        out[engine] = t / n * 1e6
        if engine == "ferrotem inline":
            t = median_time(
                lambda ctx=ctx, ds=ds: ctx.run_udf(dataset=ds, udf=NoOpFrameUDF()), reps
            )
            out["ferrotem inline, empty process_frame (read + dispatch only)"] = t / n * 1e6
        ctx.close()
    mm = _memmap(path, name)

    def loop() -> None:
        for i in range(n):
            np.sum(mm[i])

    out["plain np.sum loop (memmap)"] = median_time(loop, reps) / n * 1e6
    return out


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


def startup(python: str, package: str, executor: str, path: str, reps: int) -> dict[str, float]:
    """Median wall time of a fresh process that imports ``package``, loads ``path`` and gets
    its first SumUDF result (the process's start included), and the median split inside it."""
    dtype, nav, sig = STARTUP
    script = STARTUP_SCRIPT.replace("NAV", repr(nav)).replace("SIG", repr(sig))
    script = script.replace("DTYPE", repr(dtype))
    with tempfile.TemporaryDirectory() as d:
        file = os.path.join(d, "startup.py")
        with open(file, "w") as f:
            f.write(script)
        walls, parts = [], []
        for _ in range(reps + 1):  # the first run warms the OS file cache of the imports
            t0 = time.perf_counter()
            proc = subprocess.run(
                [python, file, package, executor, path],
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


def libertem_cells(
    paths: dict[str, str], reps: int, threads: int
) -> tuple[dict[tuple[str, str, str], float], dict[str, float], str] | str:
    """Runs benchmarks/libertem_side.py in .venv-libertem; returns (cells, per-frame µs,
    version), or a reason string when LiberTEM is not available."""
    if not os.path.exists(LIBERTEM_PY):
        return "not installed (make bench-libertem)"
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "config.json")
        res = os.path.join(d, "result.json")
        with open(cfg, "w") as f:
            json.dump(
                {
                    "datasets": {
                        name: {"path": p, "dtype": DATASETS[name][0], "nav": NAV, "sig": SIG}
                        for name, p in paths.items()
                    },
                    "per_frame": "float32",
                    "reps": reps,
                    "threads": threads,
                },
                f,
            )
        proc = subprocess.run(
            [LIBERTEM_PY, os.path.join(HERE, "libertem_side.py"), cfg, res],
            capture_output=True,
            text=True,
            timeout=3600,
        )
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-5:]
            return "failed: " + " | ".join(tail)
        with open(res) as f:
            data = json.load(f)
    cells = {}
    for engine, by_ds in data["cells"].items():
        for name, by_udf in by_ds.items():
            for key, t in by_udf.items():
                cells[(engine, name, key)] = t
    return cells, data["per_frame_us"], data["version"]


# -- report ---------------------------------------------------------------------------------------
def fmt_gbs(nbytes: int, t: float) -> str:
    return f"{nbytes / t / 1e9:.2f}"


def build_report(ctx: dict[str, Any]) -> str:
    lines = []
    add = lines.append
    add("# ferrotem benchmark")
    add("")
    add(
        f"{ctx['when']} · {ctx['machine']} · {ctx['threads']} threads · median of "
        f"{ctx['reps']} runs per cell after a warm-up run · data in the page cache · "
        f"load average at start {ctx['load']:.2f} (other work on the machine skews the numbers)"
    )
    add("")
    add(f"Memory-read bandwidth: **{ctx['bw']:.1f} GB/s** ({ctx['bw_method']}).")
    add("")
    add(f"LiberTEM: {ctx['libertem_status']}")
    add("")
    add("## Throughput (GB/s of dataset bytes; xN: ferrotem Context() is N times faster)")
    add("")
    engines = ctx["engines"]
    add("| dataset | UDFs | " + " | ".join(engines) + " |")
    add("|---|---|" + "---:|" * len(engines))
    cells = ctx["cells"]
    for name in DATASETS:
        nbytes = ctx["sizes"][name]
        label = f"{name} {nbytes / 2**20:.0f} MiB"
        for key in UDF_SETS:
            base = cells[("ferrotem Context()", name, key)]
            row = [label, UDF_LABELS[key]]
            for engine in engines:
                t = cells.get((engine, name, key))
                if t is None:
                    row.append("-")
                elif engine == "ferrotem Context()":
                    pct = 100 * nbytes / t / 1e9 / ctx["bw"]
                    row.append(f"**{fmt_gbs(nbytes, t)}** ({pct:.0f}% of mem. BW)")
                else:
                    row.append(f"{fmt_gbs(nbytes, t)} (x{t / base:.1f})")
            add("| " + " | ".join(row) + " |")
    add("")
    add(
        "numpy: `mm.sum(axis=0, dtype=float32)` / `mm.sum(axis=(1, 2), dtype=float32)` on "
        "`np.memmap` (both: two passes); dask: `da.from_array(memmap, ~16 MiB chunks)`, both "
        "reductions in one `dask.compute` (threaded scheduler); LiberTEM: its SumUDF/SumSigUDF "
        "with `InlineJobExecutor` and with its default `Context()` (a local Dask cluster)."
    )
    add("")
    add("## Per-frame overhead: `process_frame` doing `np.sum(frame)`, float32 256x256 frames")
    add("")
    add("| runner | µs/frame |")
    add("|---|---:|")
    for engine, us in ctx["per_frame"].items():
        add(f"| {engine} | {us:.1f} |")
    add("")
    add("## Per-frame dispatch: `process_frame` on 4x4-pixel frames (no I/O, no compute)")
    add("")
    add("| runner | µs/frame |")
    add("|---|---:|")
    for engine, us in ctx["dispatch"].items():
        add(f"| {engine} | {us:.2f} |")
    add("")
    add(
        "## Fresh process: import, load a 100 MB raw file (uint16, 24x32 x 256x256), "
        "first SumUDF result"
    )
    add("")
    add("| runner | wall (s) | import (s) | Context + load (s) | first result (s) |")
    add("|---|---:|---:|---:|---:|")
    for engine, r in ctx["startup"].items():
        add(
            f"| {engine} | {r['wall']:.2f} | {r['import']:.2f} | {r['load']:.2f} | "
            f"{r['first_result']:.2f} |"
        )
    add("")
    add(f"Command: `{ctx['command']}`")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="timed runs per cell (default 3)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads for ferrotem, dask and the bandwidth test (default: physical cores)",
    )
    parser.add_argument("--no-libertem", action="store_true", help="skip LiberTEM even if found")
    args = parser.parse_args(argv)
    reps = max(1, args.reps)

    import psutil

    threads = args.threads or psutil.cpu_count(logical=False) or os.cpu_count() or 1

    def step(msg: str) -> None:
        print(f"[bench] {msg}", file=sys.stderr, flush=True)

    load = os.getloadavg()[0]
    step("preparing data in benchmarks/data (created once)")
    paths = {name: ensure_file(*spec) for name, spec in DATASETS.items()}
    startup_path = ensure_file(*STARTUP)
    sizes = {name: os.path.getsize(p) for name, p in paths.items()}
    for p in [*paths.values(), startup_path]:
        warm_page_cache(p)
    step("memory bandwidth")
    bw, bw_method = memory_bandwidth(threads, reps)
    cells: dict[tuple[str, str, str], float] = {}
    step("ferrotem")
    cells.update(ferrotem_cells(paths, reps, threads))
    step("numpy")
    cells.update(numpy_cells(paths, reps))
    step("dask")
    cells.update(dask_cells(paths, reps, threads))
    step("per-frame overhead")
    per_frame = ferrotem_per_frame(paths["float32"], reps, threads)
    step("per-frame dispatch")
    dispatch = {"ferrotem inline": frame_dispatch(sys.executable, "ferrotem", reps)}
    step("startup")
    startup_res = {
        "ferrotem Context()": startup(sys.executable, "ferrotem", "default", startup_path, reps)
    }
    engines = ["ferrotem Context()", "ferrotem inline", "numpy memmap", "dask memmap"]
    if args.no_libertem:
        libertem_status = "skipped (--no-libertem)"
    else:
        step("LiberTEM (.venv-libertem)")
        lt = libertem_cells(paths, reps, threads)
        if isinstance(lt, str):
            libertem_status = lt
        else:
            lt_cells, lt_frame, version = lt
            libertem_status = f"{version} (in .venv-libertem)"
            cells.update(lt_cells)
            engines += sorted({e for e, _, _ in lt_cells})
            per_frame.update(lt_frame)
            dispatch["LiberTEM inline"] = frame_dispatch(LIBERTEM_PY, "libertem", reps)
            for executor in ("inline", "default"):
                label = "LiberTEM " + ("inline" if executor == "inline" else "Context()")
                startup_res[label] = startup(LIBERTEM_PY, "libertem", executor, startup_path, reps)
    print(f"LiberTEM: {libertem_status}", flush=True)

    report = build_report(
        {
            "when": time.strftime("%Y-%m-%d %H:%M"),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
            f"{psutil.virtual_memory().total / 2**30:.0f} GiB",
            "threads": threads,
            "reps": reps,
            "load": load,
            "bw": bw,
            "bw_method": bw_method,
            "libertem_status": libertem_status,
            "engines": engines,
            "cells": cells,
            "sizes": sizes,
            "per_frame": per_frame,
            "startup": startup_res,
            "dispatch": dispatch,
            "command": "python benchmarks/run.py " + " ".join(argv or sys.argv[1:]),
        }
    )
    print(report)
    os.makedirs(RESULTS, exist_ok=True)
    out = os.path.join(RESULTS, "latest.md")
    with open(out, "w") as f:
        f.write(report)
    print(f"written to {os.path.relpath(out, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
