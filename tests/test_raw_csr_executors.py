"""'raw_csr' on every executor: inline, threads, delayed and a local Dask cluster of two worker
processes (the dataset is pickled to them and reopened there): native UDFs on the stored
entries, a Python UDF on scipy.sparse tiles and one on dense tiles, with an ROI that leaves
partitions empty. numpy on the dense frames is the oracle."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
from conftest import assert_close
from ferrotem.udf.base import UDF
from ferrotem.udf.masks import ApplyMasksUDF
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF
from helpers.executors import every_executor
from helpers.raw_csr_writer import random_sparse, write_dense_as_csr

pytestmark = [pytest.mark.dist, pytest.mark.timeout(180)]


class SparseRowSumUDF(UDF):
    """scipy.sparse tiles only: each frame's sum, and whether the tile was a CSR matrix."""

    def get_result_buffers(self):
        return {
            "total": self.buffer(kind="nav", dtype="float64"),
            "csr": self.buffer(kind="nav", dtype="bool"),
        }

    def get_backends(self):
        return ("scipy.sparse.csr_matrix",)

    def process_tile(self, tile):
        self.results.csr[:] = isinstance(tile, scipy.sparse.csr_matrix)
        self.results.total[:] = np.asarray(tile.sum(axis=1)).reshape(-1)


class DenseMaxUDF(UDF):
    """numpy tiles: each frame's maximum."""

    def get_result_buffers(self):
        return {"max": self.buffer(kind="nav", dtype="float64")}

    def process_frame(self, frame):
        self.results.max[:] = frame.max()


@pytest.fixture(scope="module")
def contexts():
    yield from every_executor()


@pytest.mark.parametrize("executor", ["inline", "threads", "delayed", "dask"])
def test_every_executor(contexts, tmp_path, executor):
    ctx = contexts[executor]
    frames = random_sparse(11, (6, 5, 16, 12), 0.05, np.uint16)
    toml = write_dense_as_csr(tmp_path, "x", frames, (6, 5), (16, 12), ("<i8", "<u2", "<u2"))
    ds = ctx.load("raw_csr", path=toml, num_partitions=4)
    roi = np.zeros((6, 5), dtype=bool)
    roi[0, :3] = roi[5, 1:] = True  # the middle partitions have no work
    sel = frames[roi].astype(np.float64)
    masks = (np.arange(2 * 16 * 12).reshape(2, 16, 12) % 5).astype(np.float32)
    udfs = [
        SumUDF(),
        SumSigUDF(),
        ApplyMasksUDF(mask_factories=lambda: masks, use_sparse=True),
        SparseRowSumUDF(),
        DenseMaxUDF(),
    ]
    total, per_frame, virtual, rows, peak = ctx.run_udf(ds, udfs, roi=roi)
    assert_close(np.asarray(total["intensity"].data), sel.sum(axis=0), dtype="f4")
    assert_close(np.asarray(per_frame["intensity"].raw_data), sel.sum(axis=(1, 2)), dtype="f4")
    want = sel.reshape(len(sel), -1) @ masks.reshape(2, -1).T
    assert_close(np.asarray(virtual["intensity"].raw_data), want, dtype="f4")
    assert np.all(np.asarray(rows["csr"].raw_data))
    assert_close(np.asarray(rows["total"].raw_data), sel.sum(axis=(1, 2)))
    assert_close(np.asarray(peak["max"].raw_data), sel.max(axis=(1, 2)))
    # the native UDFs alone take the all-native path of each executor
    (alone,) = ctx.run_udf(ds, [SumUDF()], roi=roi)
    assert_close(np.asarray(alone["intensity"].data), sel.sum(axis=0), dtype="f4")
