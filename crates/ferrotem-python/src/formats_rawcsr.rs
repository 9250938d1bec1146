//! Sparse `raw_csr` datasets: the constructor of their data source, and the reading of CSR
//! tiles for Python UDFs that take `scipy.sparse` / `sparse` arrays.

use crate::enter::enter;
use crate::errors::to_pyerr;
use crate::source::PyDataSource;
use ferrotem_core::dtype::DType;
use ferrotem_core::shape::DatasetShape;
use ferrotem_core::source::{CsrFile, CsrScratch, CsrSource};
use ferrotem_core::udf::StoredData;
use ferrotem_core::Error;
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use std::path::PathBuf;
use std::sync::Arc;

fn csr_file(path: PathBuf, dtype: &str, param: &str) -> PyResult<CsrFile> {
    Ok(CsrFile::new(
        path,
        DType::parse(dtype, param).map_err(to_pyerr)?,
    ))
}

/// The `raw_csr` dataset in the files `indptr`, `indices`, `data` (each with its dtype) as a
/// data source of the given shape; the files are checked as `CsrSource::open` says.
#[pyfunction]
#[pyo3(signature = (
    indptr, indptr_dtype, indices, indices_dtype, data, data_dtype, nav_shape, sig_shape,
    sync_offset=0
))]
#[allow(
    clippy::needless_pass_by_value,
    clippy::too_many_arguments,
    reason = "PyO3 extracts arguments as owned values; mirrors the descriptor's keys"
)]
pub fn open_raw_csr(
    py: Python<'_>,
    indptr: PathBuf,
    indptr_dtype: &str,
    indices: PathBuf,
    indices_dtype: &str,
    data: PathBuf,
    data_dtype: &str,
    nav_shape: Vec<usize>,
    sig_shape: Vec<usize>,
    sync_offset: i64,
) -> PyResult<PyDataSource> {
    let files = [
        csr_file(indptr, indptr_dtype, "indptr_dtype")?,
        csr_file(indices, indices_dtype, "indices_dtype")?,
        csr_file(data, data_dtype, "data_dtype")?,
    ];
    let shape = DatasetShape::new(&nav_shape, &sig_shape).map_err(to_pyerr)?;
    let source = enter(py, || {
        CsrSource::open(&files[0], &files[1], &files[2], shape, sync_offset)
    })?;
    Ok(PyDataSource::new(Arc::new(source)))
}

/// Raw bytes of stored values in native order.
fn value_bytes(data: StoredData<'_>) -> &[u8] {
    fn bytes<T>(v: &[T]) -> &[u8] {
        // SAFETY: plain numeric values viewed as their bytes, same span.
        unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
    }
    match data {
        StoredData::U8(v) => v,
        StoredData::U16(v) => bytes(v),
        StoredData::U32(v) => bytes(v),
        StoredData::U64(v) => bytes(v),
        StoredData::I8(v) => bytes(v),
        StoredData::I16(v) => bytes(v),
        StoredData::I32(v) => bytes(v),
        StoredData::I64(v) => bytes(v),
        StoredData::F32(v) => bytes(v),
        StoredData::F64(v) => bytes(v),
        StoredData::C64(v) => bytes(v),
        StoredData::C128(v) => bytes(v),
    }
}

/// The CSR rows of the frames `frames` (sorted flat indices) of a `raw_csr` source:
/// `(indptr int64, indices int64, values)` with `values` the stored values in native byte order
/// as raw bytes (view them as the source's dtype). Indices are checked against the frame size.
#[pyfunction]
#[allow(
    clippy::type_complexity,
    clippy::needless_pass_by_value,
    reason = "the three arrays of a CSR matrix; PyO3 extracts arguments as owned values"
)]
pub fn read_csr_rows<'py>(
    py: Python<'py>,
    source: &PyDataSource,
    frames: PyReadonlyArray1<'_, u64>,
) -> PyResult<(
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<u8>>,
)> {
    let frames = frames.as_slice()?.to_vec();
    let lent = source.lend(py)?;
    let inner = lent.source();
    let csr = inner.as_csr().ok_or_else(|| {
        PyTypeError::new_err(format!(
            "source: got {}, expected a raw_csr source",
            inner.describe()
        ))
    })?;
    let (indptr, indices, values) = enter(py, || {
        let mut runs: Vec<(u64, usize)> = Vec::new();
        for &f in &frames {
            match runs.last_mut() {
                Some((start, n)) if *start + *n as u64 == f => *n += 1,
                _ => runs.push((f, 1)),
            }
        }
        let mut indptr: Vec<i64> = vec![0];
        let mut indices: Vec<i64> = Vec::new();
        let mut values: Vec<u8> = Vec::new();
        let mut scratch = CsrScratch::default();
        for (first, n) in runs {
            let rows = csr.load_rows(first, n, &mut scratch)?;
            let base = indices.len();
            for &p in &rows.indptr[1..] {
                let at = i64::try_from(base + p)
                    .map_err(|_| Error::internal("more CSR entries than int64 counts"))?;
                indptr.push(at);
            }
            indices.extend(rows.indices.iter().map(|&p| i64::from(p)));
            values.extend_from_slice(value_bytes(rows.data));
            csr.confirm_rows(first, n)?;
        }
        Ok((indptr, indices, values))
    })?;
    Ok((
        PyArray1::from_vec(py, indptr),
        PyArray1::from_vec(py, indices),
        PyArray1::from_vec(py, values),
    ))
}
