"""Detector corrections (LiberTEM's ``libertem.corrections``): :class:`CorrectionSet` for
``ctx.run_udf(..., corrections=...)``, the coordinate helpers in
:mod:`ferrotem.corrections.coordinates` and array functions in
:mod:`ferrotem.corrections.detector`."""

from ferrotem.corrections.corrset import CorrectionSet

__all__ = ["CorrectionSet"]
