"""Combines the results of one ``make bench`` run and puts them into the documentation.

``python benchmarks/report.py`` (the last step of ``make bench``) writes
``benchmarks/results/latest.md``: the full tables of ``run.py`` and ``dask_bench.py``, with the
date and commit of the run. ``python benchmarks/report.py --splice`` (``make bench-docs``) also
replaces what stands between the marker comments in ``README.md`` (a summary table) and in
``docs/performance.md`` (the full tables) with tables built from those same results, so the
documentation can be regenerated from one run without running it again.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
from typing import Any

from common import RESULTS, ROOT, git_commit, off_reference
from dask_bench import REFERENCE

README = os.path.join(ROOT, "README.md")
PERFORMANCE = os.path.join(ROOT, "docs", "performance.md")
README_MARK = "bench:summary"
DOCS_MARK = "bench:results"


def load(name: str) -> tuple[dict[str, Any], str]:
    base = os.path.join(RESULTS, name)
    if not os.path.exists(base + ".json"):
        raise SystemExit(f"{base}.json is missing: run `make bench` first")
    with open(base + ".json") as f:
        data = json.load(f)
    with open(base + ".md") as f:
        return data, f.read()


def demote(markdown: str, levels: int) -> str:
    """Every markdown heading ``levels`` deeper."""
    return re.sub(r"^(#+) ", lambda m: "#" * (len(m.group(1)) + levels) + " ", markdown, flags=re.M)


def full_tables(run_md: str, dask_md: str, levels: int) -> str:
    return demote(run_md, levels).rstrip() + "\n\n" + demote(dask_md, levels).rstrip() + "\n"


def optional_tables(name: str, levels: int) -> str:
    """The tables of a part of ``make bench`` that wrote ``results/<name>.md``, if it ran."""
    path = os.path.join(RESULTS, name + ".md")
    if not os.path.exists(path):
        return ""
    with open(path) as f:
        return "\n" + demote(f.read(), levels).rstrip() + "\n"


#: the parts of ``make bench`` after run.py and dask_bench.py, in report order
EXTRA_PARTS = ("hdf5", "masks", "rawcsr", "mrc", "k2is", "dm", "convert")


def extra_tables(levels: int) -> str:
    """The tables of every part in ``EXTRA_PARTS`` that ran."""
    return "".join(optional_tables(name, levels) for name in EXTRA_PARTS)


def _gbs(nbytes: int, times: list[float] | None) -> str:
    return "-" if not times else f"{nbytes / statistics.median(times) / 1e9:.1f}"


def _first(nbytes: int, seconds: Any) -> str:
    if seconds is None:
        return "-"
    if isinstance(seconds, str):
        return "failed"
    return f"{nbytes / seconds / 1e9:.1f}"


def summary(run: dict[str, Any], dask: dict[str, Any]) -> str:
    """The README's tables: the headline figures of one run."""
    lines: list[str] = []
    add = lines.append
    t, first = run["times"], run["first"]
    have_lt = "LiberTEM Context()" in run["engines"]
    add(
        f"`make bench` of {run['when']}, commit {run['commit']}, {run['machine']}, "
        f"{run['threads']} workers on both sides, data in the page cache; GB/s of dataset bytes. "
        f"Warm: median of {run['reps']} repeats in one process (which keeps its dataset open); "
        "first: a fresh process's first run, load to result. Every result was checked against "
        "numpy. Full tables, method and spread: [docs/performance.md](docs/performance.md)."
    )
    add("")
    cols = [("ferrotem Context()", "ferrotem `Context()`", True)]
    if have_lt:
        cols.append(("LiberTEM Context()", "LiberTEM `Context()`", True))
    cols += [("numpy memmap", "numpy memmap", False), ("dask memmap", "dask memmap", False)]
    header = ["64\N{MULTIPLICATION SIGN}64 scan of 256\N{MULTIPLICATION SIGN}256 frames"]
    for _, title, with_first in cols:
        header += [title, "first run"] if with_first else [title]
    add("| " + " | ".join(header) + " |")
    add("|---|" + "---:|" * (len(header) - 1))
    names = {
        "sum": "SumUDF",
        "sumsig": "SumSigUDF",
        "both": "both in one run",
        "com": "CoMUDF (r=64 disk)",
    }
    for ds_name, ds in run["datasets"].items():
        for key, label in names.items():
            row = [f"{ds['label']}, {label}"]
            for engine, _, with_first in cols:
                value = _gbs(ds["nbytes"], t.get(f"{engine}|{ds_name}|{key}"))
                row.append(f"**{value}**" if engine == "ferrotem Context()" else value)
                if with_first:
                    row.append(_first(ds["nbytes"], first.get(f"{engine}|{ds_name}|{key}")))
            add("| " + " | ".join(row) + " |")
    add("")
    frame = run["frame"]
    n_frames = 64 * 64

    def us(label: str) -> str:
        times = frame.get(label)
        return "-" if not times else f"{statistics.median(times) / n_frames * 1e6:.0f} µs"

    text = (
        f"Memory-read bandwidth in the same run: {run['bw']:.1f} GB/s. A Python `process_frame` "
        "UDF doing `np.sum(frame)` on 256\N{MULTIPLICATION SIGN}256 float32 frames, reading "
        "included: "
        f"{us('ferrotem Context()')} per frame with `Context()`"
    )
    if have_lt:
        text += f" (LiberTEM `Context()`: {us('LiberTEM Context()')})"
    start = run["startup"]
    text += (
        f". A fresh process gets its first SumUDF result on a 100 MB file in "
        f"{start['ferrotem Context()']['wall']:.2f} s"
    )
    if "LiberTEM inline" in start:
        text += (
            f" (LiberTEM: {start['LiberTEM inline']['wall']:.1f} s inline, "
            f"{start['LiberTEM Context()']['wall']:.1f} s with `Context()`)"
        )
    add(text + ".")
    add("")

    dt, lt = dask["times"], dask.get("lt", {}).get("times", {})
    n_small = dask["datasets"]["uint16"]["nbytes"]
    n_float = dask["datasets"]["float32"]["nbytes"]
    n_large = dask["large"]["nbytes"]
    add("| Dask (GB/s, warm) | ferrotem | LiberTEM |")
    add("|---|---:|---:|")
    rows = [
        ("`make_with('delayed')`, SumUDF + `.data`, uint16 512 MiB", n_small, "delayed|sum"),
        ("`make_with('delayed')`, SumSigUDF + `.data`", n_small, "delayed|sumsig"),
        ("`make_dask_array(ds)[0].sum((0, 1))`, uint16 512 MiB", n_small, "mda|uint16"),
        ("`make_dask_array(ds)[0].sum((0, 1))`, float32 1 GiB", n_float, "mda|float32"),
        (
            f"`make_with('dask', cpus={dask['threads']})`, SumUDF, {dask['large']['label']}",
            n_large,
            "cluster|sum",
        ),
        (f"`make_with('dask', cpus={dask['threads']})`, SumSigUDF", n_large, "cluster|sumsig"),
    ]
    flagged = False
    for title, nbytes, key in rows:
        lt_text = _gbs(nbytes, lt.get(key))
        reference = REFERENCE.get(f"LiberTEM {key.replace('mda', 'make_dask_array')}")
        lt_median = statistics.median(lt[key]) if lt.get(key) else None
        if lt_median and off_reference(nbytes / lt_median / 1e9, reference):
            lt_text += " ⚠"
            flagged = True
        add(f"| {title} | {_gbs(nbytes, dt.get(key))} | {lt_text} |")
    lt_start = dask.get("lt", {}).get("startup")
    lt_s = "-" if not lt_start else f"{statistics.median(lt_start):.2f}"
    add(
        f"| start-up of `make_with('dask', cpus={dask['threads']})` (s) | "
        f"{statistics.median(dask['startup']):.2f} | {lt_s} |"
    )
    if flagged:
        add("")
        add(
            "⚠: more than 2x off LiberTEM's reference figure for that measurement on a similar "
            "machine; the full tables do not judge the target ratio that rests on it."
        )
    return "\n".join(lines) + "\n"


