"""HDF5 benchmark files, written from the pixels of a raw benchmark file, and their numpy
references.

Each file holds the raw file's frames unchanged in its dataset ``/data`` of shape
``nav + sig`` (the raw file's scan and frame shape), one frame per chunk, compressed as
``Dataset.hdf5`` says: ``"bslz4"`` bitshuffle+LZ4 (as DECTRIS detectors write), ``"gzip1"``
deflate level 1, ``"chunked"`` no filter. The references are the raw file's: the same pixels.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import numpy as np
from common import Dataset, ensure_references, reference_path

#: frames written per h5py call (about 32 MiB of uint16 256x256 frames)
BLOCK_FRAMES = 256


def _filters(kind: str) -> dict[str, Any]:
    import hdf5plugin

    return {
        "bslz4": dict(hdf5plugin.Bitshuffle(cname="lz4")),
        "gzip1": {"compression": "gzip", "compression_opts": 1},
        "chunked": {},
    }[kind]


def _stamp(source: Dataset) -> str:
    st = os.stat(source.path)
    return f"{os.path.basename(source.path)}:{st.st_size}:{st.st_mtime_ns}"


def ensure_hdf5(ds: Dataset, source: Dataset) -> str:
    """Writes ``ds`` once from the pixels of the raw file ``source`` (same dtype, scan and frame
    shape); returns its path. A file written from another version of ``source`` is rewritten."""
    import h5py

    stamp = _stamp(source)
    if os.path.exists(ds.path):
        try:
            with h5py.File(ds.path, "r") as f:
                if f["data"].attrs.get("source") == stamp:
                    return ds.path
        except (OSError, KeyError):
            pass
    n = int(np.prod(ds.nav))
    row = int(np.prod(ds.nav[1:]))
    src = np.memmap(source.path, dtype=source.dtype, mode="r", shape=(n,) + ds.sig)
    tmp = ds.path + ".part"
    with h5py.File(tmp, "w") as f:
        d = f.create_dataset(
            "data",
            shape=ds.nav + ds.sig,
            dtype=ds.dtype,
            chunks=(1,) * len(ds.nav) + ds.sig,
            **_filters(ds.hdf5),
        )
        rows = max(1, BLOCK_FRAMES // row)
        for y in range(0, ds.nav[0], rows):
            block = np.asarray(src[y * row : (y + rows) * row])
            d[y : y + rows] = block.reshape((-1,) + ds.nav[1:] + ds.sig)
        d.attrs["source"] = stamp
    del src
    os.replace(tmp, ds.path)
    return ds.path


def ensure_hdf5_references(ds: Dataset, source: Dataset) -> str:
    """The references of ``ds``: those of ``source`` (the same pixels)."""
    src = ensure_references(source)
    out = reference_path(ds)
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(src):
        shutil.copyfile(src, out)
    return out
