"""'mib' and 'blo' on every executor: inline, threads, delayed and a local Dask cluster of two
worker processes (the dataset is pickled to them and reopened there), natively and with a Python
UDF, with an ROI; make_dask_array too. numpy is the oracle."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close
from ferrotem.contrib.daskadapter import make_dask_array
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF
from helpers.blo_writer import write_blo
from helpers.executors import FrameMaxUDF, every_executor
from helpers.frms6_writer import unfold
from helpers.frms6_writer import write_acquisition as write_frms6_acquisition
from helpers.mib_writer import random_frames, write_acquisition
from helpers.seq_writer import write_seq

pytestmark = [pytest.mark.dist, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def contexts():
    yield from every_executor()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A RAW 12-bit quad scan over three files, a plain 24-bit one and a 16-bit blockfile."""
    d = tmp_path_factory.mktemp("framed")
    raw = random_frames(1, (4, 6, 16, 128), 12)
    write_acquisition(d, "raw", raw, 12, raw=True, quad=True, files=3)
    plain = random_frames(2, (5, 3, 8, 32), 24)
    write_acquisition(d, "plain", plain, 24)
    blo = random_frames(3, (3, 5, 12, 12), 12)
    write_blo(d / "b.blo", blo, endianess=">", bits=16)
    seq = random_frames(4, (12, 9, 10), 16).astype(np.uint16)
    write_seq(d / "s.seq", seq, version=4, footer=24)
    pn = random_frames(5, (8, 4, 12), 12).astype(np.uint16)
    write_frms6_acquisition(d, "pn", pn[:2], [pn[2:5], pn[5:]], 2, (2, 3))
    return {
        "mib-raw": (dict(filetype="mib", path=d / "raw.hdr"), raw),
        "mib-plain": (dict(filetype="mib", path=d / "plain.mib", nav_shape=(15,)), plain),
        "blo": (dict(filetype="blo", path=d / "b.blo", endianess=">"), blo),
        "seq": (dict(filetype="seq", path=d / "s.seq", nav_shape=(3, 4)), seq),
        "frms6": (
            dict(filetype="frms6", path=d / "pn.hdr", enable_offset_correction=False),
            unfold(pn[2:], 2),
        ),
    }


@pytest.mark.parametrize("executor", ["inline", "threads", "delayed", "dask"])
@pytest.mark.parametrize("which", ["mib-raw", "mib-plain", "blo", "seq", "frms6"])
def test_every_executor(contexts, files, executor, which):
    ctx = contexts[executor]
    params, data = files[which]
    params = dict(params)
    ds = ctx.load(params.pop("filetype"), num_partitions=3, **params)
    data = data.reshape(tuple(ds.shape))
    nav = tuple(ds.shape.nav)
    roi = np.random.default_rng(len(which)).random(nav) < 0.6
    total, per_frame, frame_max = ctx.run_udf(ds, [SumUDF(), SumSigUDF(), FrameMaxUDF()], roi=roi)
    assert_close(np.asarray(total["intensity"].data), data[roi].sum(axis=0))
    assert_close(np.asarray(per_frame["intensity"].data)[roi], data[roi].sum(axis=(-1, -2)))
    maxima = np.asarray(frame_max["max"].data)
    np.testing.assert_array_equal(maxima[roi], data[roi].max(axis=(-1, -2)))


@pytest.mark.parametrize("which", ["mib-raw", "blo"])
def test_make_dask_array(contexts, files, which):
    params, data = files[which]
    params = dict(params)
    ds = contexts["inline"].load(params.pop("filetype"), **params)
    arr, _ = make_dask_array(ds)
    np.testing.assert_array_equal(arr.compute(), data.astype(np.float32))
