//! `DataSource`: a dataset's frames as seen from Python (memory, raw, npy, chunked, a Python
//! reader), with converted reads.

use crate::enter::enter;
use crate::errors::to_pyerr;
use crate::numpy_bytes::{HeldBytes, ReadBorrow};
use ferrotem_core::aligned::AlignedBuf;
use ferrotem_core::dtype::DType;
use ferrotem_core::read::read_converted;
use ferrotem_core::shape::DatasetShape;
use ferrotem_core::source::{open_npy, DataSource, MemorySource, NpyHeader, RawFileSource};
use numpy::{PyArray1, PyReadonlyArray1, PyReadwriteArray1};
use pyo3::prelude::*;
use std::cell::RefCell;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

thread_local! {
    /// Per-thread scratch for raw bytes, reused across reads.
    static SCRATCH: RefCell<AlignedBuf> = RefCell::new(AlignedBuf::zeroed(0));
}

/// An opened dataset source. Not picklable: Python datasets keep the parameters and reopen.
#[pyclass(name = "DataSource", module = "ferrotem._core", frozen)]
pub struct PyDataSource {
    /// Read it through [`PyDataSource::lend`] only, which borrows `held` for the call.
    inner: Arc<dyn DataSource>,
    /// The numpy array an in-memory source reads (see `numpy_bytes`).
    held: Option<Py<PyArray1<u8>>>,
}

/// A source lent to one call: reading it is safe for as long as this lives (an in-memory
/// source's array is borrowed read-only meanwhile).
pub(crate) struct Lent<'py> {
    source: Arc<dyn DataSource>,
    _borrow: Option<ReadBorrow<'py>>,
}

impl Lent<'_> {
    /// The source, to read while the GIL is released.
    pub(crate) fn source(&self) -> &dyn DataSource {
        self.source.as_ref()
    }
}

impl PyDataSource {
    pub(crate) fn new(inner: Arc<dyn DataSource>) -> Self {
        PyDataSource { inner, held: None }
    }

    /// Lends the source to a call that reads its data; a `ValueError` if an in-memory source's
    /// array is borrowed for writing elsewhere.
    pub(crate) fn lend<'py>(&self, py: Python<'py>) -> PyResult<Lent<'py>> {
        let borrow = self
            .held
            .as_ref()
            .map(|array| ReadBorrow::new(py, array))
            .transpose()?;
        Ok(Lent {
            source: self.inner.clone(),
            _borrow: borrow,
        })
    }
}

fn shape(nav_shape: &[usize], sig_shape: &[usize]) -> PyResult<DatasetShape> {
    DatasetShape::new(nav_shape, sig_shape).map_err(to_pyerr)
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "PyO3 extracts Python arguments into owned values (`Vec`, `PathBuf`, array borrows)"
)]
#[pymethods]
impl PyDataSource {
    /// Frames in a numpy array, passed as its flat uint8 view.
    #[staticmethod]
    #[pyo3(signature = (data, dtype, nav_shape, sig_shape, sync_offset=0))]
    fn memory(
        py: Python<'_>,
        data: &Bound<'_, PyArray1<u8>>,
        dtype: &str,
        nav_shape: Vec<usize>,
        sig_shape: Vec<usize>,
        sync_offset: i64,
    ) -> PyResult<Self> {
        let dtype = DType::parse(dtype, "dtype").map_err(to_pyerr)?;
        let bytes = HeldBytes::new(data)?;
        let held = bytes.array(py);
        let source = MemorySource::new(bytes, dtype, shape(&nav_shape, &sig_shape)?, sync_offset)
            .map_err(to_pyerr)?;
        Ok(PyDataSource {
            inner: Arc::new(source),
            held: Some(held),
        })
    }

    /// A headerless file of C-ordered frames.
    #[staticmethod]
    #[pyo3(signature = (path, dtype, nav_shape, sig_shape, sync_offset=0, header_bytes=0))]
    fn raw(
        py: Python<'_>,
        path: PathBuf,
        dtype: &str,
        nav_shape: Vec<usize>,
        sig_shape: Vec<usize>,
        sync_offset: i64,
        header_bytes: u64,
    ) -> PyResult<Self> {
        let dtype = DType::parse(dtype, "dtype").map_err(to_pyerr)?;
        let shape = shape(&nav_shape, &sig_shape)?;
        let source = enter(py, || {
            RawFileSource::open(&path, dtype, shape, header_bytes, sync_offset)
        })?;
        Ok(PyDataSource::new(Arc::new(source)))
    }

    /// An `.npy` file (C or Fortran order).
    #[staticmethod]
    #[pyo3(signature = (path, sig_dims=2, nav_shape=None, sig_shape=None, sync_offset=0))]
    fn npy(
        py: Python<'_>,
        path: PathBuf,
        sig_dims: usize,
        nav_shape: Option<Vec<usize>>,
        sig_shape: Option<Vec<usize>>,
        sync_offset: i64,
    ) -> PyResult<Self> {
        let (_, source) = enter(py, || {
            open_npy(
                &path,
                sig_dims,
                nav_shape.as_deref(),
                sig_shape.as_deref(),
                sync_offset,
            )
        })?;
        Ok(PyDataSource::new(Arc::from(source)))
    }

