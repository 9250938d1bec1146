"""``'tvips'``: TVIPS camera series (``.tvips``, 8 and 16 bit), split over ``_000``, ``_001``, …
files, read by the Rust core's framed source.

The Rust core parses the series header (only in the ``_000`` file), counts the frames of each
file, reads the frames' scan positions and detects the scan from them; this module finds the
files of a series, checks that none is missing, and checks the parameters.
"""

from __future__ import annotations

import glob
import os
import re
from typing import Any, NamedTuple

from ferrotem import _core
from ferrotem.common.exceptions import (
    DataSetException,
    InvalidDataSetParameter,
    MissingFileError,
    TruncatedFileError,
)
from ferrotem.common.math import make_2D_square
from ferrotem.common.shape import Shape
from ferrotem.io.dataset._framed import check_sig_size, files_key, warn_if_cut_short
from ferrotem.io.dataset.base import DataSet, DataSetMeta, check_file, check_int, check_shape

__all__ = [
    "MAX_SCAN_IDX",
    "SERIES_HEADER_SIZE",
    "DetectionError",
    "SeriesHeader",
    "TVIPSDataSet",
    "detect_shape",
    "frames_in_file",
    "get_filenames",
    "get_image_count_and_sig_shape",
    "read_series_header",
]

#: bytes of the series header at the start of the ``_000`` file
SERIES_HEADER_SIZE = 256
#: frames whose scan positions the scan detection looks at, at most
MAX_SCAN_IDX = 4096


class DetectionError(DataSetException):
    """The frames' scan positions do not say where the scan starts (version 1 files, frame
    headers too short to hold positions, or no frame at ``(0, 0)`` followed by one at
    ``(0, 1)``)."""


class SeriesHeader(NamedTuple):
    """What a series header says (LiberTEM's fields)."""

    version: int
    xdim: int
    ydim: int
    xbin: int
    ybin: int
    bpp: int
    pixel_size_nm: int
    high_tension_kv: int
    mag_total: int
    frame_header_bytes: int


def _check_path(path: Any) -> str:
    checked = check_file("path", path)
    if os.path.splitext(checked)[1].lower() != ".tvips":
        raise InvalidDataSetParameter(f"path: got {checked!r}, expected a .tvips file")
    return checked


def get_filenames(path: str) -> list[str]:
    """The files of the series ``path`` belongs to, in series order.

    A series is ``<name>_000.tvips``, ``<name>_001.tvips``, …: ``path`` may be any of them. Only
    files of exactly that name and a number belong to it (LiberTEM also takes in other series
    whose names start alike). A file whose name ends in no number is a series on its own. Raises
    ``MissingFileError`` naming the missing file when a number is skipped, or when the ``_000``
    file (the one with the series header) is absent.
    """
    path = _check_path(path)
    stem, ext = os.path.splitext(path)
    number = re.search(r"[0-9]+$", stem)
    if number is None:
        return [path]
    prefix = stem[: number.start()]
    width = len(number.group())
    pattern = re.compile(re.escape(os.path.basename(prefix)) + r"([0-9]+)\.tvips", re.IGNORECASE)
    found: dict[int, str] = {}
    for candidate in glob.glob(glob.escape(prefix) + "*"):
        m = pattern.fullmatch(os.path.basename(candidate))
        if m is not None and os.path.isfile(candidate):
            found.setdefault(int(m.group(1)), candidate)
    numbers = sorted(found)
    for expected, got in enumerate(numbers):
        if got != expected:
            missing = f"{prefix}{expected:0{width}d}{ext}"
            role = (
                "the first file of the series, which holds the series header,"
                if expected == 0
                else f"file {expected} of the series (files {numbers[0]} to {numbers[-1]} exist)"
            )
            raise MissingFileError(f"path: {role} {missing!r} does not exist (series of {path!r})")
    return [found[n] for n in numbers]


def _scan(files: list[str]) -> dict[str, Any]:
    return dict(_core.tvips_scan(files))


