"""Type stubs for ``ferrotem._core``, the PyO3 binding of ``ferrotem-core``.

Checked against the built module with ``python -m mypy.stubtest ferrotem._core``.
"""

import os
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias, final

import numpy as np
import numpy.typing as npt

__all__ = [
    "ChunkedArray",
    "Corrections",
    "DataSource",
    "NativeSet",
    "Runner",
    "__version__",
    "blo_header",
    "chunk_filter_supported",
    "default_partition_count",
    "dm_info",
    "empad_scan",
    "empad_xml",
    "encode_chunks",
    "frms6_headers",
    "k2is_gtg_scan_shape",
    "k2is_scan",
    "mib_frame_header",
    "mib_read_hdr",
    "mib_scan",
    "mrc_header",
    "mrc_reference",
    "native_udf_names",
    "npy_header",
    "open_blo",
    "open_dm_frames",
    "open_dm_transposed",
    "open_empad",
    "open_frms6",
    "open_k2is",
    "open_mib",
    "open_mrc",
    "open_raw_csr",
    "open_seq",
    "open_ser",
    "open_tvips",
    "read_csr_rows",
    "run_native_partition",
    "seq_header",
    "seq_metadata",
    "ser_header",
    "split_frames",
    "tvips_scan",
]

__version__: str

_Path = str | os.PathLike[str]

@final
class DataSource:
    """An opened dataset source. Not picklable: Python datasets keep the parameters and reopen."""

    @staticmethod
    def memory(
        data: npt.NDArray[np.uint8],
        dtype: str,
        nav_shape: Sequence[int],
        sig_shape: Sequence[int],
        sync_offset: int = 0,
    ) -> DataSource:
        """Frames in a numpy array, passed as its flat uint8 view."""

    @staticmethod
    def raw(
        path: _Path,
        dtype: str,
        nav_shape: Sequence[int],
        sig_shape: Sequence[int],
        sync_offset: int = 0,
        header_bytes: int = 0,
    ) -> DataSource:
        """A headerless file of C-ordered frames."""

    @staticmethod
    def npy(
        path: _Path,
        sig_dims: int = 2,
        nav_shape: Sequence[int] | None = None,
        sig_shape: Sequence[int] | None = None,
        sync_offset: int = 0,
    ) -> DataSource:
        """An ``.npy`` file (C or Fortran order)."""

    @staticmethod
    def chunked(
        arrays: Sequence[ChunkedArray],
        dtype: str,
        nav_shape: Sequence[int],
        sig_shape: Sequence[int],
        sync_offset: int = 0,
    ) -> DataSource:
        """Arrays stored as chunks in files (HDF5 datasets), one after the other along their
        frames; read and decoded in Rust."""

    @staticmethod
    def from_reader(
        read: Callable[[int, int, int, int], npt.ArrayLike],
        dtype: str,
        nav_shape: Sequence[int],
        sig_shape: Sequence[int],
        stored_frames: int,
        sync_offset: int = 0,
        name: str | None = None,
    ) -> DataSource:
        """``stored_frames`` frames read by ``read(first, count, pixel_start, pixel_stop)``,
        which returns those frames' pixels in the stored dtype."""

    @property
    def dtype(self) -> str:
        """Stored dtype as numpy's ``dtype.str``."""

    @property
    def nav_shape(self) -> list[int]:
        """Navigation shape."""

    @property
    def sig_shape(self) -> list[int]:
        """Signal shape."""

    def read(
        self,
        first: int,
        count: int,
        out: npt.NDArray[np.uint8],
        out_dtype: str,
        pixel_start: int = 0,
        pixel_stop: int | None = None,
    ) -> None:
        """Reads frames ``first .. first + count`` (pixels ``pixel_start .. pixel_stop`` of the
        flat frame) into ``out`` (the flat uint8 view of a native-order array of ``out_dtype``)."""

    def read_selected(
        self,
        frames: npt.NDArray[np.uint64],
        out: npt.NDArray[np.uint8],
        out_dtype: str,
        pixel_start: int = 0,
        pixel_stop: int | None = None,
    ) -> None:
        """Reads the frames listed in ``frames`` (sorted flat indices), like ``read``."""

#: a native UDF's declaration: (name, parameters, [(buffer, kind, dtype, extra_shape)])
_NativeDecl: TypeAlias = tuple[str, dict[str, Any], list[tuple[str, str, str, list[int]]]]

