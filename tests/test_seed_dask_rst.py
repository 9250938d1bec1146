"""Every ``testcode`` block of LiberTEM's Dask page (shared/seed/dask.rst), verbatim except for
the package name, plus the scheduler options the page describes in prose.

Each seed block runs in a fresh namespace prepared by the page's ``testsetup`` (an inline
Context and a 16x16x16x16 memory dataset), as Sphinx doctest does.
"""

from __future__ import annotations

import shutil
import textwrap

import numpy as np
import pytest

SETUP = """
import numpy as np

from ferrotem.api import Context
from ferrotem.executor.inline import InlineJobExecutor

ctx = Context(executor=InlineJobExecutor())
dataset = ctx.load("memory", datashape=(16, 16, 16, 16), sig_dims=2)
"""

MAKE_DASK_ARRAY = """
from ferrotem.contrib.daskadapter import make_dask_array

# Construct a Dask array from the dataset
# The second return value contains information
# on workers that hold parts of a dataset in local
# storage to ensure optimal data locality
dask_array, workers = make_dask_array(dataset)

result = dask_array.sum(axis=(-1, -2)).compute(workers=workers)
"""

FROM_DASK = """
import dask.array as da
from ferrotem.udf.sum import SumUDF

# Create a Context that integrates well with
# the current Dask scheduler
ctx = Context.make_with('dask-integration')

a = da.random.random((23, 42, 17, 19))

ds = ctx.load('dask', a, sig_dims=2)
res = ctx.run_udf(dataset=ds, udf=SumUDF())

assert np.allclose(
    a.sum(axis=(0, 1)).compute(),
    res['intensity'].raw_data
)
"""

TO_DASK = """
from ferrotem.api import Context
from ferrotem.executor.delayed import DelayedJobExecutor

from ferrotem.udf.sumsigudf import SumSigUDF

ctx = Context(executor=DelayedJobExecutor())
res = ctx.run_udf(dataset=dataset, udf=SumSigUDF())

print(res['intensity'].delayed_data)
"""

MERGE_ALL_SETUP = """
import numpy as np
from ferrotem.udf.base import UDF
from ferrotem.executor.delayed import DelayedJobExecutor
"""

MERGE_ALL_1 = """
class MySumUDF(UDF):
    def get_result_buffers(self):
        return {
            'intensity': self.buffer(kind='sig', dtype=self.meta.input_dtype)
        }

    def process_tile(self, tile):
        self.results.intensity[:] += np.sum(tile, axis=0)

    def merge(self, dest, src):
        dest.intensity[:] += src.intensity

ctx = Context(executor=DelayedJobExecutor())
result = ctx.run_udf(udf=MySumUDF(), dataset=dataset)

result['intensity'].delayed_data.visualize()
"""

MERGE_ALL_2 = """
class MySumMergeUDF(MySumUDF):
    # Define the merge_all() method for the UDF above
    def merge_all(self, ordered_results):
        # List and not generator for NumPy dispatch to work
        chunks = [b.intensity for b in ordered_results.values()]
        # NumPy will dispatch the stacking to the appropriate method
        # for the chunks.
        # See also https://numpy.org/doc/stable/user/basics.dispatch.html
        stack = np.stack(chunks)
        # Perform computation on the stacked chunks
        # equivalent to the normal merge()
        intensity = stack.sum(axis=0)

        # Return a dictionary mapping buffer name to new content
        return {'intensity': intensity}

result2 = ctx.run_udf(udf=MySumMergeUDF(), dataset=dataset)

result2['intensity'].delayed_data.visualize()
"""

MERGE_ALL_CLEANUP = """
assert np.allclose(
    result['intensity'].raw_data,
    result2['intensity'].raw_data,
)
"""


def run_block(ns: dict, code: str) -> None:
    exec(compile(textwrap.dedent(code), "<seed>", "exec"), ns)


@pytest.fixture
def ns() -> dict:
    namespace: dict = {}
    run_block(namespace, SETUP)
    yield namespace
    namespace["ctx"].close()


def test_make_dask_array(ns):
    run_block(ns, MAKE_DASK_ARRAY)
    assert ns["result"].shape == (16, 16)
    assert ns["dask_array"].chunks == ((8, 8), (16,), (16,), (16,))
    assert np.allclose(ns["result"], 0)


def test_from_dask(ns):
    run_block(ns, FROM_DASK)
    assert ns["res"]["intensity"].raw_data.shape == (17, 19)


def test_to_dask(ns, capsys):
    run_block(ns, TO_DASK)
    out = capsys.readouterr().out.strip()
    # testoutput: dask.array<reshape, shape=(16, 16), dtype=float32, chunksize=(..., ...), ...>
    assert out.startswith("dask.array<reshape, shape=(16, 16), dtype=float32, chunksize=(")
    assert out.endswith("chunktype=numpy.ndarray>")


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz 'dot' is not installed")
def test_merge_all(ns, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # visualize() writes mydask.png into the working directory
    run_block(ns, MERGE_ALL_SETUP)
    run_block(ns, MERGE_ALL_1)
    run_block(ns, MERGE_ALL_2)
    run_block(ns, MERGE_ALL_CLEANUP)
    assert (tmp_path / "mydask.png").stat().st_size > 0


def test_merge_all_equals_merge_on_random_data():
    """The seed's claim, on data where a wrong merge would show: merge() and merge_all() agree
    with each other and with numpy."""
    ns: dict = {}
    run_block(ns, SETUP)
    data = np.random.default_rng(0).random((16, 16, 16, 16), dtype=np.float32)
    ns["dataset"] = ns["ctx"].load("memory", data=data, sig_dims=2, num_partitions=5)
    run_block(ns, MERGE_ALL_SETUP)
    code = MERGE_ALL_1.replace("result['intensity'].delayed_data.visualize()", "")
    code2 = MERGE_ALL_2.replace("result2['intensity'].delayed_data.visualize()", "")
    run_block(ns, code)
    run_block(ns, code2)
    run_block(ns, MERGE_ALL_CLEANUP)
    assert np.allclose(ns["result2"]["intensity"].data, data.sum(axis=(0, 1)), rtol=1e-5)
