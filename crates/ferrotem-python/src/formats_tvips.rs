//! TVIPS series on the framed source: the series scan (header, files, detected scan) for
//! Python, and the constructor of its data source.

use crate::enter::enter;
use crate::errors::to_pyerr;
use crate::source::PyDataSource;
use ferrotem_core::shape::DatasetShape;
use ferrotem_core::source::tvips::TvipsSeries;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;
use std::sync::Arc;

/// Reads the series header of `paths[0]` (the `_000` file), counts the frames of every file in
/// `paths` (in series order) and detects the scan from the frames' scan positions; returns what
/// it found.
#[pyfunction]
#[allow(
    clippy::needless_pass_by_value,
    reason = "PyO3 extracts arguments as owned values"
)]
pub fn tvips_scan(py: Python<'_>, paths: Vec<PathBuf>) -> PyResult<Bound<'_, PyDict>> {
    let series = enter(py, || TvipsSeries::scan(&paths))?;
    let h = series.header();
    let d = PyDict::new(py);
    d.set_item("version", h.version)?;
    d.set_item("xdim", h.xdim)?;
    d.set_item("ydim", h.ydim)?;
    d.set_item("bpp", h.bpp)?;
    d.set_item("xoff", h.xoff)?;
    d.set_item("yoff", h.yoff)?;
    d.set_item("xbin", h.xbin)?;
    d.set_item("ybin", h.ybin)?;
    d.set_item("pixel_size_nm", h.pixel_size_nm)?;
    d.set_item("high_tension_kv", h.high_tension_kv)?;
    d.set_item("mag_total", h.mag_total)?;
    d.set_item("frame_header_bytes", h.frame_header_bytes)?;
    d.set_item("dtype", h.dtype().to_numpy_str())?;
    let files: Vec<(String, u64, u64)> = series
        .files()
        .iter()
        .map(|f| (f.path.display().to_string(), f.file_header, f.frames))
        .collect();
    d.set_item("files", files)?;
    d.set_item("frames", series.frame_count())?;
    match series.scan_guess() {
        Some(g) => d.set_item("detected", (g.sync_offset, g.nav_shape.clone()))?,
        None => d.set_item("detected", py.None())?,
    }
    Ok(d)
}

/// The TVIPS series in `paths` (in series order, the `_000` file first) as a data source of
/// the given shape.
#[pyfunction]
#[pyo3(signature = (paths, nav_shape, sig_shape, sync_offset=0))]
#[allow(
    clippy::needless_pass_by_value,
    reason = "PyO3 extracts arguments as owned values"
)]
pub fn open_tvips(
    py: Python<'_>,
    paths: Vec<PathBuf>,
    nav_shape: Vec<usize>,
    sig_shape: Vec<usize>,
    sync_offset: i64,
) -> PyResult<PyDataSource> {
    let shape = DatasetShape::new(&nav_shape, &sig_shape).map_err(to_pyerr)?;
    let source = enter(py, || TvipsSeries::count(&paths)?.open(shape, sync_offset))?;
    Ok(PyDataSource::new(Arc::new(source)))
}
