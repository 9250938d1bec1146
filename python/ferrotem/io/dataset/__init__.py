"""Dataset types, their registry, and loading (``ctx.load(filetype, ...)`` and the low-level
:func:`load` it calls)."""

from __future__ import annotations

import asyncio
import importlib
import os
from collections.abc import Coroutine
from typing import Any, Literal, overload

from ferrotem.common.exceptions import DataSetException, InvalidDataSetParameter
from ferrotem.common.protocols import FunctionExecutor
from ferrotem.io.dataset.base import DataSet
from ferrotem.io.dataset.sniff import detect_filetype_of

_DATASETS: dict[str, str] = {
    "memory": "ferrotem.io.dataset.memory.MemoryDataSet",
    "raw": "ferrotem.io.dataset.raw.RawFileDataSet",
    "npy": "ferrotem.io.dataset.npy.NPYDataSet",
    "dask": "ferrotem.io.dataset.dask.DaskDataSet",
    "mib": "ferrotem.io.dataset.mib.MIBDataSet",
    "blo": "ferrotem.io.dataset.blo.BloDataSet",
    "k2is": "ferrotem.io.dataset.k2is.K2ISDataSet",
    "hdf5": "ferrotem.io.dataset.hdf5.H5DataSet",
    "arina": "ferrotem.io.dataset.arina.ArinaDataSet",
    "seq": "ferrotem.io.dataset.seq.SEQDataSet",
    "frms6": "ferrotem.io.dataset.frms6.FRMS6DataSet",
    "raw_csr": "ferrotem.io.dataset.raw_csr.RawCSRDataSet",
    "ser": "ferrotem.io.dataset.ser.SERDataSet",
    "mrc": "ferrotem.io.dataset.mrc.MRCDataSet",
    "tvips": "ferrotem.io.dataset.tvips.TVIPSDataSet",
    "empad": "ferrotem.io.dataset.empad.EMPADDataSet",
    "dm": "ferrotem.io.dataset.dm.DMDataSet",
}


def register_dataset_cls(filetype: str, cls_path: str) -> None:
    """Registers a dataset class under ``filetype``, given as ``"dotted.module.Class"``."""
    _DATASETS[filetype.lower()] = cls_path


def unregister_dataset_cls(filetype: str) -> None:
    """Removes the dataset class registered under ``filetype``."""
    try:
        del _DATASETS[filetype.lower()]
    except KeyError:
        raise InvalidDataSetParameter(
            f"filetype: got {filetype!r}, which is not registered ({sorted(_DATASETS)})"
        ) from None


def get_dataset_cls(filetype: str | type) -> type:
    """The dataset class registered under ``filetype`` (case-insensitive); a ``DataSet``
    subclass is returned as it is."""
    if isinstance(filetype, type) and issubclass(filetype, DataSet):
        return filetype
    if not isinstance(filetype, str):
        raise TypeError(f"filetype: got {filetype!r}, expected a string or a DataSet subclass")
    try:
        path = _DATASETS[filetype.lower()]
    except KeyError:
        # both a DataSetException (as in LiberTEM) and a ValueError
        raise InvalidDataSetParameter(
            f"filetype: got {filetype!r}, expected one of {sorted(_DATASETS)}"
        ) from None
    module, _, name = path.rpartition(".")
    cls: type = getattr(importlib.import_module(module), name)
    return cls


def filetypes() -> list[str]:
    """The registered filetypes."""
    return sorted(_DATASETS)


@overload
def load(
    filetype: str | type,
    *args: Any,
    executor: FunctionExecutor,
    enable_async: Literal[False] = False,
    **kwargs: Any,
) -> DataSet: ...


@overload
def load(
    filetype: str | type,
    *args: Any,
    executor: FunctionExecutor,
    enable_async: Literal[True],
    **kwargs: Any,
) -> Coroutine[Any, Any, DataSet]: ...


@overload
def load(
    filetype: str | type,
    *args: Any,
    executor: FunctionExecutor,
    enable_async: bool,
    **kwargs: Any,
) -> DataSet | Coroutine[Any, Any, DataSet]: ...


def load(
    filetype: str | type,
    *args: Any,
    executor: FunctionExecutor,
    enable_async: bool = False,
    **kwargs: Any,
) -> DataSet | Coroutine[Any, Any, DataSet]:
    """Builds, initialises and checks a dataset on ``executor`` (what ``Context.load`` does);
    with ``enable_async=True``, returns a coroutine that does it in a worker thread.

    ``filetype`` is a registered name, ``'auto'`` (detected from the file's content), or a
    ``DataSet`` subclass; the other arguments go to the dataset class.
    """
    if enable_async:
        return asyncio.to_thread(_load, filetype, args, executor, kwargs)
    return _load(filetype, args, executor, kwargs)


def _load(
    filetype: str | type, args: tuple[Any, ...], executor: FunctionExecutor, kwargs: dict[str, Any]
) -> DataSet:
    if isinstance(filetype, str) and filetype.lower() == "auto":
        filetype = detect_filetype(args, kwargs)
    cls = get_dataset_cls(filetype)
    ds: DataSet = cls(*args, **kwargs)
    ds = ds.initialize(executor)
    ds.set_num_cores(executor.effective_worker_count())
    executor.run_function(ds.check_valid)
    return ds


def detect_filetype(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """``load('auto', path=...)``: the filetype of ``path``, from what the file contains."""
    path = kwargs.get("path", args[0] if args else None)
    if path is None or not isinstance(path, str | os.PathLike):
        raise ValueError(
            f"path: got {path!r}; filetype='auto' needs the file's path (path=...); in-memory "
            "arrays are loaded with 'memory' or 'dask'"
        )
    return detect_filetype_of(os.fsdecode(path), filetypes())


def detect(
    path: str | os.PathLike[str], executor: FunctionExecutor | None = None
) -> dict[str, Any]:
    """LiberTEM's ``detect``: ``{"type": filetype, "parameters": {"path": path}}`` for a file
    'auto' recognises, ``{}`` for one it does not (``executor`` is accepted for LiberTEM's
    signature; detection reads the file's first bytes here)."""
    del executor
    try:
        filetype = detect_filetype_of(os.fsdecode(path), filetypes())
    except (ValueError, OSError):
        return {}
    return {"type": filetype, "parameters": {"path": os.fsdecode(path)}}


__all__ = [
    "DataSetException",
    "detect",
    "filetypes",
    "get_dataset_cls",
    "load",
    "register_dataset_cls",
    "unregister_dataset_cls",
]