def read_series_header(path: str) -> SeriesHeader:
    """The series header of ``path`` (the series' ``_000`` file), parsed in Rust."""
    h = _scan([_check_path(path)])
    return SeriesHeader(
        version=int(h["version"]),
        xdim=int(h["xdim"]),
        ydim=int(h["ydim"]),
        xbin=int(h["xbin"]),
        ybin=int(h["ybin"]),
        bpp=int(h["bpp"]),
        pixel_size_nm=int(h["pixel_size_nm"]),
        high_tension_kv=int(h["high_tension_kv"]),
        mag_total=int(h["mag_total"]),
        frame_header_bytes=int(h["frame_header_bytes"]),
    )


def frames_in_file(path: str, series_header: SeriesHeader) -> int:
    """Whole frame records in ``path`` (one file of a series with ``series_header``);
    ``TruncatedFileError`` if the file ends inside a record."""
    size = os.path.getsize(path)
    stem = os.path.splitext(path)[0]
    number = re.search(r"[0-9]+$", stem)
    if number is None or int(number.group()) == 0:
        size -= SERIES_HEADER_SIZE
    record = series_header.frame_header_bytes + (
        series_header.bpp // 8 * series_header.xdim * series_header.ydim
    )
    if size < 0 or size % record:
        raise TruncatedFileError(
            f"{path}: the file ends {size % record} bytes into a TVIPS frame record of "
            f"{record} bytes"
        )
    return size // record


def get_image_count_and_sig_shape(path: str) -> tuple[int, tuple[int, int]]:
    """Frames of the whole series ``path`` belongs to, and their shape ``(height, width)``."""
    h = _scan(get_filenames(path))
    return int(h["frames"]), (int(h["ydim"]), int(h["xdim"]))


def detect_shape(path: str) -> tuple[int, tuple[int, ...]]:
    """``(sync_offset, nav_shape)`` detected from the scan positions of the series' frames, as
    LiberTEM detects them; ``DetectionError`` where they do not say."""
    h = _scan(get_filenames(path))
    return _detected(h, path)


def _detected(h: dict[str, Any], path: str) -> tuple[int, tuple[int, ...]]:
    if h["detected"] is None:
        reason = (
            "version 1 files hold no scan positions"
            if h["version"] != 2
            else "no frame at scan position (0, 0) followed by one at (0, 1) among the first "
            f"{MAX_SCAN_IDX} frames (frame headers of {h['frame_header_bytes']} bytes; the "
            "positions are at bytes 68..76)"
        )
        raise DetectionError(f"{path}: cannot detect the scan: {reason}; pass nav_shape")
    sync_offset, nav_shape = h["detected"]
    return int(sync_offset), tuple(int(n) for n in nav_shape)


