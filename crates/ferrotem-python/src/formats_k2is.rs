//! Gatan K2 IS (`'k2is'`): the sector sync and the `.gtg` scan shape for Python, and the
//! constructor of its data source.

use crate::enter::enter;
use crate::errors::to_pyerr;
use crate::source::PyDataSource;
use ferrotem_core::shape::DatasetShape;
use ferrotem_core::source::k2is::gtg::gtg_scan_shape;
use ferrotem_core::source::k2is::K2isAcquisition;
use ferrotem_core::Error;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;
use std::sync::Arc;

/// Opens the eight sector files `paths` (in sector order), synchronises them and returns what
/// was found: `frames` (complete frames), `first_active` (the first shutter-active one),
/// `first_block` (per sector), the frame ids, and `cut_blocks` (files ending in a cut block).
#[pyfunction]
#[allow(
    clippy::needless_pass_by_value,
    reason = "PyO3 extracts arguments as owned values"
)]
pub fn k2is_scan(py: Python<'_>, paths: Vec<PathBuf>) -> PyResult<Bound<'_, PyDict>> {
    let (sync, cut) = enter(py, || {
        let acq = K2isAcquisition::open(&paths)?;
        Ok((acq.sync().clone(), acq.cut_blocks()))
    })?;
    let d = PyDict::new(py);
    d.set_item("frames", sync.frames)?;
    d.set_item("first_active", sync.first_active)?;
    d.set_item("first_block", sync.first_block)?;
    d.set_item("first_frame_id", sync.first_frame_id)?;
    d.set_item("active_frame_id", sync.active_frame_id)?;
    d.set_item("last_frame_id", sync.last_frame_id)?;
    let cut: Vec<(String, u64)> = cut
        .into_iter()
        .map(|(p, n)| (p.display().to_string(), n))
        .collect();
    d.set_item("cut_blocks", cut)?;
    Ok(d)
}

/// The scan shape `(Size Y, Size X)` of the root tag group `SI Dimensions` of the `.gtg` file
/// `path`, or `None` if it has none (a time series).
#[pyfunction]
#[allow(
    clippy::needless_pass_by_value,
    reason = "PyO3 extracts arguments as owned values"
)]
pub fn k2is_gtg_scan_shape(py: Python<'_>, path: PathBuf) -> PyResult<Option<(u64, u64)>> {
    enter(py, || {
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        gtg_scan_shape(&bytes).map_err(|detail| Error::Corrupt {
            path: path.clone(),
            detail: format!("K2IS .gtg file: {detail}"),
        })
    })
}

/// The K2IS acquisition in `paths` (sector order) as a data source of the given shape whose
/// frame 0 is complete frame `first_frame` (negative: that many frames of zeros first).
#[pyfunction]
#[pyo3(signature = (paths, nav_shape, sig_shape, first_frame))]
#[allow(
    clippy::needless_pass_by_value,
    reason = "PyO3 extracts arguments as owned values"
)]
pub fn open_k2is(
    py: Python<'_>,
    paths: Vec<PathBuf>,
    nav_shape: Vec<usize>,
    sig_shape: Vec<usize>,
    first_frame: i64,
) -> PyResult<PyDataSource> {
    let shape = DatasetShape::new(&nav_shape, &sig_shape).map_err(to_pyerr)?;
    let source = enter(py, || {
        K2isAcquisition::open(&paths)?.into_source(shape, first_frame)
    })?;
    Ok(PyDataSource::new(Arc::new(source)))
}