def splice(path: str, mark: str, content: str) -> None:
    """Replaces the text between ``<!-- {mark}:begin -->`` and ``<!-- {mark}:end -->``."""
    with open(path) as f:
        text = f.read()
    begin, end = f"<!-- {mark}:begin -->", f"<!-- {mark}:end -->"
    if text.count(begin) != 1 or text.count(end) != 1:
        raise SystemExit(f"{path}: expected one {begin} and one {end} marker")
    head, rest = text.split(begin)
    _, tail = rest.split(end)
    with open(path, "w") as f:
        f.write(head + begin + "\n" + content.rstrip() + "\n" + end + tail)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--splice",
        action="store_true",
        help="also write the tables into README.md and docs/performance.md",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="splice even if the two halves come from different commits",
    )
    args = parser.parse_args(argv)
    run, run_md = load("run")
    dask, dask_md = load("dask")
    if run["commit"] != dask["commit"]:
        msg = f"run.py ran on {run['commit']}, dask_bench.py on {dask['commit']}"
        if args.splice and not args.force:
            raise SystemExit(f"not one run: {msg} (run `make bench` again, or --force)")
        print(f"warning: {msg}", file=sys.stderr)
    head = (
        f"# ferrotem benchmarks\n\n`make bench` of {run['when']} (commit {run['commit']}); "
        "regenerate the documentation from it with `make bench-docs`.\n\n"
    )
    latest = os.path.join(RESULTS, "latest.md")
    with open(latest, "w") as f:
        f.write(head + full_tables(run_md, dask_md, 1) + extra_tables(1))
    print(f"written to {os.path.relpath(latest, ROOT)}")
    if args.splice:
        current = git_commit()
        if current.split("+")[0] != run["commit"].split("+")[0]:
            print(
                f"warning: the results are of commit {run['commit']}, the tree is at {current}",
                file=sys.stderr,
            )
        splice(README, README_MARK, summary(run, dask))
        splice(PERFORMANCE, DOCS_MARK, full_tables(run_md, dask_md, 3) + extra_tables(3))
        print("spliced into README.md and docs/performance.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
