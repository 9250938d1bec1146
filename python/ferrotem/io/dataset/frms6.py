"""``'frms6'``: PNDetector pnCCD acquisitions: a ``.hdr`` text file and the data files
``<name>_000.frms6``, ``<name>_001.frms6``, …, the first holding the dark frames.

File headers are parsed, the detector's two halves unfolded into one frame (and binned rows
repeated) by the Rust core (``ferrotem-core``'s framed source with the pnCCD decoder). This module
reads the ``.hdr``, finds the files, averages the dark frames and reads the gain map, which
become the dataset's corrections.
"""

from __future__ import annotations

import configparser
import csv
import logging
import os
import re
import warnings
from glob import escape, glob
from typing import Any

import numpy as np

from ferrotem import _core
from ferrotem.common.exceptions import (
    CorruptFileError,
    InvalidDataSetParameter,
    MissingFileError,
)
from ferrotem.common.shape import Shape
from ferrotem.corrections import CorrectionSet
from ferrotem.io.dataset._framed import (
    IncompleteDataWarning,
    check_sig_size,
    files_key,
    warn_if_cut_short,
)
from ferrotem.io.dataset.base import DataSet, DataSetMeta, check_file, check_int, check_shape

__all__ = [
    "READOUT_MODE_PAT",
    "FRMS6DataSet",
    "GainMapCSVDialect",
    "IncompleteDataWarning",
    "file_header_dtype",
    "frame_header_dtype",
    "get_filenames",
    "read_hdr",
]

log = logging.getLogger(__name__)

#: the ``readoutmode`` value of the ``.hdr``: ``"bin: 2, windowing: 264 x 264"``
READOUT_MODE_PAT = re.compile(
    r'^"bin:\s*(?P<bin>\d+),\s*windowing:\s*(?P<win_i>\d+)\s*x\s*(?P<win_j>\d+)\s*"$'
)

#: the file header's layout as a numpy structured dtype (1024 bytes; parsed in Rust)
file_header_dtype = [
    ("header_size", "<u2"),
    ("frame_header_size", "<u2"),
    ("padding_1", (bytes, 3)),
    ("version", "<u1"),
    ("comment_1", (bytes, 80)),
    ("width", "<u2"),
    ("height", "<u2"),
    ("comment_2", (bytes, 928)),
    ("num_frames", "<u4"),
]

#: each frame header's layout (64 bytes before the frame's pixels; skipped when reading)
frame_header_dtype = [
    ("padding_1", (bytes, 4)),
    ("timestamp_s", "<u4"),
    ("timestamp_us", "<u4"),
    ("frame_number", "<u4"),
    ("padding_2", (bytes, 12)),
    ("comment", (bytes, 36)),
]

#: frames averaged per read of the dark file
_DARK_BATCH = 64


class GainMapCSVDialect(csv.excel):
    """The CSV dialect of gain maps: ``;``-separated."""

    delimiter = ";"


def _base_filename(path: str) -> str:
    stem, ext = os.path.splitext(path)
    if ext == ".hdr":
        return stem
    if ext == ".frms6":
        return re.sub(r"_[0-9]+$", "", stem)
    raise InvalidDataSetParameter(
        f"path: got {path!r}, expected the acquisition's .hdr file or one of its .frms6 files"
    )


def get_filenames(path: str, disable_glob: bool = False) -> list[str]:
    """The acquisition's ``.frms6`` files beside ``path`` (a ``.hdr`` or ``.frms6`` file), sorted
    (the dark file ``_000`` first); ``[path]`` with ``disable_glob``."""
    if disable_glob:
        return [path]
    stem, ext = os.path.splitext(path)
    if ext == ".hdr":
        pattern = f"{escape(stem)}_*.frms6"
    elif ext == ".frms6":
        pattern = f"{escape(re.sub(r'[0-9]+$', '', stem))}*.frms6"
    else:
        raise InvalidDataSetParameter(
            f"path: got {path!r}, expected the acquisition's .hdr file or one of its .frms6 files"
        )
    return sorted(glob(pattern))


