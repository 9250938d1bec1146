"""``'arina'``: a DECTRIS ARINA (or EIGER) acquisition, opened from its ``_master.h5``.

The master file links the data files (``entry/data/data_000001``, ``data_000002``, ... external
links to ``<name>_data_000001.h5`` and so on); their frames, concatenated in link order, are the
scan. The frames are bitshuffle+LZ4-compressed, one frame per chunk, and decoded in Rust.

The scan shape is ``nav_shape`` if given; otherwise the one the acquisition's metadata file
beside the master (``<name>.h5``, group ``STEM Metadata``, attributes ``NumPixelsY`` and
``NumPixelsX``) records, if it fits the number of frames; otherwise a square scan if the number
of frames is a square, else a line of frames.
"""

from __future__ import annotations

import math
import os
import re
from typing import Any

import numpy as np

from ferrotem.common.exceptions import (
    CorruptFileError,
    DataSetException,
    InvalidDataSetParameter,
)
from ferrotem.common.math import prod
from ferrotem.io.dataset._hdf5_layout import array_spec, check_dataset, open_h5
from ferrotem.io.dataset.base import check_file
from ferrotem.io.dataset.hdf5 import H5DataSet, H5Segment
from ferrotem.io.dataset.memory import check_data_dtype

__all__ = ["ArinaDataSet"]

#: the links to the data files in the master file
_DATA_LINK = re.compile(r"data_\d+$")


def scan_shape_from_metadata(master: str, frames: int) -> tuple[int, ...] | None:
    """``(NumPixelsY, NumPixelsX)`` from the metadata file beside ``master``, if it exists and
    fits ``frames``."""
    base = master[: -len("_master.h5")] if master.endswith("_master.h5") else None
    if base is None or not os.path.isfile(base + ".h5"):
        return None
    try:
        with open_h5(base + ".h5") as f:
            group = f.get("STEM Metadata")
            if group is None:
                return None
            shape = (int(group.attrs["NumPixelsY"]), int(group.attrs["NumPixelsX"]))
    except (DataSetException, KeyError, TypeError, ValueError):
        return None
    return shape if prod(shape) == frames and min(shape) > 0 else None


def default_scan_shape(master: str, frames: int) -> tuple[int, ...]:
    """The scan shape when none is given (see the module docs)."""
    shape = scan_shape_from_metadata(master, frames)
    if shape is not None:
        return shape
    side = math.isqrt(frames)
    return (side, side) if side * side == frames else (frames,)


class ArinaDataSet(H5DataSet):
    """A DECTRIS ARINA or EIGER acquisition: ``ctx.load('arina', path='..._master.h5')``.

    ``nav_shape`` is the scan shape (see the module docs for the default); ``sig_shape`` may
    reshape the frame (same number of pixels); ``sync_offset``, ``num_partitions``,
    ``target_size`` and ``min_num_partitions`` as for ``'hdf5'``.
    """

    def __init__(
        self,
        path: Any,
        nav_shape: tuple[int, ...] | None = None,
        sig_shape: tuple[int, ...] | None = None,
        sync_offset: int = 0,
        num_partitions: int | None = None,
        target_size: int | None = None,
        min_num_partitions: int | None = None,
        io_backend: Any = None,
    ):
        super().__init__(
            path,
            ds_path="/entry/data",
            nav_shape=nav_shape,
            sig_shape=sig_shape,
            target_size=target_size,
            min_num_partitions=min_num_partitions,
            sig_dims=2,
            io_backend=io_backend,
            sync_offset=sync_offset,
            num_partitions=num_partitions,
        )

    def initialize(self, executor: Any) -> ArinaDataSet:
        self._path = check_file("path", self._path)
        specs = []
        fallback = None
        segments = []
        with open_h5(self._path) as f:
            group = f.get("entry/data")
            names = sorted(k for k in (group or {}) if _DATA_LINK.match(k))
            if not names:
                raise CorruptFileError(
                    f"path: {self._path!r} is not a DECTRIS master file: it has no "
                    "entry/data/data_NNNNNN links to data files"
                )
            shapes = []
            dtypes = []
            for name in names:
                ds = check_dataset(f, self._path, f"entry/data/{name}")
                if ds.ndim != 3:
                    raise CorruptFileError(
                        f"{ds.file.filename}: dataset {ds.name} (linked as entry/data/{name} "
                        f"from {self._path!r}) has shape {ds.shape}, expected (frames, y, x)"
                    )
                shapes.append(tuple(int(n) for n in ds.shape))
                dtypes.append(np.dtype(ds.dtype))
                spec, reason = array_spec(ds, 2)
                fallback = fallback or reason
                specs.append(spec)
                segments.append(
                    H5Segment(os.path.realpath(ds.file.filename), ds.name, shapes[-1][:1])
                )
                self._chunks = ds.chunks
                self._compression = ds.compression
                self._filters = [] if spec is None else spec.filters
        if len({s[1:] for s in shapes}) != 1 or len(set(dtypes)) != 1:
            raise CorruptFileError(
                f"{self._path}: the data files hold frames of different shapes or dtypes: "
                f"{[(s, str(d)) for s, d in zip(shapes, dtypes, strict=True)]}"
            )
        check_data_dtype("data", dtypes[0])
        frames = sum(s[0] for s in shapes)
        sig = shapes[0][1:]
        if self._sig_shape is not None and prod(self._sig_shape) != prod(sig):
            raise InvalidDataSetParameter(
                f"sig_shape: got {self._sig_shape}, expected a frame of {prod(sig)} pixels "
                f"(the data files hold frames of {sig})"
            )
        if self._nav_shape is None:
            self._nav_shape = default_scan_shape(self._path, frames)
        self._arrays = None if fallback else [s for s in specs if s is not None]
        self._fallback = fallback
        self._segments = segments
        self._ds_path = "/entry/data"
        self._set_meta((frames, *sig), 2, dtypes[0])
        self._reader = None
        self.get_source()
        return self

    def reader_name(self) -> str:
        return f"{self._path}: data files (read through h5py)"

    def get_diagnostics(self) -> list[dict[str, Any]]:
        """dtype, chunks, compression and how the data is read, and the data files."""
        return [
            {"name": "dtype", "value": str(self.dtype)},
            {"name": "chunks", "value": str(self._chunks)},
            {"name": "compression", "value": str(self._compression)},
            {"name": "reader", "value": self.reader_description()},
            {"name": "data files", "value": str([s.path for s in self._segments])},
            {"name": "frames", "value": str(self.meta.image_count)},
        ]

    @classmethod
    def get_supported_extensions(cls) -> set[str]:
        """Master files end in ``_master.h5``."""
        return {"h5"}
