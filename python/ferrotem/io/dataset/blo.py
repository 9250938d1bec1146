"""``'blo'``: NanoMegas blockfiles (``.blo``, 8- and 16-bit), read by the Rust core's framed
source."""

from __future__ import annotations

import os
import warnings
from typing import Any

from ferrotem import _core
from ferrotem.common.exceptions import InvalidDataSetParameter
from ferrotem.common.math import prod
from ferrotem.common.shape import Shape
from ferrotem.io.dataset._framed import (
    IncompleteDataWarning,
    check_sig_size,
    files_key,
    warn_if_cut_short,
)
from ferrotem.io.dataset.base import DataSet, DataSetMeta, check_file, check_int, check_shape

__all__ = ["MAGIC_EXPECT", "BloDataSet", "IncompleteDataWarning"]

#: the magic numbers of blockfiles (259: with a metadata block)
MAGIC_EXPECT = (258, 259)
#: bytes of each frame's own header (a mark and the frame's index)
FRAME_HEADER_BYTES = 6


class BloDataSet(DataSet):
    """A NanoMegas blockfile: ``ctx.load('blo', path=...)``.

    ``endianess`` (LiberTEM's spelling): ``'<'`` (little-endian, the default) or ``'>'``.
    ``nav_shape`` defaults to the header's scan ``(NY, NX)``, ``sig_shape`` to its pattern size
    ``(DP_SZ, DP_SZ)`` (any shape of as many pixels is allowed). Pixels are 8-bit, or 16-bit when
    the file's metadata says ``Blo Bit Depth: 16 bits``. A file cut short (fewer frames than the
    scan) loads with an ``IncompleteDataWarning``; its missing frames read as zeros.
    """

    def __init__(
        self,
        path: Any,
        tileshape: tuple[int, ...] | None = None,
        endianess: str = "<",
        nav_shape: tuple[int, ...] | None = None,
        sig_shape: tuple[int, ...] | None = None,
        sync_offset: int = 0,
        io_backend: Any = None,
        num_partitions: int | None = None,
    ):
        super().__init__(io_backend=io_backend)
        if tileshape is not None:
            warnings.warn("tileshape is ignored", FutureWarning, stacklevel=2)
        if endianess not in ("<", ">"):
            raise InvalidDataSetParameter(
                f"endianess: got {endianess!r}, expected '<' (little-endian) or '>' (big-endian)"
            )
        self._path = path
        self._endianess = endianess
        self._nav_shape = None if nav_shape is None else check_shape("nav_shape", nav_shape)
        self._sig_shape = None if sig_shape is None else check_shape("sig_shape", sig_shape)
        self._sync_offset = check_int("sync_offset", sync_offset)
        if num_partitions is not None:
            num_partitions = check_int("num_partitions", num_partitions, minimum=1)
        self._num_partitions = num_partitions
        self._header: dict[str, Any] = {}

    def _open(self) -> _core.DataSource:
        return _core.open_blo(
            self._path,
            self._endianess,
            list(self.shape.nav),
            list(self.shape.sig),
            self._sync_offset,
        )

    def _source_key(self) -> Any:
        return (
            "blo",
            files_key([self._path]),
            self._endianess,
            tuple(self.shape),
            self._sync_offset,
            os.environ.get("FERROTEM_IO"),
        )

    @property
    def header(self) -> dict[str, Any]:
        """The file header's fields (after ``initialize``)."""
        return self._header

    def initialize(self, executor: Any) -> BloDataSet:
        """Reads the header and checks the parameters against it."""
        self._path = check_file("path", self._path)
        h = _core.blo_header(self._path, self._endianess)
        self._header = h
        native_sig = (int(h["dp_size"]), int(h["dp_size"]))
        nav_shape = self._nav_shape or (int(h["ny"]), int(h["nx"]))
        sig_shape = self._sig_shape or native_sig
        check_sig_size(sig_shape, native_sig, f"{self._path!r}")
        itemsize = 2 if h["dtype"].endswith("2") else 1
        record = FRAME_HEADER_BYTES + prod(native_sig) * itemsize
        size = os.path.getsize(self._path)
        stored = min(max(size - int(h["data_offset_2"]), 0) // record, int(h["nx"]) * int(h["ny"]))
        self._meta = DataSetMeta(
            shape=Shape(nav_shape + sig_shape, sig_dims=len(sig_shape)),
            raw_dtype=h["dtype"],
            image_count=stored,
            sync_offset=self._sync_offset,
            metadata={"header": dict(h)},
        )
        self.get_source()
        warn_if_cut_short(f"the blockfile {self._path!r}", stored, nav_shape)
        return self

    def get_diagnostics(self) -> list[dict[str, str]]:
        """Facts from the file header."""
        h = self._header
        return [
            {"name": "Scan (NY, NX)", "value": f"({h.get('ny')}, {h.get('nx')})"},
            {"name": "Pattern size (DP_SZ)", "value": str(h.get("dp_size"))},
            {"name": "Pixel dtype", "value": str(h.get("dtype"))},
            {"name": "Magic", "value": str(h.get("magic"))},
            {"name": "Frames found", "value": str(self.meta.image_count)},
        ]
