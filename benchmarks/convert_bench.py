"""Conversion speed (part of ``make bench``): a synthesised 12-bit Merlin ``.mib`` file (a 64x64
scan of 256x256 frames, 512 MiB of decoded frames; ``benchmarks/formats.py``) converted with
``ctx.export_dataset`` to HDF5 with bitshuffle+LZ4 (the issue's figure), to ``.npy`` and to
Zarr with Blosc bitshuffle+LZ4 (gzip, far slower, is left out to keep the run short), in GB/s
of decoded frames, beside the speed of reading the same file (a native ``SumUDF`` pass with
``Context()``).

The source is in the page cache; the outputs are written to a temporary directory beside it
and removed after each run; the time ends when the last byte is handed to the kernel (the
write-back to the disk is not waited for). Every output is read back once and its sum checked
against numpy. Results go to ``benchmarks/results/convert.md`` and ``convert.json``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from typing import Any

import numpy as np
from common import (
    DATA,
    ROOT,
    Dataset,
    ensure_file,
    gbs,
    median_gbs,
    reference_path,
    result_header,
    step,
    warm_page_cache,
    write_results,
)
from formats import ensure_mib, ensure_mib_references

NAV = (64, 64)
SIG = (256, 256)
RAW = Dataset("uint16", "uint16", NAV, SIG)
MIB = Dataset("mib12", "uint16", NAV, SIG, mib="12")
TAG = "convert"
#: label -> (file name, export_dataset keyword arguments)
TARGETS: dict[str, tuple[str, dict[str, Any]]] = {
    "HDF5, bitshuffle+LZ4": ("out.h5", {"compression": "bitshuffle-lz4"}),
    ".npy": ("out.npy", {}),
    "Zarr, Blosc bitshuffle+LZ4": ("out.zarr", {"compression": "bitshuffle-lz4"}),
}
READ = "read: SumUDF on the .mib file"


def _remove(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.unlink(path)


def _reread_sum(ctx: Any, path: str) -> np.ndarray:
    """SumUDF over the written file, opened again as a user would."""
    from ferrotem.udf.sum import SumUDF

    if path.endswith(".h5"):
        ds = ctx.load("hdf5", path=path, ds_path="/data")
    elif path.endswith(".npy"):
        ds = ctx.load("npy", path=path)
    else:
        import dask.array as da

        ds = ctx.load("dask", da.from_zarr(path), sig_dims=2, min_size=1)
    result: np.ndarray = ctx.run_udf(ds, SumUDF())["intensity"].data
    return result


def measure(reps: int) -> dict[str, list[float]]:
    """Times of every cell, interleaved rep by rep; each output checked once."""
    from ferrotem.api import Context
    from ferrotem.udf.sum import SumUDF

    with np.load(reference_path(MIB)) as refs:
        expected = refs["sum"]
    times: dict[str, list[float]] = {label: [] for label in (READ, *TARGETS)}
    out_dir = tempfile.mkdtemp(prefix="convert-", dir=DATA)
    try:
        with Context() as ctx:
            ds = MIB.load(ctx)
            for rep in range(reps + 1):  # the first round is a checked warm-up
                t0 = time.perf_counter()
                total = ctx.run_udf(ds, SumUDF())["intensity"].data
                if rep:
                    times[READ].append(time.perf_counter() - t0)
                else:
                    np.testing.assert_allclose(total, expected, rtol=1e-4)
                for label, (name, kwargs) in TARGETS.items():
                    path = os.path.join(out_dir, name)
                    t0 = time.perf_counter()
                    ctx.export_dataset(ds, path=path, **kwargs)
                    if rep:
                        times[label].append(time.perf_counter() - t0)
                    else:
                        np.testing.assert_allclose(_reread_sum(ctx, path), expected, rtol=1e-4)
                    _remove(path)
                step(TAG, f"round {rep} of {reps} done")
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    return times


def build_report(r: dict[str, Any]) -> str:
    lines = [
        "# Conversion (ferrotem convert / ctx.export_dataset)",
        "",
        f"{r['when']} · commit {r['commit']} · {r['machine']} · a 12-bit Merlin file, 64x64 "
        "scan of 256x256 frames (512 MiB decoded, in the page cache), converted with "
        "`ctx.export_dataset` (threads: one per CPU) · GB/s of decoded frames, write-back to "
        f"the disk not included · median of {r['reps']} runs after a checked warm-up "
        f"([slowest-fastest]) · load average {r['load0']:.2f} at start, {r['load1']:.2f} at end",
        "",
        "| output | GB/s | % of the read |",
        "|---|---:|---:|",
    ]
    nbytes = MIB.nbytes
    t = r["times"]
    read = median_gbs(nbytes, t.get(READ))
    for label in (READ, *TARGETS):
        ours = median_gbs(nbytes, t.get(label))
        share = "-" if not (ours and read) else f"{ours / read:.0%}"
        lines.append(f"| {label} | **{gbs(nbytes, t.get(label))}** | {share} |")
    lines += ["", f"Command: `{r['command']}` · {r['total']:.0f} s in all"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=2, help="timed runs per cell (default 2)")
    args = parser.parse_args(argv)
    reps = max(1, args.reps)
    t_start = time.perf_counter()
    load0 = os.getloadavg()[0]
    step(TAG, "preparing the files in benchmarks/data (written once)")
    ensure_file(RAW)
    ensure_mib(MIB, RAW)
    ensure_mib_references(MIB, RAW)
    warm_page_cache(MIB.path)
    times = measure(reps)
    threads = os.cpu_count() or 1  # export_dataset writes with one thread per CPU
    result = {
        **result_header("convert_bench.py", threads, reps, load0, t_start, argv),
        "times": times,
    }
    report = build_report(result)
    print(report)
    out = write_results(TAG, report, result)
    print(f"written to {os.path.relpath(out, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
