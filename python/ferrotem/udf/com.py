"""Centre of mass (LiberTEM's ``libertem.udf.com``): :class:`CoMUDF` and the helpers that turn
centre-of-mass shifts into a field and its divergence and curl.

Per frame, :class:`CoMUDF` sums the intensity over a disk or ring (``m``) three times: ``Σ I·m``,
``Σ y·I·m`` and ``Σ x·I·m``. That stage runs in Rust (the core's ``com``), in float64, with the
conversion from the stored dtype inside the loop; everything after it — shifts, scan rotation
and flip, regression, magnitude, divergence, curl — is numpy on the merged moments in
:meth:`CoMUDF.get_results`, as in LiberTEM.

Where a frame's masked intensity is 0 its centre of mass is undefined; as LiberTEM 0.16 does,
its shift is 0 (``raw_com`` is ``(cy, cx)``) — a defined value, so that regression, divergence
and curl stay finite around such frames.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from enum import IntEnum
from typing import Any, Literal, NamedTuple, Union

import numpy as np

from ferrotem.common.buffers import BufferWrapper
from ferrotem.corrections import coordinates
from ferrotem.masks import gradient_x, gradient_y
from ferrotem.udf.base import UDF
from ferrotem.udf.native import NativeDescriptor, describe

__all__ = [
    "CoMParams",
    "CoMUDF",
    "GuessResult",
    "RegressionOptions",
    "RegressionOptionsT",
    "apply_correction",
    "center_shifts",
    "com_masks_factory",
    "com_masks_generic",
    "coordinate_check",
    "curl_2d",
    "divergence",
    "guess_corrections",
    "magnitude",
]


class RegressionOptions(IntEnum):
    """What :class:`CoMUDF` subtracts from the field (``regression``)."""

    #: nothing
    NO_REGRESSION = -1
    #: the mean field (a centre offset)
    SUBTRACT_MEAN = 0
    #: the mean and a plane fitted over the scan (centre offset and descan error)
    SUBTRACT_LINEAR = 1


#: a regression option, or a ``(3, 2)`` array ``[[y, x], [dy/dy, dx/dy], [dy/dx, dx/dx]]``
RegressionOptionsT = Union[np.ndarray, RegressionOptions, Literal[-1, 0, 1]]  # noqa: UP007


class CoMParams(NamedTuple):
    """The parameters of :class:`CoMUDF`; see :meth:`CoMUDF.with_params` for each one."""

    cy: float | None = None
    cx: float | None = None
    r: float = float("inf")
    ri: float | None = 0.0
    scan_rotation: float = 0.0
    flip_y: bool = False
    regression: RegressionOptionsT = RegressionOptions.NO_REGRESSION


# -- masks ------------------------------------------------------------------------------------
def _selection_mask(
    detector_y: int, detector_x: int, cy: float, cx: float, r: float, ri: float | None = 0.0
) -> np.ndarray:
    """Bool ``(detector_y, detector_x)``: pixels within ``r`` of ``(cy, cx)`` (boundary
    included), less those within ``ri`` (an ``ri`` of about 0 keeps the whole disk). The same
    arithmetic as ``ferrotem.masks.circular``/``ring``, but ``r`` may be infinite (the whole
    frame), which CoM's default needs."""
    dy = np.arange(detector_y) - cy
    dx = np.arange(detector_x) - cx
    d2 = dy[:, np.newaxis] * dy[:, np.newaxis] + dx[np.newaxis, :] * dx[np.newaxis, :]
    inside: np.ndarray = d2 <= r * r
    if ri is not None and not np.isclose(ri, 0.0):
        inside &= ~(d2 <= ri * ri)
    return inside


def com_masks_generic(
    detector_y: int, detector_x: int, base_mask_factory: Callable[[], np.ndarray]
) -> list[Callable[[], np.ndarray]]:
    """The three mask factories of a centre of mass over the selection ``base_mask_factory()``
    returns: the selection itself, the selection times each pixel's y, and times its x."""
    return [
        base_mask_factory,
        lambda: gradient_y(imageSizeX=detector_x, imageSizeY=detector_y) * base_mask_factory(),
        lambda: gradient_x(imageSizeX=detector_x, imageSizeY=detector_y) * base_mask_factory(),
    ]


