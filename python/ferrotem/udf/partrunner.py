"""``UDFPartRunner``: LiberTEM's worker-side runner, which runs UDFs over a single partition.

ferrotem's executors run partitions as :class:`~ferrotem.udf.task.UDFTask`\\ s; this class is the
same work behind LiberTEM's name, for code that processes one partition by hand (tests, custom
schedulers). It lives apart from the task module because it also needs the runner's input-dtype
rule, and the runner imports the task module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ferrotem.common.roi import normalize_roi
from ferrotem.io.dataset.base import Partition
from ferrotem.udf.base import UDF, MergeAttrMapping
from ferrotem.udf.runner import active_corrections, get_input_dtype
from ferrotem.udf.task import UDFTask

__all__ = ["UDFPartRunner"]


class UDFPartRunner:
    """Runs a list of UDFs over one partition, where it is called."""

    def __init__(self, udfs: Sequence[UDF], debug: bool = False):
        for u in udfs:
            if not isinstance(u, UDF):
                raise TypeError(f"udfs: got {type(u).__name__} in the list, expected UDF instances")
        self._udfs = list(udfs)

    def run_for_partition(
        self, partition: Partition, roi: Any = None, corrections: Any = None
    ) -> tuple[MergeAttrMapping, ...]:
        """The partial results of every UDF for ``partition`` (frames selected by ``roi``, a ROI
        over the whole dataset in any form ``run_udf`` accepts): one mapping per UDF, buffer name
        to partition-sized array (nav buffers hold the partition's selected frames only), as
        ``merge`` receives them in ``src``. ``corrections`` (a ``CorrectionSet``, else the
        dataset's own) are applied as in ``run_udf``."""
        if not isinstance(partition, Partition):
            raise TypeError(
                f"partition: got {type(partition).__name__}, expected a Partition from "
                "dataset.get_partitions()"
            )
        dataset = partition.dataset
        roi_flat = normalize_roi(roi, tuple(dataset.shape.nav))
        active = active_corrections(corrections, dataset)
        task = UDFTask(
            partition,
            [(type(u), u._kwargs) for u in self._udfs],
            roi_flat,
            get_input_dtype(self._udfs, dataset.dtype, active),
            corrections=active,
        )
        result = task()
        return tuple(MergeAttrMapping(buffers) for buffers in result.buffers)
