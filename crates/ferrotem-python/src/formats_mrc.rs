//! MRC files for Python: the parsed header and the constructor of their data source (the
//! framed source, frames read in place).

use crate::enter::enter;
use crate::errors::to_pyerr;
use crate::source::PyDataSource;
use ferrotem_core::shape::DatasetShape;
use ferrotem_core::source::mrc::{open_mrc as open_mrc_source, read_mrc_header};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;
use std::sync::Arc;

/// Reads an MRC file's header into a dict.
#[pyfunction]
#[allow(
    clippy::needless_pass_by_value,
    reason = "PyO3 extracts arguments as owned values"
)]
pub fn mrc_header(py: Python<'_>, path: PathBuf) -> PyResult<Bound<'_, PyDict>> {
    let h = enter(py, || read_mrc_header(&path))?;
    let d = PyDict::new(py);
    d.set_item("nx", h.nx)?;
    d.set_item("ny", h.ny)?;
    d.set_item("nz", h.nz)?;
    d.set_item("mode", h.mode)?;
    d.set_item("mxyz", h.mxyz.to_vec())?;
    d.set_item("cell", h.cell.to_vec())?;
    d.set_item("nsymbt", h.nsymbt)?;
    d.set_item("exttyp", &h.exttyp)?;
    d.set_item("nversion", h.nversion)?;
    d.set_item("big_endian", h.big_endian)?;
    d.set_item("machine_stamp", h.machine_stamp.to_vec())?;
    d.set_item("labels", &h.labels)?;
    d.set_item("dtype", h.dtype().to_numpy_str())?;
    d.set_item("stored_itemsize", h.stored_itemsize())?;
    d.set_item("data_offset", h.data_offset())?;
    d.set_item("sig_shape", h.sig_shape())?;
    Ok(d)
}

/// An MRC file as a data source of the given shape.
#[pyfunction]
#[pyo3(signature = (path, nav_shape, sig_shape, sync_offset=0))]
#[allow(
    clippy::needless_pass_by_value,
    reason = "PyO3 extracts arguments as owned values"
)]
pub fn open_mrc(
    py: Python<'_>,
    path: PathBuf,
    nav_shape: Vec<usize>,
    sig_shape: Vec<usize>,
    sync_offset: i64,
) -> PyResult<PyDataSource> {
    let shape = DatasetShape::new(&nav_shape, &sig_shape).map_err(to_pyerr)?;
    let source = enter(py, || open_mrc_source(&path, shape, sync_offset))?;
    Ok(PyDataSource::new(Arc::new(source)))
}