def com_masks_factory(
    detector_y: int, detector_x: int, cy: float, cx: float, r: float
) -> list[Callable[[], np.ndarray]]:
    """:func:`com_masks_generic` over the disk of radius ``r`` (may be infinite) around
    ``(cy, cx)``."""
    return com_masks_generic(
        detector_y, detector_x, lambda: _selection_mask(detector_y, detector_x, cy, cx, r)
    )


# -- from moments to a field ------------------------------------------------------------------
def center_shifts(
    img_sum: Any, img_y: Any, img_x: Any, ref_y: float, ref_x: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(y, x)`` shifts of the centres of mass ``img_y / img_sum``, ``img_x / img_sum`` from
    ``(ref_y, ref_x)``; 0 where ``img_sum`` is 0 (LiberTEM's choice: no defined centre, no
    shift). NaN moments (positions outside a ROI) give NaN."""
    img_sum, img_y, img_x = np.asarray(img_sum), np.asarray(img_y), np.asarray(img_x)
    dtype = np.result_type(img_sum.dtype, img_y.dtype, img_x.dtype, np.float16)
    defined = img_sum != 0
    shifts = []
    for moment, ref in ((img_y, ref_y), (img_x, ref_x)):
        centre = np.zeros(np.broadcast(moment, img_sum).shape, dtype=dtype)
        np.divide(moment, img_sum, out=centre, where=defined)
        shift = centre - np.asarray(ref, dtype=dtype)
        shift[~defined] = 0
        shifts.append(shift)
    return shifts[0], shifts[1]


def apply_correction(
    y_centers: np.ndarray,
    x_centers: np.ndarray,
    scan_rotation: float,
    flip_y: bool,
    forward: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """The shifts ``(y, x)`` flipped in y (``flip_y``), then rotated by ``scan_rotation``
    degrees (:func:`ferrotem.corrections.coordinates.rotate_deg`); ``forward=False`` undoes
    that transformation."""
    y_centers, x_centers = np.asarray(y_centers), np.asarray(x_centers)
    shape = y_centers.shape
    flip = coordinates.flip_y() if flip_y else coordinates.identity()
    # the flip acts first: matrices apply right to left
    transform = coordinates.rotate_deg(scan_rotation) @ flip
    if not forward:
        transform = np.linalg.inv(transform)
    y_out, x_out = transform @ (y_centers.reshape(-1), x_centers.reshape(-1))
    return y_out.reshape(shape), x_out.reshape(shape)


def _gradient(values: np.ndarray, axis: int) -> np.ndarray:
    """``np.gradient`` along ``axis``; 0 along an axis of one position, where numpy raises
    (a one-line scan has no variation to measure across it)."""
    if values.shape[axis] < 2:
        return np.zeros(values.shape, dtype=np.result_type(values.dtype, np.float16))
    grad: np.ndarray = np.gradient(values, axis=axis)
    return grad


def divergence(y_centers: np.ndarray, x_centers: np.ndarray) -> np.ndarray:
    """``d(field_y)/dy + d(field_x)/dx`` over a 2-D scan (central differences,
    ``np.gradient``)."""
    y_centers, x_centers = np.asarray(y_centers), np.asarray(x_centers)
    div: np.ndarray = _gradient(y_centers, 0) + _gradient(x_centers, 1)
    return div


def curl_2d(y_centers: np.ndarray, x_centers: np.ndarray) -> np.ndarray:
    """``d(field_y)/dx - d(field_x)/dy`` over a 2-D scan (axis 0 is y, axis 1 is x)."""
    y_centers, x_centers = np.asarray(y_centers), np.asarray(x_centers)
    curl: np.ndarray = _gradient(y_centers, 1) - _gradient(x_centers, 0)
    return curl


def magnitude(y_centers: np.ndarray, x_centers: np.ndarray) -> np.ndarray:
    """The length of each ``(y, x)`` vector."""
    y_centers, x_centers = np.asarray(y_centers), np.asarray(x_centers)
    length: np.ndarray = np.sqrt(y_centers**2 + x_centers**2)
    return length


# -- guessing scan rotation and flip ----------------------------------------------------------
def _default_roi(roi: Any) -> Any:
    # np.gradient's one-sided differences make the last row and column unreliable
    return (slice(0, -1), slice(0, -1)) if roi is None else roi


def coordinate_check(
    y_centers: np.ndarray, x_centers: np.ndarray, roi: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """The RMS curl of the field for every ``scan_rotation`` 0..359 degrees, without and with
    ``flip_y``: ``(straight, flipped)``, 360 values each.

    A purely electrostatic field has no curl, so for atomic-resolution STEM of a non-magnetic
    specimen the right settings are near a minimum. ``roi`` selects the scan positions the
    statistics use (an index into the 2-D arrays); by default all but the last row and column.
    """
    roi = _default_roi(roi)
    straight = np.zeros(360)
    flipped = np.zeros(360)
    for angle in range(360):
        for flip, out in ((False, straight), (True, flipped)):
            fy, fx = apply_correction(y_centers, x_centers, scan_rotation=angle, flip_y=flip)
            out[angle] = np.sqrt(np.mean(curl_2d(fy, fx)[roi] ** 2))
    return straight, flipped


class GuessResult(NamedTuple):
    """Parameters guessed by :func:`guess_corrections`, to pass on as
    ``CoMUDF.with_params(**guess._asdict())``."""

    scan_rotation: int
    flip_y: bool
    cy: float
    cx: float


def guess_corrections(
    y_centers: np.ndarray,
    x_centers: np.ndarray,
    roi: np.ndarray | tuple[slice, ...] | None = None,
) -> GuessResult:
    """Guesses ``scan_rotation``, ``flip_y`` and the centre ``(cy, cx)`` from centre-of-mass
    data (2-D ``y_centers``, ``x_centers``) of atomic-resolution 4D STEM, assuming

    - a purely electrostatic field: the settings minimise the RMS curl
      (:func:`coordinate_check`);
    - no net field and no descan error: the centre is the mean of the inputs (so it is relative
      to whatever the inputs are relative to);
    - negative electrons deflected towards positive nuclei: the divergence is strongly negative
      at atom columns, so of the two rotations 180 degrees apart that minimise the curl, the one
      whose divergence histogram has the heavier negative tail wins.

    ``roi`` selects the positions used (default: all but the last row and column).
    """
    roi = _default_roi(roi)
    y_centers, x_centers = np.asarray(y_centers), np.asarray(x_centers)
    straight, flipped = coordinate_check(y_centers, x_centers, roi=roi)
    flip_y = bool(np.min(flipped) < np.min(straight))
    angle = int(np.argmin(flipped if flip_y else straight))
    fy, fx = apply_correction(y_centers, x_centers, scan_rotation=angle, flip_y=flip_y)
    div = divergence(fy, fx)[roi]
    extent = np.maximum(-np.min(div), np.max(div))
    hist, _ = np.histogram(div, range=(-extent, extent), bins=5)
    if hist[0] < hist[-1]:  # the heavier tail is positive: the field points the wrong way
        angle += 180
    if angle > 180:
        angle -= 360
    return GuessResult(
        scan_rotation=angle,
        flip_y=flip_y,
        cy=float(np.mean(y_centers[roi])),
        cx=float(np.mean(x_centers[roi])),
    )


# -- parameters -------------------------------------------------------------------------------
def _real(name: str, value: Any, *, allow_none: bool = False, allow_inf: bool = False) -> Any:
    if value is None and allow_none:
        return None
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}: got {value!r}, expected a number")
    if math.isnan(value) or (math.isinf(value) and not allow_inf):
        raise ValueError(f"{name}: got {value!r}, expected a finite number")
    return value


def _check_regression(regression: Any) -> None:
    choices = "-1 (no regression), 0 (subtract the mean), 1 (subtract a plane)"
    if isinstance(regression, bool | np.bool_):
        raise ValueError(f"regression: got {regression!r}, expected {choices} or a (3, 2) array")
    if isinstance(regression, numbers.Integral):
        if int(regression) not in (-1, 0, 1):
            raise ValueError(f"regression: got {regression!r}, expected {choices}")
        return
    try:
        arr = np.asarray(regression, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(
            f"regression: got {regression!r}, expected {choices} or a (3, 2) array"
        ) from e
    if arr.shape != (3, 2):
        raise ValueError(
            f"regression: got an array of shape {arr.shape}, expected (3, 2): "
            "[[y, x], [dy/dy, dx/dy], [dy/dx, dx/dx]]"
        )


def _check_params(params: Any) -> CoMParams:
    """``params`` if it is a valid :class:`CoMParams`, else ``ValueError`` naming the field."""
    if not isinstance(params, CoMParams):
        raise TypeError(
            f"com_params: got {type(params).__name__}, expected a CoMParams (see "
            "CoMUDF.with_params)"
        )
    _real("cy", params.cy, allow_none=True)
    _real("cx", params.cx, allow_none=True)
    r = _real("r", params.r, allow_inf=True)
    ri = _real("ri", params.ri, allow_none=True)
    if r <= 0:
        raise ValueError(f"r: got {params.r!r}, expected a radius > 0")
    if ri is not None and ri < 0:
        raise ValueError(f"ri: got {params.ri!r}, expected an inner radius >= 0")
    if ri is not None and ri >= r:
        raise ValueError(
            f"ri: got {params.ri!r}, expected an inner radius less than r ({params.r!r}) "
            "for annular CoM"
        )
    _real("scan_rotation", params.scan_rotation)
    if not isinstance(params.flip_y, bool | np.bool_):
        raise ValueError(f"flip_y: got {params.flip_y!r}, expected True or False")
    _check_regression(params.regression)
    return params


# -- the UDF ----------------------------------------------------------------------------------
class CoMUDF(UDF):
    """Centre of mass of every frame, the field it gives, and its divergence and curl.

    Make one with :meth:`with_params`. Results, all ``kind='nav'`` unless stated, dtype
    ``result_type(input dtype, float32)`` (float32 for uint16 data):

    - ``raw_com`` ``(y, x)``: the centre of mass in frame pixels, over the disk/ring of the
      parameters.
    - ``raw_shifts`` ``(dy, dx)``: ``raw_com`` minus ``(cy, cx)``.
    - ``field`` ``(2,)``: the shifts flipped (``flip_y``), rotated (``scan_rotation``), less the
      regression.
    - ``field_y``, ``field_x``: its components.
    - ``magnitude``: its length; ``divergence``, ``curl``: its discrete divergence and curl over
      the scan (``np.gradient``; NaN next to positions outside a ROI).
    - ``regression`` (``kind='single'``, ``(3, 2)``, float64): what was subtracted,
      ``[[y, x], [dy/dy, dx/dy], [dy/dx, dx/dx]]``.

    Frames whose masked intensity is 0 have shift 0. The scan must be 2-D and the frames 2-D
    (as in LiberTEM). The moments are accumulated in float64 (``raw_mask_result``, private;
    complex128 for complex input, which gives complex results as in LiberTEM). Runs natively in
    the Rust core unless a subclass overrides one of its methods.
    """

    def __init__(self, com_params: CoMParams = CoMParams()):  # noqa: B008 (immutable)
        super().__init__(com_params=_check_params(com_params))

    @classmethod
    def with_params(
        cls,
        *,
        cy: float | None = None,
        cx: float | None = None,
        r: float = float("inf"),
        ri: float = 0.0,
        scan_rotation: float = 0.0,
        flip_y: bool = False,
        regression: RegressionOptionsT = RegressionOptions.NO_REGRESSION,
    ) -> CoMUDF:
        """A :class:`CoMUDF` with these parameters.

        - ``cy``, ``cx``: centre of the disk/ring and the reference the shifts are measured
          from, in frame pixels; None (default) for the frame centre ``(sig_y // 2,
          sig_x // 2)``.
        - ``r``: outer radius of the disk; ``inf`` (default) for the whole frame.
        - ``ri``: inner radius of a ring (pixels within it are left out); 0 for a full disk.
          ``0 <= ri < r``.
        - ``scan_rotation``: degrees by which the shift vectors are rotated into scan
          coordinates; a positive value turns them clockwise, so a detector that looks rotated
          to the right relative to the scan needs a negative value.
        - ``flip_y``: negate the y shift first (detectors with pixel (0, 0) at the lower left,
          such as Quantum Detectors Merlin).
        - ``regression``: :class:`RegressionOptions` or -1/0/1 — no regression, subtract the
          mean field, or the mean and a plane fitted over the scan — or a ``(3, 2)`` array to
          subtract, ``[[y, x], [dy/dy, dx/dy], [dy/dx, dx/dx]]``. Fitting on the data itself
          also removes real long-range fields; a reference measurement is safer.

        A bad value raises ``ValueError`` naming the parameter.
        """
        return cls(
            com_params=CoMParams(
                cy=cy,
                cx=cx,
                r=r,
                ri=ri,
                scan_rotation=scan_rotation,
                flip_y=flip_y,
                regression=regression,
            )
        )

    def get_params(self) -> CoMParams:
        """The parameters with ``cy``/``cx`` filled in (the frame centre where they are None);
        needs ``self.meta`` (inside a run)."""
        cy, cx = self._centre()
        p: CoMParams = self.params.com_params
        return p._replace(cy=cy, cx=cx)

    def _centre(self) -> tuple[float, float]:
        """``(cy, cx)``: as given, or the frame centre ``(sig_y // 2, sig_x // 2)``."""
        p: CoMParams = self.params.com_params
        sig = tuple(self.meta.dataset_shape.sig)
        cy = sig[0] // 2 if p.cy is None else p.cy
        cx = sig[1] // 2 if p.cx is None else p.cx
        return cy, cx

    def _selection(self) -> np.ndarray:
        """The disk or ring of the parameters, as a bool frame."""
        p: CoMParams = self.params.com_params
        cy, cx = self._centre()
        sy, sx = tuple(self.meta.dataset_shape.sig)
        return _selection_mask(sy, sx, float(cy), float(cx), p.r, p.ri)

    def get_backends(self) -> Any:
        return self.BACKEND_ALL

    def get_result_buffers(self) -> dict[str, BufferWrapper]:
        shape = self.meta.dataset_shape
        sig, nav = tuple(shape.sig), tuple(shape.nav)
        if len(sig) != 2:
            raise ValueError(f"CoMUDF: frames of shape {sig}; the centre of mass needs 2-D frames")
        if len(nav) != 2:
            raise ValueError(
                f"CoMUDF: a scan of shape {nav}; CoMUDF needs a 2-D scan (its divergence, curl "
                "and regression are over the scan's y and x), as in LiberTEM"
            )
        dtype = np.result_type(self.meta.input_dtype, np.float32)
        moments = np.result_type(self.meta.input_dtype, np.float64)
        return {
            "raw_mask_result": self.buffer(
                kind="nav", dtype=moments, extra_shape=(3,), where="device", use="private"
            ),
            "raw_com": self.buffer(kind="nav", dtype=dtype, extra_shape=(2,), use="result_only"),
            "raw_shifts": self.buffer(kind="nav", dtype=dtype, extra_shape=(2,), use="result_only"),
            "field": self.buffer(kind="nav", dtype=dtype, extra_shape=(2,), use="result_only"),
            "field_y": self.buffer(kind="nav", dtype=dtype, use="result_only"),
            "field_x": self.buffer(kind="nav", dtype=dtype, use="result_only"),
            "magnitude": self.buffer(kind="nav", dtype=dtype, use="result_only"),
            "divergence": self.buffer(kind="nav", dtype=dtype, use="result_only"),
            "curl": self.buffer(kind="nav", dtype=dtype, use="result_only"),
            "regression": self.buffer(
                kind="single", extra_shape=(3, 2), dtype=np.float64, use="result_only"
            ),
        }

    def get_task_data(self) -> dict[str, Any]:
        mask = self._selection().astype(np.float64)
        sy, sx = mask.shape
        y = np.arange(sy, dtype=np.float64)[:, np.newaxis]
        x = np.arange(sx, dtype=np.float64)[np.newaxis, :]
        return {"com_params": self.get_params(), "weights": np.stack([mask, y * mask, x * mask])}

    def process_tile(self, tile: np.ndarray) -> None:
        weights = self.task_data.weights
        if self.meta.sig_slice is not None:
            weights = weights[(slice(None), *self.meta.sig_slice.get(sig_only=True))]
        flat = tile.reshape(tile.shape[0], -1)
        # einsum, not a BLAS product: BLAS threads inside every task thread oversubscribe
        moments = np.einsum("ij,kj->ik", flat, weights.reshape(3, -1))
        self.results.raw_mask_result[:] += moments

    def native_descriptor(self) -> NativeDescriptor | None:
        """Runs as the core's ``com``: float64 moments (complex128 for complex input)."""
        return describe(self, "com", mask=self._selection().astype(np.float64))

    # -- derived results (main node, after merging) --------------------------------------------
    def get_field_results(self, field_y: np.ndarray, field_x: np.ndarray) -> dict[str, Any]:
        """``magnitude``, ``divergence`` and ``curl`` of the field over the whole scan; a
        subclass may derive more (LiberTEM-iCoM overrides this)."""
        return {
            "magnitude": magnitude(field_y, field_x),
            "divergence": divergence(field_y, field_x),
            "curl": curl_2d(field_y, field_x),
        }

    def get_regression(
        self, field: np.ndarray, valid_mask: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The ``(3, 2)`` regression to subtract from ``field`` (``nav + (2,)``), fitted over
        the positions of ``valid_mask``, and the ``(*nav, 3)`` design matrix ``[1, y, x]`` when
        it has a linear part (else None)."""
        p = self.get_params()
        result = np.zeros((3, 2))

        def design() -> np.ndarray:
            inp = np.ones(field.shape[:-1] + (3,))
            y, x = np.ogrid[: field.shape[0], : field.shape[1]]
            inp[..., 1] = y
            inp[..., 2] = x
            return inp

        inp = None
        valid_field = field[valid_mask]
        if isinstance(p.regression, numbers.Integral):
            option = int(p.regression)
            if option == RegressionOptions.SUBTRACT_MEAN and len(valid_field):
                result[0] = np.real(np.mean(valid_field, axis=0))
            elif option == RegressionOptions.SUBTRACT_LINEAR and len(valid_field):
                inp = design()
                fit = np.linalg.lstsq(inp[valid_mask], valid_field, rcond=None)[0]
                result[:] = np.real(fit)
            elif option not in (-1, 0, 1):
                raise ValueError(f"regression: got {p.regression!r}, expected -1, 0 or 1")
        else:
            result[:] = np.asarray(p.regression, dtype=np.float64)
        if np.allclose(result[1:], 0):
            return result, None
        return result, inp if inp is not None else design()

    def apply_mean_regression(
        self, regression: np.ndarray, field_inout: np.ndarray, valid_mask: np.ndarray
    ) -> None:
        """Subtracts the mean part of ``regression`` at the valid positions."""
        field_inout[valid_mask] -= regression[0]

    def apply_lin_regression(
        self,
        regression: np.ndarray,
        inp: np.ndarray,
        field_inout: np.ndarray,
        valid_mask: np.ndarray,
    ) -> None:
        """Subtracts ``inp @ regression`` (mean and plane) at the valid positions."""
        field_inout[valid_mask] -= inp[valid_mask] @ regression

    def _moments_over_scan(self) -> np.ndarray:
        """The merged moments as ``(*nav, 3)``, NaN at positions outside the ROI."""
        nav = tuple(self.meta.dataset_shape.nav)
        raw = np.asarray(self.results.get_buffer("raw_mask_result").raw_data)
        roi = self.meta.roi
        if roi is None:
            return raw.reshape(nav + (3,))
        full = np.full((math.prod(nav), 3), np.nan, dtype=raw.dtype)
        full[np.asarray(roi).reshape(-1)] = raw
        return full.reshape(nav + (3,))

    def get_results(self) -> dict[str, Any]:
        p = self.get_params()
        cy, cx = self._centre()
        nav = tuple(self.meta.dataset_shape.nav)
        moments = self._moments_over_scan()
        shift_y, shift_x = center_shifts(moments[..., 0], moments[..., 1], moments[..., 2], cy, cx)
        raw_shifts = np.stack([shift_y, shift_x], axis=-1)
        raw_com = raw_shifts + np.array([cy, cx], dtype=np.float64)
        field = np.stack(apply_correction(shift_y, shift_x, p.scan_rotation, p.flip_y), axis=-1)
        valid = self.meta.get_valid_nav_mask(full_nav=True)
        valid = np.ones(nav, dtype=bool) if valid is None else valid.reshape(nav)
        regression, inp = self.get_regression(field, valid_mask=valid)
        if inp is not None:
            self.apply_lin_regression(regression, inp, field, valid)
        elif not np.allclose(regression[0], 0):
            self.apply_mean_regression(regression, field, valid)
        results: dict[str, Any] = {
            "raw_shifts": raw_shifts,
            "raw_com": raw_com,
            "field": field,
            "field_y": field[..., 0],
            "field_x": field[..., 1],
        }
        results.update(self.get_field_results(field_y=field[..., 0], field_x=field[..., 1]))
        # scan-shaped over the whole scan so far; results are stored per selected position
        selected = None if self.meta.roi is None else np.asarray(self.meta.roi).reshape(-1)
        n = math.prod(nav)
        for name, buf in self._buffers.items():
            if buf.kind != "nav" or name not in results:
                continue
            flat = np.asarray(results[name]).reshape((n, *buf.extra_shape))
            if selected is not None:
                flat = flat[selected]
            results[name] = flat.astype(buf.dtype, copy=False)
        results["regression"] = np.asarray(regression, dtype=np.float64)
        return results
