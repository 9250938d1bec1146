//! Norpix / DE `.seq` files: the header parser for Python, the data source constructor, and the
//! readers of the binary companions (MRC dark/gain references, the `.metadata` record).

use crate::enter::enter;
use crate::errors::to_pyerr;
use crate::source::PyDataSource;
use ferrotem_core::shape::DatasetShape;
use ferrotem_core::source::seq::{
    open_seq as open_seq_source, parse_seq_metadata, read_mrc_reference, read_seq_header,
};
use ferrotem_core::Error;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::path::PathBuf;
use std::sync::Arc;

/// Reads a `.seq` file's header into a dict of its fields (LiberTEM's names), with
/// `image_offset`, `footer_size`, `dtype`, `frames` (whole records in the file) and `file_size`.
#[pyfunction]
#[allow(
    clippy::needless_pass_by_value,
    reason = "PyO3 extracts arguments as owned values"
)]
pub fn seq_header(py: Python<'_>, path: PathBuf) -> PyResult<Bound<'_, PyDict>> {
    let (h, len) = enter(py, || read_seq_header(&path))?;
    let d = PyDict::new(py);
    d.set_item("magic", h.magic)?;
    d.set_item("name", &h.name)?;
    d.set_item("version", h.version)?;
    d.set_item("header_size", h.header_size)?;
    d.set_item("description", &h.description)?;
    d.set_item("width", h.width)?;
    d.set_item("height", h.height)?;
    d.set_item("bit_depth", h.bit_depth)?;
    d.set_item("bit_depth_real", h.bit_depth_real)?;
    d.set_item("image_size_bytes", h.image_size_bytes)?;
    d.set_item("image_format", h.image_format)?;
    d.set_item("allocated_frames", h.allocated_frames)?;
    d.set_item("origin", h.origin)?;
    d.set_item("true_image_size", h.true_image_size)?;
    d.set_item("suggested_frame_rate", h.suggested_frame_rate)?;
    d.set_item("description_format", h.description_format)?;
    d.set_item("reference_frame", h.reference_frame)?;
    d.set_item("fixed_size", h.fixed_size)?;
    d.set_item("flags", h.flags)?;
    d.set_item("bayer_pattern", h.bayer_pattern)?;
    d.set_item("time_offset_us", h.time_offset_us)?;
    d.set_item("extended_header_size", h.extended_header_size)?;
    d.set_item("compression_format", h.compression_format)?;
    d.set_item("reference_time_s", h.reference_time_s)?;
    d.set_item("reference_time_ms", h.reference_time_ms)?;
    d.set_item("reference_time_us", h.reference_time_us)?;
    d.set_item("image_offset", h.image_offset())?;
    d.set_item("footer_size", h.footer_bytes())?;
    d.set_item("dtype", h.dtype().to_numpy_str())?;
    d.set_item("frames", h.frame_count(len))?;
    d.set_item("file_size", len)?;
    Ok(d)
}

/// A `.seq` file as a data source of the given shape.
#[pyfunction]
#[pyo3(signature = (path, nav_shape, sig_shape, sync_offset=0))]
#[allow(
    clippy::needless_pass_by_value,
    reason = "PyO3 extracts arguments as owned values"
)]
pub fn open_seq(
    py: Python<'_>,
    path: PathBuf,
    nav_shape: Vec<usize>,
    sig_shape: Vec<usize>,
    sync_offset: i64,
) -> PyResult<PyDataSource> {
    let shape = DatasetShape::new(&nav_shape, &sig_shape).map_err(to_pyerr)?;
    let source = enter(py, || open_seq_source(&path, shape, sync_offset))?;
    Ok(PyDataSource::new(Arc::new(source)))
}

/// Reads the single image of an MRC file (a dark or gain reference): `(shape, dtype, bytes)`,
/// the shape `(ny, nx)` and the values' stored bytes in numpy dtype `dtype`.
#[pyfunction]
#[allow(
    clippy::needless_pass_by_value,
    reason = "PyO3 extracts arguments as owned values"
)]
pub fn mrc_reference(
    py: Python<'_>,
    path: PathBuf,
) -> PyResult<((usize, usize), String, Bound<'_, PyBytes>)> {
    let (h, data) = enter(py, || read_mrc_reference(&path))?;
    Ok(((h.ny, h.nx), h.numpy_dtype, PyBytes::new(py, &data)))
}

/// Reads the acquisition record of a DE `.seq.metadata` file: `{name: value}`.
#[pyfunction]
#[allow(
    clippy::needless_pass_by_value,
    reason = "PyO3 extracts arguments as owned values"
)]
pub fn seq_metadata(py: Python<'_>, path: PathBuf) -> PyResult<Bound<'_, PyDict>> {
    let fields = enter(py, || {
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        parse_seq_metadata(&bytes).map_err(|detail| Error::Corrupt {
            path: path.clone(),
            detail,
        })
    })?;
    let d = PyDict::new(py);
    for (name, value) in fields {
        d.set_item(name, value)?;
    }
    Ok(d)
}