def read_hdr(path: str) -> dict[str, Any]:
    """The ``[measurementInfo]`` section of an acquisition's ``.hdr`` file: keys in lower case,
    ``darkframes``, ``dwelltimemicroseconds``, ``gain``, ``signalframes`` as ints,
    ``stemimagesize`` as a tuple and ``readoutmode`` as ``{'bin', 'win_i', 'win_j'}``."""
    if not os.path.exists(path):
        raise MissingFileError(
            f"path: the acquisition's .hdr file {path!r} does not exist (it gives the binning "
            "and the scan shape)"
        )
    config = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            config.read_file(f)
    except configparser.Error as e:
        raise CorruptFileError(f"{path}: not a readable .hdr file ({e})") from None
    if "measurementInfo" not in config.sections():
        raise CorruptFileError(
            f"{path}: no [measurementInfo] section (found {config.sections()!r})"
        )
    info = config["measurementInfo"]
    parsed: dict[str, Any] = dict(info.items())
    for key in ("darkframes", "dwelltimemicroseconds", "gain", "signalframes"):
        if key in parsed:
            try:
                parsed[key] = int(parsed[key])
            except ValueError:
                raise CorruptFileError(
                    f"{path}: {key}={parsed[key]!r}, expected an integer"
                ) from None
    for key in ("stemimagesize", "readoutmode"):
        if key not in parsed:
            raise CorruptFileError(f"{path}: [measurementInfo] lacks {key}")
    try:
        parsed["stemimagesize"] = tuple(int(p) for p in parsed["stemimagesize"].split("x"))
    except ValueError:
        raise CorruptFileError(
            f"{path}: stemimagesize={parsed['stemimagesize']!r}, expected e.g. '256x256'"
        ) from None
    match = READOUT_MODE_PAT.match(parsed["readoutmode"])
    if match is None:
        raise CorruptFileError(
            f"{path}: readoutmode={parsed['readoutmode']!r}, expected e.g. "
            '"bin: 1, windowing: 264 x 264"'
        )
    parsed["readoutmode"] = {k: int(v) for k, v in match.groupdict().items()}
    if parsed["readoutmode"]["bin"] not in (1, 2, 4):
        raise CorruptFileError(
            f"{path}: the binning is {parsed['readoutmode']['bin']}, expected 1, 2 or 4"
        )
    return parsed


def _read_gain_map(path: str) -> np.ndarray:
    """A gain map from a MATLAB ``.mat`` file (variable ``GainMap``) or a ``;``-separated
    ``.csv`` file (stored transposed, as LiberTEM reads it)."""
    if not os.path.exists(path):
        raise MissingFileError(f"gain_map_path: {path!r} does not exist")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".mat":
        try:
            import scipy.io
        except ImportError:
            raise ImportError(f"gain_map_path: reading {path!r} (.mat) needs scipy") from None
        try:
            mat = scipy.io.loadmat(path)
        except Exception as e:
            raise CorruptFileError(f"{path}: not a readable .mat file ({e})") from None
        if "GainMap" not in mat:
            raise CorruptFileError(f"{path}: no variable 'GainMap' in the .mat file")
        return np.asarray(mat["GainMap"], dtype=np.float64)
    if ext == ".csv":
        with open(path, newline="") as f:
            rows = list(csv.reader(f, dialect=GainMapCSVDialect))
        try:
            values = [[float(x) for x in row if x != ""] for row in rows if row]
            arr = np.array(values, dtype=np.float64)
        except ValueError as e:
            raise CorruptFileError(f"{path}: not a gain map of numbers ({e})") from None
        if arr.ndim != 2:
            raise CorruptFileError(f"{path}: its rows have different lengths")
        return arr.T
    raise InvalidDataSetParameter(f"gain_map_path: got {path!r}, expected a .mat or .csv file")


