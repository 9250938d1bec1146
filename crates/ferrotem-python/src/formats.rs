//! Detector file formats on the framed source (Merlin MIB, `NanoMegas` blockfile): their header
//! parsers for Python, and the constructors of their data sources.

use crate::enter::enter;
use crate::errors::to_pyerr;
use crate::source::PyDataSource;
use ferrotem_core::shape::DatasetShape;
use ferrotem_core::source::blo::{open_blo as open_blo_source, read_blo_header, BloHeader};
use ferrotem_core::source::mib::{
    parse_frame_header, parse_hdr, MibAcquisition, MibFrameHeader, PixelType,
};
use ferrotem_core::Error;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;
use std::sync::Arc;

fn header_dict<'py>(py: Python<'py>, h: &MibFrameHeader) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("sequence", h.sequence)?;
    d.set_item("header_bytes", h.header_bytes)?;
    d.set_item("chips", h.chips)?;
    d.set_item("width", h.width)?;
    d.set_item("height", h.height)?;
    d.set_item("pixel_type", h.pixel_type.as_str())?;
    d.set_item("layout", &h.layout)?;
    d.set_item("counter_depth", h.counter_depth)?;
    d.set_item("fields", &h.fields)?;
    Ok(d)
}

/// Parses a Merlin MIB frame header (the first bytes of a frame record) into a dict of its
/// fields; `ValueError` saying which field is wrong.
#[pyfunction]
pub fn mib_frame_header<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyDict>> {
    let h = parse_frame_header(data).map_err(PyValueError::new_err)?;
    header_dict(py, &h)
}

/// Reads a Merlin `.hdr` file: its `(key, value)` pairs in file order.
#[pyfunction]
#[allow(
    clippy::needless_pass_by_value,
    reason = "PyO3 extracts arguments as owned values"
)]
pub fn mib_read_hdr(py: Python<'_>, path: PathBuf) -> PyResult<Vec<(String, String)>> {
    enter(py, || {
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        parse_hdr(&bytes).map_err(|detail| Error::Corrupt {
            path: path.clone(),
            detail,
        })
    })
}

/// Reads the frame headers of the `.mib` files `paths` and checks that they form one
/// acquisition; returns what they say, files in sequence order.
#[pyfunction]
#[allow(
    clippy::needless_pass_by_value,
    reason = "PyO3 extracts arguments as owned values"
)]
pub fn mib_scan(py: Python<'_>, paths: Vec<PathBuf>) -> PyResult<Bound<'_, PyDict>> {
    let (acq, sig, dtype) = enter(py, || {
        let acq = MibAcquisition::scan(&paths)?;
        let sig = acq.sig_shape()?;
        let dtype = acq.dtype()?;
        Ok((acq, sig, dtype))
    })?;
    let d = header_dict(py, acq.header())?;
    let files: Vec<(String, u64, u64)> = acq
        .files()
        .iter()
        .map(|f| (f.path.display().to_string(), f.frames, f.header.sequence))
        .collect();
    d.set_item("files", files)?;
    d.set_item("frames", acq.frame_count())?;
    d.set_item("sig_shape", (sig.0, sig.1))?;
    d.set_item("dtype", dtype.to_numpy_str())?;
    let kind = if acq.header().pixel_type == PixelType::R64 {
        "r"
    } else {
        "u"
    };
    d.set_item("kind", kind)?;
    Ok(d)
}

fn shape(nav_shape: &[usize], sig_shape: &[usize]) -> PyResult<DatasetShape> {
    DatasetShape::new(nav_shape, sig_shape).map_err(to_pyerr)
}

/// The Merlin acquisition in `paths` (any order) as a data source of the given shape.
#[pyfunction]
#[pyo3(signature = (paths, nav_shape, sig_shape, sync_offset=0))]
#[allow(
    clippy::needless_pass_by_value,
    reason = "PyO3 extracts arguments as owned values"
)]
pub fn open_mib(
    py: Python<'_>,
    paths: Vec<PathBuf>,
    nav_shape: Vec<usize>,
    sig_shape: Vec<usize>,
    sync_offset: i64,
) -> PyResult<PyDataSource> {
    let shape = shape(&nav_shape, &sig_shape)?;
    let source = enter(py, || {
        MibAcquisition::scan(&paths)?.open(shape, sync_offset)
    })?;
    Ok(PyDataSource::new(Arc::new(source)))
}

fn big_endian(endianess: &str) -> PyResult<bool> {
    match endianess {
        "<" => Ok(false),
        ">" => Ok(true),
        other => Err(to_pyerr(Error::param(
            "endianess",
            format!("{other:?}"),
            "'<' (little-endian) or '>' (big-endian)",
        ))),
    }
}

fn blo_dict<'py>(py: Python<'py>, h: &BloHeader) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("magic", h.magic)?;
    d.set_item("data_offset_1", h.data_offset_1)?;
    d.set_item("data_offset_2", h.data_offset_2)?;
    d.set_item("dp_size", h.dp_size)?;
    d.set_item("nx", h.nx)?;
    d.set_item("ny", h.ny)?;
    d.set_item("sx", h.sx)?;
    d.set_item("sy", h.sy)?;
    d.set_item("beam_energy", h.beam_energy)?;
    d.set_item("camera_length", h.camera_length)?;
    d.set_item("dtype", h.dtype.to_numpy_str())?;
    d.set_item("metadata", &h.metadata)?;
    Ok(d)
}

/// Reads a `NanoMegas` blockfile's header (`endianess` `'<'` or `'>'`) into a dict.
#[pyfunction]
#[allow(
    clippy::needless_pass_by_value,
    reason = "PyO3 extracts arguments as owned values"
)]
pub fn blo_header<'py>(
    py: Python<'py>,
    path: PathBuf,
    endianess: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let big = big_endian(endianess)?;
    let h = enter(py, || read_blo_header(&path, big))?;
    blo_dict(py, &h)
}

/// A `NanoMegas` blockfile as a data source of the given shape.
#[pyfunction]
#[pyo3(signature = (path, endianess, nav_shape, sig_shape, sync_offset=0))]
#[allow(
    clippy::needless_pass_by_value,
    reason = "PyO3 extracts arguments as owned values"
)]
pub fn open_blo(
    py: Python<'_>,
    path: PathBuf,
    endianess: &str,
    nav_shape: Vec<usize>,
    sig_shape: Vec<usize>,
    sync_offset: i64,
) -> PyResult<PyDataSource> {
    let big = big_endian(endianess)?;
    let shape = shape(&nav_shape, &sig_shape)?;
    let source = enter(py, || open_blo_source(&path, big, shape, sync_offset))?;
    Ok(PyDataSource::new(Arc::new(source)))
}
