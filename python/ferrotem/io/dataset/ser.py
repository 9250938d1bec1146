"""``'ser'``: FEI/Thermo TIA series files (``.ser``, old and new versions), with the ``.emi``
file's metadata when it is there.

The Rust core parses the header, the offset arrays and every element's header, and reads the
frames at the offsets the file lists (elements need not be evenly spaced). This module finds the
``.emi`` file, reads its metadata and checks the parameters.
"""

from __future__ import annotations

import os
import re
import warnings
import xml.etree.ElementTree as ET
from typing import Any

from ferrotem import _core
from ferrotem.common.exceptions import MissingFileError
from ferrotem.common.math import prod
from ferrotem.common.shape import Shape
from ferrotem.io.dataset._framed import (
    IncompleteDataWarning,
    check_sig_size,
    warn_if_cut_short,
)
from ferrotem.io.dataset._single_file import SingleFileDataSet
from ferrotem.io.dataset.base import DataSet, DataSetMeta, check_file

__all__ = ["IncompleteDataWarning", "SERDataSet", "emi_path_for", "read_emi_metadata"]

#: TIA's names of its element kinds
_ELEMENT_KINDS = {0x4120: "1-D (spectra)", 0x4122: "2-D (images)"}


def emi_path_for(ser_path: str) -> str:
    """The ``.emi`` file TIA writes next to ``name_1.ser`` (``name.emi``); the series number
    ``_N`` is dropped, as TIA numbers the ``.ser`` files of one ``.emi``."""
    stem = os.path.splitext(ser_path)[0]
    return re.sub(r"_\d+$", "", stem) + ".emi"


def read_emi_metadata(path: str) -> dict[str, Any]:
    """The metadata an ``.emi`` file carries: the ``<ObjectInfo>`` XML block, as a dict of the
    experimental description (``label: (value, unit)``), the microscope conditions and the raw
    XML text. An ``.emi`` without that block gives ``{}``."""
    with open(path, "rb") as f:
        data = f.read()
    start = data.find(b"<ObjectInfo>")
    end = data.find(b"</ObjectInfo>", start)
    if start < 0 or end < 0:
        return {}
    text = data[start : end + len(b"</ObjectInfo>")].decode("latin-1")
    out: dict[str, Any] = {"xml": text}
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        warnings.warn(f"{path!r}: the ObjectInfo block does not parse ({e})", stacklevel=3)
        return out
    description: dict[str, tuple[str, str]] = {}
    for item in root.iter("Data"):
        label = item.findtext("Label")
        if label:
            description[label] = (item.findtext("Value") or "", item.findtext("Unit") or "")
    out["description"] = description
    conditions = root.find("ExperimentalConditions/MicroscopeConditions")
    if conditions is not None:
        out["microscope_conditions"] = {c.tag: c.text for c in conditions}
    return out


class SERDataSet(SingleFileDataSet):
    """A TIA series file: ``ctx.load('ser', path=...)``.

    ``nav_shape`` defaults to the scan of the header's dimension arrays (slowest axis first, as
    LiberTEM reads it), ``sig_shape`` to the elements' ``(height, width)`` (or ``(length,)`` for
    spectra); any shapes of as many positions and pixels are allowed. ``emipath`` names the
    ``.emi`` file; by default ``name.emi`` next to ``name_1.ser`` is read when it is there (it
    only adds metadata: ``ds.meta.metadata['emi']``). A series with fewer valid elements than
    the scan loads with an ``IncompleteDataWarning``; the missing frames read as zeros.
    """

    filetype = "ser"
    extension = "ser"

    def __init__(
        self,
        path: Any,
        emipath: Any = None,
        nav_shape: tuple[int, ...] | None = None,
        sig_shape: tuple[int, ...] | None = None,
        sync_offset: int = 0,
        io_backend: Any = None,
        num_partitions: int | None = None,
    ):
        super().__init__(path, nav_shape, sig_shape, sync_offset, io_backend, num_partitions)
        self._emipath = emipath

    def _open(self) -> _core.DataSource:
        return _core.open_ser(
            self._path, list(self.shape.nav), list(self.shape.sig), self._sync_offset
        )

    def _read_emi(self) -> dict[str, Any]:
        if self._emipath is not None:
            emipath = check_file("emipath", self._emipath)
        else:
            emipath = emi_path_for(self._path)
            if not os.path.isfile(emipath):
                return {}
        try:
            return {"path": emipath, **read_emi_metadata(emipath)}
        except OSError as e:
            raise MissingFileError(f"emipath: {emipath!r} cannot be read ({e})") from e

    def _files_for_confinement(self) -> list[str]:
        emi = self._emipath if self._emipath is not None else emi_path_for(self._path)
        return [self._path, *([os.fspath(emi)] if os.path.lexists(emi) else [])]

    def initialize(self, executor: Any) -> SERDataSet:
        """Reads the header, offsets and element headers and checks the parameters."""
        self._path = check_file("path", self._path)
        h = _core.ser_header(self._path)
        self._header = h
        native_sig = tuple(int(n) for n in h["sig_shape"])
        nav_shape = self._nav_shape or tuple(int(n) for n in h["nav_shape"])
        if not nav_shape:
            nav_shape = (int(h["valid_elements"]),)
        sig_shape = self._sig_shape or native_sig
        check_sig_size(sig_shape, native_sig, f"{self._path!r}")
        stored = int(h["valid_elements"])
        meta = {"header": {k: v for k, v in h.items() if not k.endswith("_offsets")}}
        meta["emi"] = self._read_emi()
        self._meta = DataSetMeta(
            shape=Shape(nav_shape + sig_shape, sig_dims=len(sig_shape)),
            raw_dtype=h["dtype"],
            image_count=stored,
            sync_offset=self._sync_offset,
            metadata=meta,
        )
        self.get_source()
        warn_if_cut_short(f"the series file {self._path!r}", stored, nav_shape)
        return self

    def get_diagnostics(self) -> list[dict[str, str]]:
        """Facts from the file header."""
        h = self._header
        version = h.get("version")
        return [
            {"name": "File version", "value": f"{version:#06x}" if version else "?"},
            {"name": "Offset width (bytes)", "value": str(h.get("offset_bytes"))},
            {"name": "Elements", "value": _ELEMENT_KINDS.get(h.get("data_type_id", 0), "?")},
            {
                "name": "Valid / total elements",
                "value": f"{h.get('valid_elements')} / {h.get('total_elements')}",
            },
            {"name": "Scan (from dimension arrays)", "value": str(tuple(h.get("nav_shape", ())))},
            {"name": "Element shape", "value": str(tuple(h.get("sig_shape", ())))},
            {"name": "Pixel dtype", "value": str(h.get("dtype"))},
            {"name": ".emi metadata", "value": self.meta.metadata["emi"].get("path", "none")},
        ]

    @classmethod
    def _detected_image_count(cls, ds: DataSet) -> int:
        """The scan's positions (a series may hold fewer valid elements)."""
        return prod(tuple(ds.shape.nav))