    /// Arrays stored as chunks in files (HDF5 datasets, see `ChunkedArray`), one after the
    /// other along their frames; read and decoded in Rust.
    #[staticmethod]
    #[pyo3(signature = (arrays, dtype, nav_shape, sig_shape, sync_offset=0))]
    fn chunked(
        py: Python<'_>,
        arrays: Vec<PyRef<'_, crate::chunked::PyChunkedArray>>,
        dtype: &str,
        nav_shape: Vec<usize>,
        sig_shape: Vec<usize>,
        sync_offset: i64,
    ) -> PyResult<Self> {
        let shape = shape(&nav_shape, &sig_shape)?;
        let source = crate::chunked::open(py, &arrays, dtype, shape, sync_offset)?;
        Ok(PyDataSource::new(Arc::new(source)))
    }

    /// `stored_frames` frames read by the Python callable `read(first, count, pixel_start,
    /// pixel_stop)` (see `callback`); `name` describes it in messages (default "Python reader").
    #[staticmethod]
    #[pyo3(signature = (read, dtype, nav_shape, sig_shape, stored_frames, sync_offset=0, name=None))]
    fn from_reader(
        read: Py<PyAny>,
        dtype: &str,
        nav_shape: Vec<usize>,
        sig_shape: Vec<usize>,
        stored_frames: u64,
        sync_offset: i64,
        name: Option<String>,
    ) -> PyResult<Self> {
        let shape = shape(&nav_shape, &sig_shape)?;
        let name = name.unwrap_or_else(|| "Python reader".to_owned());
        let source = crate::callback::open(read, dtype, shape, stored_frames, sync_offset, name)?;
        Ok(PyDataSource::new(Arc::new(source)))
    }

    /// Stored dtype as numpy's `dtype.str`.
    #[getter]
    fn dtype(&self) -> String {
        self.inner.dtype().to_numpy_str()
    }

    /// Navigation shape.
    #[getter]
    fn nav_shape(&self) -> Vec<usize> {
        self.inner.shape().nav().to_vec()
    }

    /// Signal shape.
    #[getter]
    fn sig_shape(&self) -> Vec<usize> {
        self.inner.shape().sig().to_vec()
    }

    /// Reads frames `first .. first + count` (pixels `pixel_start .. pixel_stop` of the flat
    /// frame) into `out` (the flat uint8 view of a native-order array of `out_dtype`).
    #[pyo3(signature = (first, count, out, out_dtype, pixel_start=0, pixel_stop=None))]
    #[allow(clippy::too_many_arguments)] // mirrors the Python signature
    fn read(
        &self,
        py: Python<'_>,
        first: u64,
        count: u64,
        out: PyReadwriteArray1<'_, u8>,
        out_dtype: &str,
        pixel_start: usize,
        pixel_stop: Option<usize>,
    ) -> PyResult<()> {
        let end = first.checked_add(count).ok_or_else(|| {
            pyo3::exceptions::PyValueError::new_err(format!("frames: {first}+{count} overflows"))
        })?;
        self.read_runs(
            py,
            std::slice::from_ref(&(first..end)),
            out,
            out_dtype,
            pixel_start,
            pixel_stop,
        )
    }

    /// Reads the frames listed in `frames` (sorted flat indices), like `read`.
    #[pyo3(signature = (frames, out, out_dtype, pixel_start=0, pixel_stop=None))]
    fn read_selected(
        &self,
        py: Python<'_>,
        frames: PyReadonlyArray1<'_, u64>,
        out: PyReadwriteArray1<'_, u8>,
        out_dtype: &str,
        pixel_start: usize,
        pixel_stop: Option<usize>,
    ) -> PyResult<()> {
        let frames = frames.as_slice()?;
        let mut runs: Vec<Range<u64>> = Vec::new();
        for &f in frames {
            match runs.last_mut() {
                Some(r) if r.end == f => r.end += 1,
                _ => runs.push(f..f + 1),
            }
        }
        self.read_runs(py, &runs, out, out_dtype, pixel_start, pixel_stop)
    }

    fn __repr__(&self) -> String {
        format!(
            "<DataSource {} nav={:?} sig={:?}>",
            self.inner.describe(),
            self.inner.shape().nav(),
            self.inner.shape().sig()
        )
    }
}

impl PyDataSource {
    fn read_runs(
        &self,
        py: Python<'_>,
        runs: &[Range<u64>],
        mut out: PyReadwriteArray1<'_, u8>,
        out_dtype: &str,
        pixel_start: usize,
        pixel_stop: Option<usize>,
    ) -> PyResult<()> {
        let dst_kind = DType::parse(out_dtype, "out_dtype").map_err(to_pyerr)?.kind;
        let stop = pixel_stop.unwrap_or(self.inner.shape().sig_size());
        let dst = out.as_slice_mut()?;
        // After `out`'s writable borrow: an `out` over this source's own array fails here.
        let lent = self.lend(py)?;
        let source = lent.source();
        enter(py, || {
            SCRATCH.with(|s| {
                read_converted(
                    source,
                    runs,
                    pixel_start..stop,
                    dst,
                    dst_kind,
                    &mut s.borrow_mut(),
                )
            })
        })
    }
}

/// Reads an `.npy` header: `(dtype_str, fortran_order, shape, data_offset)`.
#[allow(
    clippy::needless_pass_by_value,
    reason = "PyO3 extracts Python arguments into owned values (`Vec`, `PathBuf`, array borrows)"
)]
#[pyfunction]
pub fn npy_header(py: Python<'_>, path: PathBuf) -> PyResult<(String, bool, Vec<usize>, u64)> {
    let h = enter(py, || NpyHeader::read(&path))?;
    Ok((
        h.dtype.to_numpy_str(),
        h.fortran_order,
        h.shape,
        h.data_offset,
    ))
}
