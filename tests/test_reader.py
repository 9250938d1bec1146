"""Feeding the engine from a Python reader (``FrameReaderDataSet``): values through every
executor, ROIs, sync_offset, frames processed in pixel ranges, and the reader's mistakes and
exceptions."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pytest
from conftest import make_data
from ferrotem.common.shape import Shape
from ferrotem.contrib.daskadapter import make_dask_array
from ferrotem.io.dataset.base import DataSetMeta
from ferrotem.io.dataset.reader import FrameReaderDataSet
from ferrotem.udf.sum import SumUDF
from test_hdf5 import check_against


class ArrayReader(FrameReaderDataSet):
    """Frames from an array, counting the reads; ``mistake`` makes it return bad data."""

    def __init__(self, data, sig_dims=2, sync_offset=0, num_partitions=None, mistake=None):
        super().__init__()
        self.data = data
        self.sig_dims = sig_dims
        self.sync_offset = sync_offset
        self._num_partitions = num_partitions
        self.mistake = mistake
        self.calls: list[tuple[int, int]] = []
        self.calls_lock = threading.Lock()

    def __getstate__(self):
        state = super().__getstate__()
        state["calls_lock"] = None
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self.calls_lock = threading.Lock()

    def initialize(self, executor):
        sig = self.data.shape[self.data.ndim - self.sig_dims :]
        self._meta = DataSetMeta(
            shape=Shape(self.data.shape, sig_dims=self.sig_dims),
            raw_dtype=self.data.dtype,
            image_count=int(np.prod(self.data.shape[: -len(sig)])),
            sync_offset=self.sync_offset,
        )
        return self

    def read_frames(self, start, stop):
        with self.calls_lock:
            self.calls.append((start, stop))
        frames = self.data.reshape(-1, *self.data.shape[self.data.ndim - self.sig_dims :])
        if self.mistake == "dtype":
            return frames[start:stop].astype(np.float64)
        if self.mistake == "size":
            return np.append(frames[start:stop], frames.dtype.type(0))
        if self.mistake == "raise":
            raise KeyError(f"no frames {start}..{stop} here")
        return frames[start:stop]


@pytest.mark.parametrize("dtype", ["u2", ">i4", "f4", "c8"])
def test_frames_reach_every_udf(ctx, dtype):
    data = make_data(1, (3, 5, 4, 6), dtype)
    ds = ArrayReader(data, num_partitions=3)
    check_against(ctx, ds, data)
    roi = np.random.default_rng(2).random((3, 5)) < 0.5
    roi[0, 0] = True
    check_against(ctx, ds, data, roi=roi)


def test_sync_offset_and_dask_array(ctx):
    data = make_data(3, (6, 4, 4), "u1")
    ds = ArrayReader(data, sync_offset=-2)
    expected = np.concatenate([np.zeros_like(data[:2]), data[:-2]])
    check_against(ctx, ds, expected)
    arr, _ = make_dask_array(pickle.loads(pickle.dumps(ds)), dtype="uint8")
    np.testing.assert_array_equal(arr.compute(), expected)


def test_large_frames_are_read_once_per_tile(inline_ctx):
    # 700x700 float32 frames are processed in pixel ranges; the reader is asked once per run.
    data = make_data(4, (2, 700, 700), "f4")
    ds = ArrayReader(data, num_partitions=1)
    total = inline_ctx.run_udf(ds, SumUDF())["intensity"].data
    np.testing.assert_allclose(total, data.sum(axis=0), rtol=1e-6)
    assert len(ds.calls) == len(set(ds.calls)), ds.calls


@pytest.mark.parametrize(
    ("mistake", "error", "match"),
    [
        ("dtype", TypeError, r"dtype <f8 for frames 0\.\.\d+, expected <u2"),
        ("size", ValueError, r"ArrayReader: read_frames\(0, \d+\) returned \d+ elements"),
        ("raise", KeyError, r"no frames 0\.\.\d+ here"),
    ],
)
def test_reader_mistakes_raise(ctx, mistake, error, match):
    ds = ArrayReader(make_data(5, (4, 3, 3), "u2"), mistake=mistake)
    with pytest.raises(error, match=match):
        ctx.run_udf(ds, SumUDF())


def test_core_reader_source_checks_what_it_gets():
    from ferrotem import _core

    def short(first, count, p0, p1):
        return np.zeros(count * (p1 - p0) - 1, "u2")

    source = _core.DataSource.from_reader(short, "<u2", [3], [2, 2], 3, name="short reader")
    out = np.zeros(3 * 4, np.float32)
    with pytest.raises(ValueError, match=r"returned 22 bytes for frames 0\.\.3"):
        source.read(0, 3, out.view(np.uint8), "<f4")
    assert "short reader" in repr(source)
