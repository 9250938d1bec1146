"""The parts of the UDF interface that lower layers and other packages use without importing
the UDF class, as LiberTEM's ``libertem.common.udf``: how a UDF consumes data
(:class:`UDFMethod`), the tiling preference sentinels, and :class:`UDFProtocol`."""

from __future__ import annotations

from enum import Enum
from typing import ClassVar, Protocol, TypedDict

import numpy as np

from ferrotem.common import backend as B

__all__ = ["TileDepthEnum", "TileSizeEnum", "TilingPreferences", "UDFMethod", "UDFProtocol"]


class _Sentinel(Enum):
    """An enum of unique markers that stay themselves when pickled (to a worker): members
    pickle by name, as their ``object()`` values cannot be looked up after a round trip."""

    def __reduce_ex__(self, protocol: object) -> tuple[object, tuple[type, str]]:
        return getattr, (type(self), self.name)


class TileDepthEnum(_Sentinel):
    """Sentinel for ``get_tiling_preferences()['depth']``: let the engine choose the depth."""

    TILE_DEPTH_DEFAULT = object()


class TileSizeEnum(_Sentinel):
    """Sentinel for ``get_tiling_preferences()['total_size']``: the engine's best-fit size."""

    TILE_SIZE_BEST_FIT = object()


class TilingPreferences(TypedDict):
    """What ``UDF.get_tiling_preferences`` returns."""

    depth: int | float | TileDepthEnum
    total_size: int | float | TileSizeEnum


class UDFMethod(Enum):
    """How a UDF consumes data."""

    TILE = "tile"
    FRAME = "frame"
    PARTITION = "partition"


class UDFProtocol(Protocol):
    """The UDF interface as seen by code that only needs its constants and the method and
    tiling choices (``ferrotem.udf.UDF`` has all of it)."""

    USE_NATIVE_DTYPE: ClassVar[type[bool]] = bool
    TILE_SIZE_BEST_FIT: ClassVar[TileSizeEnum] = TileSizeEnum.TILE_SIZE_BEST_FIT
    TILE_SIZE_MAX: ClassVar[float] = np.inf
    TILE_DEPTH_DEFAULT: ClassVar[TileDepthEnum] = TileDepthEnum.TILE_DEPTH_DEFAULT
    TILE_DEPTH_MAX: ClassVar[float] = np.inf
    BACKEND_NUMPY: ClassVar[str] = B.NUMPY
    BACKEND_CUPY: ClassVar[str] = B.CUPY
    BACKEND_CUDA: ClassVar[str] = B.CUDA
    BACKEND_SPARSE_COO: ClassVar[str] = B.SPARSE_COO
    BACKEND_SPARSE_GCXS: ClassVar[str] = B.SPARSE_GCXS
    BACKEND_SPARSE_DOK: ClassVar[str] = B.SPARSE_DOK
    BACKEND_SCIPY_COO: ClassVar[str] = B.SCIPY_COO
    BACKEND_SCIPY_CSR: ClassVar[str] = B.SCIPY_CSR
    BACKEND_SCIPY_CSC: ClassVar[str] = B.SCIPY_CSC
    BACKEND_SCIPY_COO_ARRAY: ClassVar[str] = B.SCIPY_COO_ARRAY
    BACKEND_SCIPY_CSR_ARRAY: ClassVar[str] = B.SCIPY_CSR_ARRAY
    BACKEND_SCIPY_CSC_ARRAY: ClassVar[str] = B.SCIPY_CSC_ARRAY
    BACKEND_CUPY_SCIPY_COO: ClassVar[str] = B.CUPY_SCIPY_COO
    BACKEND_CUPY_SCIPY_CSR: ClassVar[str] = B.CUPY_SCIPY_CSR
    BACKEND_CUPY_SCIPY_CSC: ClassVar[str] = B.CUPY_SCIPY_CSC
    BACKEND_ALL: ClassVar[tuple[str, ...]] = B.BACKEND_ALL
    CPU_BACKENDS: ClassVar[frozenset[str]] = B.CPU_BACKENDS
    CUDA_BACKENDS: ClassVar[frozenset[str]] = B.CUDA_BACKENDS
    CUPY_BACKENDS: ClassVar[frozenset[str]] = B.CUPY_BACKENDS
    SPARSE_BACKENDS: ClassVar[frozenset[str]] = B.SPARSE_BACKENDS
    DENSE_BACKENDS: ClassVar[frozenset[str]] = B.DENSE_BACKENDS
    ND_BACKENDS: ClassVar[frozenset[str]] = B.ND_BACKENDS
    D2_BACKENDS: ClassVar[frozenset[str]] = B.D2_BACKENDS
    UDF_METHOD: ClassVar[type[UDFMethod]] = UDFMethod

    def get_method(self) -> UDFMethod:
        """The ``process_*`` method the UDF runs with."""
        ...

    def get_tiling_preferences(self) -> TilingPreferences:
        """The tile depth and size the UDF prefers."""
        ...
