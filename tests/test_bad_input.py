"""User mistakes: each raises an exception of the fitting type whose message names the
parameter; exceptions raised inside a user's UDF reach the caller unchanged."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_data
from ferrotem.api import Context
from ferrotem.common.exceptions import (
    CorruptFileError,
    DataSetException,
    ExecutorSpecException,
    TruncatedFileError,
    UDFException,
)
from ferrotem.executor.concurrent import ConcurrentJobExecutor
from ferrotem.udf.base import UDF, MergeAttrMapping
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF

NAV, SIG = (3, 4), (2, 5)


@pytest.fixture
def data():
    return make_data(0, NAV + SIG, "u2")


@pytest.fixture
def raw_path(tmp_path, data):
    path = tmp_path / "data.raw"
    data.tofile(path)
    return path


@pytest.fixture
def npy_path(tmp_path, data):
    path = tmp_path / "data.npy"
    np.save(path, data)
    return path


@pytest.fixture
def ds(ctx, data):
    return ctx.load("memory", data=data, sig_dims=2, num_partitions=2)


def load_raw(ctx, path, **overrides):
    kwargs = dict(path=path, nav_shape=NAV, sig_shape=SIG, dtype="u2")
    kwargs.update(overrides)
    return ctx.load("raw", **kwargs)


# -- ctx.load: filetype and paths --------------------------------------------------------------
def test_unknown_filetype(ctx):
    with pytest.raises(ValueError, match="filetype: got 'tiff'"):
        ctx.load("tiff", path="x.tif")


def test_filetype_not_a_string(ctx):
    with pytest.raises(TypeError, match="filetype"):
        ctx.load(42)


def test_missing_file(ctx, tmp_path):
    with pytest.raises(FileNotFoundError, match="path") as info:
        load_raw(ctx, tmp_path / "nope.raw")
    assert "nope.raw" in str(info.value)
    with pytest.raises(FileNotFoundError, match=r"nope.npy"):
        ctx.load("npy", path=tmp_path / "nope.npy")


def test_directory_as_path(ctx, tmp_path):
    with pytest.raises(IsADirectoryError, match="path"):
        load_raw(ctx, tmp_path)
    with pytest.raises(IsADirectoryError, match="path"):
        ctx.load("npy", path=tmp_path)


def test_path_wrong_type(ctx):
    with pytest.raises(TypeError, match="path"):
        load_raw(ctx, 5)


def test_raw_file_too_small(ctx, raw_path):
    with pytest.raises(TruncatedFileError, match="nav_shape") as info:
        load_raw(ctx, raw_path, nav_shape=(4, 4))
    assert isinstance(info.value, OSError)
    assert "data.raw" in str(info.value)


def test_empty_raw_file(ctx, tmp_path):
    path = tmp_path / "empty.raw"
    path.write_bytes(b"")
    with pytest.raises(OSError, match="0 bytes"):
        load_raw(ctx, path, nav_shape=(1,), sig_shape=(1,), dtype="u1")


# -- ctx.load: dtypes -----------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["uint17", "floaty", None])
def test_bad_dtype_string(ctx, raw_path, dtype):
    with pytest.raises(TypeError, match="dtype"):
        load_raw(ctx, raw_path, dtype=dtype)


@pytest.mark.parametrize("dtype", ["bool", "U4", "O", "datetime64[s]"])
def test_unsupported_dtype(ctx, raw_path, dtype):
    with pytest.raises(TypeError, match="dtype"):
        load_raw(ctx, raw_path, dtype=dtype)


def test_memory_data_not_numeric(ctx):
    with pytest.raises(TypeError, match="data"):
        ctx.load("memory", data=np.array([[None, 1]], dtype=object), sig_dims=1)
    with pytest.raises(TypeError, match="data"):
        ctx.load("memory", data="not an array")


# -- ctx.load: shapes ------------------------------------------------------------------------
def test_raw_missing_nav_shape(ctx, raw_path):
    with pytest.raises(TypeError, match="nav_shape"):
        ctx.load("raw", path=raw_path, sig_shape=SIG, dtype="u2")


def test_raw_missing_sig_shape(ctx, raw_path):
    with pytest.raises(TypeError, match="sig_shape"):
        ctx.load("raw", path=raw_path, nav_shape=NAV, dtype="u2")


@pytest.mark.parametrize(
    ("param", "value"),
    [("nav_shape", (0, 4)), ("nav_shape", (3, -4)), ("sig_shape", (2, 0)), ("nav_shape", ())],
)
def test_zero_negative_or_empty_dims(ctx, raw_path, param, value):
    with pytest.raises(ValueError, match=param):
        load_raw(ctx, raw_path, **{param: value})


@pytest.mark.parametrize(
    ("param", "value"),
    [("nav_shape", (2.5, 4)), ("sig_shape", (2.0, 5)), ("nav_shape", "34"), ("sig_shape", 2.0)],
)
def test_float_or_string_dims(ctx, raw_path, param, value):
    with pytest.raises(TypeError, match=param):
        load_raw(ctx, raw_path, **{param: value})


@pytest.mark.parametrize("offset", [12, -12, 100])
def test_sync_offset_out_of_range(ctx, raw_path, data, offset):
    with pytest.raises(DataSetException, match="sync_offset") as info:
        load_raw(ctx, raw_path, sync_offset=offset)
    assert isinstance(info.value, ValueError)
    with pytest.raises(ValueError, match="sync_offset"):
        ctx.load("memory", data=data, sig_dims=2, sync_offset=offset)


def test_sync_offset_not_int(ctx, raw_path):
    with pytest.raises(TypeError, match="sync_offset"):
        load_raw(ctx, raw_path, sync_offset=1.5)


@pytest.mark.parametrize("n", [0, -3])
def test_num_partitions_not_positive(ctx, raw_path, data, n):
    with pytest.raises(ValueError, match="num_partitions"):
        load_raw(ctx, raw_path, num_partitions=n)
    with pytest.raises(ValueError, match="num_partitions"):
        ctx.load("memory", data=data, num_partitions=n)


def test_num_partitions_not_int(ctx, data):
    with pytest.raises(TypeError, match="num_partitions"):
        ctx.load("memory", data=data, num_partitions=2.0)


def test_memory_without_data_or_datashape(ctx):
    with pytest.raises(DataSetException, match="data"):
        ctx.load("memory", sig_dims=2)


@pytest.mark.parametrize("sig_dims", [4, 5, 0, -1])
def test_memory_sig_dims_out_of_range(ctx, data, sig_dims):
    with pytest.raises(ValueError, match="sig_dims"):
        ctx.load("memory", data=data, sig_dims=sig_dims)


def test_sig_dims_float(ctx, data, npy_path):
    with pytest.raises(TypeError, match="sig_dims"):
        ctx.load("memory", data=data, sig_dims=2.0)
    with pytest.raises(TypeError, match="sig_dims"):
        ctx.load("npy", path=npy_path, sig_dims=1.5)


def test_memory_sig_shape_disagrees_with_sig_dims(ctx, data):
    with pytest.raises(ValueError, match="sig_shape"):
        ctx.load("memory", data=data, sig_shape=(10,), sig_dims=2)


def test_memory_shape_larger_than_data(ctx, data):
    with pytest.raises(ValueError, match="nav_shape"):
        ctx.load("memory", data=data, nav_shape=(4, 4), sig_shape=SIG)


@pytest.mark.parametrize("tileshape", [(1, 2), (1, 2, 5, 1), (0, 2, 5)])
def test_tileshape_wrong(ctx, data, tileshape):
    with pytest.raises(ValueError, match="tileshape"):
        ctx.load("memory", data=data, sig_dims=2, tileshape=tileshape)


@pytest.mark.parametrize("filetype", ["memory", "raw", "npy"])
def test_io_backend_given(ctx, data, raw_path, npy_path, filetype):
    kwargs = {
        "memory": dict(data=data),
        "raw": dict(path=raw_path, nav_shape=NAV, sig_shape=SIG, dtype="u2"),
        "npy": dict(path=npy_path),
    }[filetype]
    with pytest.raises(ValueError, match="io_backend"):
        ctx.load(filetype, io_backend="mmap", **kwargs)


def test_npy_not_an_npy_file(ctx, tmp_path, raw_path):
    path = tmp_path / "fake.npy"
    path.write_bytes(b"this is not a numpy file at all" * 4)
    with pytest.raises(CorruptFileError, match=r"fake.npy") as info:
        ctx.load("npy", path=path)
    assert isinstance(info.value, ValueError)
    with pytest.raises(CorruptFileError):
        ctx.load("npy", path=raw_path)


def test_npy_truncated_header(ctx, tmp_path, npy_path):
    path = tmp_path / "short.npy"
    path.write_bytes(npy_path.read_bytes()[:20])
    with pytest.raises((CorruptFileError, TruncatedFileError), match=r"short.npy"):
        ctx.load("npy", path=path)


def test_npy_file_too_small_for_header_shape(ctx, tmp_path, npy_path):
    path = tmp_path / "cut.npy"
    path.write_bytes(npy_path.read_bytes()[:-7])
    with pytest.raises(TruncatedFileError, match=r"cut.npy"):
        ctx.load("npy", path=path)


def test_npy_nav_shape_larger_than_file(ctx, npy_path):
    with pytest.raises(ValueError, match="nav_shape") as info:
        ctx.load("npy", path=npy_path, nav_shape=(5, 5), sig_shape=SIG)
    assert isinstance(info.value, DataSetException)


def test_npy_sig_dims_too_large(ctx, npy_path):
    with pytest.raises(ValueError, match="sig_dims"):
        ctx.load("npy", path=npy_path, sig_dims=4)


# -- run_udf arguments ----------------------------------------------------------------------
def test_run_udf_empty_list(ctx, ds):
    with pytest.raises(ValueError, match=r"^empty list of UDFs - nothing to do!$"):
        ctx.run_udf(ds, [])
    with pytest.raises(ValueError, match=r"^empty list of UDFs - nothing to do!$"):
        ctx.run_udf_iter(ds, ())


@pytest.mark.parametrize("udf", [SumUDF, "SumUDF", 3, None])
def test_udf_not_a_udf(ctx, ds, udf):
    with pytest.raises(TypeError, match="udf"):
        ctx.run_udf(ds, udf)


def test_udf_list_with_non_udf(ctx, ds):
    with pytest.raises(TypeError, match="udf"):
        ctx.run_udf(ds, [SumUDF(), object()])


def test_dataset_not_a_dataset(ctx, data):
    with pytest.raises(TypeError, match="dataset"):
        ctx.run_udf(data, SumUDF())


@pytest.mark.parametrize(
    "roi", [np.ones((4, 4), bool), np.ones(11, bool), np.ones((3, 4, 2), bool)]
)
def test_roi_wrong_shape(ctx, ds, roi):
    with pytest.raises(ValueError, match="roi"):
        ctx.run_udf(ds, SumSigUDF(), roi=roi)


def test_roi_coordinate_outside(ctx, ds):
    with pytest.raises(ValueError, match="roi"):
        ctx.run_udf(ds, SumSigUDF(), roi=(5, 0))


def test_roi_pairs_with_mixed_bools(ctx, ds):
    with pytest.raises(ValueError, match="roi"):
        ctx.run_udf(ds, SumSigUDF(), roi=[((0, 0), True), ((1, 1), False)])


def test_backends_unsupported(ctx, ds):
    with pytest.raises(ValueError, match="backends"):
        ctx.run_udf(ds, _NavUDF(), backends=("cupy",))


def test_plots_of_the_wrong_form(ctx, ds):
    # the specs are checked before anything runs; tests/test_live_plots.py has the rest
    with pytest.raises(TypeError, match="plots"):
        ctx.run_udf(ds, SumUDF(), plots="intensity")
    with pytest.raises(ValueError, match=r"plots\[0\]\[0\]: channel: 'nope'"):
        ctx.run_udf(ds, SumUDF(), plots=[["nope"]])


# -- UDF interface misuse -----------------------------------------------------------------
class _NavUDF(UDF):
    def get_result_buffers(self):
        return {"x": self.buffer(kind="nav", dtype="float32")}

    def process_frame(self, frame):
        self.results.x[:] = frame.sum()


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        (dict(kind="frame"), "kind"),
        (dict(kind="nav", use="public"), "use"),
        (dict(kind="nav", where="gpu"), "where"),
        (dict(kind="nav", extra_shape=(-1,)), "extra_shape"),
        (dict(kind="nav", extra_shape=(2.5,)), "extra_shape"),
    ],
)
def test_buffer_invalid_arguments(ctx, ds, kwargs, param):
    class BadBuffer(UDF):
        def get_result_buffers(self):
            return {"x": self.buffer(**self.params.spec)}

        def process_frame(self, frame):
            pass

    with pytest.raises(ValueError, match=param):
        ctx.run_udf(ds, BadBuffer(spec=kwargs))


def test_buffer_invalid_dtype(ctx, ds):
    with pytest.raises(TypeError, match="dtype"):
        UDF().buffer(kind="nav", dtype="notadtype")


class _GetResultsUDF(_NavUDF):
    def get_result_buffers(self):
        return {
            "x": self.buffer(kind="nav", dtype="float32"),
            "p": self.buffer(kind="nav", dtype="float32", use="private"),
        }

    def get_results(self):
        return {self.params.name: self.params.value(self)}


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        ("bogus", lambda u: u.results.x, "'bogus'.*not declared.*result_only"),
        ("p", lambda u: u.results.p, "private.*'p'"),
        ("x", lambda u: u.results.x.astype(np.int32), "'x'.*dtype"),
    ],
    ids=["undeclared", "private", "dtype-kind"],
)
def test_get_results_misuse(ctx, ds, name, value, match):
    with pytest.raises(UDFException, match=match):
        ctx.run_udf(ds, _GetResultsUDF(name=name, value=value))


class _ResultOnlyNoGetResults(_NavUDF):
    def get_result_buffers(self):
        return {
            "x": self.buffer(kind="nav", dtype="float32"),
            "r": self.buffer(kind="nav", dtype="float32", use="result_only"),
        }


def test_result_only_without_get_results(ctx, ds):
    with pytest.raises(UDFException, match="result_only"):
        ctx.run_udf(ds, _ResultOnlyNoGetResults())


class _NoProcess(UDF):
    def get_result_buffers(self):
        return {"x": self.buffer(kind="nav")}


def test_udf_without_process_method(ctx, ds):
    with pytest.raises(UDFException, match="process_tile, process_frame, process_partition"):
        ctx.run_udf(ds, _NoProcess())


class _NotADict(_NavUDF):
    def get_result_buffers(self):
        return [self.buffer(kind="nav")]


def test_get_result_buffers_not_a_dict(ctx, ds):
    with pytest.raises(UDFException, match="get_result_buffers"):
        ctx.run_udf(ds, _NotADict())


class _SigNoMerge(UDF):
    def get_result_buffers(self):
        return {"s": self.buffer(kind="sig")}

    def process_tile(self, tile):
        self.results.s[:] += tile.sum(axis=0)


def test_sig_buffer_without_merge(ctx, ds):
    with pytest.raises(NotImplementedError, match="merge"):
        ctx.run_udf(ds, _SigNoMerge())


class _UnsafeCast(UDF):
    """Hands the default merge a float64 partial for an int8 buffer."""

    def get_result_buffers(self):
        return {"x": self.buffer(kind="nav", dtype="int8")}

    def process_frame(self, frame):
        self.results.x[:] = 1

    def merge(self, dest, src):
        super().merge(dest, MergeAttrMapping({"x": src.x.astype(np.float64)}))


def test_default_merge_refuses_unsafe_cast(ctx, ds):
    with pytest.raises(TypeError, match="Unsafe automatic casting"):
        ctx.run_udf(ds, _UnsafeCast())


def test_aux_data_dtype_mismatch():
    with pytest.raises(ValueError, match="dtype"):
        UDF.aux_data(np.zeros(4, dtype=np.float64), kind="nav", dtype="float32")


def test_corrections_must_be_a_correction_set(ctx, ds):
    with pytest.raises(TypeError, match="corrections: got object"):
        ctx.run_udf(ds, SumUDF(), corrections=object())


# -- executors -----------------------------------------------------------------------------
def test_context_executor_not_an_executor():
    with pytest.raises(TypeError, match="executor"):
        Context(executor="foo")


@pytest.mark.parametrize("spec", ["foo", "dask-magic", 3])
def test_make_with_unknown_spec(spec):
    with pytest.raises(ExecutorSpecException, match="executor_spec"):
        Context.make_with(spec)


@pytest.mark.parametrize(
    ("spec", "kwargs", "param"),
    [
        ("inline", dict(cpus=2), "cpus"),
        ("synchronous", dict(gpus=1), "gpus"),
        ("threads", dict(gpus=1), "gpus"),
        ("threads", dict(cpus=0), "cpus"),
        ("threads", dict(cpus=[]), "cpus"),
        ("threads", dict(cpus=True), "cpus"),
        ("threads", dict(cpus=2.5), "cpus"),
    ],
)
def test_make_with_bad_arguments(spec, kwargs, param):
    with pytest.raises(ExecutorSpecException, match=param):
        Context.make_with(spec, **kwargs)


@pytest.mark.parametrize(("n", "exc"), [(0, ValueError), (-1, ValueError), (1.5, TypeError)])
def test_concurrent_executor_bad_threads(n, exc):
    with pytest.raises(exc, match="n_threads"):
        ConcurrentJobExecutor.make_local(n_threads=n)


# -- exceptions inside user code reach the caller unchanged ------------------------------
class MyUDFError(Exception):
    pass


class _Raiser(UDF):
    """Raises in the method named by ``where`` (on a chosen frame for process_*)."""

    def get_result_buffers(self):
        if self.params.where == "get_result_buffers" and self.meta.slice is not None:
            raise MyUDFError("boom in get_result_buffers")
        return {"x": self.buffer(kind="nav", dtype="float32")}

    def get_task_data(self):
        if self.params.where == "get_task_data":
            raise KeyError("boom in get_task_data")
        return {}

    def process_frame(self, frame):
        if self.params.where == "process_frame" and self.meta.coordinates[0, 1] == 3:
            raise MyUDFError(f"boom at {tuple(self.meta.coordinates[0].tolist())}")
        self.results.x[:] = frame.sum()

    def postprocess(self):
        if self.params.where == "postprocess":
            raise ZeroDivisionError("boom in postprocess")

    def merge(self, dest, src):
        if self.params.where == "merge":
            raise MyUDFError("boom in merge")
        dest.x[:] = src.x

    def get_results(self):
        if self.params.where == "get_results":
            raise RuntimeError("boom in get_results")
        return {"x": self.results.x}


@pytest.mark.parametrize(
    ("where", "exc", "message"),
    [
        ("process_frame", MyUDFError, "boom at (2, 3)"),
        ("get_result_buffers", MyUDFError, "boom in get_result_buffers"),
        ("get_task_data", KeyError, "'boom in get_task_data'"),
        ("postprocess", ZeroDivisionError, "boom in postprocess"),
        ("merge", MyUDFError, "boom in merge"),
        ("get_results", RuntimeError, "boom in get_results"),
    ],
)
def test_user_exception_reaches_caller_unchanged(ctx, data, where, exc, message):
    ds = ctx.load("memory", data=data, sig_dims=2, num_partitions=3)
    roi = np.zeros(NAV, bool)
    roi[2, 3] = roi[0, 0] = True
    with pytest.raises(exc) as info:
        ctx.run_udf(ds, [SumUDF(), _Raiser(where=where)], roi=roi if where != "merge" else None)
    assert info.type is exc
    assert str(info.value) == message
    # the executor survives and keeps giving correct results
    res = ctx.run_udf(ds, SumSigUDF())
    np.testing.assert_array_equal(res["intensity"].data, data.sum(axis=(2, 3)).astype("f4"))


def test_user_exception_in_run_udf_iter(ctx, data):
    ds = ctx.load("memory", data=data, sig_dims=2, num_partitions=3)
    with pytest.raises(MyUDFError, match=r"^boom at \([012], 3\)$"):
        for _ in ctx.run_udf_iter(ds, _Raiser(where="process_frame")):
            pass
