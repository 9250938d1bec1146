"""Analyses (LiberTEM's ``libertem.analysis``): a UDF run plus its results as named,
visualised images, made by ``Context.create_*_analysis`` and run by ``Context.run``.

Each submodule holds one Analysis, under LiberTEM's module and class names; see
``docs/analysis.md``.
"""

from __future__ import annotations

from ferrotem.analysis.apply_fft_mask import ApplyFFTMask
from ferrotem.analysis.com import COMAnalysis
from ferrotem.analysis.disk import DiskMaskAnalysis
from ferrotem.analysis.fem import FEMAnalysis
from ferrotem.analysis.masks import MasksAnalysis
from ferrotem.analysis.point import PointMaskAnalysis
from ferrotem.analysis.radialfourier import RadialFourierAnalysis
from ferrotem.analysis.raw import PickFrameAnalysis
from ferrotem.analysis.rawfft import PickFFTFrameAnalysis
from ferrotem.analysis.ring import RingMaskAnalysis
from ferrotem.analysis.sd import SDAnalysis
from ferrotem.analysis.sum import SumAnalysis
from ferrotem.analysis.sumfft import SumfftAnalysis
from ferrotem.analysis.sumsig import SumSigAnalysis

__all__ = [
    "ApplyFFTMask",
    "COMAnalysis",
    "DiskMaskAnalysis",
    "FEMAnalysis",
    "MasksAnalysis",
    "PickFFTFrameAnalysis",
    "PickFrameAnalysis",
    "PointMaskAnalysis",
    "RadialFourierAnalysis",
    "RingMaskAnalysis",
    "SDAnalysis",
    "SumAnalysis",
    "SumSigAnalysis",
    "SumfftAnalysis",
]
