"""What the lower layers need from an executor, as protocols the executors implement.

ferrotem's layers import downwards only (``docs/architecture.md``): a dataset is initialised *on*
an executor, but ``ferrotem.io.dataset`` must not import ``ferrotem.executor``. So the layer that
needs something names it here, and every executor provides it without knowing this module (the
protocols are structural). The UDF runner's wider needs are in ``ferrotem.udf.protocols``, beside
the task types they mention.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, Protocol, TypeVar

__all__ = ["FunctionExecutor", "WorkerInfo"]

_P = ParamSpec("_P")
_T = TypeVar("_T")


class WorkerInfo(Protocol):
    """What the layers below the executors ask about its workers (a ``WorkerSet``)."""

    def has_cuda(self) -> bool:
        """True if some worker has a CUDA device."""
        ...

    def concurrency(self) -> int:
        """How many tasks the workers run at once."""
        ...


class FunctionExecutor(Protocol):
    """What a dataset needs from the executor it is initialised on: run a function where the
    tasks will run (to check that the data can be read there), and how many tasks run at once
    (to size the default partition count)."""

    def run_function(self, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """Runs ``fn`` once, somewhere, and returns its result."""
        ...

    def effective_worker_count(self) -> int:
        """How many tasks run at once."""
        ...
