"""What a session remembers of its finished analyses: enough to download the result images
and to write a notebook that reproduces them with the Python API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["CompletedResult", "DatasetSpec"]


@dataclass(frozen=True)
class DatasetSpec:
    """How a dataset was opened: its format and the parameters given to ``ctx.load``, with
    file parameters relative to the server's root (as the browser sent them)."""

    filetype: str
    parameters: dict[str, Any]


@dataclass
class CompletedResult:
    """The last complete result of one analysis id: the dataset it ran on, the analysis
    request (``{"type": ..., "parameters": {...}}``), and its images by channel name."""

    dataset_id: str
    dataset: DatasetSpec
    analysis: dict[str, Any]
    channels: dict[str, np.ndarray] = field(default_factory=dict)
