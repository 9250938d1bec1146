"""Functions on arrays (LiberTEM's ``libertem.corrections.detector``): :func:`correct` applies
corrections to an array outside a UDF run, :func:`correct_dot_masks` folds the gain map and the
excluded pixels into masks, so that ``masks @ raw_frame`` equals ``masks @ corrected_frame``
for dark-subtracted data."""

from __future__ import annotations

from typing import Any

import numpy as np

from ferrotem.common.math import prod
from ferrotem.common.sparse import import_pydata_sparse, is_sparse
from ferrotem.corrections.corrset import CorrectionSet, RepairValueError

__all__ = ["RepairDescriptor", "RepairValueError", "correct", "correct_dot_masks"]


class RepairDescriptor:
    """Excluded pixels of a frame of ``sig_shape`` and the neighbours each is patched from:
    ``exclude_flat`` (flat indices), ``repair_flat`` (``(n, 3**sig_dims - 1)``, padded with 0)
    and ``repair_counts`` (valid entries per row)."""

    def __init__(
        self, sig_shape: tuple[int, ...], excluded_pixels: Any = None, allow_empty: bool = False
    ) -> None:
        sig_shape = tuple(int(s) for s in sig_shape)
        mask = np.zeros(sig_shape, dtype=bool)
        if excluded_pixels is not None:
            mask[tuple(np.asarray(excluded_pixels, dtype=np.int64))] = True
        repairs = CorrectionSet(excluded_pixels=mask, allow_empty=True)._repairs(sig_shape)
        width = 3 ** len(sig_shape) - 1
        self.exclude_flat = np.array([p for p, _ in repairs], dtype=np.intp)
        self.repair_flat = np.zeros((len(repairs), width), dtype=np.intp)
        self.repair_counts = np.array([len(n) for _, n in repairs], dtype=np.intp)
        for i, (_, around) in enumerate(repairs):
            self.repair_flat[i, : len(around)] = around
        self.check_empty_repairs(allow_empty)

    def empty_repairs(self) -> np.ndarray:
        """Row numbers of the excluded pixels without a usable neighbour, ``(k, 1)``."""
        return np.argwhere(self.repair_counts == 0)

    def check_empty_repairs(self, allow_empty: bool) -> None:
        """Raises :class:`RepairValueError` if a pixel cannot be patched, unless
        ``allow_empty``."""
        empty = self.empty_repairs()
        if len(empty) and not allow_empty:
            raise RepairValueError(
                f"excluded_pixels: empty repair environments for pixel(s) number {empty.ravel()}"
            )


def correct(
    buffer: np.ndarray,
    dark_image: np.ndarray | None = None,
    gain_map: np.ndarray | None = None,
    excluded_pixels: Any = None,
    repair_descriptor: RepairDescriptor | None = None,
    inplace: bool = False,
    sig_shape: tuple[int, ...] | None = None,
    allow_empty: bool = False,
) -> np.ndarray:
    """``(buffer - dark_image) * gain_map`` with excluded pixels (``(sig_dims, n)``
    coordinates) patched from their neighbours; ``buffer`` is ``(*nav, *sig)``. A copy in
    ``result_type(float32, buffer)`` unless ``inplace`` (then ``buffer`` must be float or
    complex and C-contiguous)."""
    for ref in (dark_image, gain_map):
        if ref is not None:
            sig_shape = tuple(np.shape(ref))
    if sig_shape is None:
        raise ValueError("correct: need dark_image, gain_map or sig_shape")
    sig_shape = tuple(sig_shape)
    if repair_descriptor is not None:
        if excluded_pixels is not None:
            raise ValueError("correct: pass excluded_pixels or repair_descriptor, not both")
        repair_descriptor.check_empty_repairs(allow_empty)
        excluded_pixels = np.stack(
            np.unravel_index(repair_descriptor.exclude_flat, sig_shape)
        ).reshape(len(sig_shape), -1)
    if inplace:
        if buffer.dtype.kind not in "fc":
            raise TypeError(f"buffer: in-place correction needs float data, got {buffer.dtype}")
        if not buffer.flags.c_contiguous:
            raise ValueError("buffer: in-place correction needs a C-contiguous array")
        out = buffer
    else:
        out = np.ascontiguousarray(buffer, dtype=np.result_type(np.float32, buffer))
        if out is buffer:
            out = buffer.copy()
    mask = None
    if excluded_pixels is not None:
        mask = np.zeros(sig_shape, dtype=bool)
        mask[tuple(np.asarray(excluded_pixels, dtype=np.int64))] = True
    cs = CorrectionSet(dark_image, gain_map, mask, allow_empty=allow_empty)
    if cs.have_corrections():
        cs.prepare(sig_shape).apply(out.reshape(-1, prod(sig_shape)))
    return out


def correct_dot_masks(
    masks: Any, gain_map: np.ndarray, excluded_pixels: Any = None, allow_empty: bool = False
) -> Any:
    """Masks ``(n, *sig)`` (dense or sparse) adjusted so that applying them to uncorrected,
    dark-subtracted frames gives what the original masks give on gain-corrected frames with the
    excluded pixels patched: each excluded pixel's weight moves to its neighbours in equal
    parts, then everything is multiplied by ``gain_map``. ``excluded_pixels`` are
    ``(sig_dims, n)`` coordinates. Sparse masks come back as a pydata ``sparse.COO``."""
    gain = np.asarray(gain_map)
    sig_shape = gain.shape
    was_sparse = is_sparse(masks)
    if was_sparse:
        from ferrotem.common.sparse import to_dense

        dense = np.asarray(to_dense(masks))
    else:
        dense = np.asarray(masks)
    mask_shape = dense.shape
    flat = dense.reshape(-1, prod(sig_shape))
    result = flat.astype(np.result_type(flat, np.float32), copy=True)
    if excluded_pixels is not None:
        desc = RepairDescriptor(sig_shape, excluded_pixels, allow_empty)
        for pixel, around, count in zip(
            desc.exclude_flat, desc.repair_flat, desc.repair_counts, strict=True
        ):
            result[:, pixel] = 0  # as LiberTEM, also for a pixel with no neighbours
            if count == 0:
                continue
            share = flat[:, pixel] / count
            for n in around[:count]:
                result[:, n] += share
    result = (result * gain.reshape(-1)).reshape(mask_shape)
    if was_sparse:
        sparse = import_pydata_sparse("correct_dot_masks on sparse masks")
        return sparse.COO.from_numpy(result)
    return result
