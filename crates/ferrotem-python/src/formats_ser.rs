//! TIA series files (`.ser`) for Python: the parsed header, offsets and element description,
//! and the constructor of their data source (frames at the listed offsets).

use crate::enter::enter;
use crate::errors::to_pyerr;
use crate::source::PyDataSource;
use ferrotem_core::shape::DatasetShape;
use ferrotem_core::source::ser::{read_ser, SerFile};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;
use std::sync::Arc;

fn ser_dict<'py>(py: Python<'py>, f: &SerFile) -> PyResult<Bound<'py, PyDict>> {
    let h = &f.header;
    let d = PyDict::new(py);
    d.set_item("version", h.version)?;
    d.set_item("offset_bytes", h.offset_bytes())?;
    d.set_item("data_type_id", h.data_type_id)?;
    d.set_item("tag_type_id", h.tag_type_id)?;
    d.set_item("total_elements", h.total_elements)?;
    d.set_item("valid_elements", h.valid_elements)?;
    d.set_item("offset_array_offset", h.offset_array_offset)?;
    let dims: Vec<Bound<'py, PyDict>> = h
        .dimensions
        .iter()
        .map(|dim| -> PyResult<Bound<'py, PyDict>> {
            let e = PyDict::new(py);
            e.set_item("size", dim.size)?;
            e.set_item("calibration_offset", dim.calibration_offset)?;
            e.set_item("calibration_delta", dim.calibration_delta)?;
            e.set_item("calibration_element", dim.calibration_element)?;
            e.set_item("description", &dim.description)?;
            e.set_item("units", &dim.units)?;
            Ok(e)
        })
        .collect::<PyResult<_>>()?;
    d.set_item("dimensions", dims)?;
    d.set_item("nav_shape", h.nav_shape())?;
    d.set_item("sig_shape", f.sig_shape())?;
    d.set_item("type_code", f.element.type_code)?;
    d.set_item("dtype", f.element.dtype.to_numpy_str())?;
    d.set_item("data_offsets", &f.data_offsets)?;
    d.set_item("tag_offsets", &f.tag_offsets)?;
    Ok(d)
}

/// Reads a TIA `.ser` file's header, offset arrays and element headers into a dict.
#[pyfunction]
#[allow(
    clippy::needless_pass_by_value,
    reason = "PyO3 extracts arguments as owned values"
)]
pub fn ser_header(py: Python<'_>, path: PathBuf) -> PyResult<Bound<'_, PyDict>> {
    let f = enter(py, || read_ser(&path))?;
    ser_dict(py, &f)
}

/// A TIA `.ser` file as a data source of the given shape.
#[pyfunction]
#[pyo3(signature = (path, nav_shape, sig_shape, sync_offset=0))]
#[allow(
    clippy::needless_pass_by_value,
    reason = "PyO3 extracts arguments as owned values"
)]
pub fn open_ser(
    py: Python<'_>,
    path: PathBuf,
    nav_shape: Vec<usize>,
    sig_shape: Vec<usize>,
    sync_offset: i64,
) -> PyResult<PyDataSource> {
    let shape = DatasetShape::new(&nav_shape, &sig_shape).map_err(to_pyerr)?;
    let source = enter(py, || read_ser(&path)?.open(&path, shape, sync_offset))?;
    Ok(PyDataSource::new(Arc::new(source)))
}
