"""Gatan DM4 reading, side by side with LiberTEM 0.16's ``'dm'`` reader (part of ``make bench``).

Two DM4 files hold the pixels of the raw uint16 benchmark file (a 64x64 scan of 256x256 frames,
512 MiB), written once into ``benchmarks/data`` by the test writer (``tests/helpers/
dm_writer.py``, a thumbnail image first): one in C order, tagged ``Data Order Swapped`` (as
newer GMS writes 4-D STEM), and one in Gatan's older transposed ("hybrid") order, which
LiberTEM refuses (with ``force_c_order`` it would read other frames). SumUDF on each and on the
raw file, ferrotem ``Context()`` and LiberTEM ``Context()`` with ``--threads`` workers, as GB/s
of data; every result is checked against numpy. Targets (issue 10): the C-ordered DM4 at least
3x LiberTEM and at least 70 % of the raw file. Results go to ``benchmarks/results/dm.md`` and
``dm.json``.

``python benchmarks/dm_bench.py --side CONFIG.json RESULT.json`` is the LiberTEM side, run in
``.venv-libertem`` by the main process.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import numpy as np
from common import (
    DATA,
    LIBERTEM_PY,
    ROOT,
    Cell,
    Dataset,
    ensure_file,
    ensure_references,
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
from common import number_cell as cell

NAV = (64, 64)
SIG = (256, 256)
RAW = Dataset("uint16", "uint16", NAV, SIG)
#: the DM4 files: name -> (write order, tagged Data Order Swapped)
FILES = {"dm4c": ("C", True), "dm4hybrid": ("hybrid", None)}
LABELS = {
    "dm4c": "DM4, C order (Data Order Swapped)",
    "dm4hybrid": "DM4, Gatan's transposed order",
    "raw": "raw file (same pixels)",
}
GOAL_X = 3.0
GOAL_RAW = 0.70
TAG = "dm"
FERROTEM = "ferrotem Context()"
LIBERTEM = "LiberTEM Context()"


def dm_path(name: str) -> str:
    shape = "x".join(map(str, NAV + SIG))
    return os.path.join(DATA, f"bench_{name}_uint16_{shape}.dm4")


def ensure_dm(name: str) -> str:
    """Writes the DM4 file ``name`` once from the raw file's pixels; returns its path."""
    path = dm_path(name)
    raw = RAW.path
    if os.path.exists(path) and os.path.getmtime(path) >= os.path.getmtime(raw):
        if os.path.getsize(path) > RAW.nbytes:
            return path
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from helpers.dm_writer import write_dm

    order, swapped = FILES[name]
    data = np.memmap(raw, dtype=RAW.dtype, mode="r", shape=NAV + SIG)
    tmp = path + ".part"
    write_dm(tmp, data, version=4, order=order, data_order_swapped=swapped)
    del data
    os.replace(tmp, path)
    return path


def sum_cell(label: str, ctx: Any, api: Any, ds: Any, expected: np.ndarray) -> Cell:
    def run() -> tuple[np.ndarray, ...]:
        res = ctx.run_udf(dataset=ds, udf=[api.SumUDF()])
        return (np.asarray(res[0]["intensity"].data),)

    return Cell(label, run, (expected,))


def time_package(package: str, names: list[str], threads: int, reps: int) -> dict[str, Any]:
    """SumUDF cells of ``package`` on the DM files ``names`` (and, for ferrotem, the raw file),
    interleaved and checked."""
    api = import_api(package)
    engine = FERROTEM if package == "ferrotem" else LIBERTEM
    expected = load_references(RAW)["sum"]
    ctx = make_context(api, "default", threads)
    try:
        cells = [
            sum_cell(f"{engine}|{name}|sum", ctx, api, ctx.load("dm", path=dm_path(name)), expected)
            for name in names
        ]
        if package == "ferrotem":
            raw = RAW.load(ctx)
            cells.append(sum_cell(f"{engine}|raw|sum", ctx, api, raw, expected))
        times = time_cells(cells, reps)
    finally:
        ctx.close()
    return {"version": f"{api.name} {api.version}", "times": times}


def libertem_side(threads: int, reps: int) -> dict[str, Any]:
    """Runs this script's ``--side`` mode in ``.venv-libertem``."""
    config = {"threads": threads, "reps": reps, "names": ["dm4c"]}
    return run_side(LIBERTEM_PY, config, 900, os.path.abspath(__file__), ["--side"])


