"""What the HDF5 readers learn from h5py: where a dataset's bytes lie (contiguous, or a table
of chunks with their filters), or why ferrotem must read it through h5py instead.

h5py is the reference libhdf5, so nothing here parses HDF5 itself: the layout, the chunk table
(``DatasetID.chunk_iter``), the filter pipeline (``get_filter``) and external links all come from
it. The Rust core then reads and decodes the chunks on its own.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ferrotem import _core
from ferrotem.common.exceptions import (
    CorruptFileError,
    DataSetException,
    InvalidDataSetParameter,
    MissingFileError,
    TruncatedFileError,
)
from ferrotem.common.math import prod

if TYPE_CHECKING:
    import h5py

__all__ = [
    "ArraySpec",
    "DatasetInfo",
    "aligned_bounds",
    "array_spec",
    "find_datasets",
    "import_h5py",
    "open_h5",
]

#: HDF5 filter names for messages and diagnostics
FILTER_NAMES = {
    1: "gzip",
    2: "shuffle",
    3: "fletcher32",
    4: "szip",
    5: "nbit",
    6: "scaleoffset",
    32000: "lzf",
    32001: "blosc",
    32004: "lz4",
    32008: "bitshuffle",
    32015: "zstd",
    32026: "blosc2",
}


def import_h5py() -> Any:
    """h5py, with hdf5plugin's filters registered (for the reads that go through HDF5)."""
    import h5py

    try:
        import hdf5plugin  # noqa: F401  (registers the filters with libhdf5)
    except ImportError:  # pragma: no cover - hdf5plugin is a dependency
        pass
    return h5py


def open_h5(path: str) -> h5py.File:
    """Opens ``path`` read-only; a file HDF5 cannot open raises ``CorruptFileError`` naming it."""
    h5py = import_h5py()
    try:
        return h5py.File(path, "r")
    except FileNotFoundError:
        raise MissingFileError(f"path: {path!r} does not exist") from None
    except OSError as e:
        if "truncated" in str(e):
            raise TruncatedFileError(f"path: {path!r} is a truncated HDF5 file: {e}") from None
        raise CorruptFileError(
            f"path: {path!r} cannot be opened as an HDF5 file (not HDF5, or damaged): {e}"
        ) from None


