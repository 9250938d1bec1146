"""What an export writes: the checked parameters of ``ctx.export_dataset`` and
``ferrotem convert`` (format, compression, chunk shape, dtype), each refused with an exception
naming the parameter and the value."""

from __future__ import annotations

import os
import pathlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from ferrotem.common.math import prod

#: the output formats and the path extensions that select them
FORMATS: dict[str, tuple[str, ...]] = {
    "npy": (".npy",),
    "raw": (".raw", ".bin"),
    "hdf5": (".h5", ".hdf5", ".hdf", ".nxs"),
    "zarr": (".zarr",),
}
#: compressions of the chunked formats, and the spellings accepted for them
COMPRESSIONS: dict[str, tuple[str, ...]] = {
    "none": ("none",),
    "bitshuffle-lz4": ("bitshuffle-lz4", "bitshuffle+lz4", "bslz4"),
    "gzip": ("gzip", "deflate"),
}
#: compression of a chunked format when none is given
DEFAULT_COMPRESSION = "bitshuffle-lz4"
#: gzip level when none is given (h5py's default)
DEFAULT_GZIP_LEVEL = 4
#: bytes of a default chunk: frames along the last scan axis until about this much
DEFAULT_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class ExportOptions:
    """A checked export: where, as what, and how the output array is laid out."""

    path: pathlib.Path
    format: str
    #: output array shape: the dataset's (nav + sig), or ``(n_selected, *sig)`` with a ROI
    shape: tuple[int, ...]
    sig_dims: int
    dtype: np.dtype
    #: chunk shape (chunked formats), else None
    chunks: tuple[int, ...] | None
    compression: str
    level: int
    #: the HDF5 dataset's path inside the file
    ds_path: str

    @property
    def n_frames(self) -> int:
        """Frames written."""
        return prod(self.shape[: len(self.shape) - self.sig_dims])

    @property
    def frame_bytes(self) -> int:
        """Bytes of one output frame."""
        return prod(self.shape[len(self.shape) - self.sig_dims :]) * self.dtype.itemsize


def format_of(path: pathlib.Path, fmt: Any) -> str:
    """The output format: ``fmt`` if given, else the one ``path``'s extension names."""
    if fmt is not None:
        if not isinstance(fmt, str) or fmt.lower() not in FORMATS:
            raise ValueError(f"format: got {fmt!r}, expected one of {', '.join(FORMATS)}")
        return fmt.lower()
    suffix = path.suffix.lower()
    for name, suffixes in FORMATS.items():
        if suffix in suffixes:
            return name
    known = ", ".join(s for suffixes in FORMATS.values() for s in suffixes)
    raise ValueError(
        f"path: got {str(path)!r} with extension {suffix!r}; expected one of {known}, "
        "or pass format= explicitly"
    )


def compression_of(fmt: str, compression: Any, level: Any) -> tuple[str, int]:
    """The checked compression name and level for ``fmt``."""
    if compression is None:
        name = DEFAULT_COMPRESSION if fmt in ("hdf5", "zarr") else "none"
    else:
        name = next(
            (
                key
                for key, spellings in COMPRESSIONS.items()
                if isinstance(compression, str) and compression.lower() in spellings
            ),
            "",
        )
        if not name:
            raise ValueError(
                f"compression: got {compression!r}, expected one of {', '.join(COMPRESSIONS)}"
            )
    if name != "none" and fmt not in ("hdf5", "zarr"):
        raise ValueError(
            f"compression: got {compression!r} for format {fmt!r}; only hdf5 and zarr files "
            "are compressed (npy and raw are written as plain frames)"
        )
    if level is None:
        return name, DEFAULT_GZIP_LEVEL if name == "gzip" else 0
    if name != "gzip":
        raise ValueError(
            f"compression_level: got {level!r} with compression {name!r}; only gzip has levels"
        )
    if isinstance(level, bool) or not isinstance(level, int | np.integer) or not 0 <= level <= 9:
        raise ValueError(f"compression_level: got {level!r}, expected an integer from 0 to 9")
    return name, int(level)


def chunks_of(
    fmt: str, chunks: Any, shape: tuple[int, ...], sig_dims: int, itemsize: int
) -> tuple[int, ...] | None:
    """The checked chunk shape of the output array (``None`` for npy and raw).

    ``chunks``: None (frames along the last scan axis up to about 1 MiB, whole frames), an int
    (that many frames along the last scan axis, whole frames), or a full chunk shape whose
    entries may be -1 for "the whole axis".
    """
    if fmt not in ("hdf5", "zarr"):
        if chunks is not None:
            raise ValueError(
                f"chunks: got {chunks!r} for format {fmt!r}; only hdf5 and zarr are chunked"
            )
        return None
    nav_dims = len(shape) - sig_dims
    sig = shape[nav_dims:]
    if chunks is None or (isinstance(chunks, int | np.integer) and not isinstance(chunks, bool)):
        frame_bytes = max(1, prod(sig) * itemsize)
        last = shape[nav_dims - 1] if nav_dims else 1
        if chunks is None:
            along = max(1, min(last, DEFAULT_CHUNK_BYTES // frame_bytes))
        elif chunks < 1:
            raise ValueError(f"chunks: got {chunks!r}, expected a positive number of frames")
        else:
            along = min(int(chunks), max(last, 1))
        return (1,) * (nav_dims - 1) + (along,) + tuple(max(s, 1) for s in sig)
    try:
        given = tuple(int(c) for c in chunks)
    except (TypeError, ValueError):
        raise ValueError(
            f"chunks: got {chunks!r}, expected None, a number of frames, or a shape of "
            f"{len(shape)} integers"
        ) from None
    if len(given) != len(shape) or any(c == 0 or c < -1 for c in given):
        raise ValueError(
            f"chunks: got {chunks!r}, expected {len(shape)} positive integers (or -1 for a "
            f"whole axis) for the output shape {shape}"
        )
    return tuple(
        max(s, 1) if c == -1 else min(c, max(s, 1)) for c, s in zip(given, shape, strict=True)
    )


def check_target(path: Any, overwrite: bool) -> pathlib.Path:
    """The target path; ``FileExistsError`` if it exists and ``overwrite`` is false."""
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path: got {type(path).__name__}, expected a str or os.PathLike")
    target = pathlib.Path(path)
    if target.exists() and not overwrite:
        raise FileExistsError(f"path: {str(target)!r} exists; pass overwrite=True to replace it")
    if not target.parent.is_dir():
        raise FileNotFoundError(f"path: the directory {str(target.parent)!r} does not exist")
    return target
