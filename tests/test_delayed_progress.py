"""Progress of delayed runs reports real completion at compute time (LiberTEM's tracks only the
graph construction)."""

from __future__ import annotations

import numpy as np
from ferrotem.api import Context
from ferrotem.common.progress import ProgressReporter
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF


class Recorder(ProgressReporter):
    def __init__(self):
        self.updates = []
        self.ended = False

    def update(self, state):
        self.updates.append((state.num_frames_complete, state.num_part_complete))

    def end(self, state):
        self.ended = True


def test_progress_counts_partitions_when_computed():
    data = np.random.default_rng(0).random((16, 16, 8, 8), dtype=np.float32)
    roi = np.zeros((16, 16), dtype=bool)
    roi[2:14] = True
    with Context.make_with("delayed") as ctx:
        ds = ctx.load("memory", data=data, num_partitions=4)
        rec = Recorder()
        res = ctx.run_udf(ds, [SumUDF(), SumSigUDF()], roi=roi, progress=rec)
        assert rec.updates == []  # nothing computed yet
        assert np.allclose(res[1]["intensity"].data[roi], data[roi].sum(axis=(1, 2)), rtol=1e-5)
    assert len(rec.updates) == 4
    assert sorted(rec.updates)[-1] == (int(roi.sum()), 4)
    assert rec.ended
