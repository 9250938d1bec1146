//! Chunk encoding for `ctx.export_dataset` / `ferrotem convert`: chunks compressed in the core
//! without the GIL, so that several Python threads compress at once while one writes.

use crate::enter::enter;
use ferrotem_core::encode::{encode_chunks as encode_core, Codec};
use numpy::PyReadonlyArray1;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// Encodes `data` (a flat uint8 array of chunks of `chunk_bytes` bytes, back to back) chunk by
/// chunk with `codec` (`'bitshuffle-lz4'` or `'gzip'` at `level`); returns one `bytes` per chunk,
/// as HDF5's filter of that codec stores it.
#[pyfunction]
#[allow(
    clippy::needless_pass_by_value,
    reason = "PyO3 extracts arguments as owned values"
)]
#[pyo3(signature = (data, chunk_bytes, elem_size, codec, level = 4))]
pub fn encode_chunks<'py>(
    py: Python<'py>,
    data: PyReadonlyArray1<'py, u8>,
    chunk_bytes: usize,
    elem_size: usize,
    codec: &str,
    level: u32,
) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    let codec = Codec::from_name(codec, level).map_err(crate::errors::to_pyerr)?;
    let bytes = data.as_slice()?;
    let encoded = enter(py, || encode_core(bytes, chunk_bytes, elem_size, codec))?;
    Ok(encoded.iter().map(|c| PyBytes::new(py, c)).collect())
}
