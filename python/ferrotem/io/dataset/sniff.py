"""``filetype='auto'``: which reader a file needs, from what the file contains.

Each format is recognised by its own signature (magic bytes, a header line), never by the file
name alone, so a renamed file still loads and a file with a misleading extension is not handed
to the wrong reader. The checks run in a fixed order; the first that matches wins. A file no
check recognises gets an error that lists what was tried.
"""

from __future__ import annotations

import os
import struct
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


def _is_seq(path: str, head: bytes) -> bool:
    """A Norpix ``.seq`` file: magic ``0xFEED``, a frame size and a bit depth of 8 to 64."""
    if not head.startswith(b"\xed\xfe\x00\x00") or len(head) < 560:
        return False
    width, height, bits = (int.from_bytes(head[at : at + 4], "little") for at in (548, 552, 556))
    return width > 0 and height > 0 and bits in (8, 16, 32, 64)


def _is_frms6(path: str, head: bytes) -> bool:
    """A pnCCD ``.frms6`` file (header size 1024, frame header 64, version 6) or its
    acquisition's ``.hdr`` (a ``[measurementInfo]`` section with a ``readoutmode``)."""
    if head[:4] == b"\x00\x04\x40\x00" and head[7:8] == b"\x06":
        return True
    text = head.decode("latin-1").lower()
    return "[measurementinfo]" in text and "readoutmode" in text


def _is_raw_csr_descriptor(path: str, head: bytes) -> bool:
    """A TOML descriptor (under 1 MiB) whose ``[params]`` say ``filetype = "raw_csr"``."""
    if b"raw_csr" not in head.lower() or os.path.getsize(path) > 1 << 20:
        return False
    import tomllib

    try:
        with open(path, "rb") as f:
            params = tomllib.load(f).get("params")
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False
    filetype = params.get("filetype") if isinstance(params, dict) else None
    return isinstance(filetype, str) and filetype.lower() == "raw_csr"


def _is_mrc(path: str, head: bytes) -> bool:
    """An MRC file: ``MAP `` at byte 208 (MRC2014), or, for older writers, a header whose sizes
    and mode (in either byte order) account for the file's length."""
    if len(head) < 1024:
        return False
    if head[208:212] == b"MAP ":
        return True
    size = os.path.getsize(path)
    itemsize = {0: 1, 1: 2, 2: 4, 4: 8, 6: 2, 12: 2}
    for order in "<>":
        nx, ny, nz, mode = struct.unpack(order + "4i", head[:16])
        (nsymbt,) = struct.unpack(order + "i", head[92:96])
        if min(nx, ny, nz) > 0 and mode in itemsize and nsymbt >= 0:
            if 1024 + nsymbt + nx * ny * nz * itemsize[mode] == size:
                return True
    return False


def _tvips_header_ok(head: bytes) -> bool:
    """A TVIPS series header: size 256, version 1 or 2, 8 or 16 bits per pixel."""
    if len(head) < 256:
        return False
    size, version, _, _, bpp = (int.from_bytes(head[i : i + 4], "little") for i in range(0, 20, 4))
    return size == 256 and version in (1, 2) and bpp in (8, 16)


def _is_tvips(path: str, head: bytes) -> bool:
    """A TVIPS file: its series header, or for the later files of a series (``_001``, …, which
    have none) the header of the series' ``_000`` file beside it."""
    if _tvips_header_ok(head):
        return True
    import re

    stem, ext = os.path.splitext(path)
    number = re.search(r"[0-9]+$", stem)
    if ext.lower() != ".tvips" or number is None or int(number.group()) == 0:
        return False
    first = f"{stem[: number.start()]}{0:0{len(number.group())}d}{ext}"
    try:
        with open(first, "rb") as f:
            return _tvips_header_ok(f.read(256))
    except OSError:
        return False


def _is_empad_xml(path: str, head: bytes) -> bool:
    """An EMPAD ``.xml``: an XML document with a ``<raw_file`` element."""
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<") and b"<raw_file" in head


def _is_k2is(path: str, head: bytes) -> bool:
    """A K2IS sector file (it starts with a block header: the sync word 0xFFFF0055 and the
    sector size 256 x 1860), or a K2IS ``.gtg`` (a DM3/DM4 tag file named ``.gtg``)."""
    if head[:4] == b"\xff\xff\x00\x55" and head[20:24] == b"\x01\x00\x07\x44":
        return True
    return path.lower().endswith(".gtg") and head[:4] in (b"\0\0\0\x03", b"\0\0\0\x04")


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
    Signature("seq", "Norpix .seq (magic 0xFEED)", _is_seq),
    Signature("frms6", "pnCCD .frms6 (header 1024/64, version 6) or its .hdr", _is_frms6),
    Signature(
        "ser",
        "TIA series .ser (byte order 'II', series id 0x0197)",
        lambda p, h: h.startswith(b"II\x97\x01"),
    ),
    Signature("mrc", "MRC (MAP at byte 208, or sizes matching the file)", _is_mrc),
    Signature("tvips", "TVIPS series (series header of 256 bytes, in the _000 file)", _is_tvips),
    Signature("empad", "EMPAD .xml (an XML document with <raw_file>)", _is_empad_xml),
    Signature("k2is", "K2IS sector .bin (block sync word 0xFFFF0055) or .gtg", _is_k2is),
    Signature("dm", "Gatan Digital Micrograph DM3/DM4 (version 3 or 4 header)", _is_dm),
    Signature("arina", "DECTRIS master HDF5 (entry/data/data_NNNNNN links)", _is_arina_master),
    Signature("hdf5", "HDF5 (signature \\x89HDF)", _is_hdf5),
    Signature("raw_csr", "raw_csr TOML descriptor (filetype = 'raw_csr')", _is_raw_csr_descriptor),
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
