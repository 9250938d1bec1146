"""``MaskContainer``: a stack of masks built lazily from factory functions and handed out per
signal slice, flattened, transposed and converted for a matrix product (LiberTEM's
``libertem.common.container``).

Mask UDFs hold one container; each task asks it for the part of the stack that covers the
signal slice of its tiles (``get`` / ``get_for_sig_slice``) and multiplies the flattened tile
with it. The factories run only when the masks are first needed (usually on the worker, so the
task carries small functions rather than large arrays), and each conditioned slice is computed
once and cached.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, get_args

import cloudpickle
import numpy as np

from ferrotem.common.backend import CPU_BACKENDS, CUDA, CUPY, CUPY_BACKENDS, NUMPY
from ferrotem.common.slice import Slice
from ferrotem.common.sparse import (
    import_pydata_sparse,
    is_sparse,
    pydata_sparse_available,
    to_dense,
    to_sparse,
)

if TYPE_CHECKING:
    import numpy.typing as npt

log = logging.getLogger(__name__)

#: a function without arguments returning one mask, or a whole stack (mask index first)
FactoryT = Callable[[], Any]
#: the sparse formats a container can hand its masks out in
SparseSupportedT = Literal[
    "sparse.pydata",
    "sparse.pydata.GCXS",
    "scipy.sparse",
    "scipy.sparse.csc",
    "scipy.sparse.csr",
]
SPARSE_SUPPORTED: tuple[str, ...] = get_args(SparseSupportedT)
#: the array backends the masks can be handed out for (``cuda``: numpy arrays on a CUDA worker)
MASK_BACKENDS = (NUMPY, CUDA, CUPY)
#: a pickled factory larger than this (1 MiB) is logged as a warning: it travels with every task
FACTORY_SIZE_WARNING = 2**20

_UseSparse = Literal[False] | SparseSupportedT
_SliceKey = tuple[tuple[int, ...], tuple[int, ...]]


def _check_sparse_format(name: str, value: object) -> SparseSupportedT:
    if value not in SPARSE_SUPPORTED:
        raise ValueError(
            f"{name}: got {value!r}, expected one of {', '.join(map(repr, SPARSE_SUPPORTED))}"
        )
    return value  # type: ignore[return-value]  # checked against the Literal's values above


def _check_backend(name: str, value: object) -> str:
    if value not in MASK_BACKENDS:
        raise ValueError(f"{name}: got {value!r}, expected one of {MASK_BACKENDS}")
    return str(value)


def _sig_key(slice_: Slice) -> _SliceKey:
    """The signal part of ``slice_`` (origin, shape): all that selects masks."""
    nav_dims = slice_.shape.nav_dims
    return tuple(slice_.origin[nav_dims:]), tuple(slice_.shape)[nav_dims:]


def _on_backend(dense: np.ndarray, backend: str) -> Any:
    if backend == CUPY:
        import cupy

        return cupy.asarray(dense)
    return dense


def _build_sparse(m: Any, dtype: np.dtype[Any], fmt: SparseSupportedT, backend: str) -> Any:
    """The 2-D mask matrix ``m`` in the sparse format ``fmt`` for ``backend``."""
    if fmt.startswith("sparse.pydata"):
        if backend != NUMPY:
            raise ValueError(
                f"sparse_backend: {fmt!r} works on the 'numpy' backend only, got backend "
                f"{backend!r}; use 'scipy.sparse' or dense masks there"
            )
        coo = to_sparse(m).astype(dtype)
        if fmt == "sparse.pydata.GCXS":
            return import_pydata_sparse("sparse_backend='sparse.pydata.GCXS'").GCXS(coo)
        return coo
    import scipy.sparse

    if backend in CPU_BACKENDS or backend == CUDA:
        lib: Any = scipy.sparse
    elif backend in CUPY_BACKENDS:
        import cupyx.scipy.sparse

        lib = cupyx.scipy.sparse
    else:
        raise ValueError(f"backend: got {backend!r}, expected one of {MASK_BACKENDS}")
    coo = to_sparse(m)
    rows, cols = coo.coords
    if fmt == "scipy.sparse.csc":
        host = scipy.sparse.csc_matrix((coo.data, (rows, cols)), shape=coo.shape, dtype=dtype)
        return lib.csc_matrix(host)
    host = scipy.sparse.csr_matrix((coo.data, (rows, cols)), shape=coo.shape, dtype=dtype)
    return lib.csr_matrix(host)


class MaskContainer:
    """A stack of masks made by ``mask_factories``, handed out per signal slice.

    ``mask_factories`` is either one function returning the whole stack (mask index first), or a
    sequence of functions each returning one mask (numpy, ``scipy.sparse`` or pydata
    ``sparse``); functions take no arguments. The masks are computed on first need: by
    ``computed_masks``, ``use_sparse`` (while unresolved), ``len()`` (without ``count`` and with
    a single factory), ``dtype`` (without ``dtype``) and the ``get`` methods.

    - ``dtype``: of the masks handed out (default: the computed stack's dtype).
    - ``use_sparse``: ``False`` dense; ``True`` sparse in ``default_sparse``; one of
      ``'scipy.sparse'`` (CSR), ``'scipy.sparse.csr'``, ``'scipy.sparse.csc'``,
      ``'sparse.pydata'`` (COO), ``'sparse.pydata.GCXS'``; ``None``: sparse in
      ``default_sparse`` if every factory returns a sparse mask, else dense. Sparse stacks are
      held as pydata ``sparse.COO`` (as in LiberTEM), so sparse use needs the ``sparse``
      package; with ``use_sparse=None`` and the package missing, sparse masks are densified.
    - ``count``: the number of masks, where known without running the factories.
    - ``backend``: ``'numpy'`` (default), ``'cuda'`` (numpy arrays for a CUDA worker) or
      ``'cupy'`` (CuPy arrays; scipy formats become ``cupyx.scipy.sparse``). With a
      ``sparse.pydata*`` ``default_sparse`` and ``backend='cupy'``, ``use_sparse=None`` means
      dense (pydata sparse has no GPU arrays).

    Pickling leaves out the cache of conditioned slices (a worker rebuilds what it needs) but
    keeps a stack already computed.
    """

    def __init__(
        self,
        mask_factories: FactoryT | Sequence[FactoryT],
        dtype: npt.DTypeLike | None = None,
        use_sparse: bool | SparseSupportedT | None = None,
        count: int | None = None,
        backend: str | None = None,
        default_sparse: SparseSupportedT = "scipy.sparse",
    ):
        self.mask_factories = mask_factories
        self._dtype: np.dtype[Any] | None = None if dtype is None else np.dtype(dtype)
        if count is not None and (
            isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 0
        ):
            raise ValueError(f"count: got {count!r}, expected None or an integer >= 0")
        self._length = None if count is None else int(count)
        self.backend = _check_backend("backend", NUMPY if backend is None else backend)
        self._default_sparse = _check_sparse_format("default_sparse", default_sparse)
        self._use_sparse: _UseSparse | None = self._initial_use_sparse(use_sparse)
        self._computed_masks: Any = None
        self._slice_cache: dict[tuple[Any, ...], Any] = {}
        self.validate_mask_functions()

    def _initial_use_sparse(self, use_sparse: object) -> _UseSparse | None:
        if use_sparse is True:
            return self._default_sparse
        if use_sparse is False:
            return False
        if use_sparse is None:
            if self._default_sparse.startswith("sparse.pydata") and self.backend in CUPY_BACKENDS:
                return False
            return None  # decided once the factories have run
        return _check_sparse_format("use_sparse", use_sparse)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_slice_cache"] = {}
        return state

    def validate_mask_functions(self) -> None:
        """Check that the factories are callables; log a warning for any that pickles to more
        than 1 MiB (it is sent with every task)."""
        factories = self._factory_list()
        for i, fn in enumerate(factories):
            if not callable(fn):
                raise TypeError(
                    f"mask_factories: entry {i} is a {type(fn).__name__}, expected a function "
                    "without arguments returning a mask"
                )
            size = len(cloudpickle.dumps(fn))
            if size > FACTORY_SIZE_WARNING:
                log.warning(
                    "mask factory %d pickles to %d bytes (more than %d): it is sent with every "
                    "task, which may be slow",
                    i,
                    size,
                    FACTORY_SIZE_WARNING,
                )

    def _factory_list(self) -> list[Any]:
        fns = self.mask_factories
        if callable(fns):
            return [fns]
        if isinstance(fns, str | bytes | np.ndarray) or not isinstance(fns, Sequence):
            raise TypeError(
                f"mask_factories: got a {type(fns).__name__}, expected a function returning a "
                "mask stack or a sequence of functions each returning one mask"
            )
        return list(fns)

    def __len__(self) -> int:
        if self._length is not None:
            return self._length
        if not callable(self.mask_factories):
            return len(self.mask_factories)
        return len(self.computed_masks)

    @property
    def dtype(self) -> np.dtype[Any]:
        """The dtype of the masks handed out."""
        if self._dtype is None:
            computed: np.dtype[Any] = np.dtype(self.computed_masks.dtype)
            return computed
        return self._dtype

    @property
    def use_sparse(self) -> _UseSparse:
        """``False`` for dense masks, else the sparse format they are handed out in."""
        if self._use_sparse is None:
            _ = self.computed_masks  # computing the stack resolves the choice
        assert self._use_sparse is not None
        return self._use_sparse

    @property
    def computed_masks(self) -> Any:
        """The whole stack as the factories made it: numpy, or ``sparse.COO`` if sparse."""
        if self._computed_masks is None:
            self._computed_masks = self._compute_masks()
        return self._computed_masks

    def _compute_masks(self) -> Any:
        if callable(self.mask_factories):
            parts = [self._call(self.mask_factories, None)]
        else:
            parts = [self._call(f, i) for i, f in enumerate(self._factory_list())]
        if self._use_sparse is None:
            sparse_wanted = all(is_sparse(p) for p in parts)
            if sparse_wanted and not pydata_sparse_available():
                log.info("the masks are sparse, but without pydata 'sparse' they are used dense")
                sparse_wanted = False
            self._use_sparse = self._default_sparse if sparse_wanted else False
        if self._use_sparse is False:
            dense = [to_dense(p) for p in parts]
            return np.concatenate(self._as_layers(dense))
        sparse = import_pydata_sparse(f"MaskContainer(use_sparse={self._use_sparse!r})")
        return sparse.concatenate(self._as_layers([to_sparse(p) for p in parts]))

    def _as_layers(self, parts: list[Any]) -> list[Any]:
        """Each factory's mask as a stack of one (a single factory's stack as it is), after
        checking that they all have one shape."""
        if callable(self.mask_factories):
            return parts
        shapes = {tuple(p.shape) for p in parts}
        if len(shapes) > 1:
            listed = ", ".join(f"{i}: {tuple(p.shape)}" for i, p in enumerate(parts))
            raise ValueError(f"mask_factories: the masks differ in shape ({listed})")
        return [p.reshape((1,) + tuple(p.shape)) for p in parts]

    @staticmethod
    def _call(factory: FactoryT, index: int | None) -> Any:
        mask = factory()
        if is_sparse(mask) or isinstance(mask, np.ndarray):
            return mask
        if hasattr(mask, "shape") and hasattr(mask, "reshape"):  # e.g. a CuPy array
            return to_dense(mask)
        where = "mask_factories()" if index is None else f"mask_factories[{index}]()"
        try:
            return np.asarray(mask)
        except (TypeError, ValueError) as e:
            raise TypeError(f"{where} returned a {type(mask).__name__}, expected an array") from e

    def get_for_idx(self, scheme: Any, idx: int, *args: Any, **kwargs: Any) -> Any:
        """The masks for tile slot ``idx`` of a tiling scheme (``scheme[idx]`` is a signal
        ``Slice``); further arguments as :meth:`get`."""
        return self._get(scheme[idx], *args, **kwargs)

    def get_for_sig_slice(self, sig_slice: Slice, *args: Any, **kwargs: Any) -> Any:
        """The masks for a signal slice (``meta.sig_slice``); arguments as :meth:`get`."""
        return self._get(sig_slice, *args, **kwargs)

    def get(
        self,
        key: Slice,
        dtype: npt.DTypeLike | None = None,
        sparse_backend: _UseSparse | None = None,
        transpose: bool = True,
        backend: str | None = None,
    ) -> Any:
        """The masks for the signal part of the slice ``key`` (a tile's, a partition's), as a
        2-D matrix ``(n_masks, n_pixels)``, or ``(n_pixels, n_masks)`` with ``transpose=True``
        (the default; ``tile.reshape(n_frames, -1) @ masks`` is then the result).

        ``dtype``, ``sparse_backend`` (``False`` for dense, or a sparse format) and ``backend``
        default to the container's. Each result is cached; do not modify it.
        """
        if not isinstance(key, Slice):
            raise TypeError(
                f"key: got a {type(key).__name__}, expected a Slice (of a tile or partition)"
            )
        return self._get(key, dtype, sparse_backend, transpose, backend)

    def _get(
        self,
        slice_: Slice,
        dtype: npt.DTypeLike | None = None,
        sparse_backend: _UseSparse | None = None,
        transpose: bool = True,
        backend: str | None = None,
    ) -> Any:
        return self.get_masks_for_slice(
            slice_,
            dtype=dtype,
            sparse_backend=sparse_backend,
            transpose=transpose,
            backend=self.backend if backend is None else backend,
        )

    def get_masks_for_slice(
        self,
        slice_: Slice,
        dtype: npt.DTypeLike | None = None,
        sparse_backend: _UseSparse | None = None,
        transpose: bool = True,
        backend: str | None = NUMPY,
    ) -> Any:
        """As :meth:`get`, for the signal part of any ``Slice``; ``backend`` defaults to
        ``'numpy'`` here (``None``: the container's), as in LiberTEM."""
        out_dtype = self.dtype if dtype is None else np.dtype(dtype)
        fmt: _UseSparse = self.use_sparse if sparse_backend is None else sparse_backend
        if fmt is not False:
            fmt = _check_sparse_format("sparse_backend", fmt)
        target = _check_backend("backend", self.backend if backend is None else backend)
        key = (out_dtype, fmt, bool(transpose), target, _sig_key(slice_))
        if key not in self._slice_cache:
            self._slice_cache[key] = self._condition(key[-1], out_dtype, fmt, transpose, target)
        return self._slice_cache[key]

    def _condition(
        self,
        sig: _SliceKey,
        dtype: np.dtype[Any],
        fmt: _UseSparse,
        transpose: bool,
        backend: str,
    ) -> Any:
        """The part of the stack under ``sig``, each mask flattened, optionally transposed, in
        the format and dtype asked for."""
        stack = self.computed_masks
        origin, shape = sig
        box = tuple(slice(o, o + s) for o, s in zip(origin, shape, strict=True))
        part = stack[(Ellipsis,) + box].reshape((stack.shape[0], -1))
        if transpose:
            part = part.T
        if fmt is False:
            return _on_backend(to_dense(part), backend).astype(dtype)
        return _build_sparse(part, dtype, fmt, backend)


__all__ = ["FactoryT", "MaskContainer", "SparseSupportedT", "is_sparse", "to_dense", "to_sparse"]
