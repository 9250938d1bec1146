"""'raw_csr': sparse datasets from a TOML descriptor and three raw files, synthesised here.

Oracles: the dense frames the files were made from, and numpy on them (``sum``, dot products
with the masks). Native UDFs run on the stored entries in Rust, Python UDFs receive
``scipy.sparse``/``sparse`` tiles or dense ones by their ``get_backends``.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
import sparse
from conftest import assert_close
from ferrotem.api import Context
from ferrotem.common.exceptions import (
    CorruptFileError,
    DataSetException,
    InvalidDataSetParameter,
    MissingFileError,
)
from ferrotem.io.dataset.raw_csr import RawCSRDataSet, get_descriptor, get_nav_size, get_triple
from ferrotem.udf.base import UDF
from ferrotem.udf.masks import ApplyMasksUDF
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF
from helpers.raw_csr_writer import random_sparse, to_csr, write_dense_as_csr, write_raw_csr
from hypothesis import given
from hypothesis import strategies as st


class CSRFrameSumUDF(UDF):
    """Takes scipy CSR tiles only: per-frame sums and the sig sum, and a record of the type."""

    def get_result_buffers(self):
        return {
            "frame_sum": self.buffer(kind="nav", dtype="float64"),
            "sig_sum": self.buffer(kind="sig", dtype="float64"),
            "was_csr": self.buffer(kind="nav", dtype="bool"),
        }

    def get_backends(self):
        return (
            (self.BACKEND_SCIPY_CSR,)
            if hasattr(self, "BACKEND_SCIPY_CSR")
            else ("scipy.sparse.csr_matrix",)
        )

    def process_tile(self, tile):
        self.results.was_csr[:] = isinstance(tile, scipy.sparse.csr_matrix) and tile.ndim == 2
        self.results.frame_sum[:] = np.asarray(tile.sum(axis=1)).reshape(-1)
        self.results.sig_sum[:] += self.forbuf(tile.sum(axis=0), self.results.sig_sum)

    def merge(self, dest, src):
        dest.frame_sum[:] = src.frame_sum
        dest.was_csr[:] = src.was_csr
        dest.sig_sum[:] += src.sig_sum


class COOFrameUDF(UDF):
    """Takes pydata sparse only, frame by frame: the frame's sum and maximum."""

    def get_result_buffers(self):
        return {
            "total": self.buffer(kind="nav", dtype="float64"),
            "peak": self.buffer(kind="nav", dtype="float64"),
            "was_coo": self.buffer(kind="nav", dtype="bool"),
        }

    def get_backends(self):
        return ("sparse.COO",)

    def process_frame(self, frame):
        self.results.was_coo[:] = isinstance(frame, sparse.COO)
        self.results.total[:] = float(frame.sum())
        self.results.peak[:] = float(frame.max()) if frame.nnz else 0.0


class DenseMaxUDF(UDF):
    """A numpy-only UDF: the maximum of each frame, and whether it got dense frames."""

    def get_result_buffers(self):
        return {
            "max": self.buffer(kind="nav", dtype="float64"),
            "was_dense": self.buffer(kind="nav", dtype="bool"),
        }

    def process_frame(self, frame):
        self.results.was_dense[:] = type(frame) is np.ndarray
        self.results.max[:] = frame.max()


def _masks(sig_shape, n=3, seed=7):
    rng = np.random.default_rng(seed)
    return (rng.random((n, *sig_shape)) < 0.3) * rng.integers(1, 5, size=(n, *sig_shape))


def _factory(masks):
    return lambda: masks.astype(np.float32)


