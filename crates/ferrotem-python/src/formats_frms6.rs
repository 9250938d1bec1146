//! `PNDetector` `.frms6` files: the header reader for Python and the data source constructor.

use crate::enter::enter;
use crate::errors::to_pyerr;
use crate::source::PyDataSource;
use ferrotem_core::shape::DatasetShape;
use ferrotem_core::source::framed::FrameCount;
use ferrotem_core::source::frms6::{open_frms6 as open_frms6_source, scan_frms6};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;
use std::sync::Arc;

/// Reads the headers of `.frms6` files `paths` (checking they agree on the frame size): a dict
/// per file with its fields (LiberTEM's names) and `frames`, the frames it holds.
#[pyfunction]
#[allow(
    clippy::needless_pass_by_value,
    reason = "PyO3 extracts arguments as owned values"
)]
pub fn frms6_headers(py: Python<'_>, paths: Vec<PathBuf>) -> PyResult<Vec<Bound<'_, PyDict>>> {
    let headers = enter(py, || scan_frms6(&paths))?;
    let mut out = Vec::with_capacity(headers.len());
    for (path, (h, count)) in paths.iter().zip(headers) {
        let d = PyDict::new(py);
        d.set_item("path", path.display().to_string())?;
        d.set_item("header_size", h.header_size)?;
        d.set_item("frame_header_size", h.frame_header_size)?;
        d.set_item("version", h.version)?;
        d.set_item("width", h.width)?;
        d.set_item("height", h.height)?;
        d.set_item("num_frames", h.num_frames)?;
        let frames = match count {
            FrameCount::Exactly(n) | FrameCount::UpTo(n) => n,
            FrameCount::AsMany => 0,
        };
        d.set_item("frames", frames)?;
        out.push(d);
    }
    Ok(out)
}

/// The `.frms6` files `paths` (in frame order) as one data source of the given shape, the
/// detector halves unfolded at `binning` (1, 2 or 4).
#[pyfunction]
#[pyo3(signature = (paths, binning, nav_shape, sig_shape, sync_offset=0))]
#[allow(
    clippy::needless_pass_by_value,
    reason = "PyO3 extracts arguments as owned values"
)]
pub fn open_frms6(
    py: Python<'_>,
    paths: Vec<PathBuf>,
    binning: usize,
    nav_shape: Vec<usize>,
    sig_shape: Vec<usize>,
    sync_offset: i64,
) -> PyResult<PyDataSource> {
    let shape = DatasetShape::new(&nav_shape, &sig_shape).map_err(to_pyerr)?;
    let source = enter(py, || {
        open_frms6_source(&paths, binning, shape, sync_offset)
    })?;
    Ok(PyDataSource::new(Arc::new(source)))
}
