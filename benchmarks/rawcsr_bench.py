"""Sparse ``raw_csr`` data, side by side with LiberTEM 0.16's ``'raw_csr'`` reader (part of
``make bench``).

A synthesised dataset at 1 % density — a 64x64 scan of 256x256 uint16 frames, 2.7 M stored
entries (``<i8`` indptr, ``<i4`` indices, ``<u2`` values), made once into the benchmark cache —
is read by SumUDF and by ApplyMasksUDF with 16 sparse ring masks. Timed: ferrotem
``Context()`` (both UDFs run in Rust on the stored entries) and LiberTEM ``Context()`` with as
many workers, run in ``.venv-libertem``; every result of both is checked against scipy on the
CSR matrix. Figures are dense-equivalent GB/s (the 512 MiB the frames would take as uint16)
and the ratio to LiberTEM; issue 10's target is at least 3x. Results go to
``benchmarks/results/rawcsr.md`` and ``rawcsr.json``. Timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np
from common import DATA, LIBERTEM_PY, result_header, step, write_results

NAV = (64, 64)
SIG = (256, 256)
DENSITY = 0.01
N_MASKS = 16
GOAL_X = 3.0
TAG = "rawcsr"
NAME = f"rawcsr_u2_{NAV[0]}x{NAV[1]}x{SIG[0]}x{SIG[1]}"
#: bytes of the frames as dense uint16: the unit of the GB/s figures
DENSE_BYTES = int(np.prod(NAV + SIG)) * 2


def ensure_dataset() -> str:
    """The descriptor of the benchmark dataset, written once into the cache."""
    folder = os.path.join(DATA, NAME)
    toml = os.path.join(folder, "data.toml")
    if os.path.exists(toml):
        return toml
    step(TAG, f"writing {folder}")
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(10)
    n, pixels = int(np.prod(NAV)), int(np.prod(SIG))
    counts = rng.binomial(pixels, DENSITY, size=n)
    indptr = np.zeros(n + 1, dtype="<i8")
    np.cumsum(counts, out=indptr[1:])
    indices = np.concatenate(
        [np.sort(rng.choice(pixels, size=c, replace=False)) for c in counts]
    ).astype("<i4")
    values = rng.integers(1, 20, size=len(indices)).astype("<u2")
    for name, arr in (("indptr", indptr), ("indices", indices), ("data", values)):
        arr.tofile(os.path.join(folder, f"{name}.raw"))
    with open(toml + ".tmp", "w") as f:
        f.write(
            f'[params]\nfiletype = "raw_csr"\nnav_shape = {list(NAV)}\nsig_shape = {list(SIG)}\n'
            '\n[raw_csr]\nindptr_file = "indptr.raw"\nindptr_dtype = "<i8"\n'
            'indices_file = "indices.raw"\nindices_dtype = "<i4"\n'
            'data_file = "data.raw"\ndata_dtype = "<u2"\n'
        )
    os.replace(toml + ".tmp", toml)
    return toml


def ring_masks() -> np.ndarray:
    """16 rings of 8 pixels' width around the frame centre, float32."""
    y, x = np.indices(SIG)
    r = np.hypot(y - SIG[0] / 2, x - SIG[1] / 2)
    return np.stack([((r >= 8 * i) & (r < 8 * i + 8)) for i in range(N_MASKS)]).astype(np.float32)


def references(toml: str) -> dict[str, np.ndarray]:
    """Sum of frames and the masks' results, from scipy on the CSR matrix (float64)."""
    import scipy.sparse

    folder = os.path.dirname(toml)
    parts = [
        np.fromfile(os.path.join(folder, f"{n}.raw"), dtype=d)
        for n, d in (("data", "<u2"), ("indices", "<i4"), ("indptr", "<i8"))
    ]
    m = scipy.sparse.csr_matrix(
        (parts[0].astype(np.float64), parts[1], parts[2]),
        shape=(int(np.prod(NAV)), int(np.prod(SIG))),
    )
    masks = ring_masks().reshape(N_MASKS, -1).astype(np.float64)
    return {
        "sum": np.asarray(m.sum(axis=0)).reshape(SIG),
        "masks": np.asarray(m @ masks.T).reshape(NAV + (N_MASKS,)),
    }


