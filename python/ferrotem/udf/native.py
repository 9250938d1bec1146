"""Native UDFs: declared once in Python, built and run by the Rust core.

A UDF class runs natively when it defines ``native_descriptor()`` and is used as is: the class
that defines it, or a subclass that overrides none of the UDF methods (a subclass that
overrides, say, ``process_tile`` takes the Python path like any user UDF). The descriptor
names the Rust implementation, gives its parameters (scalars, words, numpy arrays such as a
mask stack; they travel once per run) and lists the result buffers the UDF declared in
``get_result_buffers``; Rust checks that it computes exactly these (name, kind, dtype,
extra_shape) and hands them back by name. See "Writing a native UDF" in ``docs/udfs.md``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ferrotem import _core
from ferrotem.common.exceptions import UDFException

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

#: one result buffer as the core takes it: (name, kind, dtype string, extra_shape)
ResultSpec = tuple[str, str, str, tuple[int, ...]]


@dataclass(frozen=True)
class NativeDescriptor:
    """One native UDF of a run: the Rust name, its parameters and its result buffers."""

    #: the name the Rust core registers the UDF under (``ferrotem_core::udf::build``)
    name: str
    #: parameters: bool, int, float, str or C-contiguous numpy arrays
    params: dict[str, Any] = field(default_factory=dict)
    #: the result buffers, in the order the core returns them
    results: tuple[ResultSpec, ...] = ()
    #: integer buffers (a frame count): the core computes them as float64, exact below 2**53,
    #: and they are cast back to their declared dtype here
    integer_buffers: tuple[tuple[str, str], ...] = ()

    def as_core(self) -> tuple[str, dict[str, Any], list[tuple[str, str, str, list[int]]]]:
        """The declaration in the form ``ferrotem._core`` takes."""
        return (
            self.name,
            dict(self.params),
            [(n, k, d, list(e)) for n, k, d, e in self.results],
        )


def describe(udf: Any, name: str, **params: Any) -> NativeDescriptor:
    """The descriptor of ``udf`` (after ``get_result_buffers`` ran on the main node): every
    buffer it declared that has storage, with its kind, dtype and extra_shape."""
    stored = [(n, b) for n, b in udf._buffers.items() if b.use != "result_only"]
    integer = tuple((n, np.dtype(b.dtype).str) for n, b in stored if np.dtype(b.dtype).kind in "iu")
    results = tuple(
        (
            buf_name,
            buf.kind,
            np.dtype(np.float64 if np.dtype(buf.dtype).kind in "iu" else buf.dtype).str,
            tuple(int(x) for x in buf.extra_shape),
        )
        for buf_name, buf in stored
    )
    arrays = {
        k: np.ascontiguousarray(v) if isinstance(v, np.ndarray) else v for k, v in params.items()
    }
    return NativeDescriptor(name, arrays, results, integer)


def _defining_class(cls: type) -> type | None:
    return next((c for c in cls.__mro__ if "native_descriptor" in c.__dict__), None)


def native_descriptor(udf: Any) -> NativeDescriptor | None:
    """The descriptor of ``udf`` if it can run natively, else None."""
    cls = type(udf)
    base = _defining_class(cls)
    if base is None:
        return None
    for hook in _HOOKS:
        if getattr(cls, hook, None) is not getattr(base, hook, None):
            return None
    described: NativeDescriptor | None = udf.native_descriptor()
    return described


def native_descriptors(udfs: list[Any], input_dtype: np.dtype) -> list[NativeDescriptor] | None:
    """Descriptors of all ``udfs`` if the whole run can be native, else None."""
    if np.dtype(input_dtype) not in NATIVE_INPUT_DTYPES or not udfs:
        return None
    found = [d for d in map(native_descriptor, udfs) if d is not None]
    return found if len(found) == len(udfs) else None


def storage_shape(
    kind: str, extra_shape: tuple[int, ...], sig_shape: tuple[int, ...], n_frames: int
) -> tuple[int, ...]:
    """The storage shape of a buffer over ``n_frames`` selected frames."""
    if kind == "nav":
        return (n_frames, *extra_shape)
    if kind == "sig":
        return (*sig_shape, *extra_shape)
    return extra_shape or (1,)


def results_to_buffers(
    descriptor: NativeDescriptor,
    results: dict[str, np.ndarray],
    sig_shape: tuple[int, ...],
    n_frames: int,
) -> dict[str, np.ndarray]:
    """The core's flat named results as storage-shaped arrays, by buffer name. A result that
    was not declared, a declared one missing, or one of another dtype or size is an error."""
    declared = {name for name, *_ in descriptor.results}
    if set(results) != declared:
        raise UDFException(
            f"native {descriptor.name}: results {sorted(results)} do not match the declared "
            f"buffers {sorted(declared)}"
        )
    out = {}
    integer = dict(descriptor.integer_buffers)
    for name, kind, dtype, extra in descriptor.results:
        arr = np.asarray(results[name])
        shape = storage_shape(kind, extra, sig_shape, n_frames)
        if arr.dtype != np.dtype(dtype) or arr.size != int(np.prod(shape)):
            raise UDFException(
                f"native {descriptor.name}: result {name!r} has dtype {arr.dtype} and "
                f"{arr.size} values; declared {np.dtype(dtype)} of shape {shape}"
            )
        if name in integer:
            arr = arr.astype(integer[name])
        out[name] = arr.reshape(shape)
    return out


#: the native sets built last in this process: ``(declarations, input dtype, built set)``; the
#: declarations are kept so that their ``id`` stays theirs while they are cached
_BUILT: list[tuple[list[NativeDescriptor], str, _core.NativeSet]] = []
_BUILT_LOCK = threading.Lock()
#: how many runs' sets stay cached (each may hold a packed mask stack)
_BUILT_KEEP = 4


def built_native_set(native: list[NativeDescriptor], input_dtype: str) -> _core.NativeSet:
    """The Rust UDFs of ``native`` for a run in ``input_dtype``, built once per process and
    run: every partition task of a run shares its declarations list (one object per run and
    process; a parameter update makes a new one), and building packs parameters such as a
    mask stack, which costs as much as processing a partition."""
    with _BUILT_LOCK:
        for decls, dtype, built in _BUILT:
            if decls is native and dtype == input_dtype:
                return built
    built = _core.NativeSet([d.as_core() for d in native], input_dtype)
    with _BUILT_LOCK:
        _BUILT.insert(0, (native, input_dtype, built))
        del _BUILT[_BUILT_KEEP:]
    return built
