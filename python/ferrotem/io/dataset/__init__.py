"""Dataset types and their registry (``ctx.load(filetype, ...)``)."""

from __future__ import annotations

import importlib

from ferrotem.common.exceptions import DataSetException

_DATASETS: dict[str, str] = {
    "memory": "ferrotem.io.dataset.memory.MemoryDataSet",
    "raw": "ferrotem.io.dataset.raw.RawFileDataSet",
    "npy": "ferrotem.io.dataset.npy.NPYDataSet",
    "dask": "ferrotem.io.dataset.dask.DaskDataSet",
}


def register_dataset_cls(filetype: str, cls_path: str) -> None:
    """Registers a dataset class under ``filetype``, given as ``"dotted.module.Class"``."""
    _DATASETS[filetype.lower()] = cls_path


def get_dataset_cls(filetype: str) -> type:
    """The dataset class registered under ``filetype`` (case-insensitive)."""
    if not isinstance(filetype, str):
        raise TypeError(f"filetype: got {filetype!r}, expected a string or a DataSet subclass")
    try:
        path = _DATASETS[filetype.lower()]
    except KeyError:
        raise ValueError(
            f"filetype: got {filetype!r}, expected one of {sorted(_DATASETS)}"
        ) from None
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def filetypes() -> list[str]:
    """The registered filetypes."""
    return sorted(_DATASETS)


__all__ = ["DataSetException", "filetypes", "get_dataset_cls", "register_dataset_cls"]
