"""What the datasets on the core's framed source (``'mib'``, ``'blo'``, ...) share: the checks
of their shape parameters, the warning for an acquisition cut short, and the source key."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

from ferrotem.common.exceptions import InvalidDataSetParameter
from ferrotem.common.math import prod
from ferrotem.io.dataset.base import file_identity


class IncompleteDataWarning(RuntimeWarning):
    """The files hold fewer frames than the scan (``nav_shape``) needs: an acquisition cut
    short. The frames present load; the missing ones read as zeros."""


def check_sig_size(sig_shape: tuple[int, ...], native: tuple[int, ...], what: str) -> None:
    """``sig_shape`` must have as many pixels as the stored frames (``native``)."""
    if prod(sig_shape) != prod(native):
        raise InvalidDataSetParameter(
            f"sig_shape: got {sig_shape} ({prod(sig_shape)} pixels), expected a shape of "
            f"{prod(native)} pixels: the frames of {what} are {native}"
        )


def warn_if_cut_short(what: str, present: int, nav_shape: tuple[int, ...]) -> bool:
    """Warns (``IncompleteDataWarning``) when fewer frames are present than the scan has;
    returns whether it did. (Frames that ``sync_offset`` moves past the end are not missing.)"""
    needed = prod(nav_shape)
    if present >= needed:
        return False
    warnings.warn(
        f"{what} holds {present} frames, but nav_shape {nav_shape} has {needed}: the "
        f"acquisition was cut short; the frames present load, the missing {needed - present} "
        "read as zeros",
        IncompleteDataWarning,
        stacklevel=3,
    )
    return True


def files_key(paths: Sequence[str]) -> tuple[Any, ...]:
    """The identity of a list of files, for the source cache (a rewritten file opens afresh)."""
    return tuple((os.path.realpath(p), file_identity(p)) for p in paths)


__all__ = ["IncompleteDataWarning", "check_sig_size", "files_key", "warn_if_cut_short"]