def check_run(ctx, ds, frames, roi=None, masks=None):
    """Runs the native UDFs (and, separately, the Python ones) and compares with numpy."""
    nav = tuple(ds.shape.nav)
    sig = tuple(ds.shape.sig)
    dense = frames.reshape(nav + sig).astype(np.float64)
    sel = dense.reshape((-1, *sig))
    sel = sel if roi is None else sel[np.asarray(roi).reshape(-1)]
    masks = _masks(sig) if masks is None else masks
    udfs = [
        SumUDF(),
        SumSigUDF(),
        ApplyMasksUDF(mask_factories=_factory(masks)),
        ApplyMasksUDF(mask_factories=_factory(masks), use_sparse=True),
    ]
    total, per_frame, dense_m, sparse_m = ctx.run_udf(ds, udfs, roi=roi)
    assert_close(np.asarray(total["intensity"].data), sel.sum(axis=0), dtype="f4")
    assert_close(np.asarray(per_frame["intensity"].raw_data), sel.sum(axis=(-1, -2)), "f4")
    pixels = int(np.prod(sig))
    want = sel.reshape(len(sel), pixels) @ masks.reshape(len(masks), pixels).T
    assert_close(np.asarray(dense_m["intensity"].raw_data), want, dtype="f4")
    assert_close(np.asarray(sparse_m["intensity"].raw_data), want, dtype="f4")
    csr, coo, dmax = ctx.run_udf(ds, [CSRFrameSumUDF(), COOFrameUDF(), DenseMaxUDF()], roi=roi)
    assert np.all(csr["was_csr"].raw_data)
    assert np.all(coo["was_coo"].raw_data)
    assert np.all(dmax["was_dense"].raw_data)
    assert_close(csr["frame_sum"].raw_data, sel.sum(axis=(-1, -2)))
    assert_close(csr["sig_sum"].data, sel.sum(axis=0))
    assert_close(coo["total"].raw_data, sel.sum(axis=(-1, -2)))
    peak = sel.max(axis=(-1, -2)) if len(sel) else np.zeros(0)
    assert_close(dmax["max"].raw_data, peak)
    assert_close(coo["peak"].raw_data, peak)


@pytest.mark.parametrize(
    "dtypes", [("<i8", "<i4", "<u2"), ("<u4", "<u2", ">f4"), ("<i4", "<i8", "<f8")]
)
def test_native_and_python_udfs(ctx, tmp_path, dtypes):
    frames = random_sparse(1, (5, 6, 12, 10), 0.1, np.dtype(dtypes[2]).newbyteorder("="))
    toml = write_dense_as_csr(tmp_path, "s", frames, (5, 6), (12, 10), dtypes)
    ds = ctx.load("raw_csr", path=toml, num_partitions=3)
    assert ds.dtype == np.dtype(dtypes[2])
    assert tuple(ds.shape) == (5, 6, 12, 10)
    check_run(ctx, ds, frames)
    roi = np.random.default_rng(2).random((5, 6)) < 0.5
    check_run(ctx, ds, frames, roi=roi)


def test_roi_leaving_partitions_empty(ctx, tmp_path):
    frames = random_sparse(3, (8, 4, 6, 6), 0.2, np.float32)
    ds = ctx.load(
        "raw_csr", path=write_dense_as_csr(tmp_path, "r", frames, (8, 4), (6, 6)), num_partitions=4
    )
    roi = np.zeros((8, 4), dtype=bool)
    roi[5, 1:3] = True  # only the third partition has work
    check_run(ctx, ds, frames, roi=roi)
    check_run(ctx, ds, frames, roi=np.zeros((8, 4), dtype=bool))


def test_duplicate_and_unsorted_entries_add_up(ctx, tmp_path):
    # frame 0: pixel 3 twice (1 + 2) and pixel 0; frame 1 empty; frame 2: pixels 5, 1
    indptr = [0, 3, 3, 5]
    indices = [3, 0, 3, 5, 1]
    data = [1.0, 4.0, 2.0, 7.0, 0.5]
    toml = write_raw_csr(tmp_path, "dup", indptr, indices, data, (3,), (2, 3))
    dense = np.zeros((3, 6))
    np.add.at(dense, ([0, 0, 0, 2, 2], indices), data)
    ds = ctx.load("raw_csr", path=toml)
    check_run(ctx, ds, dense.reshape(3, 2, 3))


@pytest.mark.parametrize("sync_offset", [-3, 0, 2])
def test_sync_offset_and_nav_shape(ctx, tmp_path, sync_offset):
    frames = random_sparse(4, (4, 5, 7, 3), 0.3, np.uint16)
    toml = write_dense_as_csr(tmp_path, "o", frames, (4, 5), (7, 3))
    ds = ctx.load("raw_csr", path=toml, nav_shape=(3, 6), sync_offset=sync_offset)
    flat = frames.reshape(20, 7, 3)
    logical = np.zeros((18, 7, 3), dtype=flat.dtype)
    for f in range(18):
        if 0 <= f + sync_offset < 20:
            logical[f] = flat[f + sync_offset]
    check_run(ctx, ds, logical)


def test_sig_shape_reshapes(ctx, tmp_path):
    frames = random_sparse(5, (6, 4, 6), 0.3, np.float32)
    toml = write_dense_as_csr(tmp_path, "g", frames, (6,), (4, 6))
    ds = ctx.load("raw_csr", path=toml, sig_shape=(8, 3))
    assert tuple(ds.shape) == (6, 8, 3)
    check_run(ctx, ds, frames.reshape(6, 8, 3))
    with pytest.raises(InvalidDataSetParameter, match="sig_shape"):
        ctx.load("raw_csr", path=toml, sig_shape=(5, 5))


