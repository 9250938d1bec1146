"""``'empad'``: EMPAD detector acquisitions (an ``.xml`` and the ``.raw`` it names), read by the
Rust core's framed source.

The ``.raw`` stores 130 rows of 128 ``float32`` pixels per frame; the last two rows are a
footer, skipped in place: frames are 128 x 128. The Rust core parses the ``.xml`` (the raw
file's name, the scan of mode ``acquire`` — or ``search``, where only that fits the raw file's
size — or a series ``count``) and reads the frames; this module checks the parameters.
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
    MissingFileError,
)
from ferrotem.common.math import prod
from ferrotem.common.shape import Shape
from ferrotem.io.dataset._framed import check_sig_size, files_key, warn_if_cut_short
from ferrotem.io.dataset.base import DataSet, DataSetMeta, check_file, check_int, check_shape

__all__ = [
    "EMPAD_DETECTOR_SIZE",
    "EMPAD_DETECTOR_SIZE_RAW",
    "EMPADDataSet",
    "get_params_from_xml",
]

#: the frame shape
EMPAD_DETECTOR_SIZE = (128, 128)
#: the rows stored per frame: the frame and a 2-row footer
EMPAD_DETECTOR_SIZE_RAW = (130, 128)
#: bytes of one frame record in the ``.raw``
_RECORD_BYTES = prod(EMPAD_DETECTOR_SIZE_RAW) * 4


def get_params_from_xml(
    path: str, scan_parameters_mode: str = "acquire"
) -> tuple[str, tuple[int, ...]]:
    """The raw file an EMPAD ``.xml`` names (beside the ``.xml``) and the scan shape of its
    ``scan_parameters`` of mode ``scan_parameters_mode`` (``'acquire'`` or ``'search'``), or
    ``(count,)`` for a series."""
    if scan_parameters_mode not in ("acquire", "search"):
        raise InvalidDataSetParameter(
            f"scan_parameters_mode: got {scan_parameters_mode!r}, expected 'acquire' or 'search'"
        )
    x = _core.empad_xml(check_file("path", path))
    if x["type"] == "series":
        return x["raw_path"], (int(x["count"]),)
    scan = x[scan_parameters_mode]
    if scan is None:
        raise InvalidDataSetParameter(
            f"scan_parameters_mode: {path!r} has no <scan_parameters mode={scan_parameters_mode!r}>"
        )
    return x["raw_path"], (int(scan[0]), int(scan[1]))


class EMPADDataSet(DataSet):
    """An EMPAD acquisition: ``ctx.load('empad', path=...)`` with its ``.xml`` (or its ``.raw``
    and ``nav_shape``).

    With the ``.xml``, the raw file it names is read from beside it, and ``nav_shape`` defaults
    to the scan it describes (mode ``acquire``, or ``search`` where only that fits the raw
    file's size; a series of ``count`` frames as a line); the raw file's size must fit. With the
    ``.raw``, ``nav_shape`` is needed and the file must hold whole frames. ``sig_shape``
    defaults to ``(128, 128)`` (any shape of 16384 pixels is allowed). Pixels are ``float32``.
    """

    def __init__(
        self,
        path: Any,
        scan_size: tuple[int, ...] | None = None,
        nav_shape: tuple[int, ...] | None = None,
        sig_shape: tuple[int, ...] | None = None,
        sync_offset: int = 0,
        io_backend: Any = None,
        num_partitions: int | None = None,
    ):
        super().__init__(io_backend=io_backend)
        if scan_size is not None:
            warnings.warn("scan_size is deprecated, use nav_shape", FutureWarning, stacklevel=2)
            if nav_shape is not None:
                raise InvalidDataSetParameter(
                    "scan_size: give either scan_size or nav_shape, not both"
                )
            nav_shape = scan_size
        self._path = path
        self._nav_shape = None if nav_shape is None else check_shape("nav_shape", nav_shape)
        self._sig_shape = None if sig_shape is None else check_shape("sig_shape", sig_shape)
        self._sync_offset = check_int("sync_offset", sync_offset)
        if num_partitions is not None:
            num_partitions = check_int("num_partitions", num_partitions, minimum=1)
        self._num_partitions = num_partitions
        self._path_raw: str | None = None
        #: frames the ``.xml`` says the raw file holds (None: as many as it holds)
        self._xml_frames: int | None = None
        self._xml: dict[str, Any] = {}

    def _open(self) -> _core.DataSource:
        if self._path_raw is None:
            raise DataSetException("the EMPAD dataset is not initialized")
        return _core.open_empad(
            self._path_raw,
            self._xml_frames,
            list(self.shape.nav),
            list(self.shape.sig),
            self._sync_offset,
        )

    def _source_key(self) -> Any:
        return (
            "empad",
            files_key([self._path_raw or ""]),
            self._xml_frames,
            tuple(self.shape),
            self._sync_offset,
            os.environ.get("FERROTEM_IO"),
        )

    def _from_xml(self, path: str) -> tuple[int, ...]:
        try:
            x = dict(_core.empad_scan(path))
        except FileNotFoundError as e:
            named = _core.empad_xml(path)
            raise MissingFileError(
                f"path: the EMPAD .xml {path!r} names the raw file {named['raw_filename']!r}, "
                f"but {named['raw_path']!r} does not exist ({e})"
            ) from e
        self._xml = x
        self._path_raw = str(x["raw_path"])
        self._xml_frames = int(x["frames"])
        return tuple(int(n) for n in x["nav_shape"])

    def _files_for_confinement(self) -> list[str]:
        return [self._path, *([self._path_raw] if self._path_raw else [])]

    def initialize(self, executor: Any) -> EMPADDataSet:
        """Reads the ``.xml`` (if given), and checks the parameters against the raw file."""
        path = check_file("path", self._path)
        self._path = path
        ext = os.path.splitext(path)[1].lower()
        if ext == ".xml":
            nav_from_xml = self._from_xml(path)
            nav_shape = self._nav_shape or nav_from_xml
            image_count = prod(nav_from_xml)
        elif ext == ".raw":
            if self._nav_shape is None:
                raise DataSetTypeError(
                    f"nav_shape: missing; a .raw file ({path!r}) does not say the scan shape: "
                    "pass nav_shape, or the path of the acquisition's .xml file"
                )
            nav_shape = self._nav_shape
            self._path_raw = path
            self._xml_frames = None
            image_count = os.path.getsize(path) // _RECORD_BYTES
        else:
            raise InvalidDataSetParameter(
                f"path: got {path!r}, expected an EMPAD .xml file (or its .raw file)"
            )
        sig_shape = self._sig_shape or EMPAD_DETECTOR_SIZE
        check_sig_size(sig_shape, EMPAD_DETECTOR_SIZE, f"{self._path_raw!r}")
        self._meta = DataSetMeta(
            shape=Shape(tuple(nav_shape) + tuple(sig_shape), sig_dims=len(sig_shape)),
            raw_dtype=np.dtype("float32"),
            image_count=image_count,
            sync_offset=self._sync_offset,
            metadata={"raw_path": self._path_raw, "xml": dict(self._xml)},
        )
        self.get_source()
        warn_if_cut_short(f"the EMPAD raw file {self._path_raw!r}", image_count, nav_shape)
        return self

    @classmethod
    def get_supported_extensions(cls) -> set[str]:
        """The ``.xml`` (and the ``.raw``)."""
        return {"xml", "raw"}

    @classmethod
    def detect_params(cls, path: str, executor: Any) -> dict[str, Any] | bool:
        """The parameters of an EMPAD ``.xml`` whose raw file fits it; ``False`` otherwise."""
        try:
            ds = cls(path).initialize(executor)
        except Exception:
            return False
        return {
            "parameters": {
                "path": path,
                "nav_shape": tuple(ds.shape.nav),
                "sig_shape": tuple(ds.shape.sig),
            },
            "info": {
                "image_count": ds.meta.image_count,
                "native_sig_shape": EMPAD_DETECTOR_SIZE,
            },
        }

    def get_diagnostics(self) -> list[dict[str, str]]:
        """Facts about the acquisition."""
        x = self._xml
        return [
            {"name": "Raw file", "value": str(self._path_raw)},
            {"name": "Scan from", "value": str(x.get("mode", "nav_shape"))},
            {"name": "Frames", "value": str(self.meta.image_count)},
        ]

    def __repr__(self) -> str:
        shape = self.shape if self._meta is not None else None
        return f"<EMPADDataSet of float32 shape={shape}>"
