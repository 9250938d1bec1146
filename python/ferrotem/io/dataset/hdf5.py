"""``'hdf5'``: a dataset of an HDF5 file (EMD, py4DSTEM, NeXus, HyperSpy ``.hspy``, ...).

The layout comes from h5py; the Rust core then reads contiguous datasets like raw files and
reads and decodes chunked ones itself, in parallel (deflate, shuffle, LZ4, bitshuffle+LZ4).
Datasets it cannot read itself — other filters, virtual datasets — are read through h5py (with
``hdf5plugin``'s filters) and fed to the engine as a Python reader: slower, never an error.
"""

from __future__ import annotations

import math
import os
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from ferrotem import _core
from ferrotem.common.exceptions import DataSetException, InvalidDataSetParameter
from ferrotem.common.math import prod
from ferrotem.common.shape import Shape
from ferrotem.io.dataset._hdf5_layout import (
    ArraySpec,
    aligned_bounds,
    array_spec,
    check_dataset,
    describe_filters,
    find_datasets,
    import_h5py,
    open_h5,
)
from ferrotem.io.dataset.base import (
    DataSetMeta,
    Partition,
    check_file,
    check_int,
    check_shape,
    file_identity,
)
from ferrotem.io.dataset.memory import check_data_dtype
from ferrotem.io.dataset.reader import FrameReaderDataSet

__all__ = ["H5DataSet", "H5Segment"]


class H5Segment:
    """One HDF5 dataset of frames as the h5py fallback reads it: ``frames`` stored frames of
    ``ds_path`` in ``path`` whose first ``len(nav)`` axes are the frames' axes."""

    def __init__(self, path: str, ds_path: str, nav: tuple[int, ...]):
        self.path = path
        self.ds_path = ds_path
        self.nav = nav
        self.frames = prod(nav)


class _H5FrameReader:
    """Reads runs of stored frames through h5py, from a series of datasets; each process opens
    the files once."""

    def __init__(self, segments: list[H5Segment]):
        self.segments = segments
        self._files: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"segments": self.segments}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.segments = state["segments"]
        self._files = {}
        self._lock = threading.Lock()

    def _dataset(self, segment: H5Segment) -> Any:
        with self._lock:
            f = self._files.get(segment.path)
            if f is None:
                f = import_h5py().File(segment.path, "r")
                self._files[segment.path] = f
        return f[segment.ds_path]

    def read(self, start: int, stop: int) -> np.ndarray:
        """Stored frames ``start .. stop`` of the series, flattened to ``(n, pixels)``."""
        parts = []
        first = 0
        for segment in self.segments:
            lo, hi = max(start, first), min(stop, first + segment.frames)
            if lo < hi:
                ds = self._dataset(segment)
                parts.extend(_read_flat(ds, segment.nav, lo - first, hi - first))
            first += segment.frames
        return np.concatenate(parts) if len(parts) > 1 else parts[0]