def test_auto_and_helpers(ctx, tmp_path):
    frames = random_sparse(6, (3, 3, 4, 4), 0.4, np.float32)
    toml = write_dense_as_csr(tmp_path, "a", frames, (3, 3), (4, 4))
    ds = ctx.load("auto", path=toml)
    assert isinstance(ds, RawCSRDataSet)
    assert ds.array_backends == ("scipy.sparse.csr_matrix",)
    desc = get_descriptor(str(toml))
    assert get_nav_size(desc) == 9
    triple = get_triple(desc)
    want = scipy.sparse.csr_matrix(frames.reshape(9, 16))
    got = scipy.sparse.csr_matrix((triple.data, triple.indices, triple.indptr), shape=(9, 16))
    np.testing.assert_array_equal(got.toarray(), want.toarray())
    params = RawCSRDataSet.detect_params(str(toml))
    assert params["parameters"]["nav_shape"] == (3, 3)
    assert RawCSRDataSet.detect_params(str(tmp_path / "a.data")) is False
    names = [d["name"] for d in ds.diagnostics]
    assert "indices dtype" in names


# -- bad input ------------------------------------------------------------------------------------
def _good(tmp_path):
    frames = random_sparse(8, (4, 5, 5), 0.3, np.float32)
    indptr, indices, data = to_csr(frames)
    return frames, indptr, indices, data


def test_descriptor_problems_name_file_and_key(inline_ctx, tmp_path):
    _, indptr, indices, data = _good(tmp_path)
    toml = write_raw_csr(tmp_path, "b", indptr, indices, data, (4,), (5, 5))
    text = toml.read_text()
    bad = tmp_path / "nokey.toml"
    bad.write_text(text.replace('indices_dtype = "<i4"\n', ""))
    with pytest.raises(InvalidDataSetParameter, match="indices_dtype") as e:
        inline_ctx.load("raw_csr", path=bad)
    assert "nokey.toml" in str(e.value)
    missing = tmp_path / "missing.toml"
    missing.write_text(text.replace('data_file = "b.data"', 'data_file = "gone.data"'))
    with pytest.raises(MissingFileError, match=r"gone\.data"):
        inline_ctx.load("raw_csr", path=missing)
    notoml = tmp_path / "broken.toml"
    notoml.write_text("[params\nfiletype=")
    with pytest.raises(DataSetException, match=r"broken\.toml"):
        inline_ctx.load("raw_csr", path=notoml)
    other = tmp_path / "other.toml"
    other.write_text(text.replace('filetype = "raw_csr"', 'filetype = "raw"'))
    with pytest.raises(InvalidDataSetParameter, match="filetype"):
        inline_ctx.load("raw_csr", path=other)
    noparams = tmp_path / "noparams.toml"
    noparams.write_text(text.split("[raw_csr]")[1])
    with pytest.raises(InvalidDataSetParameter, match=r"\[params\]"):
        inline_ctx.load("raw_csr", path=noparams)
    with pytest.raises(FileNotFoundError):
        inline_ctx.load("raw_csr", path=tmp_path / "nothing.toml")


def test_file_problems_are_clear_exceptions(inline_ctx, tmp_path):
    _, indptr, indices, data = _good(tmp_path)
    decreasing = indptr.copy()
    decreasing[2] = decreasing[3] + 1
    toml = write_raw_csr(tmp_path, "m", decreasing, indices, data, (4,), (5, 5))
    with pytest.raises(CorruptFileError, match=r"m\.indptr.*not monotone"):
        inline_ctx.load("raw_csr", path=toml)
    toml = write_raw_csr(tmp_path, "n", indptr, indices, data[:-1], (4,), (5, 5))
    with pytest.raises(CorruptFileError, match=r"n\.data.*one value per index"):
        inline_ctx.load("raw_csr", path=toml)
    past = indptr.copy()
    past[-1] += 5
    toml = write_raw_csr(tmp_path, "p", past, indices, data, (4,), (5, 5))
    with pytest.raises(CorruptFileError, match=r"p\.indptr.*past"):
        inline_ctx.load("raw_csr", path=toml)
    toml = write_raw_csr(
        tmp_path, "f", indptr, indices, data, (4,), (5, 5), dtypes=("<f4", "<i4", "<f4")
    )
    with pytest.raises(TypeError, match="indptr_dtype"):
        inline_ctx.load("raw_csr", path=toml)
    (tmp_path / "odd.indptr").write_bytes(b"\0" * 7)
    toml = write_raw_csr(tmp_path, "odd", indptr, indices, data, (4,), (5, 5))
    (tmp_path / "odd.indptr").write_bytes(np.asarray(indptr, "<i8").tobytes()[:-3])
    with pytest.raises(CorruptFileError, match="whole number"):
        inline_ctx.load("raw_csr", path=toml)


