//! Frames read by a Python callable: the binding side of `CallbackSource`, through which a
//! reader written in Python (a format ferrotem does not decode itself, HDF5 filters it does not
//! know) feeds the engine.
//!
//! The callable is called as `read(first, count, pixel_start, pixel_stop)` for stored frames
//! `first .. first + count` and returns an array of those frames' pixels in the stored dtype
//! (`count * (pixel_stop - pixel_start)` elements, any shape). It runs with the GIL, from
//! whichever thread reads; an exception it raises reaches the caller unchanged.

use crate::errors::to_pyerr;
use ferrotem_core::dtype::DType;
use ferrotem_core::shape::DatasetShape;
use ferrotem_core::source::CallbackSource;
use ferrotem_core::Error;
use numpy::PyReadonlyArray1;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use std::ops::Range;

/// The core error carrying a Python exception (see `errors::to_pyerr`).
fn external(context: String, err: PyErr) -> Error {
    Error::External {
        context,
        source: Box::new(err),
    }
}

/// Calls `read` for stored frames `frames`, pixels `pixels`, and copies what it returns into
/// `dst`, checking its dtype and size.
fn read_into(
    py: Python<'_>,
    read: &Py<PyAny>,
    dtype: &str,
    frames: &Range<u64>,
    pixels: &Range<usize>,
    dst: &mut [u8],
) -> PyResult<()> {
    let count = frames.end - frames.start;
    let result = read.call1(py, (frames.start, count, pixels.start, pixels.end))?;
    let result = result.bind(py);
    let numpy = py.import("numpy")?;
    let got: String = numpy
        .call_method1("asarray", (result,))?
        .getattr("dtype")?
        .getattr("str")?
        .extract()?;
    if got != dtype {
        return Err(PyTypeError::new_err(format!(
            "the reader returned an array of dtype {got} for frames {}..{}, expected {dtype}",
            frames.start, frames.end
        )));
    }
    let flat = numpy
        .call_method1("ascontiguousarray", (result,))?
        .call_method1("view", ("u1",))?
        .call_method1("reshape", (-1,))?;
    let bytes: PyReadonlyArray1<'_, u8> = flat.extract()?;
    let bytes = bytes.as_slice()?;
    if bytes.len() != dst.len() {
        return Err(PyValueError::new_err(format!(
            "the reader returned {} bytes for frames {}..{}, pixels {}..{}, expected {}",
            bytes.len(),
            frames.start,
            frames.end,
            pixels.start,
            pixels.end,
            dst.len()
        )));
    }
    dst.copy_from_slice(bytes);
    Ok(())
}

/// A source of `stored_frames` frames read by the Python callable `read`.
pub(crate) fn open(
    read: Py<PyAny>,
    dtype: &str,
    shape: DatasetShape,
    stored_frames: u64,
    sync_offset: i64,
    name: String,
) -> PyResult<CallbackSource> {
    let parsed = DType::parse(dtype, "dtype").map_err(to_pyerr)?;
    let dtype = parsed.to_numpy_str();
    let context = name.clone();
    let reader = move |frames: Range<u64>, pixels: Range<usize>, dst: &mut [u8]| {
        Python::attach(|py| read_into(py, &read, &dtype, &frames, &pixels, dst)).map_err(|e| {
            external(
                format!("{context}: frames {}..{}", frames.start, frames.end),
                e,
            )
        })
    };
    CallbackSource::new(
        Box::new(reader),
        parsed,
        shape,
        stored_frames,
        sync_offset,
        name,
    )
    .map_err(to_pyerr)
}
