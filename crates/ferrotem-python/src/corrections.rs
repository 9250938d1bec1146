//! Detector corrections (`ferrotem.corrections.CorrectionSet` prepared for the core): built once
//! per task from numpy arrays, applied by the native runner to its tiles and, through
//! [`PyCorrections::apply`], to the blocks read for Python UDFs.

use crate::enter::enter;
use crate::errors::to_pyerr;
use ferrotem_core::corrections::{Correctable, Corrections};
use ferrotem_core::Error;
use num_complex::{Complex32, Complex64};
use numpy::{PyReadonlyArray1, PyReadwriteArrayDyn};
use pyo3::prelude::*;

/// Dark frame, gain map and excluded pixels, checked against a signal shape.
#[pyclass(name = "Corrections", module = "ferrotem._core", frozen)]
pub struct PyCorrections {
    pub(crate) inner: Corrections,
}

fn to_vec(a: Option<PyReadonlyArray1<'_, f64>>) -> PyResult<Option<Vec<f64>>> {
    a.map(|a| Ok(a.as_array().to_vec())).transpose()
}

fn apply_typed<T: Correctable + numpy::Element + Send>(
    py: Python<'_>,
    c: &Corrections,
    mut block: PyReadwriteArrayDyn<'_, T>,
) -> PyResult<()> {
    let sig_size = c.sig_size();
    let data = block.as_slice_mut().map_err(|_| {
        to_pyerr(Error::param(
            "block",
            "a non-contiguous array",
            "a C-contiguous array",
        ))
    })?;
    enter(py, || c.apply(data, 0..sig_size))
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "PyO3 extracts Python arguments into owned values (`Vec`, array borrows)"
)]
#[pymethods]
impl PyCorrections {
    /// `dark`, `gain`: flat float64 maps (one value per pixel) or None; `excluded`: flat pixel
    /// indices to patch from their neighbours.
    #[new]
    #[pyo3(signature = (sig_shape, dark, gain, excluded, allow_empty=false))]
    fn new(
        sig_shape: Vec<usize>,
        dark: Option<PyReadonlyArray1<'_, f64>>,
        gain: Option<PyReadonlyArray1<'_, f64>>,
        excluded: Vec<usize>,
        allow_empty: bool,
    ) -> PyResult<Self> {
        let inner = Corrections::new(
            &sig_shape,
            to_vec(dark)?,
            to_vec(gain)?,
            &excluded,
            allow_empty,
        )
        .map_err(to_pyerr)?;
        Ok(PyCorrections { inner })
    }

    /// Corrects `block` (whole frames, float32/float64/complex64/complex128, C-contiguous) in
    /// place.
    fn apply(&self, py: Python<'_>, block: &Bound<'_, PyAny>) -> PyResult<()> {
        if let Ok(b) = block.extract::<PyReadwriteArrayDyn<'_, f32>>() {
            return apply_typed(py, &self.inner, b);
        }
        if let Ok(b) = block.extract::<PyReadwriteArrayDyn<'_, f64>>() {
            return apply_typed(py, &self.inner, b);
        }
        if let Ok(b) = block.extract::<PyReadwriteArrayDyn<'_, Complex32>>() {
            return apply_typed(py, &self.inner, b);
        }
        if let Ok(b) = block.extract::<PyReadwriteArrayDyn<'_, Complex64>>() {
            return apply_typed(py, &self.inner, b);
        }
        Err(to_pyerr(Error::type_(
            "block",
            "an array of another dtype",
            "a writable float32, float64, complex64 or complex128 array",
        )))
    }

    /// Flat indices of the excluded pixels and of the neighbours each is patched from.
    fn repairs(&self) -> Vec<(usize, Vec<usize>)> {
        self.inner
            .repairs()
            .iter()
            .map(|r| (r.pixel, r.neighbours.clone()))
            .collect()
    }
}