@dataclass(frozen=True)
class DatasetInfo:
    """An HDF5 dataset found in a file."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    chunks: tuple[int, ...] | None
    compression: str | None


def find_datasets(f: h5py.File, min_ndim: int = 3) -> list[DatasetInfo]:
    """The datasets of ``f`` with at least ``min_ndim`` axes (external links are not followed)."""
    h5py = import_h5py()
    found: list[DatasetInfo] = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset) and obj.ndim >= min_ndim:
            found.append(DatasetInfo("/" + name, obj.shape, obj.dtype, obj.chunks, obj.compression))

    f.visititems(visit)
    return found


@dataclass
class ArraySpec:
    """One stored array as the Rust core reads it: a contiguous block at ``offset`` of
    ``file`` (``chunks`` is None), or chunks listed in the table arrays."""

    file: str
    name: str
    shape: tuple[int, ...]
    sig_dims: int
    dtype: np.dtype
    chunks: tuple[int, ...] | None
    filters: list[tuple[int, tuple[int, ...]]]
    fill: bytes
    offset: int | None = None
    origins: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.uint64))
    offsets: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    sizes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    masks: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint32))

    @property
    def frames(self) -> int:
        """Number of stored frames."""
        return prod(self.shape[: len(self.shape) - self.sig_dims])

    def to_core(self) -> _core.ChunkedArray:
        """The array for ``_core.DataSource.chunked``."""
        itemsize = self.dtype.itemsize
        if self.chunks is None:
            return _core.ChunkedArray.contiguous(
                self.file,
                self.name,
                list(self.shape),
                self.sig_dims,
                self.offset,
                itemsize,
                self.fill,
            )
        array = _core.ChunkedArray(
            self.file,
            self.name,
            list(self.shape),
            self.sig_dims,
            list(self.chunks),
            [(fid, list(cd)) for fid, cd in self.filters],
            self.fill,
            itemsize,
        )
        array.add_chunks(self.origins, self.offsets, self.sizes, self.masks)
        return array

    def decoded_chunks(self) -> bool:
        """True if reading this array decodes chunks (so partitions should follow them)."""
        return self.chunks is not None and bool(self.filters)


def _filters(dcpl: Any) -> list[tuple[int, tuple[int, ...]]]:
    out = []
    for i in range(dcpl.get_nfilters()):
        fid, _flags, cd_values, _name = dcpl.get_filter(i)
        out.append((int(fid), tuple(int(v) for v in cd_values)))
    return out


def _chunk_table(ds: h5py.Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    dsid = ds.id
    n = dsid.get_num_chunks()
    origins = np.zeros((n, ds.ndim), np.uint64)
    offsets = np.zeros(n, np.uint64)
    sizes = np.zeros(n, np.uint64)
    masks = np.zeros(n, np.uint32)
    count = 0

    def record(info: Any) -> None:
        nonlocal count
        if count < n:
            origins[count] = info.chunk_offset
            offsets[count] = info.byte_offset
            sizes[count] = info.size
            masks[count] = info.filter_mask
        count += 1

    if hasattr(dsid, "chunk_iter"):
        dsid.chunk_iter(record)
    else:  # pragma: no cover - h5py < 3.8 or libhdf5 < 1.12.3
        for i in range(n):
            record(dsid.get_chunk_info(i))
    if count != n:
        raise CorruptFileError(
            f"{ds.file.filename}: dataset {ds.name} lists {n} chunks but {count} were found"
        )
    return origins, offsets, sizes, masks


def array_spec(ds: h5py.Dataset, sig_dims: int) -> tuple[ArraySpec | None, str | None]:
    """How the Rust core reads ``ds``: ``(spec, None)``, or ``(None, reason)`` when it must be
    read through h5py (a filter ferrotem does not decode, a virtual, compact or external
    dataset)."""
    h5py = import_h5py()
    dcpl = ds.id.get_create_plist()
    layout = dcpl.get_layout()
    if layout == h5py.h5d.VIRTUAL:
        return None, "a virtual dataset"
    if layout == h5py.h5d.COMPACT:
        return None, "a compact dataset (data in the object header)"
    if dcpl.get_external_count() > 0:
        return None, "a dataset with external raw storage"
    dtype = np.dtype(ds.dtype)
    filters = _filters(dcpl)
    for fid, cd in filters:
        if not _core.chunk_filter_supported(fid, list(cd), dtype.itemsize):
            name = FILTER_NAMES.get(fid, "unknown")
            return None, f"HDF5 filter {fid} ({name}) with parameters {cd}"
    fill = np.asarray(ds.fillvalue, dtype=dtype).tobytes() if ds.fillvalue is not None else b""
    path = os.path.realpath(ds.file.filename)
    common = dict(
        file=path, name=ds.name, shape=tuple(ds.shape), sig_dims=sig_dims, dtype=dtype, fill=fill
    )
    if layout == h5py.h5d.CONTIGUOUS:
        return ArraySpec(chunks=None, filters=[], offset=ds.id.get_offset(), **common), None
    origins, offsets, sizes, masks = _chunk_table(ds)
    spec = ArraySpec(
        chunks=tuple(ds.chunks),
        filters=filters,
        origins=origins,
        offsets=offsets,
        sizes=sizes,
        masks=masks,
        **common,
    )
    return spec, None


def describe_filters(filters: list[tuple[int, tuple[int, ...]]]) -> str:
    """``"bitshuffle(0, 3, 2, 0, 2)"``-style text for diagnostics."""
    if not filters:
        return "none"
    return ", ".join(f"{FILTER_NAMES.get(fid, fid)}{cd}" for fid, cd in filters)


def aligned_bounds(
    bounds: list[tuple[int, int]], arrays: list[ArraySpec], sync_offset: int, n_frames: int
) -> list[tuple[int, int]]:
    """Partition ``bounds`` (logical frame ranges) moved to the nearest chunk boundaries of the
    arrays whose chunks are decoded, so that no chunk is decoded by two partitions."""
    if not any(a.decoded_chunks() for a in arrays):
        return bounds
    firsts = np.cumsum([0] + [a.frames for a in arrays])
    cuts = [0]
    for _, stop in bounds[:-1]:
        stored = stop + sync_offset
        index = int(np.searchsorted(firsts, stored, side="right")) - 1
        if 0 <= index < len(arrays):
            local = stored - int(firsts[index])
            stored = int(firsts[index]) + _snap(arrays[index], local)
        cuts.append(min(max(stored - sync_offset, 0), n_frames))
    cuts.append(n_frames)
    cuts = sorted(set(cuts))
    return [(a, b) for a, b in itertools.pairwise(cuts) if b > a]


def _snap(array: ArraySpec, frame: int) -> int:
    """The chunk boundary nearest to stored frame ``frame`` of ``array``: a frame where no
    decoded chunk continues from the frame before."""
    if not array.decoded_chunks() or array.chunks is None:
        return frame
    nav_dims = len(array.shape) - array.sig_dims
    nav, chunks = array.shape[:nav_dims], array.chunks[:nav_dims]
    axis = next((d for d in range(nav_dims) if chunks[d] > 1), None)
    if axis is None:
        return frame
    step_frames = prod(nav[axis + 1 :])
    block = nav[axis] * step_frames
    step = chunks[axis] * step_frames
    outer, within = divmod(frame, block)
    return outer * block + min(round(within / step) * step, block)


def check_dataset(f: h5py.File, path: str, ds_path: str) -> h5py.Dataset:
    """The dataset ``ds_path`` of the open file ``f``, or an exception naming what is wrong."""
    h5py = import_h5py()
    try:
        link = f.get(ds_path, getlink=True)
    except (KeyError, ValueError):
        link = None
    if link is None:
        raise InvalidDataSetParameter(
            f"ds_path: {ds_path!r} does not exist in {path!r}; datasets with 3 or more axes: "
            f"{[d.name for d in find_datasets(f)]}"
        )
    if isinstance(link, h5py.ExternalLink):
        target = link.filename
        if not os.path.isabs(target):
            target = os.path.join(os.path.dirname(os.path.abspath(path)), target)
        if not os.path.exists(target):
            raise MissingFileError(
                f"ds_path: {ds_path!r} in {path!r} is an external link to {link.path!r} in "
                f"{link.filename!r}, and {target!r} does not exist"
            )
    try:
        obj = f[ds_path]
    except (KeyError, OSError) as e:
        raise DataSetException(f"ds_path: {ds_path!r} in {path!r} cannot be opened: {e}") from None
    if not isinstance(obj, h5py.Dataset):
        raise InvalidDataSetParameter(
            f"ds_path: {ds_path!r} in {path!r} is a {type(obj).__name__}, not a dataset"
        )
    return obj
