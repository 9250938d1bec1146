"""``filetype='auto'``: which reader a file needs, from what the file contains.

Each format is recognised by its own signature (magic bytes, a header line), never by the file
name alone, so a renamed file still loads and a file with a misleading extension is not handed
to the wrong reader. The checks run in a fixed order; the first that matches wins. A file no
check recognises gets an error that lists what was tried.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from dataclasses import dataclass

__all__ = ["SIGNATURES", "Signature", "detect_filetype_of"]

#: HDF5's signature; it sits at offset 0 or, after a user block, at 512, 1024, 2048, …
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
#: how much of the file the byte checks look at
_HEAD_BYTES = 4096


@dataclass(frozen=True)
class Signature:
    """How one filetype is recognised: ``matches(path, head)`` with the file's first bytes."""

    filetype: str
    description: str
    matches: Callable[[str, bytes], bool]


def _is_hdf5(path: str, head: bytes) -> bool:
    if head.startswith(_HDF5_MAGIC):
        return True
    # a user block moves the signature to the next power of two from 512 on
    size = os.path.getsize(path)
    offset = 512
    with open(path, "rb") as f:
        while offset + len(_HDF5_MAGIC) <= min(size, 1 << 30):
            f.seek(offset)
            if f.read(len(_HDF5_MAGIC)) == _HDF5_MAGIC:
                return True
            offset *= 2
    return False


def _is_arina_master(path: str, head: bytes) -> bool:
    """A DECTRIS master file: HDF5 whose ``entry/data`` group links ``data_NNNNNN`` datasets."""
    if not _is_hdf5(path, head):
        return False
    import h5py

    try:
        with h5py.File(path, "r") as f:
            group = f.get("entry/data")
            if not isinstance(group, h5py.Group):
                return False
            return any(name.startswith("data_") and name[5:].isdigit() for name in group)
    except OSError:
        return False


def _is_dm(path: str, head: bytes) -> bool:
    """A DM3/DM4 header: version 3 or 4 (big-endian), a byte-order flag of 0 or 1, and the root
    tag group's two flag bytes of 0 or 1."""
    if len(head) < 18 or head[:3] != b"\0\0\0" or head[3] not in (3, 4):
        return False
    at = 8 if head[3] == 3 else 12
    return head[at : at + 3] == b"\0\0\0" and all(b in (0, 1) for b in head[at + 3 : at + 6])


#: The checks, in the order they are tried (the more specific before the more general).
SIGNATURES: tuple[Signature, ...] = (
    Signature("npy", "numpy .npy (magic \\x93NUMPY)", lambda p, h: h.startswith(b"\x93NUMPY")),
    Signature("mib", "Merlin .mib (frame header 'MQ1,')", lambda p, h: h.startswith(b"MQ1,")),
    Signature("mib", "Merlin .hdr (first line 'HDR,')", lambda p, h: h.startswith(b"HDR,")),
    Signature("blo", "NanoMegas blockfile (magic 'IMGBLO')", lambda p, h: h.startswith(b"IMGBLO")),
    Signature("dm", "Gatan Digital Micrograph DM3/DM4 (version 3 or 4 header)", _is_dm),
    Signature("arina", "DECTRIS master HDF5 (entry/data/data_NNNNNN links)", _is_arina_master),
    Signature("hdf5", "HDF5 (signature \\x89HDF)", _is_hdf5),
)


def detect_filetype_of(path: str, registered: Collection[str]) -> str:
    """The filetype among ``registered`` that reads ``path``.

    Raises ``FileNotFoundError`` for a missing path, ``IsADirectoryError`` for a directory, and
    ``ValueError`` listing every format tried when none matches.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"path: {path!r} does not exist")
    if os.path.isdir(path):
        raise IsADirectoryError(f"path: {path!r} is a directory; 'auto' needs a file")
    with open(path, "rb") as f:
        head = f.read(_HEAD_BYTES)
    tried = []
    for sig in SIGNATURES:
        if sig.filetype not in registered:
            continue
        tried.append(sig.description)
        if sig.matches(path, head):
            return sig.filetype
    raise ValueError(
        f"filetype='auto': cannot detect the format of {path!r} (tried: {'; '.join(tried)}); "
        "headerless files need filetype='raw' with nav_shape, sig_shape and dtype"
    )
