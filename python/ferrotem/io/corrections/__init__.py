"""LiberTEM's older home of :class:`~ferrotem.corrections.CorrectionSet`
(``libertem.io.corrections``), kept so that code importing it from there runs."""

from ferrotem.corrections.corrset import CorrectionSet

__all__ = ["CorrectionSet"]
