"""Checking native UDFs against a float64 oracle at real sizes, through ``ctx.run_udf``.

The Python side of ``crates/ferrotem-core/tests/common/kernel_oracle/``, where the reasoning
behind the tolerances is written out. In short, with ``u`` the unit roundoff of the input dtype
(``2**-24`` for float32), ``n`` the number of terms and ``S`` the sum of their magnitudes:

- a sum in any order is off by at most ``gamma(n-1) S``, ``gamma(m) = m u / (1 - m u)`` (Higham,
  *Accuracy and Stability of Numerical Algorithms*, §4.2), which at 4096 float32 terms is as
  much as one frame;
- if the rounding errors behave as independent zero-mean variables (Higham & Mary, SIAM J. Sci.
  Comput. 41, 2019), Azuma-Hoeffding bounds the error by ``λ √(n-1) u S`` except with
  probability ``2 exp(-λ²/2)``: ``4e-22`` for ``λ = 10``, and six times less than one frame of
  4096. ``SumUDF`` is held to the smaller of the two.
- ``SumSigUDF`` accumulates in float64 and rounds to the input dtype once per pixel range of a
  frame, adding into the frame's result: ``gamma(n-1)`` in float64 plus ``(2 k - 1) u`` for ``k``
  ranges (``k = 1`` unless a frame in the input dtype is larger than the 1 MiB tile).

The oracle casts the stored values to the input dtype with numpy's ``astype`` (the cast the
engine promises) and sums in float64; its own error, ``gamma(n)`` in float64, is added to every
tolerance.

- ``ApplyMasksUDF`` multiplies in the result dtype (here the input dtype: the masks are
  float32), sums each block of :data:`MASK_BLOCK` pixels in it, adds the blocks in float64 and
  rounds once per pixel range: ``gamma(MASK_BLOCK + 1)`` on ``S = sum |x w|``, plus two roundings
  per range and the float64 accumulation.

- ``CoMUDF``'s moments (``Σ v m``, ``Σ v y m``, ``Σ v x m`` over a ring) are float64 sums of
  exact products (0/1 weights; ``y`` multiplies a row's sum once): ``gamma(n + 3)`` in float64
  on ``S = sum |v y m|``, for kernel and oracle each.
- ``StdDevUDF`` (``varsum``, ``Σ|x - mean|²``) accumulates in float64 from a shift (a sample),
  one tile at a time, and merges tiles and partitions pairwise: each step is off by a few
  float64 roundings of terms no larger than ``n R (R + M)`` (``R`` the pixel's range of values,
  ``M`` its largest magnitude: a mean's rounding error times the distance of two means), so
  ``gamma(4 n + 64) * 16 n (R² + R M)`` bounds it, with ``n`` for the number of merges. The
  oracle merges numpy's two-pass moments of each chunk of frames the same way (Chan et al.),
  exact enough to be the reference.

A new native UDF plugs in with one line in :data:`NATIVE_KERNEL_CASES` (and an oracle class
with ``add(frames)`` / ``finish()`` like the ones here); every test in
``tests/test_kernels_wide.py`` then checks it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from ferrotem.api import Context
from ferrotem.common.buffers import BufferWrapper
from ferrotem.udf.base import UDF
from ferrotem.udf.com import CoMUDF
from ferrotem.udf.masks import ApplyMasksUDF
from ferrotem.udf.native import NativeDescriptor
from ferrotem.udf.stddev import StdDevUDF
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF

#: λ of the probabilistic bound
LAMBDA = 10.0
#: the runner's tile size in input-dtype bytes (``ferrotem_core::runner::DEFAULT_TILE_BYTES``)
TILE_BYTES = 1 << 20
#: pixels per block of the native ``ApplyMasksUDF`` (``ferrotem_core::udf::masks::BLOCK``)
MASK_BLOCK = 1024
#: frames cast and summed at a time by the oracle (bounds its memory)
CHUNK_ELEMENTS = 1 << 24

U64 = float(np.finfo(np.float64).eps) / 2


def unit_roundoff(dtype: np.dtype) -> float:
    """Unit roundoff of a float or complex dtype (of its parts)."""
    return float(np.finfo(np.dtype(dtype)).eps) / 2


def gamma(m: float, u: float) -> float:
    """Higham's ``gamma(m) = m u / (1 - m u)`` (infinite where ``m u >= 1/2``)."""
    return m * u / (1 - m * u) if m * u < 0.5 else math.inf


