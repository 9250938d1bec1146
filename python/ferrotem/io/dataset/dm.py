"""``'dm'``: Gatan Digital Micrograph files (``.dm3``, ``.dm4``), read by the Rust core.

:class:`DMDataSet` builds the right dataset from its arguments, as LiberTEM's does: ``files=``
(or a list as the first argument) gives a :class:`StackedDMDataSet`, a stack of files of 2-D
images (or 3-D stacks) whose frames follow each other; anything else a
:class:`~ferrotem.io.dataset.dm_single.SingleDMDataSet`, one file of 2-D, 3-D or 4-D data.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np

from ferrotem import _core
from ferrotem.common.exceptions import (
    DataSetException,
    DataSetTypeError,
    InvalidDataSetParameter,
)
from ferrotem.common.shape import Shape
from ferrotem.io.dataset._framed import check_sig_size, files_key, warn_if_cut_short
from ferrotem.io.dataset.base import DataSet, DataSetMeta, check_file, check_int, check_shape

__all__ = ["DMDataSet", "StackedDMDataSet"]


class DMDataSet(DataSet):
    """DigitalMicrograph files: ``ctx.load('dm', path=...)`` for one file (a
    :class:`~ferrotem.io.dataset.dm_single.SingleDMDataSet`), ``ctx.load('dm', files=[...])``
    for a stack of files (a :class:`StackedDMDataSet`)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        from ferrotem.io.dataset.dm_single import SingleDMDataSet  # (imports this module)

        subclass: type[DataSet]
        if "path" in kwargs:
            subclass = SingleDMDataSet
        elif "files" in kwargs or (args and isinstance(args[0], list | tuple)):
            subclass = StackedDMDataSet
        else:
            subclass = SingleDMDataSet
        return DataSet.__new__(subclass)

    @classmethod
    def get_supported_extensions(cls) -> set[str]:
        """File name extensions of DM files."""
        return {"dm3", "dm4"}

    @classmethod
    def detect_params(cls, path: str, executor: Any = None) -> dict[str, Any] | bool:
        """As :meth:`SingleDMDataSet.detect_params`."""
        from ferrotem.io.dataset.dm_single import SingleDMDataSet

        return SingleDMDataSet.detect_params(path, executor)


