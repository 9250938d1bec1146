"""Writes synthesised ``raw_csr`` datasets (three raw files and the TOML descriptor) for tests
and benchmarks, from dense frames or from random sparse ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def to_csr(frames: np.ndarray, sig_dims: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(indptr, indices, data)`` of dense ``frames`` flattened to ``(n, pixels)``, nonzeros in
    pixel order per frame."""
    n = int(np.prod(frames.shape[: frames.ndim - sig_dims]))
    flat = frames.reshape(n, -1)
    rows, cols = np.nonzero(flat)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return indptr, cols, flat[rows, cols]


def random_sparse(
    seed: int, shape: tuple[int, ...], density: float, dtype, sig_dims: int = 2
) -> np.ndarray:
    """Dense frames of ``shape`` with about ``density`` of the pixels nonzero (small
    integer-valued counts, exact in float32 sums)."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    values = rng.integers(1, 9, size=shape)
    if dtype.kind == "i":
        values = values - 4 * (rng.random(shape) < 0.3) * values
    keep = rng.random(shape) < density
    return np.where(keep, values, 0).astype(dtype)


def write_raw_csr(
    folder: Path,
    name: str,
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    nav_shape: tuple[int, ...],
    sig_shape: tuple[int, ...],
    dtypes: tuple[str, str, str] = ("<i8", "<i4", "<f4"),
    extra_toml: str = "",
) -> Path:
    """The three files ``name.indptr``/``.indices``/``.data`` in the given dtypes (indptr,
    indices, data) and ``name.toml`` naming them; returns the descriptor's path."""
    folder = Path(folder)
    for suffix, arr, dt in zip(
        ("indptr", "indices", "data"), (indptr, indices, data), dtypes, strict=True
    ):
        np.asarray(arr).astype(dt).tofile(folder / f"{name}.{suffix}")
    toml = folder / f"{name}.toml"
    toml.write_text(
        "[params]\n"
        'filetype = "raw_csr"\n'
        f"nav_shape = {list(nav_shape)}\n"
        f"sig_shape = {list(sig_shape)}\n"
        f"{extra_toml}"
        "\n[raw_csr]\n"
        f'indptr_file = "{name}.indptr"\n'
        f'indptr_dtype = "{dtypes[0]}"\n'
        f'indices_file = "{name}.indices"\n'
        f'indices_dtype = "{dtypes[1]}"\n'
        f'data_file = "{name}.data"\n'
        f'data_dtype = "{dtypes[2]}"\n'
    )
    return toml


def write_dense_as_csr(
    folder: Path,
    name: str,
    frames: np.ndarray,
    nav_shape: tuple[int, ...],
    sig_shape: tuple[int, ...],
    dtypes: tuple[str, str, str] | None = None,
) -> Path:
    """Dense ``frames`` (any shape holding nav x sig) stored as raw_csr; data dtype defaults to
    the frames' own."""
    indptr, indices, data = to_csr(frames.reshape((-1, *sig_shape)), len(sig_shape))
    dtypes = dtypes or ("<i8", "<i4", frames.dtype.str)
    return write_raw_csr(folder, name, indptr, indices, data, nav_shape, sig_shape, dtypes)