def any_order_sum_tol(n: int, u: float, abs_sum: np.ndarray) -> np.ndarray:
    """Tolerance of a sum of ``n`` terms computed in unit roundoff ``u`` in any order, plus the
    float64 oracle's own error."""
    m = max(n - 1, 0)
    likely = LAMBDA * math.sqrt(m) * u + (m * u) ** 2
    return (min(gamma(m, u), likely) + gamma(n, U64)) * abs_sum


def components(a: np.ndarray) -> list[np.ndarray]:
    """A result as real arrays: itself, or its real and imaginary parts."""
    a = np.asarray(a)
    return [a.real, a.imag] if a.dtype.kind == "c" else [a]


@dataclass(frozen=True)
class OracleContext:
    """What an oracle may know about the run it predicts."""

    input_dtype: np.dtype
    sig_size: int
    n_frames: int
    sig_shape: tuple[int, ...] = ()

    @property
    def pixel_pieces(self) -> int:
        """Pixel ranges the runner cuts a frame into (1 unless a frame exceeds a tile)."""
        item = self.input_dtype.itemsize
        if self.sig_size * item < TILE_BYTES:
            return 1
        return -(-self.sig_size // max(TILE_BYTES // item, 1))


class KernelOracle(Protocol):
    """The float64 model of one kernel, fed the selected frames in order."""

    def add(self, frames: np.ndarray) -> None:
        """Takes the next ``(n, sig_size)`` frames, already cast to the input dtype."""

    def finish(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(want, tol)`` per component of the flat result (see :func:`components`)."""


class SumOracle:
    """``SumUDF``: per-pixel sums over the frames, in any order."""

    def __init__(self, ctx: OracleContext):
        self.ctx = ctx
        parts = 2 if ctx.input_dtype.kind == "c" else 1
        self.sums = [np.zeros(ctx.sig_size) for _ in range(parts)]
        self.abs = [np.zeros(ctx.sig_size) for _ in range(parts)]

    def add(self, frames: np.ndarray) -> None:
        for s, a, part in zip(self.sums, self.abs, components(frames), strict=True):
            s += part.sum(axis=0, dtype=np.float64)
            a += np.abs(part).sum(axis=0, dtype=np.float64)

    def finish(self) -> list[tuple[np.ndarray, np.ndarray]]:
        u = unit_roundoff(self.ctx.input_dtype)
        return [
            (s, any_order_sum_tol(self.ctx.n_frames, u, a))
            for s, a in zip(self.sums, self.abs, strict=True)
        ]


class SumSigOracle:
    """``SumSigUDF``: one sum per frame, float64 accumulation rounded once per pixel range."""

    def __init__(self, ctx: OracleContext):
        self.ctx = ctx
        parts = 2 if ctx.input_dtype.kind == "c" else 1
        self.sums: list[list[np.ndarray]] = [[] for _ in range(parts)]
        self.abs: list[list[np.ndarray]] = [[] for _ in range(parts)]

    def add(self, frames: np.ndarray) -> None:
        for s, a, part in zip(self.sums, self.abs, components(frames), strict=True):
            s.append(part.sum(axis=1, dtype=np.float64))
            a.append(np.abs(part).sum(axis=1, dtype=np.float64))

    def finish(self) -> list[tuple[np.ndarray, np.ndarray]]:
        n = self.ctx.sig_size
        roundings = 2 * self.ctx.pixel_pieces - 1
        rel = gamma(n - 1, U64) + roundings * unit_roundoff(self.ctx.input_dtype) + gamma(n, U64)
        out = []
        for s, a in zip(self.sums, self.abs, strict=True):
            want = np.concatenate(s) if s else np.zeros(0)
            abs_sum = np.concatenate(a) if a else np.zeros(0)
            out.append((want, rel * abs_sum))
        return out


def kernel_masks(n: int, sig_shape: tuple[int, ...], density: int = 1) -> np.ndarray:
    """``n`` float32 masks over frames of ``sig_shape``: weights in ``[-0.75, 1.75]`` in steps
    of 1/4 (exact in every dtype), different for every mask; with ``density`` k, only every k-th
    pixel of a mask is non-zero (a sparse stack)."""
    p = np.arange(math.prod(sig_shape))
    m = np.arange(n)[:, None]
    w = ((p * (2 * m + 3) + m) % 11 - 3) / 4
    if density > 1:
        w[(p + 5 * m) % density != 0] = 0
    return w.reshape((n, *sig_shape)).astype(np.float32)


class MasksOracle:
    """``ApplyMasksUDF`` with :func:`kernel_masks`: one weighted sum per frame and mask."""

    def __init__(self, ctx: OracleContext, n: int, density: int = 1):
        self.ctx = ctx
        self.w = kernel_masks(n, ctx.sig_shape, density).reshape(n, -1).astype(np.float64).T
        parts = 2 if ctx.input_dtype.kind == "c" else 1
        self.sums: list[list[np.ndarray]] = [[] for _ in range(parts)]
        self.abs: list[list[np.ndarray]] = [[] for _ in range(parts)]

    def add(self, frames: np.ndarray) -> None:
        for s, a, part in zip(self.sums, self.abs, components(frames), strict=True):
            s.append(part.astype(np.float64) @ self.w)
            a.append(np.abs(part).astype(np.float64) @ np.abs(self.w))

    def finish(self) -> list[tuple[np.ndarray, np.ndarray]]:
        u = unit_roundoff(self.ctx.input_dtype)
        rel = gamma(MASK_BLOCK + 1, u)
        rel += 2 * self.ctx.pixel_pieces * u + gamma(self.ctx.sig_size, U64)
        out = []
        for s, a in zip(self.sums, self.abs, strict=True):
            want = np.concatenate(s).ravel() if s else np.zeros(0)
            abs_sum = np.concatenate(a).ravel() if a else np.zeros(0)
            out.append((want, rel * abs_sum))
        return out


class StdDevOracle:
    """``StdDevUDF``'s ``varsum``: per-pixel ``Σ|x - mean|²``, from numpy's two-pass moments of
    each chunk of frames merged pairwise in float64."""

    def __init__(self, ctx: OracleContext):
        self.ctx = ctx
        self.n = 0
        complex_input = ctx.input_dtype.kind == "c"
        self.sum = np.zeros(ctx.sig_size, np.complex128 if complex_input else np.float64)
        self.m2 = np.zeros(ctx.sig_size)
        parts = 2 if complex_input else 1
        self.lo = [np.full(ctx.sig_size, np.inf) for _ in range(parts)]
        self.hi = [np.full(ctx.sig_size, -np.inf) for _ in range(parts)]
        self.mag = np.zeros(ctx.sig_size)

    def add(self, frames: np.ndarray) -> None:
        x = frames.astype(self.sum.dtype)
        n1 = len(x)
        sum1 = x.sum(axis=0)
        d = x - sum1 / n1
        m2 = np.einsum("ij,ij->j", d.real, d.real)
        if d.dtype.kind == "c":
            m2 += np.einsum("ij,ij->j", d.imag, d.imag)
        if self.n:
            delta = sum1 / n1 - self.sum / self.n
            m2 += np.abs(delta) ** 2 * (self.n * n1 / (self.n + n1))
        self.m2 += m2
        self.sum += sum1
        self.n += n1
        for lo, hi, part in zip(self.lo, self.hi, components(x), strict=True):
            np.minimum(lo, part.min(axis=0), out=lo)
            np.maximum(hi, part.max(axis=0), out=hi)
        np.maximum(self.mag, np.abs(x).max(axis=0), out=self.mag)

    def finish(self) -> list[tuple[np.ndarray, np.ndarray]]:
        n = self.ctx.n_frames
        if n == 0:
            return [(np.zeros(self.ctx.sig_size), np.zeros(self.ctx.sig_size))]
        span = np.sqrt(sum((hi - lo) ** 2 for lo, hi in zip(self.lo, self.hi, strict=True)))
        scale = 16 * n * (span**2 + span * self.mag) + 16 * n * (gamma(n, U64) * self.mag) ** 2
        return [(self.m2, gamma(4 * n + 64, U64) * scale)]


def kernel_com_params(sig_shape: tuple[int, ...]) -> dict[str, float]:
    """The ring of the ``CoMUDF`` kernel case: off-centre, a third of the frame wide."""
    sy, sx = sig_shape
    r = min(sy, sx) / 3 + 0.1
    return {"cy": sy / 2 - 0.3, "cx": sx / 2 + 0.2, "r": r, "ri": r / 4}


class CoMMomentsUDF(CoMUDF):
    """``CoMUDF``'s native stage with its moments ``raw_mask_result`` as the result (any scan
    shape); it declares the same native UDF, so it runs the same kernel."""

    def get_result_buffers(self) -> dict[str, BufferWrapper]:
        dtype = np.result_type(self.meta.input_dtype, np.float64)
        return {"raw_mask_result": self.buffer(kind="nav", dtype=dtype, extra_shape=(3,))}

    def get_results(self) -> dict[str, Any]:
        return UDF.get_results(self)

    def native_descriptor(self) -> NativeDescriptor | None:
        return CoMUDF.native_descriptor(self)


class CoMOracle:
    """``CoMUDF``'s moments over the ring of :func:`kernel_com_params`, per frame."""

    def __init__(self, ctx: OracleContext):
        self.ctx = ctx
        p = kernel_com_params(ctx.sig_shape)
        yy, xx = np.mgrid[0 : ctx.sig_shape[0], 0 : ctx.sig_shape[1]].astype(np.float64)
        d2 = (yy - p["cy"]) ** 2 + (xx - p["cx"]) ** 2
        m = ((d2 <= p["r"] ** 2) & (d2 > p["ri"] ** 2)).astype(np.float64)
        self.w = np.stack([m, yy * m, xx * m]).reshape(3, -1).T
        parts = 2 if ctx.input_dtype.kind == "c" else 1
        self.sums: list[list[np.ndarray]] = [[] for _ in range(parts)]
        self.abs: list[list[np.ndarray]] = [[] for _ in range(parts)]

    def add(self, frames: np.ndarray) -> None:
        for s, a, part in zip(self.sums, self.abs, components(frames), strict=True):
            s.append(part.astype(np.float64) @ self.w)
            a.append(np.abs(part).astype(np.float64) @ self.w)

    def finish(self) -> list[tuple[np.ndarray, np.ndarray]]:
        rel = 2 * gamma(self.ctx.sig_size + 3, U64)
        out = []
        for s, a in zip(self.sums, self.abs, strict=True):
            want = np.concatenate(s).ravel() if s else np.zeros(0)
            abs_sum = np.concatenate(a).ravel() if a else np.zeros(0)
            out.append((want, rel * abs_sum))
        return out


@dataclass(frozen=True)
class KernelCase:
    """A native UDF, its result buffer and its float64 oracle."""

    name: str
    #: makes the UDF; given the preferred input dtype (UDFs without a ``dtype`` ignore it) and
    #: the frame shape
    make_udf: Callable[[np.dtype, tuple[int, ...]], UDF]
    buffer: str
    oracle: Callable[[OracleContext], KernelOracle]


#: every native UDF with its oracle; a new native UDF adds its line here
NATIVE_KERNEL_CASES: tuple[KernelCase, ...] = (
    KernelCase("SumUDF", lambda dt, sig: SumUDF(dtype=dt), "intensity", SumOracle),
    KernelCase("SumSigUDF", lambda dt, sig: SumSigUDF(), "intensity", SumSigOracle),
    KernelCase(
        "ApplyMasksUDF(6 dense)",
        lambda dt, sig: ApplyMasksUDF(lambda: kernel_masks(6, sig), preferred_dtype=dt),
        "intensity",
        lambda ctx: MasksOracle(ctx, 6),
    ),
    KernelCase(
        "ApplyMasksUDF(3 sparse)",
        lambda dt, sig: ApplyMasksUDF(
            lambda: kernel_masks(3, sig, 7), use_sparse=True, preferred_dtype=dt
        ),
        "intensity",
        lambda ctx: MasksOracle(ctx, 3, 7),
    ),
    KernelCase(
        "CoMUDF(ring)",
        lambda dt, sig: CoMMomentsUDF.with_params(**kernel_com_params(sig)),
        "raw_mask_result",
        CoMOracle,
    ),
    KernelCase("StdDevUDF", lambda dt, sig: StdDevUDF(), "varsum", StdDevOracle),
)


def input_dtype(stored: np.dtype, preferred: Any = np.float32) -> np.dtype:
    """The run's input dtype: numpy promotion of the preferred and stored dtypes, native order."""
    return np.result_type(np.dtype(preferred), np.dtype(stored)).newbyteorder("=")


def kernel_oracle(
    data: np.ndarray,
    sig_dims: int,
    roi: np.ndarray | None,
    in_dtype: np.dtype,
    cases: Iterable[KernelCase],
) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """Each case's ``(want, tol)`` components over ``data`` (frames selected by ``roi``)."""
    sig_size = math.prod(data.shape[data.ndim - sig_dims :])
    frames = data.reshape(-1, sig_size)
    mask = None if roi is None else np.asarray(roi, dtype=bool).reshape(-1)
    n = len(frames) if mask is None else int(np.count_nonzero(mask))
    sig_shape = tuple(data.shape[data.ndim - sig_dims :])
    ctx = OracleContext(np.dtype(in_dtype), sig_size, n, sig_shape)
    oracles = [case.oracle(ctx) for case in cases]
    step = max(CHUNK_ELEMENTS // max(sig_size, 1), 1)
    for start in range(0, len(frames), step):
        chunk = frames[start : start + step]
        if mask is not None:
            chunk = chunk[mask[start : start + step]]
        if len(chunk):
            cast = chunk.astype(in_dtype)
            for o in oracles:
                o.add(cast)
    return [o.finish() for o in oracles]


def check_kernel_against_f64(
    runs: Iterable[tuple[str, Context, Any]],
    data: np.ndarray,
    sig_dims: int,
    *,
    roi: np.ndarray | None = None,
    preferred: Any = np.float32,
    cases: tuple[KernelCase, ...] = NATIVE_KERNEL_CASES,
) -> dict[str, float]:
    """Runs all ``cases`` in one ``run_udf`` per ``(label, ctx, dataset)`` of ``runs`` and asserts
    every result element within its oracle tolerance. ``data`` is the dataset's content.

    Returns, per case, the largest ``|error| / tolerance`` seen (for reports; < 1 by the asserts).
    """
    in_dtype = input_dtype(data.dtype, preferred)
    expected = kernel_oracle(data, sig_dims, roi, in_dtype, cases)
    worst = {case.name: 0.0 for case in cases}
    for label, ctx, ds in runs:
        sig_shape = tuple(data.shape[data.ndim - sig_dims :])
        udfs = [case.make_udf(np.dtype(preferred), sig_shape) for case in cases]
        results = ctx.run_udf(ds, udfs, roi=roi)
        for case, res, exp in zip(cases, results, expected, strict=True):
            got = np.asarray(res[case.buffer].raw_data).reshape(-1)
            where = f"{case.name} over {data.dtype.str} {data.shape} as {in_dtype}, {label}"
            parts = components(got)
            assert len(parts) == len(exp), f"{where}: {got.dtype} result, expected {in_dtype}"
            for part, (want, tol) in zip(parts, exp, strict=True):
                assert part.shape == want.shape, f"{where}: shape {part.shape} != {want.shape}"
                err = np.abs(part.astype(np.float64) - want)
                bad = ~(err <= tol)  # also NaN
                if bad.any():
                    i = np.flatnonzero(bad)[:8]
                    raise AssertionError(
                        f"{where}: {int(bad.sum())} of {bad.size} elements outside tolerance, "
                        f"e.g. at {i.tolist()}: got {part[i].tolist()}, want {want[i].tolist()}, "
                        f"tol {tol[i].tolist()}"
                    )
                ratio = np.divide(err, tol, out=np.zeros_like(err), where=tol > 0)
                worst[case.name] = max(worst[case.name], float(ratio.max(initial=0.0)))
    return worst


def load(ctx: Context, kind: str, data: np.ndarray, sig_dims: int, tmp: Path, **kw: Any) -> Any:
    """``data`` as a ``memory``, ``raw`` or ``npy`` dataset (files written once into ``tmp``)."""
    nav, sig = data.shape[: data.ndim - sig_dims], data.shape[data.ndim - sig_dims :]
    if kind == "memory":
        return ctx.load("memory", data=data, sig_dims=sig_dims, **kw)
    order = {"<": "le", ">": "be", "|": "", "=": ""}[data.dtype.byteorder]
    stem = f"{data.dtype.kind}{data.dtype.itemsize}{order}-{'x'.join(map(str, data.shape))}"
    if kind == "raw":
        path = tmp / f"{stem}.raw"
        if not path.exists():
            data.tofile(path)
        return ctx.load("raw", path=path, nav_shape=nav, sig_shape=sig, dtype=data.dtype, **kw)
    if kind == "npy":
        path = tmp / f"{stem}.npy"
        if not path.exists():
            np.save(path, data)
        return ctx.load("npy", path=path, sig_dims=sig_dims, **kw)
    raise ValueError(f"kind: got {kind!r}, expected 'memory', 'raw' or 'npy'")


def _floats(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    return rng.random(shape, dtype=dtype) * 1000 - 300


def random_values(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """Random values of ``dtype``: integers over their whole range, floats in ``[-300, 700)``
    with random mantissas (their float32 sums round), complex with independent parts."""
    dtype = np.dtype(dtype)
    native = dtype.newbyteorder("=")
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        values = rng.integers(info.min, info.max, size=shape, dtype=native, endpoint=True)
    elif dtype.kind == "c":
        part = np.float32 if dtype.itemsize == 8 else np.float64
        values = _floats(rng, shape, part) + 1j * _floats(rng, shape, part)
    else:
        values = _floats(rng, shape, native)
    return values.astype(dtype)
