"""``'raw_csr'``: sparse 4D-STEM data as a CSR matrix of ``(frames, pixels)`` in three raw
files, described by a TOML file::

    [params]
    filetype = "raw_csr"
    nav_shape = [64, 64]
    sig_shape = [256, 256]

    [raw_csr]
    indptr_file = "indptr.raw"    # one entry more than frames: frame f is entries
    indptr_dtype = "<i8"          #   indptr[f] .. indptr[f + 1] of the two files below
    indices_file = "indices.raw"  # each entry's pixel in the flattened frame
    indices_dtype = "<i4"
    data_file = "data.raw"        # each entry's value
    data_dtype = "<u2"

File names are relative to the descriptor's folder. The Rust core opens the three files and
checks them (sizes, a monotone ``indptr``, indices inside the frame, as each tile is read).

How runs use it: the built-in ``SumUDF``, ``SumSigUDF`` and ``ApplyMasksUDF`` run in Rust on
the stored entries only (never densified); Python UDFs that list a sparse array backend in
``get_backends()`` receive ``scipy.sparse`` matrices of ``(frames, pixels)`` or ``sparse``
arrays of ``(frames, *sig_shape)`` (see :mod:`ferrotem.udf.sparse_tiles`); all other UDFs get
dense numpy tiles, densified in Rust one tile at a time.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import numpy as np
import tomllib

from ferrotem import _core
from ferrotem.common.backend import SCIPY_CSR
from ferrotem.common.exceptions import (
    DataSetTypeError,
    InvalidDataSetParameter,
    MissingFileError,
)
from ferrotem.common.math import prod
from ferrotem.common.shape import Shape
from ferrotem.io.dataset._framed import files_key
from ferrotem.io.dataset.base import DataSet, DataSetMeta, check_file, check_int, check_shape

__all__ = [
    "CSRDescriptor",
    "CSRTriple",
    "RawCSRDataSet",
    "TOMLError",
    "check",
    "get_descriptor",
    "get_nav_size",
    "get_triple",
    "load_toml",
]

#: the keys of the ``[raw_csr]`` table, in the order messages list them
_FILE_KEYS = ("indptr", "indices", "data")


class TOMLError(InvalidDataSetParameter):
    """The descriptor is not valid TOML (LiberTEM's ``TOMLError``; here also a
    ``DataSetException``/``ValueError`` naming the file)."""


class CSRDescriptor(NamedTuple):
    """The three files of a CSR dataset and their dtypes, as the descriptor names them."""

    indptr_file: str
    indptr_dtype: np.dtype
    indices_file: str
    indices_dtype: np.dtype
    data_file: str
    data_dtype: np.dtype


class CSRTriple(NamedTuple):
    """The three arrays of a CSR dataset (read-only memory maps, see :func:`get_triple`)."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray


def load_toml(path: str) -> dict[str, Any]:
    """The descriptor at ``path`` as a dict; :class:`TOMLError` naming the file if it is not
    TOML."""
    with open(path, "rb") as f:
        try:
            return tomllib.load(f)
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise TOMLError(f"path: {path!r} is not a valid TOML descriptor ({e})") from None


