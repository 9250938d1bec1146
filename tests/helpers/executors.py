"""Shared by the per-format executor tests: one Context per executor, and a Python UDF that
every reader must serve frames to (so the Python path is checked beside the native one)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ferrotem.api import Context
from ferrotem.executor.dask import DaskJobExecutor, cluster_spec
from ferrotem.udf import UDF


class FrameMaxUDF(UDF):
    """A Python UDF: the maximum of each frame."""

    def get_result_buffers(self) -> dict[str, Any]:
        return {"max": self.buffer(kind="nav", dtype="float64")}

    def process_frame(self, frame: Any) -> None:
        self.results.max[:] = frame.max()


def every_executor() -> Iterator[dict[str, Context]]:
    """For a module-scoped fixture (``yield from every_executor()``): inline, threads, delayed
    and a two-worker local Dask cluster, closed after the module."""
    spec = cluster_spec(cpus=[0, 1], cudas=[], has_cupy=False, num_service=0)
    ctxs = {
        "inline": Context.make_with("inline"),
        "threads": Context(),
        "delayed": Context.make_with("delayed"),
        "dask": Context(executor=DaskJobExecutor.make_local(spec=spec)),
    }
    yield ctxs
    for c in ctxs.values():
        c.close()