class FRMS6DataSet(DataSet):
    """A PNDetector pnCCD acquisition: ``ctx.load('frms6', path=...)``.

    ``path``: the ``.hdr`` file or one of the ``.frms6`` files. The ``.hdr`` (required) gives
    the binning (1, 2 or 4) and the scan shape (``nav_shape``'s default); ``sig_shape`` defaults
    to the unfolded frame: ``2 * height * binning`` rows of ``width / 2`` pixels (binned rows
    repeated, the two halves of the detector one above the other).

    Corrections, applied in every run that passes no ``corrections`` of its own:
    ``enable_offset_correction`` (default True) subtracts the mean of the dark frames of
    ``_000.frms6``; ``gain_map_path`` (optional) multiplies with a gain map (``.mat`` with a
    ``GainMap`` variable, or ``;``-separated ``.csv``), of the unfolded frame's shape.
    ``dest_dtype`` is accepted and ignored, as in LiberTEM.

    An acquisition cut short (fewer frames than the scan) loads with an
    ``IncompleteDataWarning``; its missing frames read as zeros.
    """

    def __init__(
        self,
        path: Any,
        enable_offset_correction: bool = True,
        gain_map_path: str | None = None,
        dest_dtype: Any = None,
        nav_shape: tuple[int, ...] | None = None,
        sig_shape: tuple[int, ...] | None = None,
        sync_offset: int = 0,
        io_backend: Any = None,
        num_partitions: int | None = None,
    ):
        super().__init__(io_backend=io_backend)
        if dest_dtype is not None:
            warnings.warn(
                "dest_dtype is ignored (the dtype of a run is the UDFs' choice)",
                DeprecationWarning,
                stacklevel=2,
            )
        if not isinstance(enable_offset_correction, bool):
            raise InvalidDataSetParameter(
                f"enable_offset_correction: got {enable_offset_correction!r}, expected True or "
                "False"
            )
        self._path = path
        self._enable_offset_correction = enable_offset_correction
        self._gain_map_path = gain_map_path
        self._nav_shape = None if nav_shape is None else check_shape("nav_shape", nav_shape)
        self._sig_shape = None if sig_shape is None else check_shape("sig_shape", sig_shape)
        self._sync_offset = check_int("sync_offset", sync_offset)
        if num_partitions is not None:
            num_partitions = check_int("num_partitions", num_partitions, minimum=1)
        self._num_partitions = num_partitions
        self._hdr: dict[str, Any] = {}
        self._files: list[str] = []
        self._headers: list[dict[str, Any]] = []
        self._dark: np.ndarray | None = None
        self._gain: np.ndarray | None = None

    @property
    def _binning(self) -> int:
        return int(self._hdr["readoutmode"]["bin"])

    def _open(self) -> _core.DataSource:
        return _core.open_frms6(
            self._files[1:],
            self._binning,
            list(self.shape.nav),
            list(self.shape.sig),
            self._sync_offset,
        )

    def _source_key(self) -> Any:
        return (
            "frms6",
            files_key(self._files[1:]),
            self._binning,
            tuple(self.shape),
            self._sync_offset,
            os.environ.get("FERROTEM_IO"),
        )

    def _dark_frame(self, native_sig: tuple[int, int]) -> np.ndarray:
        """The mean of the dark frames of the first file, unfolded, as float32."""
        n = int(self._headers[0]["frames"])
        dark_file = self._files[0]
        if n < 1:
            raise CorruptFileError(f"{dark_file}: holds no dark frames")
        src = _core.open_frms6([dark_file], self._binning, [n], list(native_sig), 0)
        pixels = native_sig[0] * native_sig[1]
        total = np.zeros(pixels, dtype=np.float64)
        for first in range(0, n, _DARK_BATCH):
            count = min(_DARK_BATCH, n - first)
            buf = np.empty((count, pixels), dtype=np.float64)
            src.read(first, count, buf.reshape(-1).view(np.uint8), buf.dtype.str)
            total += buf.sum(axis=0)
        return (total / n).astype(np.float32).reshape(native_sig)

    def _files_for_confinement(self) -> list[str]:
        gain = [os.fspath(self._gain_map_path)] if self._gain_map_path is not None else []
        return [self._path, _base_filename(self._path) + ".hdr", *self._files, *gain]

    def initialize(self, executor: Any) -> FRMS6DataSet:
        """Reads the ``.hdr``, the file headers, the dark frames and the gain map, and checks
        the parameters against them."""
        path = check_file("path", self._path)
        self._path = path
        hdr_path = _base_filename(path) + ".hdr"
        self._hdr = read_hdr(hdr_path)
        files = get_filenames(path)
        if len(files) < 2:
            raise MissingFileError(
                f"path: found {len(files)} .frms6 file(s) for {path!r} ({files!r}); an "
                "acquisition has the dark frames in _000.frms6 and the data in _001.frms6 on"
            )
        self._files = files
        self._headers = _core.frms6_headers(files)
        first = self._headers[0]
        native_sig = (2 * int(first["height"]) * self._binning, int(first["width"]) // 2)
        frames = sum(int(h["frames"]) for h in self._headers[1:])
        nav_shape = self._nav_shape or tuple(self._hdr["stemimagesize"])
        sig_shape = self._sig_shape or native_sig
        check_sig_size(sig_shape, native_sig, f"{path!r} (unfolded)")
        self._dark = self._dark_frame(native_sig) if self._enable_offset_correction else None
        self._gain = None
        if self._gain_map_path is not None:
            gain = _read_gain_map(os.fspath(self._gain_map_path))
            if gain.shape != native_sig:
                raise CorruptFileError(
                    f"{self._gain_map_path}: the gain map is {gain.shape}, but the unfolded "
                    f"frames of {path!r} are {native_sig}"
                )
            self._gain = gain
        self._meta = DataSetMeta(
            shape=Shape(nav_shape + sig_shape, sig_dims=len(sig_shape)),
            raw_dtype=np.dtype("uint16"),
            image_count=frames,
            sync_offset=self._sync_offset,
            metadata={
                "raw_frame_size": (int(first["height"]), int(first["width"])),
                "hdr": dict(self._hdr),
                "files": list(files),
            },
        )
        if self._enable_offset_correction:
            self._meta.dtype = np.dtype("float32")
        self.get_source()
        warn_if_cut_short(f"the FRMS6 acquisition {path!r}", frames, nav_shape)
        return self

    def get_correction_data(self) -> CorrectionSet | None:
        """The mean dark frame (with ``enable_offset_correction``) and the gain map, reshaped
        to ``sig_shape``; None when neither is used."""
        if self._dark is None and self._gain is None:
            return None
        sig = tuple(self.shape.sig)
        dark = None if self._dark is None else self._dark.reshape(sig)
        gain = None if self._gain is None else self._gain.reshape(sig)
        return CorrectionSet(dark=dark, gain=gain)

    @classmethod
    def get_supported_extensions(cls) -> set[str]:
        """File name extensions of this format."""
        return {"frms6", "hdr"}

    @classmethod
    def detect_params(cls, path: str, executor: Any = None) -> dict[str, Any] | bool:
        """LiberTEM's parameter detection: the parameters that load ``path``, or False."""
        try:
            hdr = read_hdr(_base_filename(path) + ".hdr")
            header = _core.frms6_headers(get_filenames(path)[:1])[0]
        except Exception:
            return False
        binning = int(hdr["readoutmode"]["bin"])
        nav = tuple(hdr["stemimagesize"])
        sig = (2 * int(header["height"]) * binning, int(header["width"]) // 2)
        return {
            "parameters": {"path": path, "nav_shape": nav, "sig_shape": sig},
            "info": {"image_count": int(np.prod(nav)), "native_sig_shape": sig},
        }

    def get_diagnostics(self) -> list[dict[str, str]]:
        """Whether the dark frames are subtracted, and the ``.hdr``'s fields (LiberTEM's
        list), with the files and frames found."""
        return (
            [
                {
                    "name": "Offset correction available and enabled",
                    "value": str(self._dark is not None),
                },
                {"name": "Gain map included", "value": str(self._gain is not None)},
            ]
            + [{"name": str(k), "value": str(v)} for k, v in self._hdr.items()]
            + [
                {"name": "Files", "value": str(len(self._files))},
                {"name": "Frames found", "value": str(self.meta.image_count)},
            ]
        )

    def __repr__(self) -> str:
        return f"<FRMS6DataSet of {self.dtype} shape={self.shape}>"
