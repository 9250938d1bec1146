"""Sparse stacks of many small masks (one per peak, say), as pydata ``sparse.COO`` arrays."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ferrotem.common.sparse import import_pydata_sparse
from ferrotem.masks import _validate as check
from ferrotem.masks._shapes import circular


def _per_mask(name: str, values: Any, count: int) -> np.ndarray:
    arr = np.asarray(values)
    if arr.shape != (count,):
        raise ValueError(
            f"{name}: got shape {arr.shape}, expected one value per entry of mask_index ({count},)"
        )
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name}: got dtype {arr.dtype}, expected numbers")
    return arr


def sparse_template_multi_stack(
    mask_index: Any,
    offsetX: Any,
    offsetY: Any,
    template: Any,
    imageSizeX: Any,
    imageSizeY: Any,
) -> Any:
    """Stamp ``template`` into a stack of masks: copy ``i`` goes into layer ``mask_index[i]``
    with its top-left pixel at ``(offsetY[i], offsetX[i])``, clipped to the frame.

    Returns a ``sparse.COO`` of shape ``(max(mask_index) + 1, imageSizeY, imageSizeX)`` and the
    template's dtype (needs the pydata ``sparse`` package). Every template pixel that lands on
    the frame is stored, zeros included (as LiberTEM); copies that land on the same pixel of one
    layer add up. A template pixel ``(ty, tx)`` lands on ``(int(ty + offsetY[i]), int(tx +
    offsetX[i]))``: fractional offsets are truncated towards 0 after adding, as in LiberTEM.
    """
    sparse = import_pydata_sparse("sparse_template_multi_stack")
    sx, sy = check.size("imageSizeX", imageSizeX), check.size("imageSizeY", imageSizeY)
    layers = np.asarray(mask_index)
    if layers.ndim != 1 or len(layers) == 0:
        raise ValueError(f"mask_index: got shape {layers.shape}, expected a non-empty 1-D sequence")
    if layers.dtype.kind not in "iu" or layers.min() < 0:
        raise ValueError(f"mask_index: got {mask_index!r}, expected integers >= 0")
    count = len(layers)
    off_x = _per_mask("offsetX", offsetX, count)
    off_y = _per_mask("offsetY", offsetY, count)
    stamp = np.asarray(template)
    if stamp.ndim != 2:
        raise ValueError(f"template: got shape {stamp.shape}, expected a 2-D array")
    ty, tx = np.indices(stamp.shape).reshape(2, 1, -1)
    # one row per copy, one column per template pixel
    ys = (ty + off_y[:, np.newaxis]).astype(np.int64)
    xs = (tx + off_x[:, np.newaxis]).astype(np.int64)
    zs = np.broadcast_to(layers.astype(np.int64)[:, np.newaxis], ys.shape)
    data = np.broadcast_to(stamp.reshape(1, -1), ys.shape)
    on_frame = (ys >= 0) & (ys < sy) & (xs >= 0) & (xs < sx)
    return sparse.COO(
        coords=np.stack([zs[on_frame], ys[on_frame], xs[on_frame]]),
        data=data[on_frame],
        shape=(int(layers.max()) + 1, sy, sx),
    )


def sparse_circular_multi_stack(
    mask_index: Any,
    centerX: Any,
    centerY: Any,
    imageSizeX: Any,
    imageSizeY: Any,
    radius: Any,
) -> Any:
    """A stack of bool disks of ``radius`` (as :func:`circular`), disk ``i`` in layer
    ``mask_index[i]`` around ``(centerY[i], centerX[i])``, as a ``sparse.COO``.

    The disk is drawn once on an odd square of side ``2 * ceil(radius) + 1`` centred on a pixel
    and stamped with :func:`sparse_template_multi_stack`; the centres are truncated to integers
    towards 0 first (as LiberTEM: ``3.7 -> 3``, ``-1.2 -> -1``), so every disk is centred on a
    pixel.
    """
    r = check.radius("radius", radius)
    side = 2 * math.ceil(r) + 1
    middle = (side - 1) // 2
    disk = circular(centerX=middle, centerY=middle, imageSizeX=side, imageSizeY=side, radius=r)
    count = len(np.asarray(mask_index).reshape(-1))
    cx = _per_mask("centerX", centerX, count).astype(np.int64)
    cy = _per_mask("centerY", centerY, count).astype(np.int64)
    return sparse_template_multi_stack(
        mask_index=mask_index,
        offsetX=cx - middle,
        offsetY=cy - middle,
        template=disk,
        imageSizeX=imageSizeX,
        imageSizeY=imageSizeY,
    )
