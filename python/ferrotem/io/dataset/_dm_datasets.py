"""The classes of ``'dm'`` (Gatan Digital Micrograph ``.dm3`` / ``.dm4``), read by the Rust core
(``ferrotem-core`` ``source::dm``: our own tag-tree parser). They live in one module because
:class:`DMDataSet` builds its subclasses; ``ferrotem.io.dataset.dm`` and ``dm_single`` export
them under LiberTEM's module paths.

:class:`DMDataSet` builds the right dataset from its arguments, as LiberTEM's does: ``files=``
(or a list as the first argument) gives a :class:`StackedDMDataSet`, a stack of files of 2-D
images (or 3-D stacks) whose frames follow each other; anything else a
:class:`SingleDMDataSet`, one file of 2-D, 3-D or 4-D data.

Gatan stores 4-D STEM data (and 3-D spectrum images) transposed unless the file's tags say
``Data Order Swapped``: every scan position's value of the first detector pixel, then of the
second, and so on — the hybrid C/F order LiberTEM refuses. ferrotem reads it as frames by
default; ``force_c_order=True`` reads the bytes as C-ordered frames whatever the tags say (as
LiberTEM does).
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
from ferrotem.common.math import prod
from ferrotem.common.shape import Shape
from ferrotem.io.dataset._framed import check_sig_size, files_key, warn_if_cut_short
from ferrotem.io.dataset.base import DataSet, DataSetMeta, check_file, check_int, check_shape

__all__ = ["DMDataSet", "SingleDMDataSet", "StackedDMDataSet", "choose_image", "layout"]


class DMDataSet(DataSet):
    """DigitalMicrograph files: ``ctx.load('dm', path=...)`` for one file (a
    :class:`~ferrotem.io.dataset.dm_single.SingleDMDataSet`), ``ctx.load('dm', files=[...])``
    for a stack of files (a :class:`StackedDMDataSet`)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
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
        return SingleDMDataSet.detect_params(path, executor)


def choose_image(info: dict[str, Any], path: str, dataset_index: int | None) -> dict[str, Any]:
    """The image of ``info`` (``_core.dm_info``) to read: ``dataset_index``, or the first that is
    not the thumbnail and has two dimensions or more (with a ``RuntimeWarning`` when there are
    several, as LiberTEM). Raises naming the file when it has none or it cannot be read."""
    images: list[dict[str, Any]] = info["images"]
    if dataset_index is not None:
        if not 0 <= dataset_index < len(images):
            raise InvalidDataSetParameter(
                f"dataset_index: got {dataset_index}, expected 0 ..= {len(images) - 1}: "
                f"{path!r} has {len(images)} images"
            )
        image = images[dataset_index]
        if len(image["dims"]) < 2:
            raise InvalidDataSetParameter(
                f"dataset_index: got {dataset_index}, but image {dataset_index} of {path!r} has "
                f"dimensions {image['dims']}; ferrotem reads images of 2 to 4 dimensions"
            )
    else:
        candidates = [im for im in images if not im["thumbnail"] and len(im["dims"]) >= 2]
        if not candidates:
            shown = [(im["index"], im["dims"], im["type_name"]) for im in images]
            raise DataSetException(
                f"{path!r}: no image of 2 to 4 dimensions besides the thumbnail "
                f"(images as (index, dims, type): {shown})"
            )
        image = candidates[0]
        if len(candidates) > 1:
            warnings.warn(
                f"{path!r} holds {len(candidates)} images; reading image {image['index']} "
                f"(pass dataset_index to choose among {[im['index'] for im in candidates]})",
                RuntimeWarning,
                stacklevel=3,
            )
    if len(image["dims"]) > 4:
        raise DataSetException(
            f"{path!r}: image {image['index']} has {len(image['dims'])} dimensions "
            f"{image['dims']}, expected 2 to 4"
        )
    if image["data_error"] is not None:
        raise DataSetException(f"{path!r}: {image['data_error']}")
    return image


