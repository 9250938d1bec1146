"""Dense and sparse arrays side by side (LiberTEM's ``libertem.common.sparse``).

Masks and ROIs may be numpy arrays, ``scipy.sparse`` matrices/arrays or pydata ``sparse`` arrays
(``sparse.COO``, ``sparse.GCXS``, ``sparse.DOK``). Neither sparse package is a hard dependency of
ferrotem: :func:`is_sparse` recognises their arrays without importing them (an array of a package
can only exist once that package has been imported), and only the functions that *produce* a
pydata array import it, through :func:`import_pydata_sparse`, which says how to install it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ferrotem.common.shape import Shape

#: what to install for the functions that build pydata sparse arrays
PYDATA_SPARSE_HINT = "pip install sparse (or: pip install 'ferrotem[sparse]')"


def import_pydata_sparse(purpose: str) -> ModuleType:
    """The pydata ``sparse`` package, or ``ImportError`` saying that ``purpose`` needs it."""
    try:
        return importlib.import_module("sparse")
    except ImportError as e:
        raise ImportError(
            f"{purpose} needs the pydata 'sparse' package, which is not installed: "
            f"{PYDATA_SPARSE_HINT}"
        ) from e


def pydata_sparse_available() -> bool:
    """True if the pydata ``sparse`` package can be imported."""
    try:
        importlib.import_module("sparse")
    except ImportError:
        return False
    return True


def _loaded(name: str) -> ModuleType | None:
    """The module ``name`` if something already imported it (a failed import leaves ``None``)."""
    mod = sys.modules.get(name)
    return mod if isinstance(mod, ModuleType) else None


def is_pydata_sparse(a: object) -> bool:
    """True for pydata ``sparse`` arrays (``COO``, ``GCXS``, ``DOK``)."""
    sparse = _loaded("sparse")
    return sparse is not None and isinstance(a, sparse.SparseArray)


def is_scipy_sparse(a: object) -> bool:
    """True for ``scipy.sparse`` matrices and arrays."""
    scipy_sparse = _loaded("scipy.sparse")
    return scipy_sparse is not None and bool(scipy_sparse.issparse(a))


def is_sparse(a: object) -> bool:
    """True if ``a`` is a pydata ``sparse`` array or a ``scipy.sparse`` matrix or array."""
    return is_pydata_sparse(a) or is_scipy_sparse(a)


def assert_sparse(a: Any) -> Any:
    """``a`` itself if it is sparse (:func:`is_sparse`), else ``TypeError``."""
    if not is_sparse(a):
        raise TypeError(f"expected a sparse array, got {type(a).__name__}")
    return a


def _is_cupy(a: object) -> bool:
    return type(a).__module__.split(".")[0] in ("cupy", "cupyx")


def to_dense(a: Any) -> np.ndarray:
    """``a`` as a numpy array.

    A numpy array is returned as it is (no copy); sparse arrays of either package are expanded;
    CuPy arrays (dense or ``cupyx.scipy.sparse``) are copied to the host; anything else goes
    through ``np.array``.
    """
    if isinstance(a, np.ndarray):
        return a
    if _is_cupy(a):
        if hasattr(a, "toarray"):  # cupyx.scipy.sparse
            a = a.toarray()
        host: np.ndarray = a.get()
        return host
    if is_scipy_sparse(a):
        dense: np.ndarray = np.asarray(a.toarray())
        return dense
    if is_pydata_sparse(a):
        expanded: np.ndarray = a.todense()
        return expanded
    return np.array(a)


def _roi_coords_to_sparse(coords: Sequence[Any], shape: Shape | tuple[int, ...] | None) -> Any:
    """A boolean ``sparse.COO`` from ROI coordinates: either one position as a sequence of ints
    (that position is ``True``), or ``(position, value)`` pairs that all carry the same value;
    every other position holds the opposite value."""
    sparse = import_pydata_sparse("to_sparse(coordinates)")
    if shape is None:
        raise ValueError("shape: got None, expected the array's shape for ROI coordinates")
    entries: Sequence[Any] = coords
    if all(isinstance(c, int | np.integer) for c in coords):
        entries = ((tuple(coords), True),)
    values = {e[-1] for e in entries}
    if len(values) != 1:
        raise ValueError(
            f"coordinates: entries carry the values {sorted(values)}, expected a single value"
        )
    roi_value = bool(values.pop())
    return sparse.COO.from_iter(entries, shape=tuple(shape), fill_value=not roi_value, dtype=bool)


def to_sparse(a: Any, shape: Shape | tuple[int, ...] | None = None) -> Any:
    """``a`` as a pydata ``sparse.COO`` array (needs the pydata ``sparse`` package).

    ``a`` may be dense (numpy, CuPy, anything ``np.asarray`` takes), sparse of either package,
    or, as LiberTEM allows for ROIs, a tuple/list of coordinates together with ``shape``: a
    sequence of ints marks that one position ``True``; ``(position, value)`` pairs with one
    common value, e.g. ``[((0, 1), True), ((2, 2), True)]``, mark those positions with it and
    all others with its opposite.
    """
    if isinstance(a, tuple | list):
        return _roi_coords_to_sparse(a, shape)
    sparse = import_pydata_sparse("to_sparse")
    if isinstance(a, sparse.COO):
        return a
    if isinstance(a, sparse.SparseArray):
        return a.asformat("coo")
    if is_scipy_sparse(a):
        return sparse.COO.from_scipy_sparse(a)
    if _is_cupy(a):
        a = to_dense(a)
    return sparse.COO.from_numpy(np.asarray(a))


def sparse_to_coo(a: Any, shape: Shape | tuple[int, ...] | None = None) -> Any:
    """``None`` and numpy arrays as they are, anything else through :func:`to_sparse`."""
    if a is None or isinstance(a, np.ndarray):
        return a
    return to_sparse(a, shape=shape)


__all__ = [
    "assert_sparse",
    "import_pydata_sparse",
    "is_pydata_sparse",
    "is_scipy_sparse",
    "is_sparse",
    "pydata_sparse_available",
    "sparse_to_coo",
    "to_dense",
    "to_sparse",
]
