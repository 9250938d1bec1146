"""2x2 matrices for scan and detector coordinates in (y, x) order (LiberTEM's
``libertem.corrections.coordinates``): build a transformation with ``scale(f) @ rotate(r) @
flip_y()`` and take it apart again with :func:`scale_rotate_flip_y`."""

from __future__ import annotations

import numpy as np

__all__ = [
    "flip_x",
    "flip_y",
    "identity",
    "rotate",
    "rotate_deg",
    "scale",
    "scale_rotate_flip_y",
]


def scale(factor: float) -> np.ndarray:
    """Uniform scaling by ``factor``."""
    return np.eye(2) * factor


def rotate(radians: float) -> np.ndarray:
    """Rotation by ``radians``, acting on (y, x) vectors: the x axis turns towards y for a
    positive angle."""
    c, s = np.cos(radians), np.sin(radians)
    # the usual (x, y) rotation matrix with both axes swapped
    return np.array([[c, s], [-s, c]])


def rotate_deg(degrees: float) -> np.ndarray:
    """Rotation by ``degrees`` (see :func:`rotate`)."""
    return rotate(np.deg2rad(degrees))


def flip_y() -> np.ndarray:
    """Mirror that negates the y component."""
    return np.diag([-1.0, 1.0]).astype(int)


def flip_x() -> np.ndarray:
    """Mirror that negates the x component."""
    return np.diag([1.0, -1.0]).astype(int)


def identity() -> np.ndarray:
    """The identity transformation."""
    return np.eye(2)


def scale_rotate_flip_y(mat: np.ndarray) -> tuple[float, float, bool]:
    """``(scale, radians, flip_y)`` of a matrix made as ``scale(s) @ rotate(r) @ flip_y()``
    (the flip optional). Raises ``ValueError`` for a matrix with unequal axis scales or shear."""
    m = np.asarray(mat, dtype=np.float64)
    if m.shape != (2, 2):
        raise ValueError(f"mat: got shape {m.shape}, expected a 2x2 matrix")
    col_y, col_x = np.linalg.norm(m[:, 0]), np.linalg.norm(m[:, 1])
    if not np.allclose(col_y, col_x):
        raise ValueError(f"mat: y scale {col_y} and x scale {col_x} differ")
    unit = m / col_y
    det = float(np.linalg.det(unit))
    if not np.allclose(abs(det), 1.0):
        raise ValueError(f"mat: contains shear (determinant of the unscaled matrix is {det})")
    flipped = det < 0
    rot = unit.copy()
    if flipped:
        rot[:, 0] = -rot[:, 0]  # undo flip_y, which negates the first column
    angle = float(np.arctan2(rot[0, 1], rot[0, 0]))
    return float(col_y), angle, bool(flipped)
