"""What every benchmark script shares: data files and their numpy references, the workloads
(one definition used by ferrotem and LiberTEM alike), timing with result checks, fresh-process
first runs, and report helpers.

Imports only the standard library and numpy at module level, so that the LiberTEM side
(``benchmarks/side.py`` in ``.venv-libertem``) can use it too; dask and the engine package are
imported where a workload needs them.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
from mask_workloads import MASK_WORKLOAD_REFS, load_mask_references, mask_workload

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(HERE, "data")
RESULTS = os.path.join(HERE, "results")
LIBERTEM_PY = os.path.join(ROOT, ".venv-libertem", "bin", "python")
SIDE = os.path.join(HERE, "side.py")

#: relative tolerance of every result check against the float64 numpy reference: float32
#: accumulation over 4096 frames or 65536 pixels stays inside it (typically ~1e-5), while one
#: frame dropped or counted twice moves a 4096-frame sum by 2.4e-4 (and any per-frame sum
#: entirely)
RTOL = 1e-4


_STARTED = time.perf_counter()


def step(tag: str, msg: str) -> None:
    """A progress line on stderr, with the seconds since this process started."""
    print(f"[{tag} {time.perf_counter() - _STARTED:5.0f} s] {msg}", file=sys.stderr, flush=True)


# -- data -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Dataset:
    """A benchmark file and its layout: a raw file of ``dtype``; with ``mib`` set, a Merlin
    ``.mib`` file (``mib``: ``"12"``, ``"6"``, ``"r1"`` for 12-bit, 6-bit, RAW 1-bit; written
    by ``benchmarks/formats.py``) whose frames decode to ``dtype``; with ``hdf5`` set, an HDF5
    file (``hdf5``: ``"bslz4"``, ``"gzip1"``, ``"chunked"`` for bitshuffle+LZ4, gzip level 1,
    uncompressed chunks; one frame per chunk; written by ``benchmarks/hdf5_files.py``) of
    ``dtype`` frames in its dataset ``/data``."""

    name: str
    dtype: str
    nav: tuple[int, ...]
    sig: tuple[int, ...]
    mib: str = ""
    hdf5: str = ""

    @property
    def path(self) -> str:
        shape = "x".join(map(str, self.nav + self.sig))
        if self.mib:
            return os.path.join(DATA, f"bench_mib{self.mib}_{shape}.mib")
        if self.hdf5:
            return os.path.join(DATA, f"bench_h5{self.hdf5}_{self.dtype}_{shape}.h5")
        return os.path.join(DATA, f"bench_{self.dtype}_{shape}.raw")

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.nav + self.sig)) * np.dtype(self.dtype).itemsize

    @property
    def label(self) -> str:
        size = self.nbytes / 2**30
        size_s = f"{size:.0f} GiB" if size >= 1 else f"{self.nbytes / 2**20:.0f} MiB"
        return f"{self.dtype} {size_s}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Dataset:
        return cls(
            d["name"],
            d["dtype"],
            tuple(d["nav"]),
            tuple(d["sig"]),
            mib=d.get("mib", ""),
            hdf5=d.get("hdf5", ""),
        )

    def load(self, ctx: Any) -> Any:
        """``ctx.load`` of this file (the same call in ferrotem and LiberTEM)."""
        if self.mib:
            return ctx.load("mib", path=self.path, nav_shape=self.nav, sig_shape=self.sig)
        if self.hdf5:
            return ctx.load("hdf5", path=self.path, ds_path="/data")
        return ctx.load(
            "raw", path=self.path, nav_shape=self.nav, sig_shape=self.sig, dtype=self.dtype
        )


def ensure_file(ds: Dataset) -> str:
    """Creates the raw file once (random data, written in 64 MiB chunks); returns its path."""
    path = ds.path
    if os.path.exists(path) and os.path.getsize(path) == ds.nbytes:
        return path
    os.makedirs(DATA, exist_ok=True)
    dt = np.dtype(ds.dtype)
    n_frames = int(np.prod(ds.nav))
    frame = int(np.prod(ds.sig))
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


def reference_path(ds: Dataset) -> str:
    return ds.path + ".ref.npz"


def ensure_references(ds: Dataset) -> str:
    """float64 numpy sums of the file, over the frames (``sum``: a frame) and over each frame
    (``sumsig``: the scan), computed once and kept beside the file (recomputed when the file
    changes); returns the ``.npz`` path."""
    out = reference_path(ds)
    st = os.stat(ds.path)
    ident = np.array([st.st_size, st.st_mtime_ns], dtype=np.int64)
    if os.path.exists(out):
        with np.load(out) as z:
            if np.array_equal(z["ident"], ident):
                return out
    n = int(np.prod(ds.nav))
    mm = np.memmap(ds.path, dtype=ds.dtype, mode="r", shape=(n, int(np.prod(ds.sig))))
    total = np.zeros(mm.shape[1], np.float64)
    per_frame = np.empty(n, np.float64)
    step_frames = max(1, (64 << 20) // (mm.shape[1] * mm.dtype.itemsize))
    for start in range(0, n, step_frames):
        block = np.asarray(mm[start : start + step_frames], dtype=np.float64)
        total += block.sum(axis=0)
        per_frame[start : start + len(block)] = block.sum(axis=1)
    del mm
    tmp = out + ".part.npz"
    np.savez(tmp, ident=ident, sum=total.reshape(ds.sig), sumsig=per_frame.reshape(ds.nav))
    os.replace(tmp, out)
    return out


#: ``CoMUDF.with_params(**COM_PARAMS)`` in both packages: a bright-field disk of a quarter of
#: the frame's width around the centre of 256x256 frames
COM_PARAMS = {"cy": 127.5, "cx": 128.25, "r": 64.0}


def com_reference_path(ds: Dataset) -> str:
    return ds.path + ".com.npz"


def ensure_com_references(ds: Dataset) -> str:
    """The float64 numpy centre of mass ``(y, x)`` of every frame over the disk of
    ``COM_PARAMS`` (``raw_com``), computed once and kept beside the file; returns the path."""
    out = com_reference_path(ds)
    st = os.stat(ds.path)
    ident = np.array([st.st_size, st.st_mtime_ns], dtype=np.int64)
    if os.path.exists(out):
        with np.load(out) as z:
            if np.array_equal(z["ident"], ident):
                return out
    sy, sx = ds.sig
    yy, xx = np.mgrid[0:sy, 0:sx].astype(np.float64)
    p = COM_PARAMS
    disk = ((yy - p["cy"]) ** 2 + (xx - p["cx"]) ** 2 <= p["r"] ** 2).astype(np.float64)
    weights = np.stack([disk, yy * disk, xx * disk]).reshape(3, -1).T
    n = int(np.prod(ds.nav))
    mm = np.memmap(ds.path, dtype=ds.dtype, mode="r", shape=(n, sy * sx))
    moments = np.empty((n, 3))
    step_frames = max(1, (64 << 20) // (mm.shape[1] * mm.dtype.itemsize))
    for start in range(0, n, step_frames):
        block = np.asarray(mm[start : start + step_frames], dtype=np.float64)
        moments[start : start + len(block)] = block @ weights
    del mm
    com = moments[:, 1:] / moments[:, :1]
    tmp = out + ".part.npz"
    np.savez(tmp, ident=ident, com=com.reshape(ds.nav + (2,)))
    os.replace(tmp, out)
    return out


def stats_reference_path(ds: Dataset) -> str:
    return ds.path + ".stats.npz"


def ensure_stats_references(ds: Dataset) -> str:
    """float64 numpy references of the statistics UDFs, computed once beside the file (and
    again when it changes): ``varsum`` (``Σ(x - mean)²`` per pixel: numpy's two-pass moments
    of each block of frames merged pairwise, Chan et al.) and ``logsum`` (``Σ log(x - min(x) +
    1)`` per pixel, each frame cast to float32 as the UDF's input, then float64); returns the
    ``.npz`` path."""
    out = stats_reference_path(ds)
    st = os.stat(ds.path)
    ident = np.array([st.st_size, st.st_mtime_ns], dtype=np.int64)
    if os.path.exists(out):
        with np.load(out) as z:
            if np.array_equal(z["ident"], ident):
                return out
    n = int(np.prod(ds.nav))
    mm = np.memmap(ds.path, dtype=ds.dtype, mode="r", shape=(n, int(np.prod(ds.sig))))
    count, total = 0, np.zeros(mm.shape[1])
    varsum, logsum = np.zeros(mm.shape[1]), np.zeros(mm.shape[1])
    step_frames = max(1, (64 << 20) // (mm.shape[1] * mm.dtype.itemsize))
    for start in range(0, n, step_frames):
        frames = np.asarray(mm[start : start + step_frames])
        block = frames.astype(np.float64)
        k = len(block)
        block_sum = block.sum(axis=0)
        dev = block - block_sum / k
        block_m2 = np.einsum("ij,ij->j", dev, dev)
        if count:
            delta = block_sum / k - total / count
            block_m2 += delta * delta * (count * k / (count + k))
        varsum += block_m2
        total += block_sum
        count += k
        scaled = frames.astype(np.float32).astype(np.float64)
        logsum += np.log(scaled - scaled.min(axis=1, keepdims=True) + 1).sum(axis=0)
    del mm
    tmp = out + ".part.npz"
    np.savez(tmp, ident=ident, varsum=varsum.reshape(ds.sig), logsum=logsum.reshape(ds.sig))
    os.replace(tmp, out)
    return out


def load_references(ds: Dataset) -> dict[str, np.ndarray]:
    """The sums' references, and the centre of mass's and the masks' where they were computed
    (``ensure_com_references``, ``mask_workloads``)."""
    with np.load(reference_path(ds)) as z:
        refs = {"sum": z["sum"], "sumsig": z["sumsig"]}
    if os.path.exists(com_reference_path(ds)):
        with np.load(com_reference_path(ds)) as z:
            refs["com"] = z["com"]
    if os.path.exists(stats_reference_path(ds)):
        with np.load(stats_reference_path(ds)) as z:
            refs.update(varsum=z["varsum"], logsum=z["logsum"])
    return {**refs, **load_mask_references(ds.path)}


# -- engines: one API, two packages ---------------------------------------------------------------
def import_api(package: str) -> SimpleNamespace:
    """The parts of ``ferrotem`` or ``libertem`` the workloads use (the same names in both)."""
    if package not in ("ferrotem", "libertem"):
        raise ValueError(f"package: got {package!r}, expected 'ferrotem' or 'libertem'")
    api = importlib.import_module(f"{package}.api")
    return SimpleNamespace(
        package=package,
        name="LiberTEM" if package == "libertem" else "ferrotem",
        version=importlib.import_module(package).__version__,
        Context=api.Context,
        UDF=importlib.import_module(f"{package}.udf.base").UDF,
        SumUDF=importlib.import_module(f"{package}.udf.sum").SumUDF,
        SumSigUDF=importlib.import_module(f"{package}.udf.sumsigudf").SumSigUDF,
        CoMUDF=importlib.import_module(f"{package}.udf.com").CoMUDF,
        StdDevUDF=importlib.import_module(f"{package}.udf.stddev").StdDevUDF,
        LogsumUDF=importlib.import_module(f"{package}.udf.logsum").LogsumUDF,
        make_dask_array=importlib.import_module(f"{package}.contrib.daskadapter").make_dask_array,
    )


def default_workers(api: SimpleNamespace) -> int:
    """Workers of the package's default ``Context()`` on this machine."""
    if api.package == "ferrotem":
        from ferrotem.executor.base import default_threads

        return default_threads()
    from libertem.utils.devices import detect

    return len(detect()["cpus"])


#: the setups make_context knows, and the call each stands for
SETUPS = {
    "default": "Context()",
    "inline": "make_with('inline')",
    "delayed": "make_with('delayed')",
    "cluster": "make_with('dask', cpus=N)",
}


def make_context(api: SimpleNamespace, setup: str, threads: int) -> Any:
    """The same call in either package. ``default`` is ``Context()`` (ferrotem: its embedded
    thread pool; LiberTEM: a local Dask cluster), both with one worker per physical core; when
    ``threads`` differs from that, each package's default executor kind is made with ``cpus=
    threads`` instead, so both sides always run ``threads`` workers."""
    ctx_cls = api.Context
    if setup == "default":
        if threads == default_workers(api):
            return ctx_cls()
        kind = "threads" if api.package == "ferrotem" else "dask"
        return ctx_cls.make_with(kind, cpus=threads)
    if setup == "inline":
        return ctx_cls.make_with("inline")
    if setup == "delayed":
        return ctx_cls.make_with("delayed")
    if setup == "cluster":
        return ctx_cls.make_with("dask", cpus=threads)
    raise ValueError(f"setup: got {setup!r}, expected one of {sorted(SETUPS)}")


def np_sum_frame_udf(api: SimpleNamespace) -> Any:
    """A Python ``process_frame`` UDF doing ``np.sum(frame)``, for either package."""

    class NpSumFrameUDF(api.UDF):
        def get_result_buffers(self):
            return {"s": self.buffer(kind="nav", dtype="float32")}

        def process_frame(self, frame):
            self.results.s[:] = np.sum(frame)

    return NpSumFrameUDF


# -- workloads ------------------------------------------------------------------------------------
#: workload -> the reference arrays its result is checked against
WORKLOAD_REFS = {
    "sum": ("sum",),
    "sumsig": ("sumsig",),
    "both": ("sum", "sumsig"),
    "com": ("com",),
    "frame": ("sumsig",),
    "mda-sum": ("sum",),
    "numpy-sum": ("sum",),
    "numpy-sumsig": ("sumsig",),
    "numpy-both": ("sum", "sumsig"),
    "dask-sum": ("sum",),
    "dask-sumsig": ("sumsig",),
    "dask-both": ("sum", "sumsig"),
    "dask-mda-sum": ("sum",),
    "stddev": ("varsum",),
    "logsum": ("logsum",),
    **MASK_WORKLOAD_REFS,
}


def memmap_dask_array(mm: np.ndarray, chunks: Any) -> Any:
    """A Dask array over a memory map, one task per chunk slicing it, after dask's own recipe
    for raw files (docs.dask.org, "Create Dask Arrays", memory mapping).

    Not ``da.from_array(memmap)``: since dask 2024.12 that copies the whole array into memory
    first (dask issue 11850; with the default name it also hashes every byte), which measured
    the copy instead of the reduction. ``name`` is given, so the closure over the map is never
    hashed either.
    """
    import dask.array as da

    chunks = da.core.normalize_chunks(chunks, mm.shape, dtype=mm.dtype)

    def load(block_info: Any = None) -> np.ndarray:
        loc = block_info[None]["array-location"]
        return mm[tuple(slice(a, b) for a, b in loc)]

    meta = np.empty((0,) * mm.ndim, mm.dtype)
    name = f"memmap-{uuid.uuid4().hex}"
    return da.map_blocks(load, name=name, chunks=chunks, dtype=mm.dtype, meta=meta)


#: stored bytes per chunk of the plain dask baseline in the throughput table
DASK_CHUNK_BYTES = 16 << 20


def prepare(
    workload: str,
    ds: Dataset,
    *,
    api: SimpleNamespace | None = None,
    ctx: Any = None,
    threads: int = 1,
    chunks: Any = None,
) -> Callable[[], tuple[np.ndarray, ...]]:
    """A callable doing ``workload`` once on ``ds`` and returning its result arrays (in the
    order of ``WORKLOAD_REFS[workload]``). Engine workloads need ``api`` and ``ctx`` and load
    the dataset now; ``numpy-*``/``dask-*`` workloads open one memory map now and reuse it, as
    the engines reuse their open dataset. ``dask-mda-sum`` needs ``chunks``."""
    n = int(np.prod(ds.nav))
    if workload.startswith("numpy-") or workload.startswith("dask-"):
        mm = np.memmap(ds.path, dtype=ds.dtype, mode="r", shape=(n,) + ds.sig)
        if workload.startswith("numpy-"):
            return _numpy_workload(workload, mm, ds)
        return _dask_workload(workload, mm, ds, threads, chunks)
    assert api is not None and ctx is not None, "engine workloads need api and ctx"
    data = ds.load(ctx)
    if workload in ("sum", "sumsig", "both"):
        make = {
            "sum": lambda: [api.SumUDF()],
            "sumsig": lambda: [api.SumSigUDF()],
            "both": lambda: [api.SumUDF(), api.SumSigUDF()],
        }[workload]

        def run() -> tuple[np.ndarray, ...]:
            res = ctx.run_udf(dataset=data, udf=make())
            return tuple(np.asarray(r["intensity"].data) for r in res)

        return run
    if workload in MASK_WORKLOAD_REFS:
        return mask_workload(workload, api, ctx, data, ds.sig)
    if workload == "com":

        def run_com() -> tuple[np.ndarray, ...]:
            udf = api.CoMUDF.with_params(**COM_PARAMS)
            return (np.asarray(ctx.run_udf(dataset=data, udf=udf)["raw_com"].data),)

        return run_com
    if workload in ("stddev", "logsum"):
        udf_cls, buffer = {
            "stddev": (api.StdDevUDF, "varsum"),
            "logsum": (api.LogsumUDF, "logsum"),
        }[workload]
        return lambda: (np.asarray(ctx.run_udf(dataset=data, udf=udf_cls())[buffer].data),)
    if workload == "frame":
        udf_cls = np_sum_frame_udf(api)
        return lambda: (np.asarray(ctx.run_udf(dataset=data, udf=udf_cls())["s"].data),)
    if workload == "mda-sum":
        return lambda: (api.make_dask_array(data)[0].sum(axis=(0, 1)).compute(),)
    raise ValueError(f"workload: got {workload!r}, expected one of {sorted(WORKLOAD_REFS)}")


def _numpy_workload(workload: str, mm: np.ndarray, ds: Dataset) -> Callable:
    f32 = np.float32
    fns = {
        "numpy-sum": lambda: (mm.sum(axis=0, dtype=f32).reshape(ds.sig),),
        "numpy-sumsig": lambda: (mm.sum(axis=(1, 2), dtype=f32).reshape(ds.nav),),
        "numpy-both": lambda: (
            mm.sum(axis=0, dtype=f32).reshape(ds.sig),
            mm.sum(axis=(1, 2), dtype=f32).reshape(ds.nav),
        ),
    }
    return fns[workload]


def _dask_workload(
    workload: str, mm: np.ndarray, ds: Dataset, threads: int, chunks: Any
) -> Callable:
    import dask

    f32 = np.float32
    if workload == "dask-mda-sum":
        # the same chunks as make_dask_array, the same float32 conversion, the same reduction
        arr = memmap_dask_array(mm.reshape(ds.nav + ds.sig), chunks)
        return lambda: (arr.astype(f32).sum(axis=(0, 1)).compute(num_workers=threads),)
    depth = max(1, DASK_CHUNK_BYTES // (mm[0].nbytes))
    arr = memmap_dask_array(mm, (depth, -1, -1))
    s = arr.sum(axis=0, dtype=f32)
    ss = arr.sum(axis=(1, 2), dtype=f32)
    graphs = {"dask-sum": (s,), "dask-sumsig": (ss,), "dask-both": (s, ss)}[workload]
    shapes = {"dask-sum": (ds.sig,), "dask-sumsig": (ds.nav,), "dask-both": (ds.sig, ds.nav)}

    def run() -> tuple[np.ndarray, ...]:
        out = dask.compute(*graphs, scheduler="threads", num_workers=threads)
        return tuple(o.reshape(s) for o, s in zip(out, shapes[workload], strict=True))

    return run


# -- checks and timing ----------------------------------------------------------------------------
class ResultMismatch(AssertionError):
    """A benchmarked call returned a wrong result; its time does not count."""


def check(label: str, got: Sequence[np.ndarray], expected: Sequence[np.ndarray]) -> None:
    """Raises ``ResultMismatch`` naming ``label`` unless ``got`` matches ``expected``."""
    if len(got) != len(expected):
        raise ResultMismatch(f"{label}: {len(got)} results, expected {len(expected)}")
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        g = np.asarray(g)
        if g.shape != e.shape:
            raise ResultMismatch(f"{label}: result {i} has shape {g.shape}, expected {e.shape}")
        if not np.allclose(g, e, rtol=RTOL, atol=0):
            worst = float(np.max(np.abs(g - e) / np.maximum(np.abs(e), 1e-30)))
            raise ResultMismatch(
                f"{label}: result {i} differs from numpy (max relative error {worst:.2e})"
            )


@dataclass
class Cell:
    """One timed thing: a label, the call, and the references its every result must match."""

    label: str
    fn: Callable[[], tuple[np.ndarray, ...]]
    expected: tuple[np.ndarray, ...]


def time_cells(cells: Sequence[Cell], reps: int) -> dict[str, list[float]]:
    """Wall times of ``reps`` rounds in which every cell runs once, in turn (so that load from
    other work on a shared machine hits all alike), after one untimed, checked warm-up call of
    each. Every timed result is checked against its references (outside the timed interval)
    before its time is kept."""
    for c in cells:
        check(c.label + " (warm-up)", c.fn(), c.expected)
    times: dict[str, list[float]] = {c.label: [] for c in cells}
    for _ in range(reps):
        for c in cells:
            t0 = time.perf_counter()
            result = c.fn()
            dt = time.perf_counter() - t0
            check(c.label, result, c.expected)
            times[c.label].append(dt)
    return times


def run_specs(
    package: str,
    specs: Sequence[dict[str, Any]],
    threads: int,
    reps: int,
    extra: Sequence[Cell] = (),
) -> dict[str, Any]:
    """Times cells given as JSON-able specs (``label``, ``setup``, ``workload``, ``dataset``,
    optionally ``chunks_from``: the label of an earlier ``mda-sum`` spec whose array's chunks a
    ``dask-mda-sum`` spec uses) with ``package``, plus ``extra`` cells, all interleaved
    (``time_cells``). One context per setup, shared by its cells. Returns ``{"version", "times",
    "chunks"}``, chunks being ``make_dask_array``'s, by label, for ``mda-sum`` specs."""
    api = import_api(package)
    contexts: dict[str, Any] = {}
    chunks: dict[str, Any] = {}
    cells = []
    try:
        for spec in specs:
            ds = Dataset.from_json(spec["dataset"])
            setup = spec.get("setup")
            if setup and setup not in contexts:
                contexts[setup] = make_context(api, setup, threads)
            ctx = contexts.get(setup) if setup else None
            if spec["workload"] == "mda-sum":
                data = ds.load(ctx)
                chunks[spec["label"]] = [list(c) for c in api.make_dask_array(data)[0].chunks]
            from_label = spec.get("chunks_from")
            fn = prepare(
                spec["workload"],
                ds,
                api=api,
                ctx=ctx,
                threads=threads,
                chunks=None if from_label is None else tuple(map(tuple, chunks[from_label])),
            )
            refs = load_references(ds)
            cells.append(
                Cell(spec["label"], fn, tuple(refs[k] for k in WORKLOAD_REFS[spec["workload"]]))
            )
        times = time_cells([*cells, *extra], reps)
    finally:
        for ctx in contexts.values():
            ctx.close()
    return {"version": f"{api.name} {api.version}", "times": times, "chunks": chunks}


def startup_times(make: Callable[[], Any], reps: int) -> list[float]:
    """Wall times of ``reps`` calls of ``make`` (each result closed at once), after one untimed
    warm-up call."""
    times = []
    for _ in range(reps + 1):
        t0 = time.perf_counter()
        ctx = make()
        times.append(time.perf_counter() - t0)
        ctx.close()
    return times[1:]


# -- side processes -------------------------------------------------------------------------------
def run_side(
    python: str,
    config: dict[str, Any],
    timeout: float = 1800,
    script: str = SIDE,
    flags: Sequence[str] = (),
) -> dict[str, Any]:
    """Runs ``script`` (``benchmarks/side.py`` unless given) with ``flags``, then the paths of
    ``config`` (written as JSON) and of its result, in ``python``; returns its JSON result, or
    ``{"error": reason}``."""
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "config.json")
        res = os.path.join(d, "result.json")
        with open(cfg, "w") as f:
            json.dump(config, f)
        try:
            proc = subprocess.run(
                [python, script, *flags, cfg, res],
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s"}
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-5:]
            return {"error": "failed: " + " | ".join(tail)}
        with open(res) as f:
            return json.load(f)


def first_run(
    python: str,
    package: str,
    setup: str,
    workload: str,
    ds: Dataset,
    threads: int,
    chunks: Any = None,
) -> float | str:
    """Seconds from loading ``ds`` to the checked result of ``workload`` in a fresh process
    (the context is made before the clock starts; the file is in the page cache but not yet
    mapped by that process), or a reason string when it failed."""
    out = run_side(
        python,
        {
            "mode": "first-run",
            "package": package,
            "setup": setup,
            "workload": workload,
            "dataset": ds.to_json(),
            "threads": threads,
            "chunks": chunks,
        },
        timeout=600,
    )
    return out.get("error") or out["seconds"]


# -- reports --------------------------------------------------------------------------------------
def median(times: Sequence[float] | None) -> float | None:
    return None if not times else statistics.median(times)


def gbs(nbytes: int, times: Sequence[float] | None, spread: bool = True) -> str:
    """Median GB/s, with the slowest and fastest repetition in brackets."""
    if not times:
        return "-"
    text = f"{nbytes / statistics.median(times) / 1e9:.2f}"
    if spread and len(times) > 1:
        text += f" [{nbytes / max(times) / 1e9:.1f}-{nbytes / min(times) / 1e9:.1f}]"
    return text


def median_gbs(nbytes: int, times: Sequence[float] | None) -> float | None:
    """Median GB/s as a number (None without times), for ratios and goals."""
    return None if not times else nbytes / statistics.median(times) / 1e9


def number_cell(value: float | None, pattern: str) -> str:
    """A table cell: ``value`` formatted with ``pattern``, or ``-`` when there is none."""
    return "-" if value is None else pattern.format(value)


def gbs_first(nbytes: int, seconds: float | str | None) -> str:
    """GB/s of a first run, or its failure."""
    if seconds is None:
        return "-"
    if isinstance(seconds, str):
        return "failed"
    return f"{nbytes / seconds / 1e9:.2f}"


def seconds_cell(times: Sequence[float] | None) -> str:
    if not times:
        return "-"
    return f"{statistics.median(times):.2f} [{min(times):.2f}-{max(times):.2f}]"


#: how far a baseline may be from its reference figure before it is not trusted
REFERENCE_FACTOR = 2.0


def off_reference(measured: float | None, reference: float | None) -> bool:
    """True when ``measured`` is more than ``REFERENCE_FACTOR`` times off ``reference``."""
    if measured is None or reference is None or measured <= 0:
        return False
    ratio = measured / reference
    return ratio > REFERENCE_FACTOR or ratio < 1 / REFERENCE_FACTOR


def verdict(value: float | None, ok: Callable[[float], bool], baseline_off: bool = False) -> str:
    """``yes``/``**no**`` for a target, ``-`` without a value; a baseline off its reference is
    not judged."""
    if value is None:
        return "-"
    if baseline_off:
        return "not judged: baseline off its reference"
    return "yes" if ok(value) else "**no**"


def git_commit() -> str:
    """Short commit of the working tree, with ``+dirty`` when tracked files differ from it."""
    try:
        head = subprocess.run(
            ["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def machine() -> str:
    """CPU model (from /proc/cpuinfo where there is one), CPU count and memory."""
    model = platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        if names:
            model = names[0]
    except OSError:
        pass
    try:
        import psutil

        mem = f", {psutil.virtual_memory().total / 2**30:.0f} GiB"
    except ImportError:
        mem = ""
    return f"{model}, {os.cpu_count()} CPUs{mem}"


def write_results(name: str, markdown: str, data: dict[str, Any]) -> str:
    """Writes ``results/<name>.md`` and ``results/<name>.json``; returns the markdown path."""
    os.makedirs(RESULTS, exist_ok=True)
    md = os.path.join(RESULTS, f"{name}.md")
    with open(md, "w") as f:
        f.write(markdown)
    with open(os.path.join(RESULTS, f"{name}.json"), "w") as f:
        json.dump(data, f, indent=1, default=str)
    return md


def libertem_part(
    skip: bool, run: Callable[[], dict[str, Any]], tag: str
) -> tuple[str, dict[str, Any]]:
    """Runs ``run`` (the LiberTEM side of a bench, in .venv-libertem) unless ``skip`` or
    LiberTEM is not installed: ``(what the report says of LiberTEM, its timings)``."""
    if skip:
        return "skipped (--no-libertem)", {}
    if not os.path.exists(LIBERTEM_PY):
        return "not installed (make bench-libertem)", {}
    step(tag, "LiberTEM (.venv-libertem)")
    side = run()
    if "error" in side:
        return str(side["error"]), {}
    return f"{side['version']} (in .venv-libertem)", side["times"]


def result_header(
    script: str, threads: int, reps: int, load0: float, t_start: float, argv: list[str] | None
) -> dict[str, Any]:
    """The fields every bench part's result starts with: when, where, how, and the command."""
    return {
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "commit": git_commit(),
        "machine": machine(),
        "threads": threads,
        "reps": reps,
        "load0": load0,
        "load1": os.getloadavg()[0],
        "command": " ".join([f"python benchmarks/{script}", *(argv or sys.argv[1:])]),
        "total": time.perf_counter() - t_start,
    }
