"""Names of array backends (LiberTEM takes them from ``sparseconverter``)."""

from __future__ import annotations

NUMPY = "numpy"
CUPY = "cupy"
CUDA = "cuda"
SPARSE_COO = "sparse.COO"
SPARSE_GCXS = "sparse.GCXS"
SPARSE_DOK = "sparse.DOK"
SCIPY_COO = "scipy.sparse.coo_matrix"
SCIPY_CSR = "scipy.sparse.csr_matrix"
SCIPY_CSC = "scipy.sparse.csc_matrix"
SCIPY_COO_ARRAY = "scipy.sparse.coo_array"
SCIPY_CSR_ARRAY = "scipy.sparse.csr_array"
SCIPY_CSC_ARRAY = "scipy.sparse.csc_array"
CUPY_SCIPY_COO = "cupyx.scipy.sparse.coo_matrix"
CUPY_SCIPY_CSR = "cupyx.scipy.sparse.csr_matrix"
CUPY_SCIPY_CSC = "cupyx.scipy.sparse.csc_matrix"

CPU_BACKENDS = frozenset(
    {
        NUMPY,
        SPARSE_COO,
        SPARSE_GCXS,
        SPARSE_DOK,
        SCIPY_COO,
        SCIPY_CSR,
        SCIPY_CSC,
        SCIPY_COO_ARRAY,
        SCIPY_CSR_ARRAY,
        SCIPY_CSC_ARRAY,
    }
)
CUPY_BACKENDS = frozenset({CUPY, CUPY_SCIPY_COO, CUPY_SCIPY_CSR, CUPY_SCIPY_CSC})
CUDA_BACKENDS = CUPY_BACKENDS | {CUDA}
SPARSE_BACKENDS = frozenset(
    {
        SPARSE_COO,
        SPARSE_GCXS,
        SPARSE_DOK,
        SCIPY_COO,
        SCIPY_CSR,
        SCIPY_CSC,
        SCIPY_COO_ARRAY,
        SCIPY_CSR_ARRAY,
        SCIPY_CSC_ARRAY,
        CUPY_SCIPY_COO,
        CUPY_SCIPY_CSR,
        CUPY_SCIPY_CSC,
    }
)
DENSE_BACKENDS = frozenset({NUMPY, CUDA, CUPY})
ND_BACKENDS = frozenset({NUMPY, CUDA, CUPY, SPARSE_COO, SPARSE_GCXS, SPARSE_DOK})
D2_BACKENDS = frozenset(
    {
        SCIPY_COO,
        SCIPY_CSR,
        SCIPY_CSC,
        SCIPY_COO_ARRAY,
        SCIPY_CSR_ARRAY,
        SCIPY_CSC_ARRAY,
        CUPY_SCIPY_COO,
        CUPY_SCIPY_CSR,
        CUPY_SCIPY_CSC,
    }
)
#: every backend, in LiberTEM's priority order
BACKEND_ALL = (
    CUPY_SCIPY_CSR,
    CUPY_SCIPY_CSC,
    CUPY_SCIPY_COO,
    SCIPY_COO_ARRAY,
    SCIPY_CSC_ARRAY,
    SCIPY_CSR_ARRAY,
    SCIPY_CSR,
    SCIPY_CSC,
    SCIPY_COO,
    CUPY,
    NUMPY,
    SPARSE_COO,
    SPARSE_GCXS,
)