def layout(image: dict[str, Any], c_order: bool) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Navigation and signal shape of ``image`` read in C order or transposed (see
    ``ferrotem-core`` ``source::dm::image``)."""
    dims = [int(d) for d in image["dims"]]
    sig_dims = int(image["sig_dims"])
    nav_dims = len(dims) - sig_dims
    if c_order:
        rev = dims[::-1]
        nav, sig = tuple(rev[:nav_dims]), tuple(rev[nav_dims:])
    else:
        nav, sig = tuple(dims[:nav_dims][::-1]), tuple(dims[nav_dims:][::-1])
    return nav or (1,), sig


class SingleDMDataSet(DMDataSet):
    """One DM3/DM4 file: ``ctx.load('dm', path=...)``.

    ``dataset_index`` picks the image of the file's ``ImageList`` (0 is usually the thumbnail);
    by default the first image of two dimensions or more that is not the thumbnail.
    ``nav_shape`` may take fewer frames than the file has; ``sig_shape`` reinterprets the pixels
    of C-ordered data (as many as the file holds at most) and must keep the frame's pixel count
    for transposed data. ``force_c_order=True`` reads transposed 4-D data as if it were C-ordered
    (LiberTEM's behaviour; the frames are then not the detector's).
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> SingleDMDataSet:
        # skip DMDataSet's dispatch (unpickling calls __new__ without arguments)
        return DataSet.__new__(cls)

    def __init__(
        self,
        path: Any,
        nav_shape: tuple[int, ...] | None = None,
        sig_shape: tuple[int, ...] | None = None,
        sync_offset: int = 0,
        io_backend: Any = None,
        force_c_order: bool = False,
        dataset_index: int | None = None,
        num_partitions: int | None = None,
    ):
        super().__init__(io_backend=io_backend)
        self._path = path
        self._nav_shape = None if nav_shape is None else check_shape("nav_shape", nav_shape)
        self._sig_shape = None if sig_shape is None else check_shape("sig_shape", sig_shape)
        self._sync_offset = check_int("sync_offset", sync_offset)
        if not isinstance(force_c_order, bool | np.bool_):
            raise InvalidDataSetParameter(f"force_c_order: got {force_c_order!r}, expected a bool")
        self._force_c_order = bool(force_c_order)
        self._dataset_index = (
            None if dataset_index is None else check_int("dataset_index", dataset_index)
        )
        if num_partitions is not None:
            num_partitions = check_int("num_partitions", num_partitions, minimum=1)
        self._num_partitions = num_partitions
        self._image: dict[str, Any] = {}
        self._info: dict[str, Any] = {}
        self._transposed = False
        self._stored_frames = 0

    def _open(self) -> _core.DataSource:
        image = self._image
        nav, sig = list(self.shape.nav), list(self.shape.sig)
        if self._transposed:
            return _core.open_dm_transposed(
                self._path,
                image["offset"],
                self._stored_frames,
                image["dtype"],
                nav,
                sig,
                self._sync_offset,
            )
        files = [(self._path, image["offset"], self._stored_frames)]
        return _core.open_dm_frames(files, image["dtype"], nav, sig, self._sync_offset)

    def _source_key(self) -> Any:
        return (
            "dm",
            files_key([self._path]),
            self._image.get("index"),
            self._transposed,
            tuple(self.shape),
            self._sync_offset,
            os.environ.get("FERROTEM_IO"),
        )

    def initialize(self, executor: Any) -> SingleDMDataSet:
        """Parses the file's tags, chooses the image and checks the parameters against it."""
        self._path = check_file("path", self._path)
        self._info = _core.dm_info(self._path)
        image = choose_image(self._info, self._path, self._dataset_index)
        self._image = image
        c_order = self._force_c_order or bool(image["c_order"])
        self._transposed = not c_order
        native_nav, native_sig = layout(image, c_order)
        image_count = prod(native_nav)
        nav_shape = self._nav_shape or native_nav
        if prod(nav_shape) > image_count:
            raise InvalidDataSetParameter(
                f"nav_shape: got {nav_shape} ({prod(nav_shape)} frames), expected at most the "
                f"{image_count} frames of {self._path!r} (native nav shape {native_nav})"
            )
        sig_shape = self._sig_shape or native_sig
        elements = image_count * prod(native_sig)
        if self._transposed and prod(sig_shape) != prod(native_sig):
            raise InvalidDataSetParameter(
                f"sig_shape: got {sig_shape} ({prod(sig_shape)} pixels), expected a shape of "
                f"{prod(native_sig)} pixels: the frames of {self._path!r} are {native_sig} and "
                "stored transposed, so they cannot be cut differently"
            )
        if prod(sig_shape) * prod(nav_shape) > elements:
            raise InvalidDataSetParameter(
                f"sig_shape: got {sig_shape} with nav_shape {nav_shape}: "
                f"{prod(sig_shape) * prod(nav_shape)} pixels, but {self._path!r} holds "
                f"{elements}"
            )
        self._stored_frames = elements // prod(sig_shape)
        self._meta = DataSetMeta(
            shape=Shape(tuple(nav_shape) + tuple(sig_shape), sig_dims=len(sig_shape)),
            raw_dtype=np.dtype(image["dtype"]),
            image_count=image_count,
            sync_offset=self._sync_offset,
            metadata={
                "dm_version": self._info["version"],
                "image": dict(image),
                "transposed": self._transposed,
            },
        )
        self.get_source()
        return self

    @classmethod
    def detect_params(cls, path: str, executor: Any = None) -> dict[str, Any] | bool:
        """LiberTEM's ``detect_params``: the parameters and facts of a ``.dm3`` / ``.dm4`` file
        with an image of two signal axes, else ``False``."""
        if not str(path).lower().endswith((".dm3", ".dm4")):
            return False
        try:
            info = _core.dm_info(path)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                image = choose_image(info, str(path), None)
        except (DataSetException, OSError, ValueError):
            return False
        if image["sig_dims"] != 2:
            return False
        nav, sig = layout(image, bool(image["c_order"]))
        if len(nav) == 1:
            nav = (1, *nav)
        return {
            "parameters": {"path": path, "nav_shape": nav, "sig_shape": sig, "sync_offset": 0},
            "info": {"image_count": prod(nav), "native_sig_shape": sig},
        }

    def get_diagnostics(self) -> list[dict[str, str]]:
        """Facts from the file's tags."""
        image = self._image
        return [
            {"name": "DM version", "value": str(self._info.get("version"))},
            {"name": "Image index", "value": str(image.get("index"))},
            {"name": "Dimensions (fastest first)", "value": str(image.get("dims"))},
            {"name": "Data type", "value": f"{image.get('data_type')} ({image.get('type_name')})"},
            {"name": "Format", "value": str(image.get("format"))},
            {"name": "Stored order", "value": "transposed" if self._transposed else "C"},
        ]

    def __repr__(self) -> str:
        try:
            return f"<SingleDMDataSet {self._path} shape={tuple(self.shape)} dtype={self.dtype}>"
        except DataSetException:
            return f"<SingleDMDataSet {self._path} (not initialized)>"


def _stack_member(path: str) -> dict[str, Any]:
    """The data image of one file of a stack (the first that is not the thumbnail), checked."""
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

    def _files_for_confinement(self) -> list[str]:
        return [os.fspath(f) for f in self._files]

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

    def __repr__(self) -> str:
        return f"<StackedDMDataSet for a stack of {len(self._files)} files>"
