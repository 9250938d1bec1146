"""Off-axis electron holography: the complex electron wave of each hologram, reconstructed in
Fourier space (sideband filtering; theory: Lichte and Lehmann, Rep. Prog. Phys. 71 (2008)
016102).

LiberTEM removed ``libertem.udf.holography`` in 0.15 (its 0.16 module raises ``ImportError``
and points to LiberTEM-holo); ferrotem keeps the interface LiberTEM had up to 0.14.1, so scripts
written for it run: ``HoloReconstructUDF`` with ``out_shape``, ``sb_position``, ``sb_size``,
``sb_smoothness`` and ``precision``, and the helpers ``freq_array``, ``aperture_function`` and
``get_slice_fft``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ferrotem.common.buffers import BufferWrapper
from ferrotem.udf import _checks as check
from ferrotem.udf.base import UDF

__all__ = ["HoloReconstructUDF", "aperture_function", "freq_array", "get_slice_fft"]


def freq_array(shape: Any, sampling: Any = (1.0, 1.0)) -> np.ndarray:
    """The spatial frequency of each pixel of an unshifted 2-D FFT of ``shape``.

    ``hypot(fy, fx)`` with ``fy = np.fft.fftfreq(shape[0], sampling[0])`` along the rows and
    ``fx = np.fft.fftfreq(shape[1], sampling[1])`` along the columns: an array of ``shape``,
    in cycles per unit of ``sampling`` (per pixel by default).
    """
    sy, sx = check.int_pair("shape", shape)
    if sy < 1 or sx < 1:
        raise ValueError(f"shape: got {shape!r}, expected two positive integers")
    dy, dx = check.point("sampling", sampling)
    if dy == 0 or dx == 0:
        raise ValueError(f"sampling: got {sampling!r}, expected non-zero sampling rates")
    fy = np.fft.fftfreq(sy, dy)[:, np.newaxis]
    fx = np.fft.fftfreq(sx, dx)[np.newaxis, :]
    freq: np.ndarray = np.hypot(fy, fx)
    return freq


def aperture_function(r: Any, apradius: Any, rsmooth: Any) -> np.ndarray:
    """A round aperture with a soft edge: ``(1 - tanh((|r| - apradius) / (rsmooth / 2))) / 2``.

    1 well inside ``apradius``, 0 well outside, 1/2 on it; the edge falls from about 0.98 to
    0.02 between ``apradius - rsmooth`` and ``apradius + rsmooth``. ``rsmooth = 0`` is a hard
    edge (1 inside, 1/2 on the radius, 0 outside) rather than LiberTEM's division by zero.
    """
    radius = np.abs(np.asarray(r, dtype=np.float64))
    apradius = check.real("apradius", apradius)
    rsmooth = check.radius("rsmooth", rsmooth)
    if rsmooth == 0:
        hard: np.ndarray = 0.5 * (1.0 - np.sign(radius - apradius))
        return hard
    soft: np.ndarray = 0.5 - 0.5 * np.tanh(2.0 * (radius - apradius) / rsmooth)
    return soft


def get_slice_fft(out_shape: Any, sig_shape: Any) -> tuple[slice, slice]:
    """The slices that cut the central ``out_shape`` out of an ``fftshift``-ed spectrum of
    ``sig_shape``: rows ``int(sy/2 - oy/2)`` to ``int(sy/2 + oy/2)``, likewise for columns.

    (LiberTEM 0.14's UDF took the column end from ``oy``; here it is ``ox``, so a non-square
    ``out_shape`` gets its own width.)
    """
    oy, ox = check.int_pair("out_shape", out_shape)
    sy, sx = check.int_pair("sig_shape", sig_shape)
    if not (0 < oy <= sy and 0 < ox <= sx):
        raise ValueError(
            f"out_shape: got {tuple(out_shape)!r}, expected positive sizes no larger than the "
            f"frame {(sy, sx)!r}"
        )
    return (
        slice(int(sy / 2 - oy / 2), int(sy / 2 + oy / 2)),
        slice(int(sx / 2 - ox / 2), int(sx / 2 + ox / 2)),
    )


class HoloReconstructUDF(UDF):
    """Reconstruct the complex electron wave of off-axis holograms, one per frame.

    For each frame: its Fourier transform is rolled by ``sb_position`` (``np.roll`` along rows
    and columns), so that the sideband at ``-sb_position`` (the twin of the one at
    ``sb_position``) moves to the origin; the central ``out_shape`` of the spectrum is kept,
    multiplied by a round aperture of radius ``sb_size`` around the origin, and transformed
    back. Result ``wave``: ``kind='nav'`` with ``extra_shape=out_shape``, complex128 (or
    complex64 with ``precision=False``); ``np.abs`` is the amplitude and ``np.angle`` the
    phase. A smaller ``out_shape`` than the frame gives a coarser sampled wave of the same field
    of view, its amplitude scaled by ``frame size / out_shape size`` (the inverse transform
    normalises by the output's size), as in LiberTEM.

    Parameters
    ----------
    out_shape : (int, int)
        Shape of each reconstructed wave, at most the frame's.
    sb_position : (int, int)
        Sideband position ``(y, x)`` in the unshifted FFT of a hologram (negative or above
        half the size both work: rolling is periodic).
    sb_size : float
        Radius of the sideband aperture, in pixels of the spectrum (> 0).
    sb_smoothness : float, default 0.05
        Edge width of the aperture. As in LiberTEM, the width in frequency units is
        ``sb_size * sb_smoothness * mean(1/out_shape)**2``: a nearly hard edge for large
        ``out_shape``; 0 is a hard edge.
    precision : bool, default True
        True: computed in float64/complex128; False: frames converted to float32 and the wave
        computed and stored as complex64.

    Frames are processed whole (``process_frame``): the transform needs the whole frame.
    Complex data raise ``ValueError``.

    Examples
    --------
    >>> import numpy as np
    >>> from ferrotem.api import Context
    >>> ctx = Context.make_with("inline")
    >>> ds = ctx.load("memory", data=np.ones((2, 3, 32, 32), np.float32), sig_dims=2)
    >>> udf = HoloReconstructUDF(out_shape=(16, 16), sb_position=(4, 3), sb_size=3.0)
    >>> ctx.run_udf(dataset=ds, udf=udf)["wave"].data.shape
    (2, 3, 16, 16)
    """

    def __init__(
        self,
        out_shape: Any,
        sb_position: Any,
        sb_size: Any,
        sb_smoothness: Any = 0.05,
        precision: Any = True,
    ) -> None:
        oy, ox = check.int_pair("out_shape", out_shape)
        if oy < 1 or ox < 1:
            raise ValueError(f"out_shape: got {out_shape!r}, expected two positive integers")
        check.int_pair("sb_position", sb_position)
        if check.radius("sb_size", sb_size) == 0:
            raise ValueError(f"sb_size: got {sb_size!r}, expected a radius > 0")
        check.radius("sb_smoothness", sb_smoothness)
        check.boolean("precision", precision)
        super().__init__(
            out_shape=out_shape,
            sb_position=sb_position,
            sb_size=sb_size,
            sb_smoothness=sb_smoothness,
            precision=precision,
        )

    def get_result_buffers(self) -> dict[str, BufferWrapper]:
        sig = check.frame_2d("HoloReconstructUDF", self.meta.dataset_shape.sig)
        out_shape = check.int_pair("out_shape", self.params.out_shape)
        get_slice_fft(out_shape, sig)  # checks that out_shape fits the frame
        if np.dtype(self.meta.input_dtype).kind == "c":
            raise ValueError(
                f"dataset: HoloReconstructUDF needs real-valued holograms, got dtype "
                f"{np.dtype(self.meta.input_dtype)}"
            )
        dtype = np.complex128 if self.params.precision else np.complex64
        return {"wave": self.buffer(kind="nav", dtype=dtype, extra_shape=out_shape)}

    def get_task_data(self) -> dict[str, Any]:
        sig = check.frame_2d("HoloReconstructUDF", self.meta.partition_shape.sig)
        out_shape = check.int_pair("out_shape", self.params.out_shape)
        # the aperture lives on the output grid, whose frequency unit is 1/out_shape
        unit = float(np.mean([1.0 / out_shape[0], 1.0 / out_shape[1]]))
        radius = float(self.params.sb_size) * unit
        edge = radius * float(self.params.sb_smoothness) * unit
        aperture = aperture_function(freq_array(out_shape), radius, edge)
        dtype = np.float64 if self.params.precision else np.float32
        shift = check.int_pair("sb_position", self.params.sb_position)
        rows, cols = get_slice_fft(out_shape, sig)
        flat, mirrored = _half_spectrum_gather(
            sig,
            _source_frequencies(sig[0], out_shape[0], rows.start, shift[0]),
            _source_frequencies(sig[1], out_shape[1], cols.start, shift[1]),
        )
        return {"aperture": aperture.astype(dtype), "flat": flat, "mirrored": mirrored}

    def process_frame(self, frame: np.ndarray) -> None:
        hologram = frame.astype(np.float64 if self.params.precision else np.float32)
        cropped = np.fft.rfft2(hologram).ravel()[self.task_data.flat]
        mirrored = self.task_data.mirrored
        np.conjugate(cropped, out=cropped, where=mirrored)
        self.results.wave[:] = np.fft.ifft2(cropped * self.task_data.aperture)


def _source_frequencies(size: int, out: int, crop_start: int, shift: int) -> np.ndarray:
    """For each index of one output axis (unshifted layout), the index of the hologram's
    unshifted spectrum it comes from.

    The same as LiberTEM's chain of copies: ``np.roll`` by ``shift``, ``fftshift``, the cut
    from ``crop_start``, ``fftshift`` of the cut. Each step only moves indices: output ``p``
    is cut index ``(p - out//2) % out``, shifted index ``+ crop_start``, rolled index
    ``- size//2`` and spectrum index ``- shift``, all modulo ``size``.
    """
    cut = (np.arange(out) - out // 2) % out
    index: np.ndarray = (cut + crop_start - size // 2 - shift) % size
    return index


def _half_spectrum_gather(
    sig: tuple[int, int], rows: np.ndarray, cols: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Where ``fft2(frame)[np.ix_(rows, cols)]`` lies in the flattened ``rfft2(frame)`` of a
    real frame, and which of those values to conjugate: the columns ``rfft2`` leaves out are
    the complex conjugates of their mirror frequencies (``F[-k] = conj(F[k])``), so only half
    the transform is computed."""
    sy, sx = sig
    half_width = sx // 2 + 1
    mirrored = np.broadcast_to(cols > sx // 2, (rows.size, cols.size))
    src_rows = np.where(mirrored, (-rows[:, None]) % sy, rows[:, None])
    src_cols = np.where(mirrored, (-cols[None, :]) % sx, cols[None, :])
    flat: np.ndarray = src_rows * half_width + src_cols
    return flat, np.ascontiguousarray(mirrored)