@final
class ChunkedArray:
    """One stored array of a chunk-table source: file, dataset name, shape, chunks, filters,
    fill value and the table of its stored chunks."""

    def __new__(
        cls,
        path: _Path,
        name: str,
        shape: Sequence[int],
        sig_dims: int,
        chunk_shape: Sequence[int],
        filters: Sequence[tuple[int, Sequence[int]]],
        fill: bytes,
        itemsize: int,
    ) -> ChunkedArray:
        """A chunked array with no chunk recorded yet."""

    @staticmethod
    def contiguous(
        path: _Path,
        name: str,
        shape: Sequence[int],
        sig_dims: int,
        offset: int | None,
        itemsize: int,
        fill: bytes,
    ) -> ChunkedArray:
        """A contiguous array at byte ``offset`` of its file (None: never allocated)."""

    def add_chunks(
        self,
        origins: npt.NDArray[np.uint64],
        offsets: npt.NDArray[np.uint64],
        sizes: npt.NDArray[np.uint64],
        filter_masks: npt.NDArray[np.uint32],
    ) -> None:
        """Records stored chunks: element origins (one row per chunk), byte offsets, stored
        sizes and filter masks."""

def chunk_filter_supported(filter_id: int, cd_values: Sequence[int], itemsize: int) -> bool:
    """True if ferrotem decodes HDF5 filter ``filter_id`` with ``cd_values`` itself."""

@final
class Runner:
    """A pool of Rust worker threads for native runs."""

    def __new__(cls, threads: int = 0) -> Runner:
        """A pool of ``threads`` threads (0: one per core)."""

    @property
    def threads(self) -> int:
        """Number of threads in the pool."""

    def run(
        self,
        source: DataSource,
        partitions: Sequence[tuple[int, int]],
        roi: npt.NDArray[np.bool_] | None,
        input_dtype: str,
        udfs: Sequence[_NativeDecl],
        progress: Callable[[int], object] | None = None,
        corrections: Corrections | None = None,
    ) -> list[dict[str, npt.NDArray[np.generic]]]:
        """Runs the native UDFs declared by ``udfs`` over all ``partitions``
        (``[(start, stop)]``) in one pass and returns, per UDF, its merged results as
        ``{buffer: flat array}``."""

@final
class Corrections:
    """Dark frame, gain map and excluded pixels, checked against a signal shape."""

    def __new__(
        cls,
        sig_shape: Sequence[int],
        dark: npt.NDArray[np.float64] | None,
        gain: npt.NDArray[np.float64] | None,
        excluded: Sequence[int],
        allow_empty: bool = False,
    ) -> Corrections:
        """``dark``, ``gain``: flat maps or None; ``excluded``: flat pixel indices."""

    def apply(self, block: npt.NDArray[np.generic]) -> None:
        """Corrects ``block`` (whole frames, float or complex, C-contiguous) in place."""

    def repairs(self) -> list[tuple[int, list[int]]]:
        """Flat excluded pixels and the flat neighbours each is patched from."""

def npy_header(path: _Path) -> tuple[str, bool, list[int], int]:
    """Reads an ``.npy`` header: ``(dtype_str, fortran_order, shape, data_offset)``."""

def split_frames(n_frames: int, n_parts: int, row_len: int) -> list[tuple[int, int]]:
    """Splits ``n_frames`` into ``n_parts`` contiguous partitions; returns ``[(start, stop)]``."""

def default_partition_count(n_pixels: int, cores: int) -> int:
    """LiberTEM's default partition count for a dataset of ``n_pixels`` elements."""

def run_native_partition(
    source: DataSource,
    start: int,
    stop: int,
    roi: npt.NDArray[np.bool_] | None,
    udfs: NativeSet,
    corrections: Corrections | None = None,
) -> list[dict[str, npt.NDArray[np.generic]]]:
    """Runs the native UDFs over one partition in the calling thread; per UDF, its partial
    results as ``{buffer: flat array}``."""

@final
class NativeSet:
    """Native UDFs built once from their declarations for a run in ``input_dtype``, for every
    partition a process runs (building packs parameters such as mask stacks)."""

    def __new__(cls, udfs: Sequence[_NativeDecl], input_dtype: str) -> NativeSet: ...
    def __len__(self) -> int: ...
    @property
    def names(self) -> list[str]:
        """The declared names of the UDFs, in order."""

def native_udf_names() -> list[str]:
    """Names of the UDFs implemented natively."""

