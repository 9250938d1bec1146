"""Native runs on a cluster merge consecutive partitions into fewer, larger tasks."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from ferrotem.api import Context
from ferrotem.executor.inline import InlineJobExecutor
from ferrotem.udf.runner import coalesce_partitions
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF


@pytest.mark.parametrize("n_parts", [1, 3, 7, 16])
@pytest.mark.parametrize("target", [1, 2, 4, 5])
def test_coalesced_partitions_cover_the_same_frames(n_parts, target):
    with Context(executor=InlineJobExecutor()) as ctx:
        ds = ctx.load("memory", data=np.zeros((10, 7, 2, 2), np.float32), num_partitions=n_parts)
        parts = list(ds.get_partitions())
        merged = coalesce_partitions(parts, target)
    assert len(merged) == min(len(parts), target)
    assert merged[0].start == 0 and merged[-1].stop == 70
    assert all(a.stop == b.start for a, b in itertools.pairwise(merged))
    assert [m.index for m in merged] == list(range(len(merged)))


class FewTasks(InlineJobExecutor):
    """An inline executor that asks for coalesced native tasks, like the Dask executor."""

    def native_task_target(self):
        return 2


def test_native_results_with_coalesced_tasks_and_roi():
    rng = np.random.default_rng(3)
    data = rng.integers(0, 100, (12, 9, 5, 4)).astype(np.uint16)
    roi = rng.random((12, 9)) > 0.4
    roi[4:7] = False  # a partition without selected frames lies between merged ones
    with Context(executor=FewTasks()) as ctx:
        ds = ctx.load("memory", data=data, num_partitions=6)
        total, frames = ctx.run_udf(dataset=ds, udf=[SumUDF(), SumSigUDF()], roi=roi)
    assert np.allclose(total["intensity"].data, data[roi].sum(axis=0))
    assert np.allclose(frames["intensity"].raw_data, data[roi].sum(axis=(1, 2)))
    assert np.isnan(frames["intensity"].data[~roi]).all()
