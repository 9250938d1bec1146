"""Which devices this machine offers, as LiberTEM's ``libertem.utils.devices``: physical CPU
cores, CUDA devices and whether CuPy works.

CUDA devices are counted through CuPy (ferrotem has no other CUDA binding); without a working
CuPy the list is empty, which is also what ``Context.make_with(..., gpus=...)`` assumes.
"""

from __future__ import annotations

import functools
import logging
import warnings
from typing import TypedDict

__all__ = ["DetectResult", "detect", "has_cupy"]

logger = logging.getLogger(__name__)


class DetectResult(TypedDict):
    """What :func:`detect` returns."""

    #: ids of the physical CPU cores (no hyperthreads)
    cpus: list[int]
    #: ids of the CUDA devices
    cudas: list[int]
    #: CuPy is installed and can allocate on a device
    has_cupy: bool


@functools.cache
def has_cupy() -> bool:
    """True if CuPy is installed and works (it can be installed on a machine without a usable
    CUDA device; a broken installation warns and counts as absent)."""
    try:
        import cupy
    except ImportError:
        return False
    try:
        cupy.array(cupy.zeros((1,)))
    except Exception as e:  # CuPy raises many kinds: no driver, compile errors, ...
        warnings.warn(f"CuPy is installed but does not work: {e!r}", RuntimeWarning, stacklevel=2)
        return False
    return True


def _cuda_devices() -> list[int]:
    if not has_cupy():
        return []
    import cupy

    try:
        return list(range(int(cupy.cuda.runtime.getDeviceCount())))
    except Exception as e:  # no driver, no device
        logger.info("no CUDA devices: %r", e)
        return []


def detect() -> DetectResult:
    """The devices of this machine: ``{'cpus': [...], 'cudas': [...], 'has_cupy': bool}``."""
    import psutil

    cores = psutil.cpu_count(logical=False) or psutil.cpu_count() or 1
    return {
        "cpus": list(range(cores)),
        "cudas": _cuda_devices(),
        "has_cupy": has_cupy(),
    }
