"""MRC reading, side by side with LiberTEM 0.16's ``'mrc'`` reader (part of ``make bench``).

One MRC file (mode 6, uint16) holds the pixels of the raw uint16 benchmark file (a 64x64 scan
of 256x256 frames, 512 MiB) after its 1024-byte header; it is written once into
``benchmarks/data``. SumUDF on it, as GB/s: ferrotem ``Context()``, LiberTEM ``Context()``
(which reads MRC through ncempy's memory map) with as many workers, and ferrotem on the raw
file itself (the same pixels). Every result is checked against numpy. The targets of issue 10
are judged: MRC at least 3x LiberTEM and at least 70 % of the raw file. Results go to
``benchmarks/results/mrc.md`` and ``mrc.json``.

``--side CONFIG RESULT`` is the LiberTEM half, run by this script in ``.venv-libertem``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from typing import Any

import numpy as np
from common import (
    LIBERTEM_PY,
    ROOT,
    Cell,
    Dataset,
    ensure_file,
    ensure_references,
    gbs,
    import_api,
    libertem_part,
    load_references,
    make_context,
    median_gbs,
    result_header,
    run_side,
    step,
    time_cells,
    verdict,
    warm_page_cache,
    write_results,
)
from common import (
    number_cell as cell,
)

NAV = (64, 64)
SIG = (256, 256)
RAW = Dataset("uint16", "uint16", NAV, SIG)
MRC_PATH = os.path.splitext(RAW.path)[0].replace("bench_uint16", "bench_mrc_uint16") + ".mrc"
GOAL_X = 3.0
GOAL_RAW = 0.70
TAG = "mrc"
FERROTEM_MRC = "ferrotem Context()|mrc|sum"
FERROTEM_RAW = "ferrotem Context()|raw|sum"
LIBERTEM_MRC = "LiberTEM Context()|mrc|sum"


def mrc_header(frames: int, ny: int, nx: int) -> bytes:
    """An MRC2014 header of ``frames`` sections of ``ny`` x ``nx`` uint16 (mode 6)."""
    words = np.zeros(256, "<i4")
    words[:4] = nx, ny, frames, 6
    words[7:10] = nx, ny, 1  # an image stack (mz = 1), as mrcfile writes one
    words[27] = 20140
    head = bytearray(words.tobytes())
    head[40:52] = np.array([nx, ny, frames], "<f4").tobytes()
    head[208:216] = b"MAP \x44\x44\0\0"
    return bytes(head)


def ensure_mrc() -> str:
    """The MRC file: the raw file's pixels after a header, written once."""
    size = 1024 + RAW.nbytes
    if os.path.exists(MRC_PATH) and os.path.getsize(MRC_PATH) == size:
        return MRC_PATH
    tmp = MRC_PATH + ".part"
    with open(tmp, "wb") as out, open(RAW.path, "rb") as src:
        out.write(mrc_header(int(np.prod(NAV)), *SIG))
        shutil.copyfileobj(src, out, 64 << 20)
    os.replace(tmp, MRC_PATH)
    return MRC_PATH


def sum_cell(label: str, ctx: Any, api: Any, ds: Any) -> Cell:
    expected = (load_references(RAW)["sum"],)

    def run() -> tuple[np.ndarray, ...]:
        return (np.asarray(ctx.run_udf(dataset=ds, udf=api.SumUDF())["intensity"].data),)

    return Cell(label, run, expected)


def side(config_path: str, result_path: str) -> None:
    """The LiberTEM half: SumUDF on the MRC file in a LiberTEM ``Context()``."""
    with open(config_path) as f:
        cfg = json.load(f)
    api = import_api("libertem")
    ctx = make_context(api, "default", cfg["threads"])
    try:
        ds = ctx.load("mrc", path=cfg["path"], nav_shape=NAV)
        times = time_cells([sum_cell(LIBERTEM_MRC, ctx, api, ds)], cfg["reps"])
    finally:
        ctx.close()
    with open(result_path, "w") as f:
        json.dump({"version": api.version, "times": times}, f)


def run_libertem(threads: int, reps: int) -> dict[str, Any]:
    """Runs this script's ``--side`` mode in ``.venv-libertem``."""
    config = {"threads": threads, "reps": reps, "path": MRC_PATH}
    return run_side(LIBERTEM_PY, config, 600, os.path.abspath(__file__), ["--side"])