def mib_frame_header(data: bytes) -> dict[str, Any]:
    """Parses a Merlin MIB frame header (the first bytes of a frame record) into a dict of its
    fields; ``ValueError`` saying which field is wrong."""

def mib_read_hdr(path: _Path) -> list[tuple[str, str]]:
    """Reads a Merlin ``.hdr`` file: its ``(key, value)`` pairs in file order."""

def mib_scan(paths: Sequence[_Path]) -> dict[str, Any]:
    """Reads the frame headers of the ``.mib`` files ``paths`` and checks that they form one
    acquisition; returns what they say, files in sequence order."""

def open_mib(
    paths: Sequence[_Path],
    nav_shape: Sequence[int],
    sig_shape: Sequence[int],
    sync_offset: int = 0,
) -> DataSource:
    """The Merlin acquisition in ``paths`` (any order) as a data source of the given shape."""

def blo_header(path: _Path, endianess: str) -> dict[str, Any]:
    """Reads a NanoMegas blockfile's header (``endianess`` ``'<'`` or ``'>'``) into a dict."""

def open_blo(
    path: _Path,
    endianess: str,
    nav_shape: Sequence[int],
    sig_shape: Sequence[int],
    sync_offset: int = 0,
) -> DataSource:
    """A NanoMegas blockfile as a data source of the given shape."""

# -- 'seq' (Norpix / DE StreamPix) ----------------------------------------------------------------
def seq_header(path: _Path) -> dict[str, Any]:
    """Reads a ``.seq`` file's header into a dict of its fields (LiberTEM's names), with
    ``image_offset``, ``footer_size``, ``dtype``, ``frames`` (whole records in the file) and
    ``file_size``."""

def open_seq(
    path: _Path,
    nav_shape: Sequence[int],
    sig_shape: Sequence[int],
    sync_offset: int = 0,
) -> DataSource:
    """A ``.seq`` file as a data source of the given shape."""

def mrc_reference(path: _Path) -> tuple[tuple[int, int], str, bytes]:
    """Reads the single image of an MRC file (a dark or gain reference): ``(shape, dtype,
    bytes)``, the shape ``(ny, nx)`` and the values' stored bytes in numpy dtype ``dtype``."""

def seq_metadata(path: _Path) -> dict[str, int]:
    """Reads the acquisition record of a DE ``.seq.metadata`` file: ``{name: value}``."""

# -- 'frms6' (PNDetector pnCCD) -------------------------------------------------------------------
def frms6_headers(paths: Sequence[_Path]) -> list[dict[str, Any]]:
    """Reads the headers of ``.frms6`` files ``paths`` (checking they agree on the frame size): a
    dict per file with its fields (LiberTEM's names) and ``frames``, the frames it holds."""

def open_frms6(
    paths: Sequence[_Path],
    binning: int,
    nav_shape: Sequence[int],
    sig_shape: Sequence[int],
    sync_offset: int = 0,
) -> DataSource:
    """The ``.frms6`` files ``paths`` (in frame order) as one data source of the given shape,
    the detector halves unfolded at ``binning`` (1, 2 or 4)."""

# -- raw_csr (sparse data in three raw files) ---------------------------------------------------
def open_raw_csr(
    indptr: _Path,
    indptr_dtype: str,
    indices: _Path,
    indices_dtype: str,
    data: _Path,
    data_dtype: str,
    nav_shape: Sequence[int],
    sig_shape: Sequence[int],
    sync_offset: int = 0,
) -> DataSource:
    """The ``raw_csr`` dataset in the files ``indptr``, ``indices``, ``data`` (each with its
    dtype) as a data source of the given shape; the files are checked as it opens."""

