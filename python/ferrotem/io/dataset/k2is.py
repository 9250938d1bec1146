"""``'k2is'``: Gatan K2 IS raw data — eight sector files (``*.bin``) of 12-bit packed blocks and
a ``.gtg`` file with the scan's metadata — read by the Rust core.

The core synchronises the sectors (a common first and last block, incomplete frames dropped),
finds the first frame taken with the shutter open, and decodes the packed pixels of the blocks
each tile needs straight into the tile, checking every block header it touches.
"""

from __future__ import annotations

import glob
import os
import re
import warnings
from typing import Any

import numpy as np

from ferrotem import _core
from ferrotem.common.exceptions import (
    DataSetException,
    DataSetTypeError,
    InvalidDataSetParameter,
    MissingFileError,
)
from ferrotem.common.shape import Shape
from ferrotem.io.dataset._framed import check_sig_size, files_key, warn_if_cut_short
from ferrotem.io.dataset.base import DataSet, DataSetMeta, check_int, check_shape

__all__ = [
    "BLOCKS_PER_SECTOR_PER_FRAME",
    "BLOCK_SHAPE",
    "BLOCK_SIZE",
    "DATA_SIZE",
    "FIRST_FRAME_SCAN_SIZE",
    "HEADER_SIZE",
    "NUM_SECTORS",
    "SECTOR_SIZE",
    "SHUTTER_ACTIVE_MASK",
    "K2ISDataSet",
    "get_filenames",
]

#: bytes of a block's header
HEADER_SIZE = 40
#: bytes of one block, header included
BLOCK_SIZE = 0x5758
#: bytes of a block's packed pixels
DATA_SIZE = BLOCK_SIZE - HEADER_SIZE
#: pixels of a block (rows, columns)
BLOCK_SHAPE = (930, 16)
#: blocks of one frame in each sector file
BLOCKS_PER_SECTOR_PER_FRAME = 32
#: sector files of a dataset
NUM_SECTORS = 8
#: pixels of a sector (rows, columns)
SECTOR_SIZE = (2 * 930, 256)
#: frames LiberTEM looks ahead when it searches the first shutter-active frame (kept for
#: compatibility; ferrotem checks every frame)
FIRST_FRAME_SCAN_SIZE = 400
#: the flag bit of a block header set while the shutter is open
SHUTTER_ACTIVE_MASK = 0x1
#: the frame shape
NATIVE_SIG_SHAPE = (SECTOR_SIZE[0], NUM_SECTORS * SECTOR_SIZE[1])


class IncompleteBlockWarning(RuntimeWarning):
    """A sector file ends inside a block (a copy cut short?); the cut block belongs to the
    incomplete last frame, which is not read."""


def _split(path: str) -> tuple[str, str]:
    stem, ext = os.path.splitext(path)
    ext = ext.lower()
    if ext not in (".gtg", ".bin"):
        raise InvalidDataSetParameter(
            f"path: got {path!r}, expected one of the K2IS sector files (.bin) or the .gtg file"
        )
    return stem, ext


def _pattern(path: str) -> str:
    """The glob of the sector files: the ``.gtg``'s name + anything + ``.bin``, or a sector
    file's name without its trailing number + anything + ``.bin``."""
    stem, ext = _split(path)
    if ext == ".bin":
        stem = re.sub(r"[0-9]+$", "", stem)
    return glob.escape(stem) + "*.bin"


def get_filenames(path: str, disable_glob: bool = False) -> list[str]:
    """The sector files of the dataset ``path`` belongs to (unsorted), as LiberTEM finds them."""
    if disable_glob:
        return [path]
    return glob.glob(_pattern(path))


def _gtg_path(path: str) -> str:
    stem, ext = _split(path)
    if ext == ".gtg":
        return path
    return re.sub(r"[0-9]+$", "", stem) + ".gtg"


def _check_path(path: Any) -> str:
    if not isinstance(path, str | os.PathLike):
        raise DataSetTypeError(f"path: got {path!r}, expected the path of a .bin or .gtg file")
    text = os.fspath(path)
    if not isinstance(text, str):
        raise DataSetTypeError(f"path: got the bytes path {text!r}, expected a str path")
    _split(text)
    return text


