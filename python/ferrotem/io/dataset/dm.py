"""``'dm'``: Gatan Digital Micrograph files (``.dm3``, ``.dm4``), read by the Rust core.

:class:`DMDataSet` builds the right dataset from its arguments, as LiberTEM's does: ``files=``
(or a list as the first argument) gives a :class:`StackedDMDataSet`, a stack of files of 2-D
images (or 3-D stacks); anything else a :class:`~ferrotem.io.dataset.dm_single.SingleDMDataSet`.
The classes are defined in ``ferrotem.io.dataset._dm_datasets``.
"""

from __future__ import annotations

from ferrotem.io.dataset._dm_datasets import DMDataSet, StackedDMDataSet

__all__ = ["DMDataSet", "StackedDMDataSet"]