#: the script both engines run (``PKG`` is ``ferrotem`` or ``libertem``): a checked warm-up,
#: then ``reps`` timed runs of each workload; prints the times as JSON
SCRIPT = r"""
import json, sys, time
import numpy as np
PKG, toml, reps, threads, refs_path, rings_path = sys.argv[1:7]
api = __import__(PKG + ".api", fromlist=["Context"])
masks_mod = __import__(PKG + ".udf.masks", fromlist=["ApplyMasksUDF"])
sum_mod = __import__(PKG + ".udf.sum", fromlist=["SumUDF"])
refs = np.load(refs_path)
rings = np.load(rings_path)
if PKG == "libertem":
    from libertem.executor.dask import DaskJobExecutor, cluster_spec
    spec = cluster_spec(cpus=range(int(threads)), cudas=[], has_cupy=False)
    ctx = api.Context(executor=DaskJobExecutor.make_local(spec=spec))
else:
    ctx = api.Context()
ds = ctx.load("raw_csr", path=toml)
work = {
    "sum": (lambda: sum_mod.SumUDF(), lambda r: r["intensity"].data),
    "masks": (
        lambda: masks_mod.ApplyMasksUDF(
            mask_factories=[(lambda i=i: rings[i]) for i in range(len(rings))], use_sparse=True
        ),
        lambda r: r["intensity"].data,
    ),
}
times = {}
for name, (make, get) in work.items():
    got = np.asarray(get(ctx.run_udf(ds, make())), dtype=np.float64)
    np.testing.assert_allclose(got, refs[name], rtol=1e-4, atol=1e-3)
    t = []
    for _ in range(int(reps)):
        t0 = time.perf_counter()
        ctx.run_udf(ds, make())
        t.append(time.perf_counter() - t0)
    times[name] = t
ctx.close()
print("RESULT " + json.dumps(times))
"""


def run_engine(
    python: str, pkg: str, toml: str, reps: int, threads: int, refs: str, rings: str
) -> dict[str, Any]:
    """The engine's times per workload, or ``{"error": reason}``."""
    try:
        proc = subprocess.run(
            [python, "-c", SCRIPT, pkg, toml, str(reps), str(threads), refs, rings],
            capture_output=True,
            text=True,
            timeout=900,
        )
    except subprocess.TimeoutExpired:
        return {"error": "timed out"}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    tail = " | ".join(proc.stderr.strip().splitlines()[-4:])
    return {"error": f"failed: {tail}"}


def gbs(times: list[float] | None) -> float | None:
    return None if not times else DENSE_BYTES / statistics.median(times) / 1e9


def build_report(r: dict[str, Any]) -> str:
    lines = [
        "# Sparse raw_csr",
        "",
        f"{r['when']} · commit {r['commit']} · {r['machine']} · a 64x64 scan of 256x256 uint16 "
        f"frames at 1 % density ({r['nnz'] / 1e6:.1f} M entries) · dense-equivalent GB/s "
        f"(512 MiB) · median of {r['reps']} runs after a checked warm-up · {r['threads']} "
        "workers on both sides · every result checked against scipy · load average "
        f"{r['load0']:.2f} at start, {r['load1']:.2f} at end (a shared machine: noisy)",
        "",
        "| workload | ferrotem `Context()` | LiberTEM `Context()` | x LiberTEM | target x3 |",
        "|---|---:|---:|---:|---|",
    ]
    for name, label in (("sum", "SumUDF"), ("masks", f"ApplyMasksUDF, {N_MASKS} sparse masks")):
        ours = gbs(r["ferrotem"].get(name))
        lt = gbs(r["libertem"].get(name))
        x = None if not (ours and lt) else ours / lt
        ok = "-" if x is None else ("yes" if x >= GOAL_X else "**no**")
        lines.append(
            f"| {label} | {'-' if ours is None else f'{ours:.2f}'} | "
            f"{'-' if lt is None else f'{lt:.2f}'} | {'-' if x is None else f'x{x:.1f}'} | {ok} |"
        )
    for engine in ("ferrotem", "libertem"):
        if "error" in r[engine]:
            lines += ["", f"{engine}: {r[engine]['error']}"]
    lines += ["", f"Command: `{r['command']}` · {r['total']:.0f} s in all"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="timed runs per cell (default 3)")
    parser.add_argument("--threads", type=int, default=None, help="workers (default: cores)")
    parser.add_argument("--no-libertem", action="store_true", help="skip LiberTEM even if found")
    args = parser.parse_args(argv)
    from ferrotem.executor.base import physical_cores

    threads = args.threads or physical_cores()
    t0 = time.perf_counter()
    load0 = os.getloadavg()[0]
    toml = ensure_dataset()
    refs_path = os.path.join(os.path.dirname(toml), "refs.npz")
    rings_path = os.path.join(os.path.dirname(toml), "rings.npy")
    if not os.path.exists(refs_path):
        np.savez(refs_path, **references(toml))
    np.save(rings_path, ring_masks())
    nnz = os.path.getsize(os.path.join(os.path.dirname(toml), "data.raw")) // 2
    step(TAG, "ferrotem")
    ours = run_engine(sys.executable, "ferrotem", toml, args.reps, threads, refs_path, rings_path)
    theirs: dict[str, Any] = {"error": "not run (--no-libertem or no .venv-libertem)"}
    if not args.no_libertem and os.path.exists(LIBERTEM_PY):
        step(TAG, "LiberTEM")
        theirs = run_engine(
            LIBERTEM_PY, "libertem", toml, args.reps, threads, refs_path, rings_path
        )
    r = {
        **result_header("rawcsr_bench.py", threads, args.reps, load0, t0, argv),
        "nnz": nnz,
        "ferrotem": ours,
        "libertem": theirs,
    }
    path = write_results(TAG, build_report(r), r)
    step(TAG, f"wrote {path}")
    print(build_report(r))
    return 1 if "error" in ours else 0


if __name__ == "__main__":
    sys.exit(main())