class K2ISDataSet(DataSet):
    """Gatan K2 IS raw data: ``ctx.load('k2is', path=...)`` with one of the eight sector files
    (``.bin``) or the ``.gtg`` file.

    ``nav_shape`` defaults to the scan shape in the ``.gtg`` (``SI Dimensions``), or, when it has
    none (a time series), to the number of frames taken with the shutter open. ``sig_shape``
    defaults to ``(1860, 2048)`` (any shape of as many pixels is allowed). ``sync_offset``
    counts from the first complete frame of the synchronised sectors and defaults, as in
    LiberTEM, to the number of frames before the first shutter-active one; for a scan (a
    ``.gtg`` with a scan shape) the data then starts one frame before the first
    shutter-active frame, where the detector's flag comes one frame late. Frames are ``uint16``.
    """

    def __init__(
        self,
        path: Any,
        nav_shape: tuple[int, ...] | None = None,
        sig_shape: tuple[int, ...] | None = None,
        sync_offset: int | None = None,
        io_backend: Any = None,
        num_partitions: int | None = None,
    ):
        super().__init__(io_backend=io_backend)
        self._path = path
        self._nav_shape = None if nav_shape is None else check_shape("nav_shape", nav_shape)
        self._sig_shape = None if sig_shape is None else check_shape("sig_shape", sig_shape)
        self._user_sync_offset = (
            None if sync_offset is None else check_int("sync_offset", sync_offset)
        )
        if num_partitions is not None:
            num_partitions = check_int("num_partitions", num_partitions, minimum=1)
        self._num_partitions = num_partitions
        self._files: list[str] = []
        self._scan: dict[str, Any] = {}
        self._first_frame = 0
        self._sync_offset = 0
        self._is_time_series = False

    def _sector_files(self, path: str) -> list[str]:
        files = sorted(get_filenames(path))
        if len(files) != NUM_SECTORS:
            raise MissingFileError(
                f"path: expected {NUM_SECTORS} K2IS sector files matching {_pattern(path)!r} "
                f"beside {path!r}, found {len(files)}"
                + (f" ({', '.join(os.path.basename(f) for f in files)})" if files else "")
            )
        return files

    def _open(self) -> _core.DataSource:
        return _core.open_k2is(
            self._files, list(self.shape.nav), list(self.shape.sig), self._first_frame
        )

    def _source_key(self) -> Any:
        return (
            "k2is",
            files_key(self._files),
            tuple(self.shape),
            self._first_frame,
            os.environ.get("FERROTEM_IO"),
        )

    def _files_for_confinement(self) -> list[str]:
        return [self._path, *self._files, _gtg_path(self._path)]

    def initialize(self, executor: Any) -> K2ISDataSet:
        """Synchronises the sector files, reads the ``.gtg`` and checks the parameters."""
        path = _check_path(self._path)
        self._path = path
        self._files = self._sector_files(path)
        gtg = _gtg_path(path)
        if not os.path.isfile(gtg):
            raise MissingFileError(
                f"path: the K2IS .gtg file {gtg!r} is missing; it says the scan shape and "
                "whether the data is a scan or a time series"
            )
        scan = _core.k2is_scan(self._files)
        self._scan = scan
        for name, cut in scan["cut_blocks"]:
            warnings.warn(
                f"{name}: the K2IS sector file ends with a cut block ({cut} of {BLOCK_SIZE} "
                "bytes); it belongs to the incomplete last frame, which is not read",
                IncompleteBlockWarning,
                stacklevel=2,
            )
        gtg_nav = _core.k2is_gtg_scan_shape(gtg)
        self._is_time_series = gtg_nav is None
        image_count = int(scan["frames"])
        native_sync_offset = int(scan["first_active"])
        active = image_count - native_sync_offset
        nav_shape = self._nav_shape
        if nav_shape is None:
            nav_shape = (active,) if gtg_nav is None else tuple(int(v) for v in gtg_nav)
        sig_shape = self._sig_shape or NATIVE_SIG_SHAPE
        check_sig_size(sig_shape, NATIVE_SIG_SHAPE, f"{path!r}")
        sync_offset = (
            native_sync_offset if self._user_sync_offset is None else self._user_sync_offset
        )
        if not -image_count < sync_offset < image_count:
            raise InvalidDataSetParameter(
                f"sync_offset: got {sync_offset}, expected a value in ({-image_count}, "
                f"{image_count}), which is (-image_count, image_count)"
            )
        self._sync_offset = sync_offset
        # A scan's shutter flag comes one frame late (as LiberTEM assumes): its data starts one
        # frame before the frame the flag marks.
        self._first_frame = sync_offset if self._is_time_series else sync_offset - 1
        self._meta = DataSetMeta(
            shape=Shape(nav_shape + sig_shape, sig_dims=len(sig_shape)),
            raw_dtype=np.dtype("uint16"),
            image_count=image_count,
            sync_offset=sync_offset,
            metadata={"files": list(self._files), "gtg_path": gtg, "sync": dict(scan)},
        )
        self.get_source()
        warn_if_cut_short(f"the K2IS acquisition {path!r}", image_count, nav_shape)
        return self

    @classmethod
    def get_supported_extensions(cls) -> set[str]:
        """File extensions this dataset opens."""
        return {"gtg", "bin"}

    @classmethod
    def detect_params(cls, path: str, executor: Any) -> dict[str, Any] | bool:
        """The parameters for ``path`` if it belongs to a K2IS dataset (eight sector files and a
        ``.gtg``), else ``False``."""
        try:
            ds = cls(path=path).initialize(executor)
        except (DataSetException, OSError, ValueError):
            return False
        return {
            "parameters": {
                "path": path,
                "nav_shape": tuple(ds.shape.nav),
                "sig_shape": tuple(ds.shape.sig),
                "sync_offset": ds._sync_offset,
            },
            "info": {"image_count": ds.meta.image_count, "native_sig_shape": NATIVE_SIG_SHAPE},
        }

    def get_diagnostics(self) -> list[dict[str, str]]:
        """Facts about the sector sync, as LiberTEM lists them."""
        scan = self._scan
        image_count = int(scan.get("frames", 0))
        return [
            {
                "name": "first block offsets for all sectors",
                "value": ", ".join(str(b * BLOCK_SIZE) for b in scan.get("first_block", [])),
            },
            {"name": "number of frames before sync (from first sector)", "value": str(image_count)},
            {
                "name": "number of frames after sync (from first sector)",
                "value": str(image_count - int(scan.get("first_active", 0))),
            },
            {"name": "first frame id", "value": str(scan.get("first_frame_id"))},
            {"name": "first shutter-active frame id", "value": str(scan.get("active_frame_id"))},
            {"name": "last frame id", "value": str(scan.get("last_frame_id"))},
            {"name": "time series (no scan shape in the .gtg)", "value": str(self._is_time_series)},
        ]

    def __repr__(self) -> str:
        nav = tuple(self.shape.nav) if self._meta is not None else self._nav_shape
        return f"<K2ISDataSet for pattern={_pattern(os.fspath(self._path))} nav_shape={nav}>"