def build_report(r: dict[str, Any]) -> str:
    lines: list[str] = []
    add = lines.append
    add("# Gatan DM4 reading")
    add("")
    add(
        f"{r['when']} · commit {r['commit']} · {r['machine']} · SumUDF on a 64x64 scan of "
        "256x256 uint16 frames (512 MiB) in DM4 files written by tests/helpers/dm_writer.py, "
        f"GB/s of data · {r['threads']} workers on both sides · median of {r['reps']} runs "
        "after a checked warm-up run, every result checked against numpy · files in the page "
        f"cache · load average {r['load0']:.2f} at start, {r['load1']:.2f} at end"
    )
    add("")
    add(f"LiberTEM: {r['libertem']}")
    add("")
    add("| file | ferrotem `Context()` | LiberTEM `Context()` | x LiberTEM | % of raw file |")
    add("|---|---:|---:|---:|---:|")
    t = r["times"]
    n = RAW.nbytes
    raw = median_gbs(n, t.get(f"{FERROTEM}|raw|sum"))
    figures: dict[str, dict[str, float | None]] = {}
    for name in (*FILES, "raw"):
        ours = median_gbs(n, t.get(f"{FERROTEM}|{name}|sum"))
        lt = median_gbs(n, t.get(f"{LIBERTEM}|{name}|sum"))
        f = {
            "x_lt": None if not (ours and lt) else ours / lt,
            "raw": None if not (ours and raw) else ours / raw,
        }
        figures[name] = f
        lt_text = cell(lt, "{:.2f}")
        if name == "dm4hybrid":
            lt_text = "refused"
        add(
            f"| {LABELS[name]} | **{cell(ours, '{:.2f}')}** | {lt_text} | "
            f"{cell(f['x_lt'], 'x{:.1f}')} | {cell(f['raw'], '{:.0%}')} |"
        )
    add("")
    add("Targets (issue 10):")
    add("")
    add("| target | measured | met |")
    add("|---|---:|---|")
    x = figures["dm4c"]["x_lt"]
    add(
        f"| DM4 (C order): at least {GOAL_X:g}x LiberTEM | {cell(x, 'x{:.1f}')} | "
        f"{verdict(x, lambda v: v >= GOAL_X)} |"
    )
    c = figures["dm4c"]["raw"]
    add(
        f"| DM4 (C order): at least {GOAL_RAW:.0%} of the raw file | {cell(c, '{:.0%}')} | "
        f"{verdict(c, lambda v: v >= GOAL_RAW)} |"
    )
    add("")
    add(
        "The transposed file is read correctly by default (each tile gathers its frames from "
        "every pixel's run); LiberTEM refuses it unless `force_c_order=True`, which reads other "
        "frames, so it has no LiberTEM figure."
    )
    add("")
    add(f"Command: `{r['command']}` · {r['total']:.0f} s in all")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="timed runs per cell (default 3)")
    parser.add_argument("--threads", type=int, default=None, help="workers (default: cores)")
    parser.add_argument("--no-libertem", action="store_true", help="skip LiberTEM even if found")
    parser.add_argument("--side", nargs=2, metavar=("CONFIG", "RESULT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.side:
        with open(args.side[0]) as f:
            cfg = json.load(f)
        out = time_package("libertem", cfg["names"], cfg["threads"], cfg["reps"])
        with open(args.side[1], "w") as f:
            json.dump(out, f)
        return 0
    reps = max(1, args.reps)

    from ferrotem.executor.base import physical_cores

    threads = args.threads or physical_cores()
    t_start = time.perf_counter()
    load0 = os.getloadavg()[0]
    step(TAG, "preparing the files in benchmarks/data (written once)")
    ensure_file(RAW)
    ensure_references(RAW)
    for name in FILES:
        ensure_dm(name)
    for path in (RAW.path, *(dm_path(name) for name in FILES)):
        warm_page_cache(path)
    step(TAG, f"ferrotem, {threads} threads")
    times = time_package("ferrotem", list(FILES), threads, reps)["times"]
    libertem, libertem_times = libertem_part(
        args.no_libertem, lambda: libertem_side(threads, reps), TAG
    )
    times.update(libertem_times)
    result = {
        **result_header("dm_bench.py", threads, reps, load0, t_start, argv),
        "libertem": libertem,
        "times": times,
    }
    report = build_report(result)
    print(report)
    out = write_results("dm", report, result)
    print(f"written to {os.path.relpath(out, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
