"""``'mib'``: Quantum Detectors Merlin ``.mib`` files (every counter depth, RAW mode included),
with the acquisition's ``.hdr`` file.

Headers are parsed, files ordered and checked, and frames read and decoded by the Rust core
(``ferrotem-core``'s framed source); this module finds the files, reads the scan shape from the
``.hdr`` and checks the parameters.
"""

from __future__ import annotations

import glob
import os
import re
import warnings
from typing import Any, Literal

from ferrotem import _core
from ferrotem.common.exceptions import (
    CorruptFileError,
    DataSetTypeError,
    InvalidDataSetParameter,
    MissingFileError,
)
from ferrotem.common.math import prod
from ferrotem.common.shape import Shape
from ferrotem.io.dataset._framed import (
    IncompleteDataWarning,
    check_sig_size,
    files_key,
    warn_if_cut_short,
)
from ferrotem.io.dataset.base import DataSet, DataSetMeta, check_int, check_shape

__all__ = [
    "IncompleteDataWarning",
    "MIBDataSet",
    "MIBKind",
    "get_filenames",
    "get_image_count_and_sig_shape",
    "is_valid_hdr",
    "nav_shape_from_hdr",
    "read_hdr_file",
]

#: the kind of a MIB file: ``'u'`` for plain integers, ``'r'`` for RAW mode (LiberTEM's name)
MIBKind = Literal["u", "r"]


def _check_path(path: Any) -> str:
    if not isinstance(path, str | os.PathLike):
        raise DataSetTypeError(f"path: got {path!r}, expected the path of a .mib or .hdr file")
    text = os.fspath(path)
    if not isinstance(text, str):
        raise DataSetTypeError(f"path: got the bytes path {text!r}, expected a str path")
    if os.path.isdir(text):
        raise IsADirectoryError(f"path: {text!r} is a directory, expected a .mib or .hdr file")
    ext = os.path.splitext(text)[1].lower()
    if ext not in (".mib", ".hdr"):
        raise InvalidDataSetParameter(
            f"path: got {text!r}, expected a Merlin .mib file or the acquisition's .hdr file"
        )
    if not os.path.exists(text):
        raise MissingFileError(f"path: {text!r} does not exist")
    return text


def _prefix(path: str) -> str:
    """The path without extension and without its trailing sequence number (``scan12.mib`` →
    ``scan``): what the files of one acquisition have in common."""
    stem = os.path.splitext(path)[0]
    if path.lower().endswith(".mib"):
        return re.sub(r"[0-9]+$", "", stem)
    return stem


def get_filenames(path: str, disable_glob: bool = False) -> list[str]:
    """The ``.mib`` files of the acquisition ``path`` (a ``.mib`` or ``.hdr`` file) belongs to.

    As LiberTEM assumes, the files of an acquisition share a prefix and end in a sequence
    number: ``scan.hdr`` or ``scan1.mib`` find ``scan.mib``, ``scan1.mib``, ``scan2.mib``, ...
    (but not ``scan_other.mib``). With ``disable_glob``, only ``path`` (for a ``.hdr``: the
    ``.mib`` of the same name).
    """
    is_hdr = path.lower().endswith(".hdr")
    if disable_glob:
        if not is_hdr:
            return [path]
        candidates = [os.path.splitext(path)[0] + ext for ext in (".mib", ".MIB")]
        return [c for c in candidates if os.path.isfile(c)][:1]
    prefix = _prefix(path)
    base = os.path.basename(prefix)
    # A .hdr names the acquisition; its files may add a separator before their number.
    separator = "[_-]?" if is_hdr else ""
    pattern = re.compile(re.escape(base) + separator + r"[0-9]*\.mib", re.IGNORECASE)
    found = [
        p
        for p in glob.glob(glob.escape(prefix) + "*")
        if pattern.fullmatch(os.path.basename(p)) and os.path.isfile(p)
    ]
    if not is_hdr and os.path.abspath(path) not in {os.path.abspath(p) for p in found}:
        found.append(path)
    return sorted(found)


def _find_hdr(path: str) -> str | None:
    """The ``.hdr`` of the acquisition a ``.mib`` file belongs to, if there is one beside it."""
    stem = os.path.splitext(path)[0]
    prefix = _prefix(path)
    for base in dict.fromkeys([stem, prefix, prefix.rstrip("_-")]):
        for ext in (".hdr", ".HDR"):
            if base and os.path.isfile(base + ext):
                return base + ext
    return None


