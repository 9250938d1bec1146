"""Sparse tiles for Python UDFs on datasets that store their frames sparsely (``raw_csr``).

Which array each UDF receives (a simplified form of LiberTEM's execution plan, for a dataset
whose ``array_backends`` include a sparse backend):

1. a UDF that lists the dataset's own format (``scipy.sparse.csr_matrix``) gets it as stored;
2. else one that lists another CPU sparse backend gets the first of those it lists, converted
   from the CSR tile (``scipy.sparse`` formats as ``(frames, pixels)`` matrices, ``sparse``'s
   COO/GCXS/DOK as ``(frames, *sig_shape)`` arrays, as LiberTEM gives them);
3. else the UDF gets dense numpy tiles, densified in Rust one tile at a time.

ferrotem's built-in UDFs (those with a ``native_descriptor``: ``SumUDF``, ``SumSigUDF``,
``ApplyMasksUDF``, ...) run in Rust on the stored entries; when one of them takes the Python
path (next to a Python UDF, say) it gets dense tiles, which every one of them lists. A
``backends=`` restriction of the run applies first. Per-frame UDFs get ``tile[i]`` (a
``(1, pixels)`` matrix for ``scipy.sparse``, a frame-shaped array for ``sparse``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ferrotem.common import backend as B
from ferrotem.common.sparse import import_pydata_sparse

__all__ = ["SparseTileMaker", "plan_backends", "to_dense"]

#: CPU sparse backends in the order ferrotem tries them when a UDF lists several
_CPU_SPARSE = (
    B.SCIPY_CSR,
    B.SCIPY_CSR_ARRAY,
    B.SCIPY_CSC,
    B.SCIPY_CSC_ARRAY,
    B.SCIPY_COO,
    B.SCIPY_COO_ARRAY,
    B.SPARSE_COO,
    B.SPARSE_GCXS,
    B.SPARSE_DOK,
)


def _as_set(spec: Any) -> list[str]:
    return [spec] if isinstance(spec, str) else list(spec)


def offers_sparse(dataset: Any) -> bool:
    """True if ``dataset`` stores sparse tiles (its ``array_backends`` name one)."""
    return any(b in B.SPARSE_BACKENDS for b in getattr(dataset, "array_backends", ()))


def plan_backends(udfs: Sequence[Any], dataset: Any, user_backends: Any = None) -> list[str] | None:
    """The array backend of each UDF on ``dataset`` (see the module docs), or None if the
    dataset stores no sparse tiles (every UDF then runs on the usual numpy path)."""
    if not offers_sparse(dataset):
        return None
    allowed = None if user_backends is None else set(_as_set(user_backends))
    native = set(dataset.array_backends)
    plan = []
    for udf in udfs:
        listed = [b for b in _as_set(udf.get_backends()) if allowed is None or b in allowed]
        if not listed:
            raise ValueError(
                f"backends: {type(udf).__name__} supports {udf.get_backends()!r}, none of which"
                f" is in backends={sorted(allowed or [])!r}"
            )
        own = [b for b in listed if b in native]
        sparse = [b for b in listed if b in _CPU_SPARSE]
        if hasattr(udf, "native_descriptor") and B.NUMPY in listed:
            plan.append(B.NUMPY)
        elif own:
            plan.append(own[0])
        elif sparse:
            plan.append(sparse[0])
        elif B.NUMPY in listed or B.CUDA in listed:
            plan.append(B.NUMPY)
        else:
            raise ValueError(
                f"backends: {type(udf).__name__} supports {listed!r}; ferrotem delivers tiles of "
                f"this dataset as numpy or CPU sparse arrays ({', '.join(_CPU_SPARSE)})"
            )
    return plan


class SparseTileMaker:
    """Builds one tile in each backend asked for, from the CSR rows read in Rust, once per
    backend (several UDFs of one backend share the tile)."""

    def __init__(
        self,
        indptr: np.ndarray,
        indices: np.ndarray,
        values: np.ndarray,
        sig_shape: tuple[int, ...],
    ):
        import scipy.sparse

        n = len(indptr) - 1
        self._sig_shape = sig_shape
        self._csr = scipy.sparse.csr_matrix(
            (values, indices, indptr), shape=(n, int(np.prod(sig_shape)))
        )
        self._made: dict[str, Any] = {B.SCIPY_CSR: self._csr}

    def get(self, backend: str) -> Any:
        """The tile as ``backend`` holds it."""
        tile = self._made.get(backend)
        if tile is None:
            tile = self._made[backend] = self._convert(backend)
        return tile

    def _convert(self, backend: str) -> Any:
        import scipy.sparse

        csr = self._csr
        shape = (csr.shape[0], *self._sig_shape)
        if backend == B.SCIPY_CSR_ARRAY:
            return scipy.sparse.csr_array(csr)
        if backend == B.SCIPY_CSC:
            return csr.tocsc()
        if backend == B.SCIPY_CSC_ARRAY:
            return scipy.sparse.csc_array(csr)
        if backend == B.SCIPY_COO:
            return csr.tocoo()
        if backend == B.SCIPY_COO_ARRAY:
            return scipy.sparse.coo_array(csr)
        if backend in (B.SPARSE_COO, B.SPARSE_GCXS, B.SPARSE_DOK):
            sparse = import_pydata_sparse(f"tiles of backend {backend!r}")
            coo = sparse.COO.from_scipy_sparse(csr).reshape(shape)
            if backend == B.SPARSE_GCXS:
                return sparse.GCXS(coo)
            if backend == B.SPARSE_DOK:
                return sparse.DOK(coo)
            return coo
        raise ValueError(f"backend: got {backend!r}, expected a CPU sparse backend")


def to_dense(arr: Any) -> np.ndarray:
    """``arr`` as a plain numpy array: sparse matrices and arrays densified, ``np.matrix``
    (what ``scipy.sparse`` reductions return) unwrapped."""
    if type(arr) is np.ndarray:
        return arr
    if hasattr(arr, "toarray"):  # scipy.sparse
        return np.asarray(arr.toarray())
    if hasattr(arr, "todense") and not isinstance(arr, np.ndarray):  # sparse (pydata)
        return np.asarray(arr.todense())
    return np.asarray(arr)
