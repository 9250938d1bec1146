"""``ApplyMasksUDF``: weighted sums of every frame with a stack of masks (virtual detectors),
computed in Rust (dense masks as a blocked matrix product on tiles, sparse masks as runs of
consecutive pixels per mask)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ferrotem.common.buffers import AuxBufferWrapper, BufferWrapper
from ferrotem.common.container import MaskContainer
from ferrotem.common.sparse import is_sparse, to_dense
from ferrotem.udf.base import UDF, UDFMethod
from ferrotem.udf.native import NATIVE_INPUT_DTYPES, NativeDescriptor, describe

__all__ = ["ApplyMasksUDF"]


class ApplyMasksUDF(UDF):
    """Apply masks to every frame: one weighted sum per frame and mask.

    Result ``intensity``: ``kind='nav'``, ``extra_shape=(number of masks,)``, dtype
    ``result_type(input dtype, mask dtype)``; ``.data`` is ``(*nav_shape, n_masks)``, masks in
    the order the factories give them.

    Parameters are LiberTEM's:

    - ``mask_factories``: a function without arguments returning the stack of masks (mask
      index first), a sequence of such functions each returning one frame-shaped mask (numpy,
      ``scipy.sparse`` or pydata ``sparse``), or the stack itself as an array.
    - ``use_torch``: accepted for compatibility; ferrotem does not use torch.
    - ``use_sparse``: ``None`` (sparse if every factory returns a sparse mask), ``True``,
      ``False``, ``'scipy.sparse'``, ``'scipy.sparse.csc'``, ``'sparse.pydata'``; see
      :class:`~ferrotem.common.container.MaskContainer`. Dense masks are a matrix product in
      Rust, sparse ones a sparse product over the pixels any mask touches.
    - ``mask_count``: the number of masks, where one factory returns them all.
    - ``mask_dtype``: the dtype the masks are used in (default: the factories'); it takes part
      in the result dtype.
    - ``preferred_dtype``: the preferred input dtype (default float32).
    - ``backends``: array backends (default: all but the scipy sparse *array* ones).
    - ``shifts``: ``(y, x)`` integer shifts of the masks relative to the frames, constant or
      per frame (``UDF.aux_data(..., kind='nav', extra_shape=(2,))``); a positive y shift moves
      the mask down. Parts of mask and frame that do not overlap are left out. Shifted masks
      run on the Python path, frame by frame.

    Runs in Rust unless shifts are given, the result dtype is not a float or complex one, or a
    subclass overrides one of its methods.
    """

    def __init__(
        self,
        mask_factories: Any,
        use_torch: bool = True,
        use_sparse: bool | str | None = None,
        mask_count: int | None = None,
        mask_dtype: Any = None,
        preferred_dtype: Any = None,
        backends: Any = None,
        shifts: Any = None,
        **kwargs: Any,
    ):
        requested = backends
        unsupported = (
            self.BACKEND_SCIPY_COO_ARRAY,
            self.BACKEND_SCIPY_CSR_ARRAY,
            self.BACKEND_SCIPY_CSC_ARRAY,
        )
        supported = tuple(b for b in self.BACKEND_ALL if b not in unsupported)
        if backends is None:
            backends = supported
        elif isinstance(backends, str):
            backends = (backends,)
        backends = tuple(b for b in backends if b in supported)
        if shifts is not None:
            if isinstance(use_sparse, str) and use_sparse.startswith("scipy.sparse"):
                raise ValueError(
                    f"use_sparse: {use_sparse!r} cannot be shifted (its masks are flattened); "
                    "use 'sparse.pydata' with shifts"
                )
            if not isinstance(shifts, AuxBufferWrapper):
                shifts = np.asarray(shifts)
                if shifts.shape != (2,):
                    raise ValueError(
                        f"shifts: got shape {shifts.shape}, expected (y, x) or aux data of "
                        "kind='nav', extra_shape=(2,)"
                    )
            coo = (self.BACKEND_SCIPY_COO, self.BACKEND_CUPY_SCIPY_COO)
            backends = tuple(b for b in backends if b not in coo)
        if not backends:
            raise ValueError(f"backends: no supported backend in {requested!r}")
        self._mask_container: MaskContainer | None = None
        super().__init__(
            mask_factories=mask_factories,
            use_torch=use_torch,
            use_sparse=use_sparse,
            mask_count=mask_count,
            mask_dtype=mask_dtype,
            preferred_dtype=preferred_dtype,
            backends=backends,
            shifts=shifts,
            **kwargs,
        )

    def _update_parameters_patch(self, kwargs_patch: dict[str, Any]) -> None:
        super()._update_parameters_patch(kwargs_patch)
        self._mask_container = None  # made again from the new mask_factories on next use

    # -- masks ---------------------------------------------------------------------------------
    @property
    def masks(self) -> MaskContainer:
        """The mask stack, made on first use."""
        if self._mask_container is None:
            self._mask_container = self._make_mask_container()
        return self._mask_container

    def _make_mask_container(self) -> MaskContainer:
        p = self.params
        factories = p.mask_factories
        if isinstance(factories, np.ndarray) or is_sparse(factories):
            stack = factories

            def factories() -> Any:
                return stack

        backend = self.BACKEND_CUPY if self.meta.array_backend in self.CUPY_BACKENDS else None
        return MaskContainer(
            factories,
            dtype=p.mask_dtype,
            use_sparse=p.use_sparse,
            count=p.mask_count,
            backend=backend,
            default_sparse="scipy.sparse" if p.shifts is None else "sparse.pydata",
        )

    def get_mask_dtype(self) -> np.dtype:
        """The dtype the masks are used in."""
        if self.params.mask_dtype is None:
            return np.dtype(self.masks.dtype)
        dtype: np.dtype = np.dtype(self.params.mask_dtype)
        return dtype

    def get_mask_count(self) -> int:
        """The number of masks."""
        if self.params.mask_count is None:
            return len(self.masks)
        return int(self.params.mask_count)

    # -- UDF interface -------------------------------------------------------------------------
    def get_preferred_input_dtype(self) -> Any:
        if self.params.preferred_dtype is None:
            return super().get_preferred_input_dtype()
        return self.params.preferred_dtype

    def get_result_buffers(self) -> dict[str, BufferWrapper]:
        dtype = np.result_type(self.meta.input_dtype, self.get_mask_dtype())
        return {
            "intensity": self.buffer(
                kind="nav", extra_shape=(self.get_mask_count(),), dtype=dtype, where="device"
            )
        }

    def get_backends(self) -> Any:
        return self.params.backends

    def get_method(self) -> UDFMethod:
        return UDFMethod.TILE if self.params.shifts is None else UDFMethod.FRAME

    def get_task_data(self) -> dict[str, Any]:
        return {"masks": self.masks}

    def process_tile(self, tile: np.ndarray) -> None:
        flat = tile.reshape(tile.shape[0], -1)
        masks = self.task_data.masks.get(self.meta.slice, transpose=True)
        product = flat @ masks
        self.results.intensity[:] += self.forbuf(to_dense(product), self.results.intensity)

    def process_frame(self, frame: np.ndarray) -> None:
        shifts = np.asarray(self.params.shifts).reshape(-1).astype(int)
        sig = tuple(self.meta.dataset_shape.sig)
        if len(shifts) != len(sig):
            raise ValueError(
                f"shifts: {len(shifts)} values per frame for {len(sig)} signal dimensions"
            )
        frame_part, mask_part = [], []
        for s, size in zip(shifts, sig, strict=True):
            lo, hi = max(0, s), min(size, size + s)
            if lo >= hi:  # no overlap
                return
            frame_part.append(slice(lo, hi))
            mask_part.append(slice(lo - s, hi - s))
        stack = self.task_data.masks.computed_masks
        count = self.get_mask_count()
        masks = to_dense(stack).reshape((count, *sig))[(slice(None), *mask_part)]
        masks = masks.astype(self.get_mask_dtype(), copy=False)
        data = frame.reshape(sig)[tuple(frame_part)]
        product = masks.reshape(count, -1) @ data.reshape(-1)
        self.results.intensity[:] += self.forbuf(product, self.results.intensity)

    # -- native --------------------------------------------------------------------------------
    def native_descriptor(self) -> NativeDescriptor | None:
        """Runs as the core's ``masks`` (see :mod:`ferrotem.udf.native`): the stack is made
        here, on the main node, once per run, in the result dtype."""
        if self.params.shifts is not None:
            return None
        result_dtype = np.dtype(self._buffers["intensity"].dtype)
        if result_dtype not in NATIVE_INPUT_DTYPES:
            return None
        container = self.masks
        sig = tuple(int(x) for x in self.meta.dataset_shape.sig)
        sig_size = int(np.prod(sig))
        stack = container.computed_masks
        count = self.get_mask_count()
        if stack.shape[0] != count or int(np.prod(stack.shape[1:])) != sig_size:
            raise ValueError(
                f"mask_factories: the stack has shape {tuple(stack.shape)}, expected "
                f"({count}, {', '.join(map(str, sig))}) for {count} masks (mask_count) on "
                f"frames of shape {sig}"
            )
        mask_dtype = container.dtype
        if container.use_sparse is False:
            dense = np.asarray(stack).reshape(count, sig_size)
            dense = dense.astype(mask_dtype, copy=False).astype(result_dtype, copy=False)
            return describe(self, "masks", masks=dense)
        coords = np.asarray(stack.coords)
        mask_index = coords[0].astype(np.int64)
        pixel = np.ravel_multi_index(tuple(coords[1:]), stack.shape[1:]).astype(np.int64)
        data = np.asarray(stack.data).astype(mask_dtype).astype(result_dtype)
        order = np.lexsort((mask_index, pixel))
        pixel, mask_index, data = pixel[order], mask_index[order], data[order]
        pixels, starts = np.unique(pixel, return_index=True)
        indptr = np.append(starts, len(pixel)).astype(np.int64)
        return describe(
            self,
            "masks",
            pixels=pixels.astype(np.int64),
            indptr=indptr,
            indices=mask_index,
            data=np.ascontiguousarray(data),
            n_masks=count,
            sig_size=sig_size,
        )