def _table(conf: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    table = conf.get(key)
    if not isinstance(table, dict):
        raise InvalidDataSetParameter(
            f"path: the descriptor {path!r} has no [{key}] table (a raw_csr descriptor needs "
            "[params] with filetype, nav_shape, sig_shape and [raw_csr] with the file names)"
        )
    return table


def _entry(table: dict[str, Any], section: str, key: str, path: str) -> Any:
    if key not in table:
        raise InvalidDataSetParameter(
            f"path: the descriptor {path!r} lacks the key {key!r} in [{section}]"
        )
    return table[key]


def _filetype(conf: dict[str, Any], path: str) -> str:
    params = _table(conf, "params", path)
    filetype = _entry(params, "params", "filetype", path)
    if not isinstance(filetype, str) or filetype.lower() != "raw_csr":
        raise InvalidDataSetParameter(
            f"path: the descriptor {path!r} has filetype {filetype!r}, expected 'raw_csr'"
        )
    return filetype


def _dtype(value: Any, key: str, path: str) -> np.dtype:
    try:
        dtype: np.dtype = np.dtype(value)
    except TypeError:
        raise DataSetTypeError(
            f"path: the descriptor {path!r} gives {key} = {value!r}, expected a numpy dtype "
            "such as '<i4'"
        ) from None
    return dtype


def _descriptor_of(conf: dict[str, Any], path: str) -> CSRDescriptor:
    filetype = _filetype(conf, path)
    # the table is named like the filetype, in the descriptor's own spelling (as LiberTEM)
    table = _table(conf, filetype if filetype in conf else "raw_csr", path)
    base = os.path.dirname(path)
    fields: list[Any] = []
    for name in _FILE_KEYS:
        file_key, dtype_key = f"{name}_file", f"{name}_dtype"
        rel = _entry(table, "raw_csr", file_key, path)
        if not isinstance(rel, str):
            raise DataSetTypeError(
                f"path: the descriptor {path!r} gives {file_key} = {rel!r}, expected a file name"
            )
        full = os.path.join(base, rel)
        if not os.path.isfile(full):
            raise MissingFileError(
                f"path: the descriptor {path!r} names {file_key} = {rel!r}, but {full!r} "
                "does not exist"
            )
        fields += [full, _dtype(_entry(table, "raw_csr", dtype_key, path), dtype_key, path)]
    return CSRDescriptor(*fields)


def get_descriptor(path: str) -> CSRDescriptor:
    """The three files (with paths relative to the descriptor's folder resolved) and dtypes of
    the descriptor at ``path``; an exception naming the descriptor and the missing or bad key."""
    return _descriptor_of(load_toml(path), path)


def get_nav_size(descriptor: CSRDescriptor) -> int:
    """Number of frames stored: entries of the ``indptr`` file less one."""
    return os.path.getsize(descriptor.indptr_file) // np.dtype(descriptor.indptr_dtype).itemsize - 1


def get_triple(descriptor: CSRDescriptor) -> CSRTriple:
    """The three files as read-only numpy memory maps (for inspection; runs read them in Rust,
    where they are checked)."""
    return CSRTriple(
        *(
            np.memmap(f, dtype=d, mode="r")
            for f, d in (
                (descriptor.indptr_file, descriptor.indptr_dtype),
                (descriptor.indices_file, descriptor.indices_dtype),
                (descriptor.data_file, descriptor.data_dtype),
            )
        )
    )


def _open(
    descriptor: CSRDescriptor,
    nav_shape: tuple[int, ...],
    sig_shape: tuple[int, ...],
    sync_offset: int = 0,
) -> _core.DataSource:
    d = descriptor
    return _core.open_raw_csr(
        d.indptr_file,
        np.dtype(d.indptr_dtype).str,
        d.indices_file,
        np.dtype(d.indices_dtype).str,
        d.data_file,
        np.dtype(d.data_dtype).str,
        list(nav_shape),
        list(sig_shape),
        sync_offset,
    )


def check(
    descriptor: CSRDescriptor,
    nav_shape: tuple[int, ...],
    sig_shape: tuple[int, ...],
    debug: bool = False,
) -> None:
    """Checks the three files against each other (sizes, a monotone ``indptr``); with
    ``debug``, also every index against the frame size (a whole pass over ``indices``)."""
    source = _open(descriptor, nav_shape, sig_shape)
    if debug:
        n = get_nav_size(descriptor)
        for start in range(0, n, 4096):
            frames = np.arange(start, min(n, start + 4096), dtype=np.uint64)
            _core.read_csr_rows(source, frames[frames < prod(nav_shape)])


class RawCSRDataSet(DataSet):
    """Sparse data in compressed sparse row form: ``ctx.load('raw_csr', path='desc.toml')``.

    ``nav_shape`` and ``sig_shape`` default to the descriptor's; a ``sig_shape`` given here must
    have as many pixels. ``sync_offset`` as for raw files: positive skips stored frames,
    negative inserts empty ones. See the module docs for the descriptor and for which tiles
    each kind of UDF receives.
    """

    def __init__(
        self,
        path: Any,
        nav_shape: tuple[int, ...] | None = None,
        sig_shape: tuple[int, ...] | None = None,
        sync_offset: int = 0,
        io_backend: Any = None,
        num_partitions: int | None = None,
    ):
        super().__init__(io_backend=io_backend)
        self._path = path
        self._nav_shape = None if nav_shape is None else check_shape("nav_shape", nav_shape)
        self._sig_shape = None if sig_shape is None else check_shape("sig_shape", sig_shape)
        self._sync_offset = check_int("sync_offset", sync_offset)
        if num_partitions is not None:
            num_partitions = check_int("num_partitions", num_partitions, minimum=1)
        self._num_partitions = num_partitions
        self._descriptor: CSRDescriptor | None = None

    @property
    def descriptor(self) -> CSRDescriptor:
        """The files and dtypes the descriptor names (after ``initialize``)."""
        if self._descriptor is None:
            self.meta  # noqa: B018 - raises the "not initialized" error
            raise AssertionError("unreachable")
        return self._descriptor

    def _open(self) -> _core.DataSource:
        return _open(
            self.descriptor, tuple(self.shape.nav), tuple(self.shape.sig), self._sync_offset
        )

    def _source_key(self) -> Any:
        d = self.descriptor
        return (
            "raw_csr",
            files_key([self._path, d.indptr_file, d.indices_file, d.data_file]),
            tuple(self.shape),
            self._sync_offset,
            os.environ.get("FERROTEM_IO"),
        )

    def _files_for_confinement(self) -> list[str]:
        d = self.descriptor
        return [self._path, d.indptr_file, d.indices_file, d.data_file]

    def initialize(self, executor: Any) -> RawCSRDataSet:
        """Reads the descriptor, checks it and opens the files (checked in Rust)."""
        path = check_file("path", self._path)
        conf = load_toml(path)
        descriptor = _descriptor_of(conf, path)
        params = conf["params"]
        file_nav = check_shape("nav_shape", _entry(params, "params", "nav_shape", path))
        file_sig = check_shape("sig_shape", _entry(params, "params", "sig_shape", path))
        nav_shape = self._nav_shape or file_nav
        sig_shape = self._sig_shape or file_sig
        if prod(sig_shape) != prod(file_sig):
            raise InvalidDataSetParameter(
                f"sig_shape: got {sig_shape}, expected {prod(file_sig)} pixels as the "
                f"descriptor's sig_shape {file_sig}"
            )
        self._path = path
        self._descriptor = descriptor
        self._meta = DataSetMeta(
            shape=Shape(nav_shape + sig_shape, sig_dims=len(sig_shape)),
            raw_dtype=descriptor.data_dtype,
            image_count=max(0, get_nav_size(descriptor)),
            sync_offset=self._sync_offset,
            metadata={"descriptor": dict(conf)},
        )
        self.get_source()
        return self

    @property
    def array_backends(self) -> tuple[str, ...]:
        """Tiles are stored as CSR matrices (LiberTEM's ``[SCIPY_CSR]``); dense ones are made
        on request."""
        return (SCIPY_CSR,)

    @classmethod
    def get_supported_extensions(cls) -> set[str]:
        """The descriptor's extension."""
        return {"toml"}

    @classmethod
    def detect_params(cls, path: str, executor: Any = None) -> dict[str, Any] | bool:
        """The parameters to load ``path`` if it is a raw_csr descriptor, else False."""
        try:
            conf = load_toml(path)
            _filetype(conf, path)
            descriptor = _descriptor_of(conf, path)
            params = conf["params"]
            return {
                "parameters": {
                    "path": path,
                    "nav_shape": tuple(params["nav_shape"]),
                    "sig_shape": tuple(params["sig_shape"]),
                    "sync_offset": 0,
                },
                "info": {"image_count": get_nav_size(descriptor)},
            }
        except (OSError, KeyError, TypeError, ValueError):
            return False

    def get_diagnostics(self) -> list[dict[str, str]]:
        """The dtypes of the three files."""
        d = self.descriptor
        return [
            {"name": "data dtype", "value": str(np.dtype(d.data_dtype))},
            {"name": "indptr dtype", "value": str(np.dtype(d.indptr_dtype))},
            {"name": "indices dtype", "value": str(np.dtype(d.indices_dtype))},
            {"name": "Frames stored", "value": str(self.meta.image_count)},
        ]