class TVIPSDataSet(DataSet):
    """A TVIPS series: ``ctx.load('tvips', path=...)`` with any file of the series.

    The other files of the series (``<name>_000.tvips``, ``<name>_001.tvips``, …) are found
    beside it. ``nav_shape`` and ``sync_offset`` default to what the frames' scan positions say
    (as LiberTEM detects them: the scan starts at a frame at ``(0, 0)`` followed by one at
    ``(0, 1)``); where they say nothing, to all frames as a line, ``(frames,)``, and 0.
    ``sig_shape`` defaults to the frames' ``(height, width)`` (any shape of as many pixels is
    allowed). Pixels are ``uint8`` or ``uint16``, as the series header says.
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
        self._sync_offset = None if sync_offset is None else check_int("sync_offset", sync_offset)
        if num_partitions is not None:
            num_partitions = check_int("num_partitions", num_partitions, minimum=1)
        self._num_partitions = num_partitions
        self._files: list[str] = []
        self._scan: dict[str, Any] = {}

    def _open(self) -> _core.DataSource:
        return _core.open_tvips(
            self._files,
            list(self.shape.nav),
            list(self.shape.sig),
            self.meta.sync_offset,
        )

    def _source_key(self) -> Any:
        return (
            "tvips",
            files_key(self._files),
            tuple(self.shape),
            self.meta.sync_offset,
            os.environ.get("FERROTEM_IO"),
        )

    @property
    def series_header(self) -> SeriesHeader:
        """The series header (after ``initialize``)."""
        h = self._scan
        return SeriesHeader(*(int(h[f]) for f in SeriesHeader._fields))

    def _files_for_confinement(self) -> list[str]:
        return [self._path, *self._files]

    def initialize(self, executor: Any) -> TVIPSDataSet:
        """Finds the series' files, reads their headers, detects the scan, checks the
        parameters."""
        path = _check_path(self._path)
        self._path = path
        self._files = get_filenames(path)
        h = _scan(self._files)
        self._scan = h
        frames = int(h["frames"])
        try:
            detected: tuple[int, tuple[int, ...]] | None = _detected(h, path)
        except DetectionError:
            detected = None
        sync_offset = self._sync_offset
        if sync_offset is None:
            sync_offset = detected[0] if detected is not None else 0
        nav_shape = self._nav_shape
        if nav_shape is None:
            nav_shape = detected[1] if detected is not None else (frames,)
        native_sig = (int(h["ydim"]), int(h["xdim"]))
        sig_shape = self._sig_shape or native_sig
        check_sig_size(sig_shape, native_sig, f"{path!r}")
        self._meta = DataSetMeta(
            shape=Shape(tuple(nav_shape) + tuple(sig_shape), sig_dims=len(sig_shape)),
            raw_dtype=h["dtype"],
            image_count=frames,
            sync_offset=sync_offset,
            metadata={
                "files": list(self._files),
                "frames_per_file": [int(f[2]) for f in h["files"]],
                "header": {k: v for k, v in h.items() if k != "files"},
            },
        )
        self.get_source()
        warn_if_cut_short(f"the TVIPS series {path!r}", frames, tuple(nav_shape))
        return self

    @classmethod
    def get_supported_extensions(cls) -> set[str]:
        """TVIPS files end in ``.tvips``."""
        return {"tvips"}

    @classmethod
    def detect_params(cls, path: str, executor: Any) -> dict[str, Any] | bool:
        """LiberTEM's parameter detection: the scan from the frames' positions, else a square
        (or line) of all frames; ``False`` for a path that is no ``.tvips`` file."""
        if not str(path).lower().endswith(".tvips"):
            return False
        h = _scan(get_filenames(path))
        count = int(h["frames"])
        sig_shape = (int(h["ydim"]), int(h["xdim"]))
        try:
            sync_offset, nav_shape = _detected(h, path)
        except DetectionError:
            sync_offset, nav_shape = 0, make_2D_square((count,))
        return {
            "parameters": {
                "path": path,
                "nav_shape": nav_shape,
                "sig_shape": sig_shape,
                "sync_offset": sync_offset,
            },
            "info": {"image_count": count, "native_sig_shape": sig_shape},
        }

    def get_diagnostics(self) -> list[dict[str, str]]:
        """Facts from the series header, as LiberTEM lists them, and the files."""
        h = self._scan
        return [
            {"name": "Bits per pixel", "value": str(h.get("bpp"))},
            {"name": "High tension (kV)", "value": str(h.get("high_tension_kv"))},
            {"name": "Pixel size (nm)", "value": str(h.get("pixel_size_nm"))},
            {"name": "Binning (x)", "value": str(h.get("xbin"))},
            {"name": "Binning (y)", "value": str(h.get("ybin"))},
            {"name": "File Format Version", "value": str(h.get("version"))},
            {"name": "Files", "value": str(len(self._files))},
            {"name": "Frames found", "value": str(self.meta.image_count)},
        ]

    def __repr__(self) -> str:
        shape = self.shape if self._meta is not None else None
        return f"<TVIPSDataSet shape={shape}>"
