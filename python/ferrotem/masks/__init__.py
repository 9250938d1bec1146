"""Mask factories for virtual detectors (LiberTEM's ``libertem.masks``): disks, rings,
rectangles, radial bins, gradients, polar maps, background-subtracting templates and sparse
stacks of many small masks.

All factories take the centre as ``(centerX, centerY)`` and the image size as ``(imageSizeX,
imageSizeY)`` (LiberTEM's names and order) and return arrays of shape ``(imageSizeY,
imageSizeX)`` (stacks: ``(n, imageSizeY, imageSizeX)``). Pixel ``(y, x)`` is centred on the
integer coordinates ``(y, x)``; centres may be fractional and off the frame. The results equal
LiberTEM 0.16's (``tests/parity_masks_libertem.py`` compares them on random parameters where
LiberTEM is installed); the few deliberate differences — bad parameters raise instead of
returning NaN or a wrong shape — are listed in each factory's docstring and in docs/masks.md.

Pure numpy; the sparse results are pydata ``sparse`` arrays, an optional dependency
(``pip install sparse``) imported only by the functions that build them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Union

import numpy as np

from ferrotem.common.sparse import is_sparse, to_dense, to_sparse
from ferrotem.masks._geometry import bounding_radius, polar_map
from ferrotem.masks._radial import radial_bins, radial_gradient_background_subtraction
from ferrotem.masks._shapes import (
    background_subtraction,
    balance,
    circular,
    gradient_x,
    gradient_y,
    radial_gradient,
    rectangular,
    ring,
)
from ferrotem.masks._stacks import sparse_circular_multi_stack, sparse_template_multi_stack

if TYPE_CHECKING:
    import scipy.sparse

#: what a mask factory may return: a numpy array or a 2-D ``scipy.sparse`` matrix (pydata
#: ``sparse`` arrays are accepted too); scipy is imported only for the type checker
MaskArrayType = Union[np.ndarray, "scipy.sparse.coo_matrix", "scipy.sparse.dok_matrix"]
#: one factory returning a whole stack, or several factories each returning one mask
# (``Union`` rather than ``|``: the scipy names are forward references, which ``|`` cannot join
# at run time)
MaskFactoriesType = Union[  # noqa: UP007
    Callable[[], MaskArrayType], Iterable[Callable[[], MaskArrayType]]
]

__all__ = [
    "MaskArrayType",
    "MaskFactoriesType",
    "background_subtraction",
    "balance",
    "bounding_radius",
    "circular",
    "gradient_x",
    "gradient_y",
    "is_sparse",
    "polar_map",
    "radial_bins",
    "radial_gradient",
    "radial_gradient_background_subtraction",
    "rectangular",
    "ring",
    "sparse_circular_multi_stack",
    "sparse_template_multi_stack",
    "to_dense",
    "to_sparse",
]
