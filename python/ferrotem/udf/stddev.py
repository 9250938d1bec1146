"""``StdDevUDF``: per-pixel mean, variance and standard deviation over the frames.

The statistics are kept as LiberTEM keeps them: per pixel the sum of the frames (``sum``), the
sum of squared deviations from the mean (``varsum``, ``Σ|x - mean|²``, real also for complex
data) and the number of frames (``num_frames``). Partial results of disjoint sets of frames
combine with the pairwise update of Chan, Golub and LeVeque (Schubert & Gertz 2018 discuss it
for this use): with means ``m0``, ``m1`` of ``n0``, ``n1`` frames,
``varsum = varsum0 + varsum1 + |m1 - m0|² n0 n1 / (n0 + n1)``. This stays accurate where the
naive ``Σx² - (Σx)²/n`` loses every digit to a large common offset of the data.

The class runs in the Rust core (``ferrotem_core::udf::StdDevUdf``), one pass over each tile in
the stored dtype; a subclass that overrides a UDF method runs the numpy code below instead,
with the same results.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ferrotem.common.buffers import BufferWrapper
from ferrotem.common.exceptions import UDFException
from ferrotem.udf.base import UDF, MergeAttrMapping
from ferrotem.udf.native import NativeDescriptor, describe

__all__ = [
    "StdDevUDF",
    "consolidate_result",
    "merge",
    "merge_ndarray",
    "merge_single",
    "process_tile",
    "process_tile_ndarray",
    "run_stddev",
]


def _identity(value: Any, like: Any) -> Any:
    return value


def merge_single(
    n: int,
    n_0: int,
    sum_0: Any,
    varsum_0: Any,
    n_1: int,
    sum_1: Any,
    varsum_1: Any,
    mean_1: Any,
) -> tuple[Any, Any]:
    """Merges the statistics of ``n_1`` further frames into those of ``n_0`` frames, for one
    pixel or element-wise for arrays.

    ``n`` is ``n_0 + n_1`` (``n_0 > 0``, ``n_1 > 0``); ``sum_*`` are sums of the frames,
    ``varsum_*`` sums of squared deviations from their own mean, ``mean_1 = sum_1 / n_1``.
    Returns the joint ``(sum, varsum)``.
    """
    mean_0 = sum_0 / n_0
    delta = mean_1 - mean_0
    # |delta|² n0 n1 / n: the shift of the two means from the joint one, real for complex data
    varsum = varsum_0 + varsum_1 + np.abs(delta) ** 2 * (n_0 * n_1 / n)
    return sum_0 + sum_1, varsum


def merge_ndarray(
    dest_n: int,
    dest_sum: np.ndarray,
    dest_varsum: np.ndarray,
    src_n: int,
    src_sum: np.ndarray,
    src_varsum: np.ndarray,
    src_mean: np.ndarray,
    forbuf: Callable[[Any, Any], Any] = _identity,
) -> int:
    """Merges source statistics (``src_n`` frames) into the destination buffers in place.

    The buffers are one-dimensional (flattened signal); ``dest_n == 0`` copies the source, an
    empty source (``src_n == 0``, e.g. a partition without selected frames) changes nothing.
    ``forbuf(value, buffer)`` converts a value for the buffer's array library. Returns the
    joint number of frames.
    """
    if src_n == 0:
        return dest_n
    if dest_n == 0:
        dest_sum[:] = forbuf(src_sum, dest_sum)
        dest_varsum[:] = forbuf(src_varsum, dest_varsum)
        return src_n
    n = dest_n + src_n
    total_sum, total_varsum = merge_single(
        n, dest_n, dest_sum, dest_varsum, src_n, src_sum, src_varsum, src_mean
    )
    dest_sum[:] = forbuf(total_sum, dest_sum)
    dest_varsum[:] = forbuf(total_varsum, dest_varsum)
    return n


def merge(
    dest_n: int,
    dest_sum: np.ndarray,
    dest_varsum: np.ndarray,
    src_n: int,
    src_sum: np.ndarray,
    src_varsum: np.ndarray,
    src_mean: np.ndarray,
) -> int:
    """:func:`merge_ndarray` for numpy buffers (LiberTEM's numba version; here numpy)."""
    return merge_ndarray(dest_n, dest_sum, dest_varsum, src_n, src_sum, src_varsum, src_mean)


def _tile_statistics(tile: np.ndarray, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """Sum and sum of squared deviations of a ``(frames, pixels)`` tile, two-pass, in
    ``dtype``."""
    values = tile.astype(dtype, copy=False)
    total = values.sum(axis=0)
    deviation = np.abs(values - total / len(values))
    return total, np.sum(deviation * deviation, axis=0)


def process_tile_ndarray(
    tile: np.ndarray,
    n_0: int,
    sum_inout: np.ndarray,
    varsum_inout: np.ndarray,
    forbuf: Callable[[Any, Any], Any] = _identity,
) -> int:
    """Merges the statistics of ``tile`` (``(frames, pixels)``) into the one-dimensional
    buffers ``sum_inout``, ``varsum_inout`` that hold ``n_0`` frames; returns the new count."""
    n_1 = tile.shape[0]
    if n_1 == 0:
        return n_0
    dtype = np.result_type(tile.dtype, sum_inout.dtype)
    total, varsum = _tile_statistics(tile, dtype)
    return merge_ndarray(n_0, sum_inout, varsum_inout, n_1, total, varsum.real, total / n_1, forbuf)


def process_tile(
    tile: np.ndarray, n_0: int, sum_inout: np.ndarray, varsum_inout: np.ndarray
) -> int:
    """:func:`process_tile_ndarray` for numpy buffers."""
    return process_tile_ndarray(tile, n_0, sum_inout, varsum_inout)


class StdDevUDF(UDF):
    """Per-pixel sum, variance and standard deviation over the frames (LiberTEM's
    ``StdDevUDF``).

    Parameters (LiberTEM's):

    - ``dtype``: the base dtype of the statistics (default float64): ``varsum``, ``var`` and
      ``std`` have it, ``sum`` and ``mean`` numpy's promotion of it with the input dtype.
    - ``use_numba``: accepted for compatibility (ferrotem computes in Rust or numpy).

    Results: ``varsum`` (``sig``, ``Σ|x - mean|²``), ``num_frames`` (``single``, int64),
    ``sum`` (``sig``), and from :meth:`get_results` ``var`` (``varsum / num_frames``),
    ``std`` and ``mean``. Complex data give a real variance, the mean squared modulus of the
    deviations.

    Example:

    >>> udf = StdDevUDF()
    >>> res = ctx.run_udf(dataset=dataset, udf=udf)
    >>> np.array(res["std"]).shape  # doctest: +SKIP
    (32, 32)
    """

    def __init__(self, dtype: Any = None, use_numba: bool = True) -> None:
        super().__init__(dtype=dtype, use_numba=use_numba)

    def _base_dtype(self) -> np.dtype:
        return np.dtype(np.float64 if self.params.dtype is None else self.params.dtype)

    def get_backends(self) -> Any:
        # deviations from the mean densify sparse tiles: dense backends only (as LiberTEM)
        return tuple(b for b in self.BACKEND_ALL if b not in self.SPARSE_BACKENDS)

    def get_result_buffers(self) -> dict[str, BufferWrapper]:
        base = self._base_dtype()
        dtype = np.result_type(self.meta.input_dtype, base)
        return {
            "varsum": self.buffer(kind="sig", dtype=base, where="device"),
            "num_frames": self.buffer(kind="single", dtype="int64"),
            "sum": self.buffer(kind="sig", dtype=dtype, where="device"),
            "var": self.buffer(kind="sig", dtype=base, use="result_only"),
            "std": self.buffer(kind="sig", dtype=base, use="result_only"),
            "mean": self.buffer(kind="sig", dtype=dtype, use="result_only"),
        }

    def get_task_data(self) -> dict[str, Any]:
        # frames merged so far, per pixel range of the tiling scheme (ranges of a frame see the
        # same frames; postprocess checks that they did)
        return {"counts": {}}

    def process_tile(self, tile: np.ndarray) -> None:
        key = self.meta.tiling_scheme_idx
        counts = self.task_data.counts
        # the buffers are this tile's signal range; reshape copies where that is not contiguous
        sum_view, varsum_view = self.results.sum, self.results.varsum
        sum_flat, varsum_flat = sum_view.reshape(-1), varsum_view.reshape(-1)
        counts[key] = process_tile_ndarray(
            tile.reshape(tile.shape[0], -1), counts.get(key, 0), sum_flat, varsum_flat, self.forbuf
        )
        sum_view[...] = sum_flat.reshape(sum_view.shape)
        varsum_view[...] = varsum_flat.reshape(varsum_view.shape)

    def postprocess(self) -> None:
        seen = set(self.task_data.counts.values())
        if len(seen) > 1:
            raise UDFException(f"StdDevUDF: pixel ranges saw different frame counts {seen}")
        self.results.num_frames[:] = seen.pop() if seen else 0

    def merge(self, dest: MergeAttrMapping, src: MergeAttrMapping) -> None:
        dest_sum, dest_varsum = dest.sum.reshape(-1), dest.varsum.reshape(-1)
        src_n = int(src.num_frames[0])
        src_sum = np.asarray(src.sum).reshape(-1)
        mean = src_sum / src_n if src_n else src_sum
        n = merge_ndarray(
            int(dest.num_frames[0]),
            dest_sum,
            dest_varsum,
            src_n,
            src_sum,
            np.asarray(src.varsum).reshape(-1),
            mean,
            self.forbuf,
        )
        dest.sum[...] = dest_sum.reshape(dest.sum.shape)
        dest.varsum[...] = dest_varsum.reshape(dest.varsum.shape)
        dest.num_frames[:] = n

    def merge_all(self, ordered_results: Any) -> dict[str, Any]:
        """All partial results at once (the delayed executor's merge; works on Dask arrays):
        ``varsum = Σ varsum_i + Σ n_i |mean_i - mean|²`` over the partitions ``i``."""
        parts = list(ordered_results.values())
        counts = np.stack([p.num_frames.reshape(-1)[0] for p in parts])
        sums = np.stack([p.sum for p in parts])
        varsums = np.stack([p.varsum for p in parts])
        n = counts.reshape(counts.shape + (1,) * (sums.ndim - 1))
        total_n = counts.sum()
        total = sums.sum(axis=0)
        # partitions without frames have zero sums and count nothing (n = 0)
        means = sums / np.maximum(n, 1)
        shift = np.abs(means - total / np.maximum(total_n, 1)) ** 2 * n
        return {
            "sum": total,
            "varsum": (varsums + shift).sum(axis=0).astype(varsums.dtype),
            "num_frames": total_n.reshape(1),
        }

    def get_results(self) -> dict[str, Any]:
        # the int64 count (not a Python int): numpy promotes float32 sums to float64 with it,
        # so var, std and mean are float64 whatever the base dtype, as in LiberTEM
        n = self.results.num_frames[0]
        with np.errstate(divide="ignore", invalid="ignore"):  # no frames: NaN, as LiberTEM
            var = self.results.varsum / n
            mean = self.results.sum / n
        return {"var": var, "std": np.sqrt(var), "mean": mean}

    def native_descriptor(self) -> NativeDescriptor | None:
        """Runs as the core's ``stddev`` for a float32 or float64 base dtype."""
        base = self._base_dtype()
        if base not in (np.dtype(np.float32), np.dtype(np.float64)):
            return None
        return describe(self, "stddev", dtype=base.name)


def consolidate_result(udf_result: dict[str, Any]) -> dict[str, Any]:
    """The results of a :class:`StdDevUDF` run as plain values: ``num_frames`` an int, the
    others numpy arrays (``sum``, ``varsum``, ``var``, ``std``, ``mean``)."""
    out: dict[str, Any] = {"num_frames": int(np.asarray(udf_result["num_frames"].data)[0])}
    for name in ("varsum", "sum", "var", "std", "mean"):
        out[name] = np.asarray(udf_result[name].data)
    return out


def run_stddev(
    ctx: Any, dataset: Any, roi: Any = None, progress: bool = False, use_numba: bool = True
) -> dict[str, Any]:
    """Runs :class:`StdDevUDF` over ``dataset`` (frames selected by ``roi``) and returns
    :func:`consolidate_result` of it."""
    udf = StdDevUDF(use_numba=use_numba)
    return consolidate_result(ctx.run_udf(dataset=dataset, udf=udf, roi=roi, progress=progress))
