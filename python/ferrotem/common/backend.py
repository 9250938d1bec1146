"""Names of array backends (LiberTEM takes them from ``sparseconverter``), and the process-wide
choice of device (CPU or a CUDA device) that tasks running in this process use.

The device choice lives in environment variables, so that it is inherited by child processes and
can be set per Dask worker: ``FERROTEM_USE_CUDA`` (a CUDA device id) or ``FERROTEM_USE_CPU`` (a
CPU id, not used for pinning), as LiberTEM's ``LIBERTEM_USE_CUDA``/``LIBERTEM_USE_CPU``. A worker
started by ferrotem's ``cluster_spec`` announces its class in ``FERROTEM_DEVICE_CLASS`` and sees
its one CUDA device (if any) as device 0.
"""

from __future__ import annotations

import os

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


_USE_CUDA = "FERROTEM_USE_CUDA"
_USE_CPU = "FERROTEM_USE_CPU"
_DEVICE_CLASS = "FERROTEM_DEVICE_CLASS"


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name}: got {value!r}, expected an integer device id") from None


def _check_not_both() -> None:
    if os.environ.get(_USE_CUDA) is not None and os.environ.get(_USE_CPU) is not None:
        raise RuntimeError(f"both {_USE_CPU} and {_USE_CUDA} are set, expected at most one")


def _check_device_id(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name}: got {value!r}, expected a non-negative integer")
    return value


def get_use_cuda() -> int | None:
    """The CUDA device tasks in this process use, or None when they run on the CPU."""
    _check_not_both()
    cuda = _env_int(_USE_CUDA)
    if cuda is not None:
        return cuda
    if os.environ.get(_USE_CPU) is None and os.environ.get(_DEVICE_CLASS) == "cuda":
        return 0  # a CUDA worker of cluster_spec sees only its own device
    return None


def set_use_cuda(cuda_device: int) -> None:
    """Makes tasks in this process (and processes it starts) use CUDA device ``cuda_device``."""
    cuda_device = _check_device_id("cuda_device", cuda_device)
    os.environ[_USE_CUDA] = str(cuda_device)
    os.environ.pop(_USE_CPU, None)


def get_use_cpu() -> int | None:
    """The CPU id tasks in this process use (0 unless set), or None when they use CUDA."""
    _check_not_both()
    cpu = _env_int(_USE_CPU)
    if cpu is not None:
        return cpu
    return 0 if get_use_cuda() is None else None


def set_use_cpu(cpu: int) -> None:
    """Makes tasks in this process use the CPU (``cpu`` is recorded, not used for pinning)."""
    cpu = _check_device_id("cpu", cpu)
    os.environ.pop(_USE_CUDA, None)
    os.environ[_USE_CPU] = str(cpu)


def get_device_class() -> str:
    """``'cuda'`` when tasks in this process use a CUDA device, else ``'cpu'``."""
    return "cuda" if get_use_cuda() is not None else "cpu"


def device_class_or(default: str) -> str:
    """The device class chosen for this process, or ``default`` when nothing chose one."""
    if not any(os.environ.get(v) is not None for v in (_USE_CUDA, _USE_CPU, _DEVICE_CLASS)):
        return default
    return get_device_class()


def set_file_limit() -> None:
    """Raises this process's soft limit of open files to the hard limit (no-op on Windows)."""
    try:
        import resource
    except ImportError:  # Windows
        return
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
