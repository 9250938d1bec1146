"""``Shape``: a tuple split into navigation (leading) and signal (trailing) dimensions."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from ferrotem.common.math import prod


class Shape:
    """A shape of ``nav`` dimensions followed by ``sig_dims`` signal dimensions.

    Compares equal to tuples with the same values, and to other ``Shape``s with the same values
    and ``sig_dims``.
    """

    __slots__ = ("_shape", "_sig_dims")

    def __init__(self, shape: Iterable[int] | Shape, sig_dims: int):
        values = tuple(int(s) for s in shape)
        if not isinstance(sig_dims, int | _np_integer()) or isinstance(sig_dims, bool):
            raise TypeError(f"sig_dims: got {sig_dims!r}, expected an int")
        if not 0 <= sig_dims <= len(values):
            raise ValueError(
                f"sig_dims: got {sig_dims}, expected 0 ..= {len(values)} for shape {values}"
            )
        self._shape = values
        self._sig_dims = int(sig_dims)

    @property
    def sig_dims(self) -> int:
        """Number of signal dimensions."""
        return self._sig_dims

    @property
    def nav_dims(self) -> int:
        """Number of navigation dimensions."""
        return len(self._shape) - self._sig_dims

    @property
    def dims(self) -> int:
        """Total number of dimensions."""
        return len(self._shape)

    @property
    def nav(self) -> Shape:
        """The navigation part, as a ``Shape`` with ``sig_dims=0``."""
        return NavOnlyShape(self._shape[: self.nav_dims])

    @property
    def sig(self) -> Shape:
        """The signal part, as a ``Shape`` whose dimensions are all signal."""
        return SigOnlyShape(self._shape[self.nav_dims :])

    @property
    def size(self) -> int:
        """Number of elements."""
        return prod(self._shape)

    def to_tuple(self) -> tuple[int, ...]:
        """The dimensions as a tuple."""
        return self._shape

    def flatten_nav(self) -> Shape:
        """The navigation axes collapsed into one."""
        return Shape((prod(self._shape[: self.nav_dims]),) + self.sig.to_tuple(), self._sig_dims)

    def flatten_sig(self) -> Shape:
        """The signal axes collapsed into one."""
        return Shape(self.nav.to_tuple() + (prod(self.sig.to_tuple()),), 1)

    def __iter__(self) -> Iterator[int]:
        return iter(self._shape)

    def __len__(self) -> int:
        return len(self._shape)

    def __getitem__(self, key: Any) -> Any:
        return self._shape[key]

    def __hash__(self) -> int:
        return hash((self._shape, self._sig_dims))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Shape):
            return self._shape == other._shape and self._sig_dims == other._sig_dims
        if isinstance(other, tuple | list):
            return self._shape == tuple(other)
        return NotImplemented

    def __repr__(self) -> str:
        return repr(self._shape)


class NavOnlyShape(Shape):
    """A shape with navigation dimensions only (what ``Shape.nav`` returns)."""

    __slots__ = ()

    def __init__(self, shape: Iterable[int]):
        super().__init__(shape, sig_dims=0)


class SigOnlyShape(Shape):
    """A shape with signal dimensions only (what ``Shape.sig`` returns)."""

    __slots__ = ()

    def __init__(self, shape: Iterable[int]):
        values = tuple(shape)
        super().__init__(values, sig_dims=len(values))


#: what functions taking a shape accept
ShapeLike = Shape | Sequence[int]


def _np_integer() -> type:
    import numpy as np

    return np.integer
