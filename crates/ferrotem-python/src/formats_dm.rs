//! Gatan Digital Micrograph (`.dm3`, `.dm4`): the tag tree's images for Python, and the
//! constructors of the data sources of C-ordered and transposed data.

use crate::enter::enter;
use crate::errors::to_pyerr;
use crate::source::PyDataSource;
use ferrotem_core::dtype::DType;
use ferrotem_core::shape::DatasetShape;
use ferrotem_core::source::dm::{
    dm_type_name, open_dm_frames as open_frames, read_dm, DmFrames, TransposedSource,
};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::path::PathBuf;
use std::sync::Arc;

/// Parses the tag tree of the DM file `path`: a dict of its version, byte order, default image
/// and images (each a dict of what its tags say, and `data_error`, why its data cannot be read,
/// or `None`).
#[pyfunction]
#[allow(
    clippy::needless_pass_by_value,
    reason = "PyO3 extracts arguments as owned values"
)]
pub fn dm_info(py: Python<'_>, path: PathBuf) -> PyResult<Bound<'_, PyDict>> {
    let info = enter(py, || read_dm(&path))?;
    let d = PyDict::new(py);
    d.set_item("version", info.version)?;
    d.set_item("little_endian", info.little_endian)?;
    d.set_item("default_image", info.default_image())?;
    let images = PyList::empty(py);
    for im in &info.images {
        let e = PyDict::new(py);
        e.set_item("index", im.index)?;
        e.set_item("data_type", im.data_type)?;
        e.set_item("type_name", im.data_type.map(dm_type_name))?;
        e.set_item("dims", &im.dims)?;
        e.set_item("offset", im.offset)?;
        e.set_item("bytes", im.bytes)?;
        e.set_item("format", &im.format)?;
        e.set_item("data_order_swapped", im.data_order_swapped)?;
        e.set_item("name", &im.name)?;
        e.set_item("thumbnail", im.is_thumbnail())?;
        e.set_item("c_order", im.c_order())?;
        e.set_item("sig_dims", im.sig_dims())?;
        match info.data(im.index) {
            Ok(data) => {
                e.set_item("dtype", data.dtype.to_numpy_str())?;
                e.set_item("data_error", py.None())?;
            }
            Err(msg) => {
                e.set_item("dtype", py.None())?;
                e.set_item("data_error", msg)?;
            }
        }
        images.append(e)?;
    }
    d.set_item("images", images)?;
    Ok(d)
}

fn shape(nav_shape: &[usize], sig_shape: &[usize]) -> PyResult<DatasetShape> {
    DatasetShape::new(nav_shape, sig_shape).map_err(to_pyerr)
}

/// C-ordered frames of DM files, each given as `(path, data offset, frames)`, as a data source.
#[pyfunction]
#[pyo3(signature = (files, dtype, nav_shape, sig_shape, sync_offset=0))]
#[allow(
    clippy::needless_pass_by_value,
    reason = "PyO3 extracts arguments as owned values"
)]
pub fn open_dm_frames(
    py: Python<'_>,
    files: Vec<(PathBuf, u64, u64)>,
    dtype: &str,
    nav_shape: Vec<usize>,
    sig_shape: Vec<usize>,
    sync_offset: i64,
) -> PyResult<PyDataSource> {
    let dtype = DType::parse(dtype, "dtype").map_err(to_pyerr)?;
    let shape = shape(&nav_shape, &sig_shape)?;
    let files = files
        .into_iter()
        .map(|(path, offset, frames)| DmFrames {
            path,
            offset,
            frames,
        })
        .collect();
    let source = enter(py, || open_frames(files, dtype, shape, sync_offset))?;
    Ok(PyDataSource::new(Arc::new(source)))
}

/// Transposed DM data (`stored_frames` values of each pixel in turn, from `offset` of `path`)
/// as a data source of frames.
#[pyfunction]
#[pyo3(signature = (path, offset, stored_frames, dtype, nav_shape, sig_shape, sync_offset=0))]
#[allow(
    clippy::needless_pass_by_value,
    clippy::too_many_arguments,
    reason = "PyO3 extracts arguments as owned values; the parameters are the source's"
)]
pub fn open_dm_transposed(
    py: Python<'_>,
    path: PathBuf,
    offset: u64,
    stored_frames: u64,
    dtype: &str,
    nav_shape: Vec<usize>,
    sig_shape: Vec<usize>,
    sync_offset: i64,
) -> PyResult<PyDataSource> {
    let dtype = DType::parse(dtype, "dtype").map_err(to_pyerr)?;
    let shape = shape(&nav_shape, &sig_shape)?;
    let source = enter(py, || {
        TransposedSource::open(&path, dtype, shape, stored_frames, offset, sync_offset)
    })?;
    Ok(PyDataSource::new(Arc::new(source)))
}
