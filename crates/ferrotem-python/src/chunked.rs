//! `ChunkedArray`: one array of a chunk-table source as Python describes it (from h5py's
//! metadata), and the opening of the source over such arrays.

use crate::enter::enter;
use crate::errors::to_pyerr;
use ferrotem_core::decode::{Filter, Pipeline};
use ferrotem_core::dtype::DType;
use ferrotem_core::shape::DatasetShape;
use ferrotem_core::source::{ChunkLocation, ChunkedArray, ChunkedSource, IoMode};
use ferrotem_core::Error;
use numpy::{PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use std::path::PathBuf;

/// The filters of an HDF5 pipeline, `[(filter_id, cd_values)]` in HDF5's order, for elements of
/// `itemsize` bytes; a `ValueError` naming the first one ferrotem does not decode.
fn pipeline(filters: &[(u32, Vec<u32>)], itemsize: usize) -> PyResult<Pipeline> {
    filters
        .iter()
        .map(|(id, cd)| {
            Filter::from_hdf5(*id, cd, itemsize).ok_or_else(|| {
                to_pyerr(Error::param(
                    "filters",
                    format!("HDF5 filter {id} with parameters {cd:?}"),
                    "deflate (1), shuffle (2), LZ4 (32004) or bitshuffle with LZ4 or without \
                     compression (32008)",
                ))
            })
        })
        .collect::<PyResult<Vec<_>>>()
        .map(Pipeline::new)
}

/// True if ferrotem decodes HDF5 filter `filter_id` with `cd_values` itself.
#[pyfunction]
#[pyo3(signature = (filter_id, cd_values, itemsize))]
#[allow(
    clippy::needless_pass_by_value,
    reason = "PyO3 extracts Python arguments into owned values"
)]
pub fn chunk_filter_supported(filter_id: u32, cd_values: Vec<u32>, itemsize: usize) -> bool {
    Filter::from_hdf5(filter_id, &cd_values, itemsize).is_some()
}

/// One stored array: file, dataset name, stored shape, chunks, filters, fill value and the
/// table of its stored chunks.
#[pyclass(name = "ChunkedArray", module = "ferrotem._core")]
pub struct PyChunkedArray {
    pub(crate) inner: ChunkedArray,
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "PyO3 extracts Python arguments into owned values (`Vec`, `PathBuf`, array borrows)"
)]
#[pymethods]
impl PyChunkedArray {
    /// A chunked array with no chunk recorded yet; `filters` is `[(filter_id, cd_values)]`
    /// in HDF5's order, `fill` one element of the stored dtype (empty: zeros).
    #[new]
    #[pyo3(signature = (path, name, shape, sig_dims, chunk_shape, filters, fill, itemsize))]
    #[allow(clippy::too_many_arguments)] // mirrors the Python signature
    fn new(
        path: PathBuf,
        name: String,
        shape: Vec<u64>,
        sig_dims: usize,
        chunk_shape: Vec<u64>,
        filters: Vec<(u32, Vec<u32>)>,
        fill: Vec<u8>,
        itemsize: usize,
    ) -> PyResult<Self> {
        let pipeline = pipeline(&filters, itemsize)?;
        let inner = ChunkedArray::new(path, name, shape, sig_dims, chunk_shape, pipeline, fill)
            .map_err(to_pyerr)?;
        Ok(PyChunkedArray { inner })
    }

    /// A contiguous array at byte `offset` of its file (`None`: storage never allocated).
    #[staticmethod]
    #[pyo3(signature = (path, name, shape, sig_dims, offset, itemsize, fill))]
    fn contiguous(
        path: PathBuf,
        name: String,
        shape: Vec<u64>,
        sig_dims: usize,
        offset: Option<u64>,
        itemsize: usize,
        fill: Vec<u8>,
    ) -> PyResult<Self> {
        let inner = ChunkedArray::contiguous(path, name, &shape, sig_dims, offset, itemsize, fill)
            .map_err(to_pyerr)?;
        Ok(PyChunkedArray { inner })
    }

    /// Records stored chunks: `origins` (one row of element coordinates per chunk), byte
    /// `offsets`, stored `sizes` and `filter_masks`.
    fn add_chunks(
        &mut self,
        origins: PyReadonlyArray2<'_, u64>,
        offsets: PyReadonlyArray1<'_, u64>,
        sizes: PyReadonlyArray1<'_, u64>,
        filter_masks: PyReadonlyArray1<'_, u32>,
    ) -> PyResult<()> {
        let origins = origins.as_array();
        let (offsets, sizes, masks) = (
            offsets.as_slice()?,
            sizes.as_slice()?,
            filter_masks.as_slice()?,
        );
        let n = origins.nrows();
        if offsets.len() != n || sizes.len() != n || masks.len() != n {
            return Err(to_pyerr(Error::param(
                "offsets",
                format!(
                    "{} offsets, {} sizes and {} masks",
                    offsets.len(),
                    sizes.len(),
                    masks.len()
                ),
                format!("one of each per chunk origin ({n})"),
            )));
        }
        for (i, origin) in origins.rows().into_iter().enumerate() {
            let origin: Vec<u64> = origin.iter().copied().collect();
            self.inner
                .add_chunk(
                    &origin,
                    ChunkLocation {
                        offset: offsets[i],
                        size: sizes[i],
                        filter_mask: masks[i],
                    },
                )
                .map_err(to_pyerr)?;
        }
        Ok(())
    }
}

/// Opens the chunk-table source over `arrays` (cloned: the Python objects stay usable).
pub(crate) fn open(
    py: Python<'_>,
    arrays: &[PyRef<'_, PyChunkedArray>],
    dtype: &str,
    shape: DatasetShape,
    sync_offset: i64,
) -> PyResult<ChunkedSource> {
    let dtype = DType::parse(dtype, "dtype").map_err(to_pyerr)?;
    let arrays: Vec<ChunkedArray> = arrays.iter().map(|a| a.inner.clone()).collect();
    enter(py, move || {
        ChunkedSource::open(arrays, dtype, shape, sync_offset, IoMode::from_env())
    })
}
