//! EMPAD acquisitions on the framed source: the `.xml` for Python, and the constructor of the
//! raw file's data source.

use crate::enter::enter;
use crate::errors::to_pyerr;
use crate::source::PyDataSource;
use ferrotem_core::shape::DatasetShape;
use ferrotem_core::source::empad::{
    open_empad as open_empad_source, read_empad_xml, EmpadAcquisition, EmpadScan, EmpadXml,
};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Reads the EMPAD `.xml` at `path`, finds the raw file it names and the scan that fits the raw
/// file's size; returns what it found.
#[pyfunction]
#[allow(
    clippy::needless_pass_by_value,
    reason = "PyO3 extracts arguments as owned values"
)]
pub fn empad_scan(py: Python<'_>, path: PathBuf) -> PyResult<Bound<'_, PyDict>> {
    let acq = enter(py, || EmpadAcquisition::from_xml(&path))?;
    let d = xml_dict(py, &acq.xml, &path)?;
    d.set_item("nav_shape", acq.nav_shape.clone())?;
    d.set_item("mode", acq.mode)?;
    d.set_item("frames", acq.frame_count())?;
    Ok(d)
}

/// Reads the EMPAD `.xml` at `path`: the raw file it names and the scan(s) it describes, without
/// looking at the raw file.
#[pyfunction]
#[allow(
    clippy::needless_pass_by_value,
    reason = "PyO3 extracts arguments as owned values"
)]
pub fn empad_xml(py: Python<'_>, path: PathBuf) -> PyResult<Bound<'_, PyDict>> {
    let xml = enter(py, || read_empad_xml(&path))?;
    xml_dict(py, &xml, &path)
}

fn xml_dict<'py>(py: Python<'py>, xml: &EmpadXml, path: &Path) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("raw_filename", &xml.raw_filename)?;
    d.set_item("raw_path", xml.raw_path(path).display().to_string())?;
    match &xml.scan {
        EmpadScan::Scan { acquire, search } => {
            d.set_item("type", "scan")?;
            d.set_item("acquire", *acquire)?;
            d.set_item("search", *search)?;
        }
        EmpadScan::Series(n) => {
            d.set_item("type", "series")?;
            d.set_item("count", *n)?;
        }
    }
    Ok(d)
}

/// The EMPAD raw file at `path` as a data source of the given shape; `frames` records where
/// known (from the `.xml`), else as many as the file holds.
#[pyfunction]
#[pyo3(signature = (path, frames, nav_shape, sig_shape, sync_offset=0))]
#[allow(
    clippy::needless_pass_by_value,
    reason = "PyO3 extracts arguments as owned values"
)]
pub fn open_empad(
    py: Python<'_>,
    path: PathBuf,
    frames: Option<u64>,
    nav_shape: Vec<usize>,
    sig_shape: Vec<usize>,
    sync_offset: i64,
) -> PyResult<PyDataSource> {
    let shape = DatasetShape::new(&nav_shape, &sig_shape).map_err(to_pyerr)?;
    let source = enter(py, || open_empad_source(&path, frames, shape, sync_offset))?;
    Ok(PyDataSource::new(Arc::new(source)))
}
