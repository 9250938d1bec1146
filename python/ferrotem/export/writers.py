"""The output files of an export, one class per format, all with the same three steps:
``write(item, block)`` may run on several threads at once (items are disjoint boxes of whole
chunks), ``finish(result)`` runs on the calling thread in item order for what needs one writer,
and ``close()``.

How each format writes in parallel:

- npy and raw: the file is created at its full size; each item is one ``os.pwrite`` at its
  offset (the GIL is released while the kernel copies).
- HDF5: h5py writes from one thread only, so the threads compress: each item is cut into
  chunks that the Rust core encodes (bitshuffle+LZ4 or zlib, GIL released), and the calling
  thread stores the encoded chunks with h5py's ``write_direct_chunk``, which writes them as they
  are (no filter runs in HDF5).
- Zarr: each thread assigns its box to the array; whole chunks only, so no chunk is read back,
  and zarr encodes them in its own thread pool (numcodecs releases the GIL).
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import numpy as np

from ferrotem import _core
from ferrotem.export.frames import Item, chunk_stack
from ferrotem.export.options import ExportOptions


class Writer:
    """An output file being written."""

    def __init__(self, options: ExportOptions):
        self.options = options

    def write(self, item: Item, block: np.ndarray) -> Any:
        """Writes (or prepares) ``item``'s frames; thread-safe. Returns what :meth:`finish`
        takes."""
        raise NotImplementedError

    def finish(self, result: Any) -> None:
        """Completes an item on the calling thread (after :meth:`write`)."""

    def close(self) -> None:
        """Flushes and closes the file."""

    def discard(self) -> None:
        """Removes a partly written output (after an error)."""
        path = self.options.path
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


class PlainWriter(Writer):
    """npy (with its header) and raw (frames only) files: C-ordered frames at fixed offsets."""

    def __init__(self, options: ExportOptions):
        super().__init__(options)
        header = b""
        if options.format == "npy":
            header = _npy_header(options.shape, options.dtype)
        self.data_offset = len(header)
        self.fd = os.open(options.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _pwrite_all(self.fd, memoryview(header), 0)
            os.ftruncate(self.fd, self.data_offset + options.n_frames * options.frame_bytes)
        except BaseException:
            os.close(self.fd)
            raise

    def write(self, item: Item, block: np.ndarray) -> None:
        data = np.ascontiguousarray(block).reshape(-1).view(np.uint8).data
        _pwrite_all(self.fd, data, self.data_offset + item.first * self.options.frame_bytes)

    def close(self) -> None:
        os.close(self.fd)


def _npy_header(shape: tuple[int, ...], dtype: np.dtype) -> bytes:
    """The ``.npy`` header of a C-ordered array (format 1.0, or 2.0 if the header needs it)."""
    import io

    buffer = io.BytesIO()
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
    try:
        np.lib.format.write_array_header_1_0(buffer, header)
    except ValueError:  # a header longer than 64 KiB (a great many dimensions)
        buffer = io.BytesIO()
        np.lib.format.write_array_header_2_0(buffer, header)
    return buffer.getvalue()


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    done = 0
    while done < len(data):
        done += os.pwrite(fd, data[done:], offset + done)


class Hdf5Writer(Writer):
    """An HDF5 file with one chunked dataset at ``ds_path``, written chunk by chunk."""

    def __init__(self, options: ExportOptions):
        super().__init__(options)
        import h5py

        assert options.chunks is not None
        kwargs: dict[str, Any] = {}
        if options.compression == "bitshuffle-lz4":
            import hdf5plugin

            kwargs.update(hdf5plugin.Bitshuffle(nelems=0, cname="lz4"))
        elif options.compression == "gzip":
            kwargs.update(compression="gzip", compression_opts=options.level)
        chunks: tuple[int, ...] | None = options.chunks
        if 0 in options.shape:  # nothing selected: HDF5 takes no chunks on an empty axis
            chunks, kwargs = None, {}
        self.file = h5py.File(options.path, "w")
        try:
            self.dataset = self.file.create_dataset(
                options.ds_path,
                shape=options.shape,
                dtype=options.dtype,
                chunks=chunks,
                **kwargs,
            )
        except BaseException:
            self.file.close()
            raise

    def write(self, item: Item, block: np.ndarray) -> list[tuple[tuple[int, ...], bytes]]:
        chunks = self.options.chunks
        assert chunks is not None
        stack, offsets = chunk_stack(block, item, chunks)
        if self.options.compression == "none":
            return [(o, stack[i].tobytes()) for i, o in enumerate(offsets)]
        encoded = _core.encode_chunks(
            stack.reshape(-1).view(np.uint8),
            stack.shape[1] * stack.dtype.itemsize,
            stack.dtype.itemsize,
            self.options.compression,
            self.options.level,
        )
        return list(zip(offsets, encoded, strict=True))

    def finish(self, result: list[tuple[tuple[int, ...], bytes]]) -> None:
        write = self.dataset.id.write_direct_chunk
        for offset, data in result:
            write(offset, data)

    def close(self) -> None:
        self.file.close()


class ZarrWriter(Writer):
    """A Zarr (format 3) array at the path, written box by box."""

    def __init__(self, options: ExportOptions):
        super().__init__(options)
        import zarr

        assert options.chunks is not None
        compressors: Any = None
        if options.compression == "bitshuffle-lz4":
            from zarr.codecs import BloscCodec

            compressors = BloscCodec(
                cname="lz4", clevel=5, shuffle="bitshuffle", typesize=options.dtype.itemsize
            )
        elif options.compression == "gzip":
            from zarr.codecs import GzipCodec

            compressors = GzipCodec(level=options.level)
        self.array = zarr.create_array(
            store=str(options.path),
            shape=options.shape,
            chunks=options.chunks,
            dtype=options.dtype,
            compressors=compressors,
            fill_value=0,
            overwrite=True,
        )

    def write(self, item: Item, block: np.ndarray) -> None:
        self.array[item.index] = block.reshape(item.box_shape)


WRITERS: dict[str, type[Writer]] = {
    "npy": PlainWriter,
    "raw": PlainWriter,
    "hdf5": Hdf5Writer,
    "zarr": ZarrWriter,
}