def build_report(r: dict[str, Any]) -> str:
    t = r["times"]
    nbytes = RAW.nbytes
    ours = median_gbs(nbytes, t.get(FERROTEM_MRC))
    raw = median_gbs(nbytes, t.get(FERROTEM_RAW))
    lt = median_gbs(nbytes, t.get(LIBERTEM_MRC))
    x_lt = None if not (ours and lt) else ours / lt
    of_raw = None if not (ours and raw) else ours / raw
    lines = [
        "# MRC reading",
        "",
        f"{r['when']} · commit {r['commit']} · {r['machine']} · SumUDF on a 64x64 scan of "
        "256x256 uint16 frames (512 MiB) in an MRC file (mode 6) and in the raw file of the same "
        f"pixels, GB/s · {r['threads']} workers on both sides · median of {r['reps']} runs after a "
        "checked warm-up run ([slowest-fastest] in brackets), every result checked against numpy "
        f"· files in the page cache · load average {r['load0']:.2f} at start, {r['load1']:.2f} "
        "at end",
        "",
        f"LiberTEM: {r['libertem']}",
        "",
        "| file | ferrotem `Context()` | LiberTEM `Context()` | x LiberTEM | % of raw file |",
        "|---|---:|---:|---:|---:|",
        f"| MRC | **{gbs(nbytes, t.get(FERROTEM_MRC))}** | {gbs(nbytes, t.get(LIBERTEM_MRC))} | "
        f"{cell(x_lt, 'x{:.1f}')} | {cell(of_raw, '{:.0%}')} |",
        f"| raw file (same pixels) | {gbs(nbytes, t.get(FERROTEM_RAW))} | - | - | 100% |",
        "",
        "Targets (issue 10):",
        "",
        "| target | measured | met |",
        "|---|---:|---|",
        f"| MRC: at least {GOAL_X:g}x LiberTEM | {cell(x_lt, 'x{:.1f}')} | "
        f"{verdict(x_lt, lambda v: v >= GOAL_X)} |",
        f"| MRC: at least {GOAL_RAW:.0%} of the raw file | {cell(of_raw, '{:.0%}')} | "
        f"{verdict(of_raw, lambda v: v >= GOAL_RAW)} |",
        "",
        "LiberTEM reads MRC through ncempy's memory map in its Dask workers; ferrotem parses the "
        "header in Rust and reads the frames in place from its own guarded map.",
        "",
        f"Command: `{r['command']}` · {r['total']:.0f} s in all",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="timed runs per cell (default 3)")
    parser.add_argument(
        "--threads", type=int, default=None, help="workers of both engines (default: cores)"
    )
    parser.add_argument("--no-libertem", action="store_true", help="skip LiberTEM even if found")
    parser.add_argument("--side", nargs=2, metavar=("CONFIG", "RESULT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.side:
        side(*args.side)
        return 0
    reps = max(1, args.reps)

    from ferrotem.executor.base import physical_cores

    threads = args.threads or physical_cores()
    t_start = time.perf_counter()
    load0 = os.getloadavg()[0]
    step(TAG, "preparing the files in benchmarks/data (written once)")
    ensure_file(RAW)
    ensure_references(RAW)
    ensure_mrc()
    for path in (RAW.path, MRC_PATH):
        warm_page_cache(path)

    step(TAG, f"ferrotem, {threads} threads")
    api = import_api("ferrotem")
    ctx = make_context(api, "default", threads)
    try:
        mrc = ctx.load("mrc", path=MRC_PATH, nav_shape=NAV)
        raw = RAW.load(ctx)
        times = time_cells(
            [
                sum_cell(FERROTEM_MRC, ctx, api, mrc),
                sum_cell(FERROTEM_RAW, ctx, api, raw),
            ],
            reps,
        )
    finally:
        ctx.close()
    libertem, libertem_times = libertem_part(
        args.no_libertem, lambda: run_libertem(threads, reps), TAG
    )
    times.update(libertem_times)
    result = {
        **result_header("mrc_bench.py", threads, reps, load0, t_start, argv),
        "libertem": libertem,
        "times": times,
    }
    report = build_report(result)
    print(report)
    out = write_results(TAG, report, result)
    print(f"written to {os.path.relpath(out, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
