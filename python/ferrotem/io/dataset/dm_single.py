"""``'dm'`` with one file: a ``.dm3`` / ``.dm4`` holding a 2-D image, a 3-D stack or 4-D STEM
data (:class:`SingleDMDataSet`, defined in ``ferrotem.io.dataset._dm_datasets``). Gatan's
transposed ("hybrid") order of 4-D files is read correctly by default."""

from __future__ import annotations

from ferrotem.io.dataset._dm_datasets import SingleDMDataSet

__all__ = ["SingleDMDataSet"]
