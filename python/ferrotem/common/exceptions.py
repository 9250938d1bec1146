"""Exception classes of ferrotem, named as LiberTEM names them.

Where a builtin exception fits, ours derive from it as well (``TruncatedFileError`` is an
``OSError``, ``CorruptFileError`` a ``ValueError``), so that both ``except DataSetException`` in
ported LiberTEM code and ``except OSError`` work.
"""

from __future__ import annotations


class UDFException(Exception):
    """A UDF uses the UDF interface wrongly (undeclared result, private buffer returned, ...)."""


class ExecutorSpecException(ValueError):
    """``Context.make_with`` was given a spec or arguments that do not fit together."""


class UDFRunCancelled(Exception):
    """A UDF run was cancelled before all partitions were processed."""


class JobCancelledError(Exception):
    """Raised inside a task to cancel the run it belongs to."""


class ResourceError(RuntimeError):
    """The tasks need resources (e.g. a CUDA device) the executor does not have.

    Defined here, below the UDF runner that raises it and the executors that raise it, so that
    neither layer imports the other for it; LiberTEM code imports it from
    ``ferrotem.executor.base``, which re-exports it.
    """


class DataSetException(Exception):
    """Base class of dataset errors (LiberTEM's ``DataSetException``)."""


class InvalidDataSetParameter(DataSetException, ValueError):
    """A dataset parameter has a value that does not fit."""


class DataSetTypeError(DataSetException, TypeError):
    """A dataset parameter has the wrong type."""


class MissingFileError(DataSetException, FileNotFoundError):
    """The dataset's file does not exist."""


class TruncatedFileError(DataSetException, OSError):
    """A file is shorter than its description needs (possibly it shrank after loading)."""


class CorruptFileError(DataSetException, ValueError):
    """A file's content does not follow its format."""


__all__ = [
    "CorruptFileError",
    "DataSetException",
    "DataSetTypeError",
    "ExecutorSpecException",
    "InvalidDataSetParameter",
    "JobCancelledError",
    "MissingFileError",
    "ResourceError",
    "TruncatedFileError",
    "UDFException",
    "UDFRunCancelled",
]
