"""``Slice``: an n-dimensional box (origin + ``Shape``) over a dataset, tile or buffer."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np

from ferrotem.common.shape import Shape


class SliceUsageError(ValueError):
    """A ``Slice`` was built or combined with dimensions that do not fit."""


def _check_same_dims(what: str, a: tuple[int, ...], b: tuple[int, ...]) -> None:
    if len(a) != len(b):
        raise SliceUsageError(f"{what}: got {len(b)} dimensions {b}, expected {len(a)}")


class Slice:
    """A box with an ``origin`` and a ``shape`` (a :class:`Shape`); hashable, so it can key dicts
    (``merge_all`` receives partial results keyed by ``Slice``)."""

    __slots__ = ("origin", "shape")

    def __init__(self, origin: tuple[int, ...], shape: Shape):
        if not isinstance(shape, Shape):
            raise TypeError(f"shape: got {type(shape).__name__}, expected a Shape")
        origin = tuple(int(o) for o in origin)
        if len(origin) != len(shape):
            raise SliceUsageError(
                f"origin: got {origin}, expected {len(shape)} coordinates for shape {shape}"
            )
        self.origin = origin
        self.shape = shape

    def __repr__(self) -> str:
        return f"<Slice origin={self.origin} shape={self.shape}>"

    def __hash__(self) -> int:
        return hash((self.origin, tuple(self.shape), self.shape.sig_dims))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Slice):
            return NotImplemented
        return self.origin == other.origin and self.shape == other.shape

    def __lt__(self, other: Slice) -> bool:
        return self.origin < other.origin

    @property
    def nav(self) -> Slice:
        """The navigation part."""
        nd = self.shape.nav_dims
        return Slice(self.origin[:nd], self.shape.nav)

    @property
    def sig(self) -> Slice:
        """The signal part."""
        nd = self.shape.nav_dims
        return Slice(self.origin[nd:], self.shape.sig)

    def discard_nav(self) -> Slice:
        """A copy with the navigation origin and extent set to zero: the same box for every
        frame, e.g. as a cache key for per-signal-slice data (LiberTEM's ``discard_nav``)."""
        nd = self.shape.nav_dims
        zero = (0,) * nd
        return Slice(
            zero + self.origin[nd:],
            Shape(zero + tuple(self.shape.sig), sig_dims=self.shape.sig_dims),
        )

    def get(
        self, arr: np.ndarray | None = None, sig_only: bool = False, nav_only: bool = False
    ) -> Any:
        """Python slices for this box (or, given ``arr``, the sliced array).

        ``sig_only``/``nav_only`` restrict to the signal or navigation part.
        """
        if sig_only and nav_only:
            raise SliceUsageError("sig_only and nav_only: only one of them may be True")
        nd = self.shape.nav_dims
        if sig_only:
            pairs = zip(self.origin[nd:], tuple(self.shape)[nd:], strict=True)
        elif nav_only:
            pairs = zip(self.origin[:nd], tuple(self.shape)[:nd], strict=True)
        else:
            pairs = zip(self.origin, tuple(self.shape), strict=True)
        slices = tuple(slice(o, o + s) for o, s in pairs)
        if arr is None:
            return slices
        if sig_only:
            return arr[(Ellipsis,) + slices]
        return arr[slices]

    def is_null(self) -> bool:
        """True if the box is empty."""
        return any(s == 0 for s in self.shape)

    def shift(self, other: Slice) -> Slice:
        """This box relative to ``other``'s origin."""
        _check_same_dims("other.origin", self.origin, other.origin)
        return Slice(
            tuple(a - b for a, b in zip(self.origin, other.origin, strict=True)), self.shape
        )

    def shift_by(self, offset: tuple[int, ...]) -> Slice:
        """This box moved by ``offset``."""
        _check_same_dims("offset", self.origin, tuple(offset))
        return Slice(tuple(a + b for a, b in zip(self.origin, offset, strict=True)), self.shape)

    def intersection_with(self, other: Slice) -> Slice:
        """The overlap of two boxes (possibly null)."""
        _check_same_dims("other.origin", self.origin, other.origin)
        lo = tuple(max(a, b) for a, b in zip(self.origin, other.origin, strict=True))
        hi = tuple(
            min(a + s, b + t)
            for a, s, b, t in zip(self.origin, self.shape, other.origin, other.shape, strict=True)
        )
        shape = tuple(max(0, h - lo_) for lo_, h in zip(lo, hi, strict=True))
        return Slice(lo, Shape(shape, self.shape.sig_dims))

    def subslices(self, shape: tuple[int, ...]) -> Iterator[Slice]:
        """Tiles this box with boxes of at most ``shape``, in C order."""
        if len(shape) != len(self.shape):
            raise SliceUsageError(f"shape: got {shape}, expected {len(self.shape)} dimensions")
        ranges = [
            range(o, o + s, max(1, t))
            for o, s, t in zip(self.origin, self.shape, shape, strict=True)
        ]
        for corner in itertools.product(*ranges):
            size = tuple(
                min(t, o + s - c)
                for c, o, s, t in zip(corner, self.origin, self.shape, shape, strict=True)
            )
            yield Slice(corner, Shape(size, self.shape.sig_dims))

    def flatten_nav(self, containing_shape: tuple[int, ...] | Shape) -> Slice:
        """This box with its navigation axes flattened, within ``containing_shape``.

        Only boxes that are contiguous in flat navigation order can be flattened.
        """
        nd = self.shape.nav_dims
        nav_shape = tuple(containing_shape)[:nd]
        start = int(np.ravel_multi_index(self.origin[:nd], nav_shape)) if nd else 0
        count = int(np.prod(tuple(self.shape)[:nd], dtype=np.int64))
        return Slice(
            (start,) + self.origin[nd:],
            Shape((count,) + tuple(self.shape)[nd:], self.shape.sig_dims),
        )

    def adjust_for_roi(self, roi: np.ndarray | None) -> Slice:
        """For a flat-nav slice: its position in the ROI-compressed order."""
        if roi is None:
            return self
        flat = np.asarray(roi).reshape(-1)
        start = self.origin[0]
        count = self.shape[0]
        new_start = int(np.count_nonzero(flat[:start]))
        new_count = int(np.count_nonzero(flat[start : start + count]))
        return Slice(
            (new_start,) + self.origin[1:],
            Shape((new_count,) + tuple(self.shape)[1:], self.shape.sig_dims),
        )
