"""ferrotem.masks and MaskContainer against LiberTEM 0.16 itself, on many random parameters.

Run with LiberTEM's interpreter (``make bench-libertem`` sets up ``.venv-libertem``):

    .venv-libertem/bin/python tests/parity_masks_libertem.py [n_cases]

``tests/test_masks.py::test_parity_with_libertem`` (slow) runs it when that venv exists. It is a
script rather than a test module because LiberTEM and ferrotem's test dependencies do not share
a venv; ferrotem's masks are pure numpy and import from ``python/`` without the binding's
dependencies. Prints one line per factory and exits 1 on any mismatch. The comparisons are exact
(``array_equal``) unless a line says otherwise; the known, deliberate differences (documented in
the factories' docstrings) are counted separately, each with the condition that produces it.
"""

from __future__ import annotations

import sys
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

import ferrotem.masks as ft
import libertem.masks as lt
from ferrotem.common.container import MaskContainer as FtContainer
from ferrotem.common.shape import Shape as FtShape
from ferrotem.common.slice import Slice as FtSlice
from libertem.common.container import MaskContainer as LtContainer
from libertem.common.shape import Shape as LtShape
from libertem.common.slice import Slice as LtSlice

warnings.simplefilter("ignore")
rng = np.random.default_rng(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
N = int(sys.argv[1]) if len(sys.argv) > 1 else 300
tally: dict[str, Counter[str]] = {}
failures: list[str] = []


def note(name: str, outcome: str) -> None:
    tally.setdefault(name, Counter())[outcome] += 1


def fail(name: str, detail: str) -> None:
    note(name, "MISMATCH")
    if len(failures) < 30:
        failures.append(f"{name}: {detail}")


def coordinate() -> float:
    """Centres of every kind: integers, halves, short decimals, arbitrary floats, off-frame."""
    kind = rng.integers(5)
    v = rng.uniform(-12, 44)
    return float([round(v), round(v * 2) / 2, round(v, 1), v, round(v, 2)][kind])


def length() -> float:
    kind = rng.integers(5)
    v = rng.uniform(0, 20)
    return float([0, round(v), round(v * 2) / 2, round(v, 1), v][kind])


def size() -> int:
    return int(rng.integers(1, 40))


def same(name: str, a: object, b: object) -> None:
    """Exact comparison of arrays (dense or sparse), dtype and shape included."""
    if hasattr(a, "todense") and not isinstance(a, np.ndarray):
        if not hasattr(b, "todense") or type(a).__name__ != type(b).__name__:
            return fail(name, f"type {type(a).__name__} vs {type(b).__name__}")
        if not np.array_equal(a.coords, b.coords):  # type: ignore[attr-defined]
            return fail(name, "sparse coordinates differ")
        a, b = a.todense(), b.todense()  # type: ignore[attr-defined]
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype:
        return fail(name, f"dtype {a.dtype} vs {b.dtype}")
    if a.shape != b.shape:
        return fail(name, f"shape {a.shape} vs {b.shape}")
    if not np.array_equal(a, b, equal_nan=True):
        diff = np.abs(a.astype(float) - b.astype(float))
        return fail(name, f"values differ: max {np.nanmax(diff)} at {np.argwhere(diff > 0)[:3]}")
    note(name, "equal")


def same_or_ogrid(name: str, ours: np.ndarray, theirs: np.ndarray, shape: tuple[int, int]) -> None:
    """LiberTEM's ``np.ogrid`` over fractional ranges sometimes yields one row/column too many;
    there the overlap must still agree."""
    if theirs.shape != shape:
        note(name, "LiberTEM shape off (ogrid), overlap compared")
        theirs = theirs[: shape[0], : shape[1]]
    same(name, ours, theirs)


def expect_error(name: str, reason: str, fn: object, *args: object, **kw: object) -> None:
    try:
        fn(*args, **kw)  # type: ignore[operator]
    except (ValueError, TypeError):
        note(name, f"raises where {reason}")
    else:
        fail(name, f"no error where {reason}")


for _ in range(N):
    cx, cy, sx, sy = coordinate(), coordinate(), size(), size()
    r, ri = length(), length()
    if ri > r:
        r, ri = ri, r
    aa = bool(rng.integers(2))
    shape = (sy, sx)

    same_or_ogrid("circular", ft.circular(cx, cy, sx, sy, r), lt.circular(cx, cy, sx, sy, r), shape)
    same(
        "circular antialiased",
        ft.circular(cx, cy, sx, sy, r, True),
        lt.circular(cx, cy, sx, sy, r, True),
    )
    if aa:
        same(
            "ring antialiased",
            ft.ring(cx, cy, sx, sy, r, ri, True),
            lt.ring(cx, cy, sx, sy, r, ri, True),
        )
    else:
        same_or_ogrid("ring", ft.ring(cx, cy, sx, sy, r, ri), lt.ring(cx, cy, sx, sy, r, ri), shape)
    expect_error("ring", "radius_inner > radius", ft.ring, cx, cy, sx, sy, 1, 2)

    if r > 0:
        ours = ft.radial_gradient(cx, cy, sx, sy, r, aa)
        theirs = lt.radial_gradient(cx, cy, sx, sy, r, aa)
        same_or_ogrid("radial_gradient" + " antialiased" * aa, ours, theirs, shape)
    else:
        expect_error(
            "radial_gradient",
            "radius == 0 (LiberTEM: NaN)",
            ft.radial_gradient,
            cx,
            cy,
            sx,
            sy,
            r,
            aa,
        )

    theirs = lt.background_subtraction(cx, cy, sx, sy, r, ri, aa)
    name = "background_subtraction" + " antialiased" * aa
    if np.isnan(theirs).all():
        expect_error(
            name,
            "the ring is empty (LiberTEM: NaN)",
            ft.background_subtraction,
            cx,
            cy,
            sx,
            sy,
            r,
            ri,
            aa,
        )
    else:
        same_or_ogrid(name, ft.background_subtraction(cx, cy, sx, sy, r, ri, aa), theirs, shape)

    stretch = float(rng.choice([1.0, rng.uniform(0.3, 3)]))
    angle = float(rng.choice([0.0, rng.uniform(-4, 4)]))
    for part, a, b in zip(
        ("r", "phi"),
        ft.polar_map(cx, cy, sx, sy, stretch, angle),
        lt.polar_map(cx, cy, sx, sy, stretch, angle),
        strict=True,
    ):
        same(f"polar_map {part}", a, b)

    if ft.bounding_radius(cx, cy, sx, sy) != lt.bounding_radius(cx, cy, sx, sy):
        fail("bounding_radius", f"{(cx, cy, sx, sy)}")
    else:
        note("bounding_radius", "equal")

    # radial bins: defaults, explicit radii and bin counts, normalisation, dtype, both layouts
    kw: dict[str, object] = {
        "normalize": bool(rng.integers(2)),
        "dtype": [None, np.float32, np.float64][rng.integers(3)],
        "use_sparse": [None, True, False][rng.integers(3)],
    }
    if rng.integers(2):
        kw.update(radius=r + 1, radius_inner=ri, n_bins=int(rng.integers(1, 8)))
    try:
        theirs = lt.radial_bins(cx, cy, sx, sy, **kw)
    except ZeroDivisionError:
        expect_error(
            "radial_bins",
            "n_bins rounds to 0 (LiberTEM: ZeroDivisionError)",
            ft.radial_bins,
            cx,
            cy,
            sx,
            sy,
            **kw,
        )
    else:
        same("radial_bins", ft.radial_bins(cx, cy, sx, sy, **kw), theirs)

    x0, y0 = coordinate(), coordinate()
    w, h = float(rng.uniform(-15, 15)), float(rng.uniform(-15, 15))
    if rng.integers(3) == 0:
        w, h = round(w), round(h)
    if int(max(x0, x0 + w)) <= -2 or int(max(y0, y0 + h)) <= -2:
        # LiberTEM's negative slice end wraps around; ours is empty
        assert not ft.rectangular(x0, y0, w, h, sx, sy).any()
        note("rectangular", "empty where LiberTEM wraps (rectangle before the frame)")
    else:
        same(
            "rectangular",
            ft.rectangular(x0, y0, w, h, sx, sy),
            lt.rectangular(x0, y0, w, h, sx, sy),
        )

    dt = [np.float32, np.float64, np.int32, np.uint16][rng.integers(4)]
    same("gradient_x", ft.gradient_x(sx, sy, dt), lt.gradient_x(sx, sy, dt))
    same("gradient_y", ft.gradient_y(sx, sy, dt), lt.gradient_y(sx, sy, dt))

    rmap = ft.polar_map(cx, cy, sx, sy, stretch, angle)[0]
    if rng.integers(4) == 0:
        rmap = np.round(rmap).astype(int)
    r0, router, delta = r + 0.5, r + ri + 1, float(rng.choice([1.0, rng.uniform(0, 3)]))
    same(
        "radial_gradient_background_subtraction",
        ft.radial_gradient_background_subtraction(rmap, r0, router, delta),
        lt.radial_gradient_background_subtraction(rmap, r0, router, delta),
    )

    template = rng.normal(size=(int(rng.integers(1, 6)), int(rng.integers(1, 6))))
    if rng.integers(2):
        template = template.astype(np.float32)
    if rng.integers(4) == 0:
        template = np.abs(template)
    same("balance", ft.balance(template), lt.balance(template))

    n = int(rng.integers(1, 6))
    index = rng.integers(0, 4, n)
    offx = rng.integers(-6, sx + 2, n)
    offy = rng.integers(-6, sy + 2, n)
    if rng.integers(2):
        offx = offx + rng.uniform(-1, 1, n)
    tmpl = rng.integers(0, 3, (int(rng.integers(1, 5)), int(rng.integers(1, 5))))
    same(
        "sparse_template_multi_stack",
        ft.sparse_template_multi_stack(index, offx, offy, tmpl, sx, sy),
        lt.sparse_template_multi_stack(index, offx, offy, tmpl, sx, sy),
    )
    centres_x, centres_y = rng.uniform(-3, sx + 3, n), rng.uniform(-3, sy + 3, n)
    same(
        "sparse_circular_multi_stack",
        ft.sparse_circular_multi_stack(index, centres_x, centres_y, sx, sy, r),
        lt.sparse_circular_multi_stack(index, centres_x, centres_y, sx, sy, r),
    )


# -- dense <-> sparse helpers ----------------------------------------------------------------------
from ferrotem.common.sparse import is_sparse as ft_is_sparse  # noqa: E402
from ferrotem.common.sparse import to_dense as ft_to_dense  # noqa: E402
from ferrotem.common.sparse import to_sparse as ft_to_sparse  # noqa: E402
from libertem.common.sparse import is_sparse as lt_is_sparse  # noqa: E402
from libertem.common.sparse import to_dense as lt_to_dense  # noqa: E402
from libertem.common.sparse import to_sparse as lt_to_sparse  # noqa: E402

for _ in range(max(N // 10, 1)):
    import scipy.sparse

    dense = (rng.random((int(rng.integers(1, 9)), int(rng.integers(1, 9)))) < 0.3) * 1.5
    variants = [
        dense,
        scipy.sparse.csr_matrix(dense),
        scipy.sparse.coo_array(dense),
        lt_to_sparse(dense),
        dense.tolist(),
    ]
    for v in variants:
        same(f"to_dense({type(v).__name__})", ft_to_dense(v), lt_to_dense(v))
        if ft_is_sparse(v) != lt_is_sparse(v):
            fail("is_sparse", type(v).__name__)
        else:
            note("is_sparse", "equal")
    for v in variants[:4]:
        same(f"to_sparse({type(v).__name__})", ft_to_sparse(v), lt_to_sparse(v))
    coords = [(tuple(int(c) for c in rng.integers(0, 5, 2)), True) for _ in range(3)]
    same(
        "to_sparse(ROI coordinates)",
        ft_to_sparse(coords, shape=(5, 5)),
        lt_to_sparse(coords, shape=(5, 5)),
    )
    point = [int(c) for c in rng.integers(0, 5, 2)]
    same(
        "to_sparse(one coordinate)",
        ft_to_sparse(point, shape=(5, 5)),
        lt_to_sparse(point, shape=(5, 5)),
    )


# -- MaskContainer ------------------------------------------------------------------------------
def factories_for(sx: int, sy: int, kind: str) -> object:
    def disk() -> np.ndarray:
        return lt.circular(sx / 3, sy / 2, sx, sy, 3)

    def ring_() -> np.ndarray:
        return lt.ring(sx / 2, sy / 3, sx, sy, 5, 2).astype(np.float32)

    def sp() -> object:
        import scipy.sparse

        return scipy.sparse.csr_matrix(lt.circular(2, 3, sx, sy, 4))

    def stack() -> object:
        return lt.sparse_circular_multi_stack([0, 1, 2], [2, 5, 9], [3, 1, 7], sx, sy, 2)

    return {"dense": [disk, ring_], "scipy": [sp, sp], "stack": stack, "mixed": [disk, sp]}[kind]


for _ in range(max(N // 3, 1)):
    sx, sy = int(rng.integers(4, 30)), int(rng.integers(4, 30))
    kind = ["dense", "scipy", "stack", "mixed"][rng.integers(4)]
    factories = factories_for(sx, sy, kind)
    use_sparse = [
        None,
        False,
        True,
        "scipy.sparse",
        "scipy.sparse.csc",
        "sparse.pydata",
        "sparse.pydata.GCXS",
    ][rng.integers(7)]
    dtype = [None, np.float32, np.float64][rng.integers(3)]
    ours = FtContainer(factories, dtype=dtype, use_sparse=use_sparse)
    theirs = LtContainer(factories, dtype=dtype, use_sparse=use_sparse)
    if ours.use_sparse != theirs.use_sparse or len(ours) != len(theirs):
        fail("MaskContainer", f"{kind} {use_sparse}: {ours.use_sparse} vs {theirs.use_sparse}")
        continue
    if np.dtype(ours.dtype) != np.dtype(theirs.dtype):
        fail("MaskContainer", f"dtype {ours.dtype} vs {theirs.dtype}")
    oy, ox = int(rng.integers(0, sy)), int(rng.integers(0, sx))
    h, w = int(rng.integers(1, sy - oy + 1)), int(rng.integers(1, sx - ox + 1))
    transpose = bool(rng.integers(2))
    a = ours.get(FtSlice((3, oy, ox), FtShape((2, h, w), sig_dims=2)), transpose=transpose)
    b = theirs.get(LtSlice((3, oy, ox), LtShape((2, h, w), sig_dims=2)), transpose=transpose)
    if type(a).__name__ != type(b).__name__:
        fail("MaskContainer", f"type {type(a).__name__} vs {type(b).__name__}")
        continue
    if hasattr(a, "toarray"):
        a, b = a.toarray(), b.toarray()
    elif hasattr(a, "todense"):
        a, b = a.todense(), b.todense()
    same(f"MaskContainer.get ({kind})", a, b)


width = max(len(k) for k in tally)
for name, counts in sorted(tally.items()):
    print(f"{name:<{width}}  " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
for line in failures:
    print("MISMATCH", line)
sys.exit(1 if failures else 0)