def read_hdr_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """The ``key: value`` lines of a Merlin ``.hdr`` file (parsed in Rust)."""
    return dict(_core.mib_read_hdr(path))


def is_valid_hdr(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` starts like a Merlin ``.hdr`` file."""
    with open(path, "rb") as f:
        return f.read(3) == b"HDR"


def get_image_count_and_sig_shape(
    path: str, disable_glob: bool = False
) -> tuple[int, tuple[int, int]]:
    """Frames in the acquisition ``path`` belongs to, and their shape (as LiberTEM's function of
    this name)."""
    scan = _core.mib_scan(get_filenames(path, disable_glob))
    height, width = scan["sig_shape"]
    return int(scan["frames"]), (int(height), int(width))


def nav_shape_from_hdr(hdr: dict[str, str], path: str = ".hdr") -> tuple[int, ...]:
    """The scan shape a ``.hdr`` describes: ``(ScanY, ScanX)`` if it has them, else
    ``(frames // frames_per_trigger, frames_per_trigger)`` (one trigger per scan row), as LiberTEM
    reads it."""

    def number(key: str) -> int:
        if key not in hdr:
            raise CorruptFileError(f"{path}: the .hdr file has no {key!r} line")
        text = hdr[key].strip()
        if not text.isdigit():
            raise CorruptFileError(f"{path}: {key!r} is {text!r}, expected a number")
        return int(text)

    if "ScanX" in hdr and "ScanY" in hdr:
        shape = (number("ScanY"), number("ScanX"))
    else:
        frames = number("Frames in Acquisition (Number)")
        per_trigger = number("Frames per Trigger (Number)")
        if per_trigger == 0 or frames < per_trigger:
            raise CorruptFileError(
                f"{path}: {frames} frames in the acquisition with {per_trigger} per trigger "
                "describe no scan; pass nav_shape"
            )
        shape = (frames // per_trigger, per_trigger)
    if 0 in shape:
        raise CorruptFileError(f"{path}: the scan is {shape}; pass nav_shape")
    return shape


def _layout_text(layout: str) -> str:
    """``'2x2'`` → ``'(2, 2)'`` (LiberTEM's diagnostics); other layouts as written."""
    m = re.fullmatch(r"(\d+)x(\d+)G?", layout)
    return f"({m.group(1)}, {m.group(2)})" if m else layout


class MIBDataSet(DataSet):
    """Merlin ``.mib`` files: ``ctx.load('mib', path=...)`` with the ``.hdr`` file or one of the
    ``.mib`` files.

    ``path``: a ``.mib`` file or the acquisition's ``.hdr``; the acquisition's other ``.mib``
    files are found beside it (same prefix, a sequence number at the end) and ordered by the
    sequence numbers in their headers, unless ``disable_glob=True``. ``nav_shape`` defaults to
    what the ``.hdr`` says (found beside a ``.mib`` path too); ``sig_shape`` to the frame shape in
    the headers (any shape of as many pixels is allowed); ``sync_offset`` as for every dataset.

    Every counter depth loads: 1 and 6 bit as ``uint8``, 12 bit as ``>u2``, 24 bit as ``>u4``,
    and RAW mode (packed as the chips deliver it; single chip and 2x2 quad) decoded to
    ``uint8``/``uint16``/``uint32``. An acquisition cut short (fewer frames than the scan) loads
    with an ``IncompleteDataWarning``; its missing frames read as zeros.
    """

    def __init__(
        self,
        path: Any,
        tileshape: tuple[int, ...] | None = None,
        scan_size: tuple[int, ...] | None = None,
        disable_glob: bool = False,
        nav_shape: tuple[int, ...] | None = None,
        sig_shape: tuple[int, ...] | None = None,
        sync_offset: int = 0,
        io_backend: Any = None,
        num_partitions: int | None = None,
    ):
        super().__init__(io_backend=io_backend)
        if tileshape is not None:
            warnings.warn("tileshape is ignored", FutureWarning, stacklevel=2)
        if scan_size is not None:
            warnings.warn("scan_size is deprecated, use nav_shape", FutureWarning, stacklevel=2)
            if nav_shape is not None:
                raise InvalidDataSetParameter(
                    "scan_size: give either scan_size or nav_shape, not both"
                )
            nav_shape = scan_size
        if not isinstance(disable_glob, bool):
            raise DataSetTypeError(f"disable_glob: got {disable_glob!r}, expected True or False")
        self._path = path
        self._disable_glob = disable_glob
        self._nav_shape = None if nav_shape is None else check_shape("nav_shape", nav_shape)
        self._sig_shape = None if sig_shape is None else check_shape("sig_shape", sig_shape)
        self._sync_offset = check_int("sync_offset", sync_offset)
        if num_partitions is not None:
            num_partitions = check_int("num_partitions", num_partitions, minimum=1)
        self._num_partitions = num_partitions
        self._files: list[str] = []
        self._scan: dict[str, Any] = {}
        self._hdr_path: str | None = None
        self._cut_short = False

    def _filenames(self, path: str) -> list[str]:
        files = get_filenames(path, self._disable_glob)
        if not files:
            prefix = os.path.splitext(path)[0]
            raise MissingFileError(
                f"path: no .mib files found for {path!r} (looked for "
                f"{prefix!r} + a sequence number + '.mib'); the .hdr file describes the "
                "acquisition, the frames are in the .mib files"
            )
        return files

    def _open(self) -> _core.DataSource:
        return _core.open_mib(
            self._files,
            list(self.shape.nav),
            list(self.shape.sig),
            self._sync_offset,
        )

    def _source_key(self) -> Any:
        return (
            "mib",
            files_key(self._files),
            tuple(self.shape),
            self._sync_offset,
            os.environ.get("FERROTEM_IO"),
        )

    def _files_for_confinement(self) -> list[str]:
        return [self._path, *self._files, *([self._hdr_path] if self._hdr_path else [])]

    def initialize(self, executor: Any) -> MIBDataSet:
        """Reads the headers and the ``.hdr``, and checks the parameters against them."""
        path = _check_path(self._path)
        self._path = path
        files = self._filenames(path)
        scan = _core.mib_scan(files)
        self._files = [f[0] for f in scan["files"]]
        self._scan = scan
        native_sig: tuple[int, ...] = tuple(scan["sig_shape"])
        if path.lower().endswith(".hdr"):
            self._hdr_path = path
        else:
            self._hdr_path = _find_hdr(path)
        nav_shape = self._nav_shape
        if nav_shape is None:
            if self._hdr_path is None:
                raise DataSetTypeError(
                    f"nav_shape: missing, and no .hdr file beside {path!r} says the scan shape; "
                    "pass nav_shape (e.g. (64, 64)) or the path of the .hdr file"
                )
            nav_shape = nav_shape_from_hdr(read_hdr_file(self._hdr_path), self._hdr_path)
        sig_shape = self._sig_shape
        if sig_shape is None:
            sig_shape = native_sig
        else:
            check_sig_size(sig_shape, native_sig, f"{path!r}")
        frames = int(scan["frames"])
        shape = Shape(nav_shape + sig_shape, sig_dims=len(sig_shape))
        self._meta = DataSetMeta(
            shape=shape,
            raw_dtype=scan["dtype"],
            image_count=frames,
            sync_offset=self._sync_offset,
            metadata={
                "files": list(self._files),
                "frames_per_file": [f[1] for f in scan["files"]],
                "hdr_path": self._hdr_path,
                "header": {k: v for k, v in scan.items() if k not in ("files", "fields")},
            },
        )
        self.get_source()
        self._cut_short = warn_if_cut_short(f"the MIB acquisition {path!r}", frames, nav_shape)
        return self

    def get_diagnostics(self) -> list[dict[str, str]]:
        """Facts about the acquisition, as LiberTEM's ``get_diagnostics`` lists them (bits per
        pixel, data kind ``'u'`` or ``'r'`` for RAW, layout), and more."""
        scan = self._scan
        depth = scan.get("counter_depth")
        found = int(scan.get("frames", 0))
        out = [
            {"name": "Bits per pixel", "value": "unknown" if depth is None else str(depth)},
            {"name": "Data kind", "value": str(scan.get("kind"))},
            {"name": "Layout", "value": _layout_text(str(scan.get("layout")))},
            {"name": "Pixel type", "value": str(scan.get("pixel_type"))},
            {"name": "Files", "value": str(len(self._files))},
            {"name": "Frames found", "value": str(found)},
        ]
        needed = prod(self.shape.nav)
        if found < needed:
            out.append({"name": "Frames missing (read as zeros)", "value": str(needed - found)})
        return out
