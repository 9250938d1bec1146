"""Helpers for users and tests: vector geometry in detector coordinates (here) and synthetic test
data (:mod:`ferrotem.utils.generate`), as LiberTEM's ``libertem.utils``."""

from ferrotem.utils.geometry import (
    calc_coords,
    frame_peaks,
    make_cartesian,
    make_polar,
    regularize_indices,
    rotate_deg,
    rotate_precalc,
    rotate_rad,
    within_frame,
)

__all__ = [
    "calc_coords",
    "frame_peaks",
    "make_cartesian",
    "make_polar",
    "regularize_indices",
    "rotate_deg",
    "rotate_precalc",
    "rotate_rad",
    "within_frame",
]
