"""Progress reporting for UDF runs (opt-in: ``run_udf(..., progress=True)``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class ProgressState:
    """Where a run stands."""

    num_frames_complete: int
    num_frames_total: int
    num_part_complete: int
    num_part_total: int


class ProgressReporter:
    """Receives progress of a run; subclass and pass an instance as ``progress=``."""

    def start(self, state: ProgressState) -> None:
        """The run starts."""

    def update(self, state: ProgressState) -> None:
        """A partition finished."""

    def end(self, state: ProgressState) -> None:
        """The run ended."""


class TQDMProgressReporter(ProgressReporter):
    """A tqdm bar of frames processed."""

    def __init__(self) -> None:
        self._bar: Any = None

    def start(self, state: ProgressState) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(total=state.num_frames_total, unit="frame", desc="ferrotem")

    def update(self, state: ProgressState) -> None:
        if self._bar is not None:
            self._bar.n = state.num_frames_complete
            self._bar.set_postfix_str(
                f"partitions {state.num_part_complete}/{state.num_part_total}"
            )
            self._bar.refresh()

    def end(self, state: ProgressState) -> None:
        if self._bar is not None:
            self._bar.n = state.num_frames_complete
            self._bar.close()
            self._bar = None


class ProgressManager:
    """Counts partitions and frames and forwards to a reporter."""

    def __init__(self, reporter: ProgressReporter | None, n_frames: int, n_parts: int):
        self._reporter = reporter
        self._state = ProgressState(0, n_frames, 0, n_parts)
        if reporter is not None:
            reporter.start(self._state)

    def partition_done(self, n_frames: int) -> None:
        """One partition of ``n_frames`` frames has been merged."""
        self._state.num_frames_complete += int(n_frames)
        self._state.num_part_complete += 1
        if self._reporter is not None:
            self._reporter.update(self._state)

    def close(self) -> None:
        """The run ended (normally or not)."""
        if self._reporter is not None:
            self._reporter.end(self._state)
            self._reporter = None


def make_reporter(progress: Any) -> ProgressReporter | None:
    """Turns the ``progress`` argument of ``run_udf`` into a reporter."""
    if progress is False or progress is None:
        return None
    if progress is True:
        return TQDMProgressReporter()
    if isinstance(progress, ProgressReporter):
        return progress
    raise TypeError(f"progress: got {progress!r}, expected a bool or a ProgressReporter")
