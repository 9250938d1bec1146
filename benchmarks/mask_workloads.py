"""The ``ApplyMasksUDF`` workloads of the benchmarks: their masks, float64 numpy references
and the calls (the same in ferrotem and LiberTEM).

Workloads: ``masks1``, ``masks16``, ``masks64`` (dense float32 masks of uniform random weights,
the first 1, 16 or 64 of one seeded stack), ``rings16`` (16 concentric rings 8 pixels wide
around the frame's centre, weight 1, as a sparse stack: ``use_sparse=True``) and ``fused``
(SumUDF + SumSigUDF + ApplyMasksUDF with the first 4 dense masks + CoMUDF with
``common.COM_PARAMS`` in one ``run_udf``; its references need ``common.ensure_com_references``).

Imports only numpy at module level (the LiberTEM side imports it too).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

#: dense workload -> number of masks (the first ones of ``dense_masks``)
DENSE = {"masks1": 1, "masks16": 16, "masks64": 64}
#: masks of the fused cell (the first ones of ``dense_masks``)
FUSED_MASKS = 4
N_RINGS = 16
RING_WIDTH = 8
#: workload -> the reference arrays its result is checked against
MASK_WORKLOAD_REFS = {
    "masks1": ("masks1",),
    "masks16": ("masks16",),
    "masks64": ("masks64",),
    "rings16": ("rings16",),
    "fused": ("sum", "sumsig", "masks4", "com"),
}


def dense_masks(n: int, sig: tuple[int, ...]) -> np.ndarray:
    """The first ``n`` of 64 seeded float32 masks with weights in [0, 1)."""
    rng = np.random.default_rng(7)
    return rng.random((64, *sig), dtype=np.float32)[:n]


def ring_masks(sig: tuple[int, ...]) -> np.ndarray:
    """16 concentric rings ``RING_WIDTH`` pixels wide around the centre (float32, weight 1)."""
    y, x = np.indices(sig)
    r = np.hypot(y - sig[0] / 2, x - sig[1] / 2)
    ring = (r // RING_WIDTH).astype(np.int64)
    return np.stack([(ring == k) for k in range(N_RINGS)]).astype(np.float32)


def references_path(path: str) -> str:
    return path + ".masks.npz"


def ensure_mask_references(path: str, dtype: str, nav: tuple[int, ...], sig: tuple[int, ...]):
    """float64 numpy products of the file's frames with the masks (``masks1``, ``masks4``,
    ``masks16``, ``masks64``, ``rings16``; shape ``(*nav, n_masks)``), computed once beside
    the file (recomputed when it changes)."""
    out = references_path(path)
    st = os.stat(path)
    ident = np.array([st.st_size, st.st_mtime_ns], dtype=np.int64)
    if os.path.exists(out):
        with np.load(out) as z:
            if np.array_equal(z["ident"], ident):
                return out
    n = int(np.prod(nav))
    px = int(np.prod(sig))
    mm = np.memmap(path, dtype=dtype, mode="r", shape=(n, px))
    dense = dense_masks(64, sig).reshape(64, px).astype(np.float64).T
    rings = ring_masks(sig).reshape(N_RINGS, px).astype(np.float64).T
    d_out = np.empty((n, 64))
    r_out = np.empty((n, N_RINGS))
    step = 128
    for start in range(0, n, step):
        block = np.asarray(mm[start : start + step], dtype=np.float64)
        d_out[start : start + len(block)] = block @ dense
        r_out[start : start + len(block)] = block @ rings
    del mm
    refs = {f"masks{k}": d_out[:, :k].reshape(*nav, k) for k in (1, FUSED_MASKS, 16, 64)}
    refs["rings16"] = r_out.reshape(*nav, N_RINGS)
    tmp = out + ".part.npz"
    np.savez(tmp, ident=ident, **refs)
    os.replace(tmp, out)
    return out


def load_mask_references(path: str) -> dict[str, np.ndarray]:
    """The mask references beside ``path``, or nothing if they were never computed."""
    out = references_path(path)
    if not os.path.exists(out):
        return {}
    with np.load(out) as z:
        return {k: z[k] for k in z.files if k != "ident"}


def mask_workload(
    workload: str, api: Any, ctx: Any, data: Any, sig: tuple[int, ...]
) -> Callable[[], tuple[np.ndarray, ...]]:
    """A callable running ``workload`` on the loaded dataset ``data`` with ``ctx``."""
    package = api.package
    masks_mod = __import__(f"{package}.udf.masks", fromlist=["ApplyMasksUDF"])
    apply_masks = masks_mod.ApplyMasksUDF

    def dense(n: int) -> Any:
        stack = dense_masks(n, sig)
        return apply_masks(mask_factories=lambda: stack, mask_count=n, use_sparse=False)

    if workload in DENSE:
        n = DENSE[workload]

        def run_dense() -> tuple[np.ndarray, ...]:
            res = ctx.run_udf(dataset=data, udf=dense(n))
            return (np.asarray(res["intensity"].data),)

        return run_dense
    if workload == "rings16":
        rings = ring_masks(sig)

        def run_rings() -> tuple[np.ndarray, ...]:
            udf = apply_masks(mask_factories=lambda: rings, mask_count=N_RINGS, use_sparse=True)
            res = ctx.run_udf(dataset=data, udf=udf)
            return (np.asarray(res["intensity"].data),)

        return run_rings
    if workload == "fused":
        from common import COM_PARAMS  # common imports this module: at call time

        def run_fused() -> tuple[np.ndarray, ...]:
            com = api.CoMUDF.with_params(**COM_PARAMS)
            udfs = [api.SumUDF(), api.SumSigUDF(), dense(FUSED_MASKS), com]
            res = ctx.run_udf(dataset=data, udf=udfs)
            out = [np.asarray(r["intensity"].data) for r in res[:3]]
            return (*out, np.asarray(res[3]["raw_com"].data))

        return run_fused
    raise ValueError(f"workload: got {workload!r}, expected one of {sorted(MASK_WORKLOAD_REFS)}")