def _read_flat(ds: Any, nav: tuple[int, ...], start: int, stop: int) -> list[np.ndarray]:
    """Frames ``start .. stop`` (flat over the first ``len(nav)`` axes of ``ds``), in order, as
    a few box reads flattened to ``(n, pixels)``."""
    out = []
    at = start
    strides = [prod(nav[d + 1 :]) for d in range(len(nav))]
    while at < stop:
        index = [(at // s) % n for s, n in zip(strides, nav, strict=True)]
        free = max((d for d in range(len(nav)) if index[d] != 0), default=0)
        axis = next(d for d in range(free, len(nav)) if strides[d] <= stop - at)
        slabs = min((stop - at) // strides[axis], nav[axis] - index[axis])
        key = tuple(
            slice(index[d], index[d] + 1)
            if d < axis
            else slice(index[d], index[d] + slabs)
            if d == axis
            else slice(None)
            for d in range(len(nav))
        )
        block = np.asarray(ds[key])
        out.append(block.reshape(slabs * strides[axis], -1))
        at += slabs * strides[axis]
    return out


class H5DataSet(FrameReaderDataSet):
    """A dataset of an HDF5 file: ``ctx.load('hdf5', path=..., ds_path=...)``.

    ``ds_path`` defaults to the largest dataset with at least three axes. The last ``sig_dims``
    axes are one frame; ``sig_shape`` may give the frame another shape with as many pixels
    (the stored frame is then the trailing axes holding that many pixels), ``nav_shape`` any
    scan shape (frames past the stored ones read as zeros). ``target_size`` (bytes per
    partition) and ``min_num_partitions`` size the partitions, or ``num_partitions`` sets
    their number; partitions follow the chunks of compressed data, so that no chunk is
    decoded twice.
    """

    def __init__(
        self,
        path: Any,
        ds_path: str | None = None,
        tileshape: tuple[int, ...] | None = None,
        nav_shape: tuple[int, ...] | None = None,
        sig_shape: tuple[int, ...] | None = None,
        target_size: int | None = None,
        min_num_partitions: int | None = None,
        sig_dims: int = 2,
        io_backend: Any = None,
        sync_offset: int = 0,
        num_partitions: int | None = None,
    ):
        super().__init__(io_backend=io_backend)
        if tileshape is not None:
            warnings.warn(
                "tileshape is ignored (ferrotem chooses tiles itself)", FutureWarning, stacklevel=2
            )
        if ds_path is not None and not isinstance(ds_path, str):
            raise InvalidDataSetParameter(f"ds_path: got {ds_path!r}, expected a str")
        self._path = path
        self._ds_path = ds_path
        self._nav_shape = None if nav_shape is None else check_shape("nav_shape", nav_shape)
        self._sig_shape = None if sig_shape is None else check_shape("sig_shape", sig_shape)
        self._sig_dims = check_int("sig_dims", sig_dims, minimum=1)
        self._sync_offset = check_int("sync_offset", sync_offset)
        self._target_size = (
            None if target_size is None else check_int("target_size", target_size, minimum=1)
        )
        self._min_num_partitions = (
            None
            if min_num_partitions is None
            else check_int("min_num_partitions", min_num_partitions, minimum=1)
        )
        if num_partitions is not None:
            num_partitions = check_int("num_partitions", num_partitions, minimum=1)
        self._num_partitions = num_partitions
        #: what the core reads (None: read through h5py, see `_fallback`)
        self._arrays: list[ArraySpec] | None = None
        self._fallback: str | None = None
        self._segments: list[H5Segment] = []
        self._reader: _H5FrameReader | None = None
        self._chunks: tuple[int, ...] | None = None
        self._compression: str | None = None
        self._filters: list[tuple[int, tuple[int, ...]]] = []

    # -- LiberTEM attributes ----------------------------------------------------------------
    @property
    def path(self) -> Any:
        """The file."""
        return self._path

    @property
    def ds_path(self) -> str | None:
        """The HDF5 dataset (the default one once initialised)."""
        return self._ds_path

    @property
    def sig_dims(self) -> int:
        """Number of signal axes of the dataset."""
        return len(self.shape.sig) if self._meta is not None else self._sig_dims

    @property
    def target_size(self) -> int | None:
        """Bytes per partition asked for, or None."""
        return self._target_size

    @property
    def min_num_partitions(self) -> int | None:
        """Fewest partitions asked for, or None."""
        return self._min_num_partitions

    # -- opening ------------------------------------------------------------------------------
    def _files_for_confinement(self) -> list[str]:
        # the files the data is read from, external links followed (virtual sources are
        # checked by the GUI before loading)
        return [self._path, *self._files()]

    def initialize(self, executor: Any) -> H5DataSet:
        self._path = check_file("path", self._path)
        with open_h5(self._path) as f:
            if self._ds_path is None:
                datasets = find_datasets(f)
                if not datasets:
                    raise DataSetException(
                        f"path: {self._path!r} holds no dataset with 3 or more axes; give "
                        "ds_path= to choose one"
                    )
                self._ds_path = max(datasets, key=lambda d: prod(d.shape)).name
            ds = check_dataset(f, self._path, self._ds_path)
            self._describe(ds)
        self._reader = None
        self.get_source()
        return self

    def _stored_sig_dims(self, stored: tuple[int, ...]) -> int:
        """How many trailing stored axes form a frame."""
        if self._sig_shape is None:
            return self._sig_dims
        want = prod(self._sig_shape)
        for k in range(1, len(stored)):
            if prod(stored[-k:]) == want:
                return k
        raise InvalidDataSetParameter(
            f"sig_shape: got {self._sig_shape}, expected a frame of as many pixels as trailing "
            f"axes of {self._ds_path!r} hold: "
            f"{[prod(stored[-k:]) for k in range(1, len(stored))]} (shape {stored})"
        )

    def _describe(self, ds: Any) -> None:
        stored = tuple(int(n) for n in ds.shape)
        dtype = np.dtype(ds.dtype)
        check_data_dtype(f"dataset {self._ds_path!r}", dtype)
        k = self._stored_sig_dims(stored)
        if len(stored) <= k:
            raise InvalidDataSetParameter(
                f"ds_path: {self._ds_path!r} in {self._path!r} has shape {stored}, which has "
                f"no navigation axis besides sig_dims={k} signal axes (2-D datasets are not "
                "supported); datasets with 3 or more axes: "
                f"{[d.name for d in find_datasets(ds.file)]}"
            )
        spec, reason = array_spec(ds, k)
        self._chunks = ds.chunks
        self._compression = ds.compression
        self._filters = [] if spec is None else spec.filters
        self._arrays = None if spec is None else [spec]
        self._fallback = reason
        self._segments = [
            H5Segment(os.path.realpath(ds.file.filename), ds.name, stored[: len(stored) - k])
        ]
        self._set_meta(stored, k, dtype)

    def _set_meta(self, stored: tuple[int, ...], k: int, dtype: np.dtype) -> None:
        sig = self._sig_shape if self._sig_shape is not None else stored[len(stored) - k :]
        nav = self._nav_shape if self._nav_shape is not None else stored[: len(stored) - k]
        image_count = prod(stored[: len(stored) - k])
        if not -image_count < self._sync_offset < image_count:
            raise InvalidDataSetParameter(
                f"sync_offset: got {self._sync_offset}, expected a value in "
                f"({-image_count}, {image_count}) for {image_count} stored frames"
            )
        self._meta = DataSetMeta(
            shape=Shape(tuple(nav) + tuple(sig), sig_dims=len(sig)),
            raw_dtype=dtype,
            image_count=image_count,
            sync_offset=self._sync_offset,
            metadata={
                "ds_raw_shape": Shape(stored, sig_dims=k),
                "ds_path": self._ds_path,
                "chunks": self._chunks,
                "compression": self._compression,
                "filters": describe_filters(self._filters),
                "reader": self.reader_description(),
            },
        )

    def reader_description(self) -> str:
        """How the data is read: by ferrotem, or through h5py and why."""
        if self._fallback is None:
            return "ferrotem (chunks read and decoded in Rust)"
        return f"h5py with hdf5plugin ({self._fallback} is not read by ferrotem itself)"

    def _open(self) -> _core.DataSource:
        if self._arrays is None:
            if self._reader is None:
                self._reader = _H5FrameReader(self._segments)
            return super()._open()
        meta = self.meta
        return _core.DataSource.chunked(
            [a.to_core() for a in self._arrays],
            meta.raw_dtype.str,
            list(meta.shape.nav),
            list(meta.shape.sig),
            self._sync_offset,
        )

    def read_frames(self, start: int, stop: int) -> np.ndarray:
        if self._reader is None:
            self._reader = _H5FrameReader(self._segments)
        return self._reader.read(start, stop)

    def reader_name(self) -> str:
        return f"{self._path}: dataset {self._ds_path} (read through h5py)"

    def _files(self) -> list[str]:
        if self._arrays is not None:
            return sorted({a.file for a in self._arrays})
        return sorted({s.path for s in self._segments})

    def _source_key(self) -> Any:
        if self._arrays is None:
            return None
        files = self._files()
        return (
            type(self).__name__,
            tuple(files),
            tuple(file_identity(p) for p in files),
            self._ds_path,
            tuple(self.meta.shape),
            self._sync_offset,
            os.environ.get("FERROTEM_IO"),
        )

    def check_valid(self) -> bool:
        self.get_source()
        return True

    # -- partitions ---------------------------------------------------------------------------
    def get_num_partitions(self) -> int:
        if self._num_partitions is None and self._target_size is not None:
            nbytes = prod(tuple(self.shape)) * self.dtype.itemsize
            n = max(1, math.ceil(nbytes / self._target_size))
            n = max(n, self._min_num_partitions or 1)
            return min(n, prod(tuple(self.shape.nav)))
        n = super().get_num_partitions()
        return max(n, min(self._min_num_partitions or 1, prod(tuple(self.shape.nav))))

    def get_partitions(self) -> Iterator[Partition]:
        n_frames = prod(tuple(self.shape.nav))
        bounds = [
            (int(a), int(b))
            for a, b in _core.split_frames(n_frames, self.get_num_partitions(), self._row_len())
        ]
        if self._arrays is not None:
            bounds = aligned_bounds(bounds, self._arrays, self._sync_offset, n_frames)
        for index, (start, stop) in enumerate(bounds):
            yield Partition(self, index, start, stop)

    # -- diagnostics --------------------------------------------------------------------------
    def get_diagnostics(self) -> list[dict[str, Any]]:
        """Facts about the dataset, as LiberTEM lists them (dtype, chunks, compression, the
        file's datasets), and how ferrotem reads it."""
        with open_h5(self._path) as f:
            datasets = sorted(find_datasets(f), key=lambda d: prod(d.shape), reverse=True)
        return [
            {"name": "dtype", "value": str(self.dtype)},
            {"name": "chunks", "value": str(self._chunks)},
            {"name": "compression", "value": str(self._compression)},
            {"name": "filters", "value": describe_filters(self._filters)},
            {"name": "reader", "value": self.reader_description()},
            {
                "name": "datasets",
                "value": [
                    {
                        "name": d.name,
                        "value": [
                            {"name": "Size", "value": str(prod(d.shape))},
                            {"name": "Shape", "value": str(d.shape)},
                            {"name": "Datatype", "value": str(d.dtype)},
                        ],
                    }
                    for d in datasets
                ],
            },
        ]

    @classmethod
    def get_supported_extensions(cls) -> set[str]:
        """File name extensions of HDF5 files (as LiberTEM lists them)."""
        return {"h5", "hdf5", "hspy", "nxs", "emd"}
