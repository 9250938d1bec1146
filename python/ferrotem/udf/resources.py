"""Which Dask worker resources a set of UDFs needs (LiberTEM's scheme, spec §7).

Scheduling data derived from the UDFs, so it lives in the UDF layer (where LiberTEM keeps
``get_resources_for_backends`` too); the Dask executors read it.

Per UDF, the effective backends are its ``get_backends()`` restricted to the user's
``backends``. UDFs that can only run on CUDA need ``CUDA``; UDFs that can only run on the CPU
need ``CPU``; UDFs that cannot use plain ``'cuda'`` (numpy arrays on a CUDA worker) need
``ndarray``. Every task needs ``compute``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ferrotem.common import backend as B
from ferrotem.udf.base import UDF


def _as_set(backends: Any) -> set[str]:
    if isinstance(backends, str):
        return {backends}
    return set(backends)


def get_resources_for_backends(
    udf_backends: Iterable[Any], user_backends: Any = None
) -> dict[str, int]:
    """The resource dict for UDFs with the given backends."""
    user = None if user_backends is None else _as_set(user_backends)
    needs_cuda = needs_cpu = needs_ndarray = False
    for backends in udf_backends:
        eff = _as_set(backends)
        if user is not None:
            eff &= user
        if not eff:
            raise ValueError(
                f"backends: a UDF supports {sorted(_as_set(backends))}, none of which is in "
                f"backends={sorted(user or [])}"
            )
        if eff <= B.CUDA_BACKENDS:
            needs_cuda = True
        if eff <= B.CPU_BACKENDS:
            needs_cpu = True
        if B.CUDA not in eff:
            needs_ndarray = True
    if needs_cuda and needs_cpu:
        raise ValueError(
            "There is no common supported UDF backend: some UDFs run only on CUDA, others only "
            "on the CPU"
        )
    resources = {"compute": 1}
    if needs_cpu:
        resources["CPU"] = 1
    if needs_cuda:
        resources["CUDA"] = 1
    if needs_ndarray:
        resources["ndarray"] = 1
    return resources


def get_resources_from_udfs(udfs: Any, user_backends: Any = None) -> dict[str, int]:
    """The resource dict for a UDF or a list of UDFs."""
    if isinstance(udfs, UDF):
        udfs = [udfs]
    return get_resources_for_backends([u.get_backends() for u in udfs], user_backends)