def _stack_member(path: str) -> dict[str, Any]:
    """The data image of one file of a stack (the first that is not the thumbnail), checked."""
    from ferrotem.io.dataset.dm_single import choose_image

    info = _core.dm_info(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        image = choose_image(info, path, None)
    if len(image["dims"]) > 3:
        raise DataSetException(
            f"{path!r}: image {image['index']} has dimensions {image['dims']}; a stack takes "
            "files of 2-D images or 3-D stacks"
        )
    return image


class StackedDMDataSet(DMDataSet):
    """A stack of DM3/DM4 files, their frames in the order of ``files``:
    ``ctx.load('dm', files=[...])``.

    Each file holds a 2-D image or a 3-D stack of the same frame shape and data type (a file that
    differs is an error naming it). ``nav_shape`` defaults to one axis of all frames;
    ``sig_shape`` may reshape the frame (same pixel count). ``same_offset=True`` reads the tags
    of the first file only and takes its data offset and frame count for all files (faster for
    long stacks; a file shorter than that is still an error).
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> StackedDMDataSet:
        # skip DMDataSet's dispatch (unpickling calls __new__ without arguments)
        return DataSet.__new__(cls)

    def __init__(
        self,
        files: Any = None,
        scan_size: tuple[int, ...] | None = None,
        same_offset: bool = False,
        nav_shape: tuple[int, ...] | None = None,
        sig_shape: tuple[int, ...] | None = None,
        sync_offset: int = 0,
        io_backend: Any = None,
        num_partitions: int | None = None,
    ):
        super().__init__(io_backend=io_backend)
        if not isinstance(files, list | tuple):
            raise DataSetTypeError(f"files: got {files!r}, expected a list of file paths")
        if len(files) == 0:
            raise InvalidDataSetParameter("files: got [], expected at least one file")
        if scan_size is not None:
            warnings.warn("scan_size is deprecated: use nav_shape", FutureWarning, stacklevel=2)
            if nav_shape is not None:
                raise InvalidDataSetParameter("scan_size: cannot be given with nav_shape")
            nav_shape = scan_size
        self._files = list(files)
        self._same_offset = bool(same_offset)
        self._nav_shape = None if nav_shape is None else check_shape("nav_shape", nav_shape)
        self._sig_shape = None if sig_shape is None else check_shape("sig_shape", sig_shape)
        self._sync_offset = check_int("sync_offset", sync_offset)
        if num_partitions is not None:
            num_partitions = check_int("num_partitions", num_partitions, minimum=1)
        self._num_partitions = num_partitions
        self._members: list[tuple[str, int, int]] = []
        self._dtype_str = ""

    def _open(self) -> _core.DataSource:
        return _core.open_dm_frames(
            self._members,
            self._dtype_str,
            list(self.shape.nav),
            list(self.shape.sig),
            self._sync_offset,
        )

    def _source_key(self) -> Any:
        return (
            "dm-stack",
            files_key([m[0] for m in self._members]),
            tuple(m[1:] for m in self._members),
            tuple(self.shape),
            self._sync_offset,
            os.environ.get("FERROTEM_IO"),
        )

    def initialize(self, executor: Any) -> StackedDMDataSet:
        """Reads the files' tags (the first file's only with ``same_offset``) and checks that
        they agree."""
        paths = [check_file(f"files[{i}]", p) for i, p in enumerate(self._files)]
        first = _stack_member(paths[0])
        native_sig = tuple(int(d) for d in first["dims"][:2][::-1])
        dtype = first["dtype"]
        members = []
        for i, path in enumerate(paths):
            image = first if (i == 0 or self._same_offset) else _stack_member(path)
            sig = tuple(int(d) for d in image["dims"][:2][::-1])
            if sig != native_sig or image["dtype"] != dtype:
                raise DataSetException(
                    f"files[{i}]: {path!r} holds frames of {sig} {image['dtype']}, but "
                    f"{paths[0]!r} holds {native_sig} {dtype}: a stack needs one frame shape "
                    "and data type"
                )
            depth = int(image["dims"][2]) if len(image["dims"]) == 3 else 1
            members.append((path, int(image["offset"]), depth))
        self._members = members
        self._dtype_str = dtype
        image_count = sum(m[2] for m in members)
        nav_shape = self._nav_shape or (image_count,)
        sig_shape = self._sig_shape or native_sig
        check_sig_size(sig_shape, native_sig, f"{paths[0]!r}")
        warn_if_cut_short(f"the stack of {len(paths)} DM files", image_count, nav_shape)
        self._meta = DataSetMeta(
            shape=Shape(tuple(nav_shape) + tuple(sig_shape), sig_dims=len(sig_shape)),
            raw_dtype=np.dtype(dtype),
            image_count=image_count,
            sync_offset=self._sync_offset,
            metadata={"files": [m[0] for m in members]},
        )
        self.get_source()
        return self

    @classmethod
    def detect_params(cls, path: str, executor: Any = None) -> bool:
        """Stacks are not detected from one path (as in LiberTEM)."""
        return False

    def get_diagnostics(self) -> list[dict[str, str]]:
        """Facts about the stack."""
        return [
            {"name": "Files", "value": str(len(self._members))},
            {"name": "Frames", "value": str(self.meta.image_count)},
            {"name": "Frame shape", "value": str(tuple(self.shape.sig))},
            {"name": "Data type", "value": self._dtype_str},
        ]

    @property
    def diagnostics(self) -> list[dict[str, str]]:
        """The same as :meth:`get_diagnostics`."""
        return self.get_diagnostics()

    def __repr__(self) -> str:
        return f"<StackedDMDataSet for a stack of {len(self._files)} files>"