@pytest.mark.parametrize("udf", ["native", "python-sparse", "python-dense"])
def test_index_out_of_range_fails_the_run(inline_ctx, tmp_path, udf):
    _, indptr, indices, data = _good(tmp_path)
    bad = indices.copy()
    bad[len(bad) // 2] = 25  # frames have 25 pixels: 0..24
    toml = write_raw_csr(tmp_path, "i", indptr, bad, data, (4,), (5, 5))
    ds = inline_ctx.load("raw_csr", path=toml)  # indices are checked as tiles are read
    chosen = {"native": SumUDF(), "python-sparse": CSRFrameSumUDF(), "python-dense": DenseMaxUDF()}
    with pytest.raises(CorruptFileError, match=r"i\.indices.*index 25"):
        inline_ctx.run_udf(ds, chosen[udf])


def test_corrections_with_sparse_tiles_refused(inline_ctx, tmp_path):
    from ferrotem.corrections import CorrectionSet

    frames, *_ = _good(tmp_path)
    ds = inline_ctx.load("raw_csr", path=write_dense_as_csr(tmp_path, "c", frames, (4,), (5, 5)))
    dark = np.ones((5, 5), dtype=np.float32)
    with pytest.raises(ValueError, match="corrections"):
        inline_ctx.run_udf(ds, CSRFrameSumUDF(), corrections=CorrectionSet(dark=dark))
    # dense UDFs get corrected dense tiles
    res = inline_ctx.run_udf(ds, SumUDF(), corrections=CorrectionSet(dark=dark))
    assert_close(res["intensity"].data, (frames - 1).sum(axis=0), dtype="f4")


# -- properties -----------------------------------------------------------------------------------
@given(
    nav=st.tuples(st.integers(1, 5), st.integers(1, 5)),
    sig=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    density=st.sampled_from([0.0, 0.01, 0.2, 1.0]),
    dtypes=st.sampled_from(
        [("<i8", "<i4", "<f4"), ("<u4", "<u2", "<u1"), ("<i4", "<i8", ">i2"), ("<u8", "<u4", "<f8")]
    ),
    parts=st.integers(1, 4),
    roi_kind=st.sampled_from(["none", "random", "empty", "one"]),
    seed=st.integers(0, 2**16),
)
def test_property_against_numpy(
    contexts, tmp_path_factory, nav, sig, density, dtypes, parts, roi_kind, seed
):
    tmp = tmp_path_factory.mktemp("h")
    dt = np.dtype(dtypes[2]).newbyteorder("=")
    frames = random_sparse(seed, (*nav, *sig), density, dt)
    toml = write_dense_as_csr(tmp, "h", frames, nav, sig, dtypes)
    rng = np.random.default_rng(seed)
    roi = {
        "none": None,
        "random": rng.random(nav) < 0.5,
        "empty": np.zeros(nav, dtype=bool),
        "one": np.eye(1, nav[0] * nav[1], int(rng.integers(nav[0] * nav[1])), dtype=bool).reshape(
            nav
        ),
    }[roi_kind]
    ctx = contexts["threads" if seed % 2 else "inline"]
    ds = ctx.load("raw_csr", path=toml, num_partitions=min(parts, nav[0] * nav[1]))
    check_run(ctx, ds, frames, roi=roi)


def test_context_default_threads_reads_the_same_as_inline(tmp_path):
    frames = random_sparse(9, (6, 7, 9, 9), 0.05, np.uint16)
    toml = write_dense_as_csr(tmp_path, "t", frames, (6, 7), (9, 9))
    with Context.make_with("inline") as a, Context() as b:
        ra = a.run_udf(a.load("raw_csr", path=toml), SumUDF())
        rb = b.run_udf(b.load("raw_csr", path=toml, num_partitions=5), SumUDF())
    np.testing.assert_array_equal(ra["intensity"].data, rb["intensity"].data)
    assert_close(ra["intensity"].data, frames.reshape(-1, 9, 9).sum(axis=0))
