"""Which UDFs run natively in Rust.

A built-in UDF (``SumUDF``, ``SumSigUDF``) runs in the Rust core when it is used as is: the exact
class, or a subclass that overrides none of the UDF methods. A subclass that overrides, say,
``process_tile`` takes the Python path like any user UDF.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: UDF methods whose override disables the native path
_HOOKS = (
    "get_result_buffers",
    "process_tile",
    "process_frame",
    "process_partition",
    "preprocess",
    "postprocess",
    "merge",
    "merge_all",
    "get_results",
    "get_task_data",
    "get_preferred_input_dtype",
    "get_backends",
    "get_method",
    "cleanup",
)

#: input dtypes the native kernels compute in
NATIVE_INPUT_DTYPES = frozenset(
    np.dtype(t) for t in (np.float32, np.float64, np.complex64, np.complex128)
)


def native_name(udf: Any) -> str | None:
    """The Rust name of ``udf`` if it can run natively, else None."""
    cls = type(udf)
    name = getattr(cls, "_native_name", None)
    if not isinstance(name, str):
        return None
    base = next(c for c in cls.__mro__ if c.__dict__.get("_native_name") == name)
    for hook in _HOOKS:
        if getattr(cls, hook, None) is not getattr(base, hook, None):
            return None
    return name


def native_names(udfs: list[Any], input_dtype: np.dtype) -> list[str] | None:
    """Rust names of all ``udfs`` if the whole run can be native, else None."""
    if np.dtype(input_dtype) not in NATIVE_INPUT_DTYPES or not udfs:
        return None
    names = [name for name in map(native_name, udfs) if name is not None]
    return names if len(names) == len(udfs) else None


def partial_to_buffers(
    name: str, array: np.ndarray, sig_shape: tuple[int, ...]
) -> dict[str, np.ndarray]:
    """Native output of one UDF as its ``{buffer: array}`` dict."""
    if name == "sum":
        return {"intensity": array.reshape(sig_shape)}
    if name == "sumsig":
        return {"intensity": array}
    raise ValueError(f"udfs: unknown native UDF {name!r}")
