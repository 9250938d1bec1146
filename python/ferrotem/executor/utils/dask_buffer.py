"""Result buffers backed by Dask arrays (``DelayedJobExecutor`` results).

``.delayed_data`` / ``.delayed_raw_data`` are lazy ``dask.array.Array``s. ``.data`` and
``.raw_data`` compute eagerly — once: the first access computes *every* result of the run in a
single ``dask.compute`` (so the data is read once), and later accesses reuse the values.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ferrotem.common.buffers import BufferWrapper, fill_value
from ferrotem.common.math import prod

__all__ = ["ComputeGroup", "DaskResultBufferWrapper"]


class ComputeGroup:
    """The results of one run, computed together on first access."""

    def __init__(self) -> None:
        self._members: list[DaskResultBufferWrapper] = []
        self._lock = threading.Lock()
        self._done = False

    def add(self, member: DaskResultBufferWrapper) -> None:
        """Registers a result of the run."""
        self._members.append(member)

    def ensure_computed(self) -> None:
        """Computes every member once."""
        with self._lock:
            if self._done:
                return
            import dask

            values = dask.compute(*(m.delayed_raw_data for m in self._members))
            for m, v in zip(self._members, values, strict=True):
                m._data = np.asarray(v)
            self._done = True


class DaskResultBufferWrapper(BufferWrapper):
    """A UDF result held as a Dask array."""

    def __init__(
        self,
        delayed: Any,
        group: ComputeGroup,
        kind: Any,
        extra_shape: tuple[int, ...] = (),
        dtype: Any = "float32",
        where: Any = None,
        use: Any = None,
        partition_sizes: list[tuple[int, int, int]] | None = None,
    ):
        super().__init__(kind, extra_shape, dtype, where, use)
        self._delayed = delayed
        self._group = group
        # (start, stop, selected) per partition, for expanding ROI results chunk by chunk
        self._partition_sizes = partition_sizes
        group.add(self)

    @property
    def delayed_raw_data(self) -> Any:
        """Lazy storage layout: navigation flat (ROI-compressed), as a Dask array."""
        return self._delayed

    @property
    def delayed_data(self) -> Any:
        """Lazy user layout: the scan shape restored (ROI positions filled), as a Dask array."""
        raw = self._delayed
        if self._kind != "nav" or self._ds_shape is None:
            return raw
        nav = tuple(self._ds_shape.nav)
        extra = self._extra_shape
        if self._roi is None:
            return self._to_user_order(raw.reshape(nav + extra))
        return self._to_user_order(self._expand_roi(raw, prod(nav)).reshape(nav + extra))

    def _expand_roi(self, raw: Any, n_nav: int) -> Any:
        """``raw`` (ROI-compressed) with all ``n_nav`` navigation positions, unselected ones
        filled."""
        import dask.array as da

        roi = self._roi
        assert roi is not None
        extra = self._extra_shape
        fill = fill_value(self._dtype)
        sizes = self._partition_sizes or [(0, roi.size, int(np.count_nonzero(roi)))]
        selected = tuple(n for _, _, n in sizes if n)
        if sum(selected) != raw.shape[0]:
            sizes = [(0, roi.size, raw.shape[0])]
            selected = (raw.shape[0],)
        if raw.chunks[0] != selected and selected:
            raw = raw.rechunk({0: selected})
        blocks = []
        k = 0
        for start, stop, n in sizes:
            if n == 0:
                blocks.append(da.full((stop - start,) + extra, fill, dtype=self._dtype))
                continue
            part_roi = roi[start:stop]
            block = raw.blocks[k]
            k += 1
            blocks.append(
                block.map_blocks(
                    _expand_block,
                    part_roi,
                    fill,
                    chunks=((stop - start,),) + tuple((e,) for e in extra),
                    dtype=self._dtype,
                )
            )
        if not blocks:
            return da.full((n_nav,) + extra, fill, dtype=self._dtype)
        return da.concatenate(blocks, axis=0)

    @property
    def raw_data(self) -> np.ndarray:
        self._group.ensure_computed()
        return super().raw_data

    def has_data(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"<DaskResultBufferWrapper kind={self._kind} dtype={self._dtype} {self._delayed!r}>"


def _expand_block(block: np.ndarray, roi: np.ndarray, fill: Any) -> np.ndarray:
    out = np.full((roi.size,) + block.shape[1:], fill, dtype=block.dtype)
    out[roi] = block
    return out