def read_csr_rows(
    source: DataSource, frames: npt.NDArray[np.uint64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """The CSR rows of the frames ``frames`` (sorted flat indices) of a ``raw_csr`` source:
    ``(indptr, indices, values)``, ``values`` the stored values in native byte order as raw
    bytes. Indices are checked against the frame size."""

# -- TIA series (.ser) and MRC (issue 10) ---------------------------------------------------------
def ser_header(path: _Path) -> dict[str, Any]:
    """Reads a TIA ``.ser`` file's header, offset arrays and element headers into a dict."""

def open_ser(
    path: _Path,
    nav_shape: Sequence[int],
    sig_shape: Sequence[int],
    sync_offset: int = 0,
) -> DataSource:
    """A TIA ``.ser`` file as a data source of the given shape."""

def mrc_header(path: _Path) -> dict[str, Any]:
    """Reads an MRC file's header into a dict."""

def open_mrc(
    path: _Path,
    nav_shape: Sequence[int],
    sig_shape: Sequence[int],
    sync_offset: int = 0,
) -> DataSource:
    """An MRC file as a data source of the given shape."""

# -- TVIPS and EMPAD (framed source) -------------------------------------------------------------

def tvips_scan(paths: Sequence[_Path]) -> dict[str, Any]:
    """Reads the series header of ``paths[0]`` (the ``_000`` file), counts the frames of every
    file in ``paths`` (in series order) and detects the scan from the frames' scan positions;
    returns what it found."""

def open_tvips(
    paths: Sequence[_Path],
    nav_shape: Sequence[int],
    sig_shape: Sequence[int],
    sync_offset: int = 0,
) -> DataSource:
    """The TVIPS series in ``paths`` (in series order, the ``_000`` file first) as a data source
    of the given shape."""

def empad_scan(path: _Path) -> dict[str, Any]:
    """Reads the EMPAD ``.xml`` at ``path``, finds the raw file it names and the scan that fits
    the raw file's size; returns what it found."""

def empad_xml(path: _Path) -> dict[str, Any]:
    """Reads the EMPAD ``.xml`` at ``path``: the raw file it names and the scan(s) it describes,
    without looking at the raw file."""

def open_empad(
    path: _Path,
    frames: int | None,
    nav_shape: Sequence[int],
    sig_shape: Sequence[int],
    sync_offset: int = 0,
) -> DataSource:
    """The EMPAD raw file at ``path`` as a data source of the given shape; ``frames`` records
    where known (from the ``.xml``), else as many as the file holds."""

# -- K2IS (Gatan K2 IS sector files) ------------------------------------------------------------

def k2is_scan(paths: Sequence[_Path]) -> dict[str, Any]:
    """Opens the eight sector files ``paths`` (in sector order), synchronises them and returns
    what was found: ``frames`` (complete frames), ``first_active`` (the first shutter-active one),
    ``first_block`` (per sector), the frame ids, and ``cut_blocks`` (files ending in a cut
    block)."""

def k2is_gtg_scan_shape(path: _Path) -> tuple[int, int] | None:
    """The scan shape ``(Size Y, Size X)`` of the root tag group ``SI Dimensions`` of the
    ``.gtg`` file ``path``, or ``None`` if it has none (a time series)."""

def open_k2is(
    paths: Sequence[_Path],
    nav_shape: Sequence[int],
    sig_shape: Sequence[int],
    first_frame: int,
) -> DataSource:
    """The K2IS acquisition in ``paths`` (sector order) as a data source of the given shape
    whose frame 0 is complete frame ``first_frame`` (negative: that many frames of zeros
    first)."""

# -- export (ctx.export_dataset, ferrotem convert) ----------------------------------------------
def encode_chunks(
    data: npt.NDArray[np.uint8], chunk_bytes: int, elem_size: int, codec: str, level: int = 4
) -> list[bytes]:
    """Encodes ``data`` (chunks of ``chunk_bytes`` bytes back to back) chunk by chunk with
    ``codec`` (``'bitshuffle-lz4'`` or ``'gzip'`` at ``level``), as HDF5's filter stores them."""

# -- Gatan Digital Micrograph (dm) -------------------------------------------------------------

def dm_info(path: _Path) -> dict[str, Any]:
    """Parses the tag tree of the DM file ``path``: a dict of its version, byte order, default
    image and images (each a dict of what its tags say, and ``data_error``, why its data cannot
    be read, or ``None``)."""

def open_dm_frames(
    files: Sequence[tuple[_Path, int, int]],
    dtype: str,
    nav_shape: Sequence[int],
    sig_shape: Sequence[int],
    sync_offset: int = 0,
) -> DataSource:
    """C-ordered frames of DM files, each given as ``(path, data offset, frames)``, as a data
    source."""

def open_dm_transposed(
    path: _Path,
    offset: int,
    stored_frames: int,
    dtype: str,
    nav_shape: Sequence[int],
    sig_shape: Sequence[int],
    sync_offset: int = 0,
) -> DataSource:
    """Transposed DM data (``stored_frames`` values of each pixel in turn, from ``offset`` of
    ``path``) as a data source of frames."""
