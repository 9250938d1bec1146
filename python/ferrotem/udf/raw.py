"""``PickUDF``: the frames a (small) ROI selects, as they are stored, gathered on the main node."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from ferrotem.common.buffers import BufferWrapper
from ferrotem.common.math import prod
from ferrotem.udf.base import UDF, MergeAttrMapping

__all__ = ["PickUDF"]

log = logging.getLogger(__name__)

#: above this many bytes of picked frames a warning suggests reducing on the workers instead
PICK_WARN_BYTES = 2**28


class PickUDF(UDF):
    """The frames selected by the run's ROI (all frames without one), in the stored dtype.

    Result ``intensity``: ``kind='single'`` with ``extra_shape=(n_selected, *sig_shape)``, the
    frames in flat navigation order of the ROI. Meant for a handful of frames (a picked
    diffraction pattern): every selected frame travels to the main node, so a large selection
    logs a warning.
    """

    def get_preferred_input_dtype(self) -> Any:
        return self.USE_NATIVE_DTYPE

    def get_result_buffers(self) -> dict[str, BufferWrapper]:
        sig = tuple(self.meta.dataset_shape.sig)
        roi = self.meta.roi
        n = int(np.count_nonzero(roi)) if roi is not None else prod(self.meta.dataset_shape.nav)
        dtype = np.dtype(self.meta.input_dtype)
        size = n * prod(sig) * dtype.itemsize
        if size > PICK_WARN_BYTES:
            log.warning(
                "PickUDF gathers %d bytes on the main node (warning limit %d); a UDF that "
                "reduces on the workers scales better",
                size,
                PICK_WARN_BYTES,
            )
        # 'single': one array for the selection, so frames need no NaN-filled nav buffer
        return {"intensity": self.buffer(kind="single", extra_shape=(n, *sig), dtype=dtype)}

    def process_tile(self, tile: np.ndarray) -> None:
        # the tile's slice is in flat, ROI-compressed navigation coordinates
        tile_slice = self.meta.slice
        assert tile_slice is not None  # the runner sets it for every tile
        self.results.intensity[tile_slice.get()] = tile

    def merge(self, dest: MergeAttrMapping, src: MergeAttrMapping) -> None:
        # each partition fills only its own frames and leaves the rest zero
        dest.intensity[:] += src.intensity
