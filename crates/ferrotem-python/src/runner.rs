//! Native runs: the built-in UDFs over a whole dataset (one call, all partitions in parallel on
//! the Rust pool) or over one partition (for executors that schedule partitions themselves).

use crate::corrections::PyCorrections;
use crate::enter::{enter, enter_cancellable};
use crate::errors::to_pyerr;
use crate::native_spec::{build_all, input_kind, named_results, PyDecl};
use crate::source::PyDataSource;
use ferrotem_core::buffer::InputKind;
use ferrotem_core::partition::Partition;
use ferrotem_core::roi::Roi;
use ferrotem_core::runner::{partition_info, run_partition, RunOptions, Runner};
use ferrotem_core::udf::native::NATIVE_NAMES;
use ferrotem_core::udf::{DynUdf, NativeUdf, RunInfo};
use ferrotem_core::Error;
use numpy::PyReadonlyArray1;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Names of the UDFs implemented natively.
#[pyfunction]
pub fn native_udf_names() -> Vec<&'static str> {
    NATIVE_NAMES.to_vec()
}

fn make_roi(roi: Option<PyReadonlyArray1<'_, bool>>, nav_size: u64) -> PyResult<Option<Roi>> {
    roi.map(|r| Roi::new(r.as_slice()?.to_vec(), nav_size).map_err(to_pyerr))
        .transpose()
}

/// A pool of Rust worker threads for native runs.
#[pyclass(name = "Runner", module = "ferrotem._core", frozen)]
pub struct PyRunner {
    inner: Runner,
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "PyO3 extracts Python arguments into owned values (`Vec`, `PathBuf`, array borrows)"
)]
#[pymethods]
impl PyRunner {
    /// A pool of `threads` threads (0: one per core).
    #[new]
    #[pyo3(signature = (threads=0))]
    fn new(threads: usize) -> PyResult<Self> {
        Ok(PyRunner {
            inner: Runner::new(threads).map_err(to_pyerr)?,
        })
    }

    /// Number of threads in the pool.
    #[getter]
    fn threads(&self) -> usize {
        self.inner.threads()
    }

    /// Runs the native UDFs declared by `udfs` (see [`crate::native_spec`]) over all
    /// `partitions` (`[(start, stop)]`) in one pass over the data and returns, per UDF, its
    /// merged results as `{buffer: flat array}`. `roi` is a flat bool mask or None. `progress`, if given, is
    /// called with the number of frames of each finished partition. Ctrl-C cancels the run.
    #[pyo3(signature = (source, partitions, roi, input_dtype, udfs, progress=None, corrections=None))]
    #[allow(clippy::too_many_arguments)] // mirrors the Python signature
    fn run(
        &self,
        py: Python<'_>,
        source: &PyDataSource,
        partitions: Vec<(u64, u64)>,
        roi: Option<PyReadonlyArray1<'_, bool>>,
        input_dtype: &str,
        udfs: Vec<PyDecl<'_>>,
        progress: Option<Py<PyAny>>,
        corrections: Option<PyRef<'_, PyCorrections>>,
    ) -> PyResult<Vec<Py<PyDict>>> {
        let corrections = corrections.as_ref().map(|c| &c.inner);
        let input = input_kind(input_dtype, "input_dtype")?;
        let natives = build_all(&udfs, input)?;
        let kinds: Vec<&dyn DynUdf> = natives.iter().map(|u| u.udf()).collect();
        let lent = source.lend(py)?;
        let src = lent.source();
        let roi = make_roi(roi, src.shape().nav_size())?;
        let parts: Vec<Partition> = partitions
            .into_iter()
            .enumerate()
            .map(|(index, (a, b))| Partition {
                index,
                frames: a..b,
            })
            .collect();
        let progress_error: std::sync::Mutex<Option<PyErr>> = std::sync::Mutex::new(None);
        let outputs = enter_cancellable(py, |cancel| {
            let opts = RunOptions {
                cancel: Some(cancel),
                corrections,
                ..RunOptions::new(input)
            };
            let on_partition = |p: &Partition| {
                if let Some(cb) = &progress {
                    let frames = match &roi {
                        Some(r) => r.count_in(&p.frames),
                        None => p.frames.end - p.frames.start,
                    };
                    Python::attach(|py| {
                        if let Err(e) = cb.call1(py, (frames,)) {
                            if let Ok(mut slot) = progress_error.lock() {
                                slot.get_or_insert(e);
                            }
                        }
                    });
                }
            };
            self.inner
                .run(src, &parts, roi.as_ref(), &kinds, &opts, &on_partition)
        })?;
        if let Ok(mut slot) = progress_error.lock() {
            if let Some(e) = slot.take() {
                return Err(e);
            }
        }
        named_results(py, &natives, input, outputs)
    }
}

/// Native UDFs built from their declarations once, for many partitions of one run.
///
/// Building checks the declarations and prepares the UDFs' parameters (a mask stack is packed
/// into the kernel's blocks): tens of milliseconds for 64 masks of 256x256, as long as a
/// partition's work. Executors that run partitions one by one build this once per run and
/// process (or worker) and pass it to every [`run_native_partition`].
#[pyclass(name = "NativeSet", module = "ferrotem._core", frozen)]
pub struct PyNativeSet {
    udfs: Vec<Box<dyn NativeUdf>>,
    names: Vec<String>,
    input: InputKind,
}

#[pymethods]
impl PyNativeSet {
    #[new]
    #[allow(
        clippy::needless_pass_by_value,
        reason = "PyO3 extracts the Python list into an owned Vec"
    )]
    fn new(udfs: Vec<PyDecl<'_>>, input_dtype: &str) -> PyResult<Self> {
        let input = input_kind(input_dtype, "input_dtype")?;
        Ok(Self {
            udfs: build_all(&udfs, input)?,
            names: udfs.iter().map(|(name, _, _)| name.clone()).collect(),
            input,
        })
    }

    /// The declared names of the UDFs, in order.
    #[getter]
    fn names(&self) -> Vec<String> {
        self.names.clone()
    }

    fn __len__(&self) -> usize {
        self.udfs.len()
    }
}

/// Runs the native UDFs `udfs` (built once per run, see [`PyNativeSet`]) over one partition
/// (frames `start .. stop`) in the calling thread and returns, per UDF, its partial results as `{buffer: flat array}` (`nav` buffers: one entry
/// per selected frame of the partition).
#[allow(
    clippy::needless_pass_by_value,
    reason = "PyO3 extracts Python arguments into owned values (`Vec`, `PathBuf`, array borrows)"
)]
#[pyfunction]
#[pyo3(signature = (source, start, stop, roi, udfs, corrections=None))]
pub fn run_native_partition(
    py: Python<'_>,
    source: &PyDataSource,
    start: u64,
    stop: u64,
    roi: Option<PyReadonlyArray1<'_, bool>>,
    udfs: &PyNativeSet,
    corrections: Option<PyRef<'_, PyCorrections>>,
) -> PyResult<Vec<Py<PyDict>>> {
    let corrections = corrections.as_ref().map(|c| &c.inner);
    let input = udfs.input;
    let natives = &udfs.udfs;
    let kinds: Vec<&dyn DynUdf> = natives.iter().map(|u| u.udf()).collect();
    let lent = source.lend(py)?;
    let src = lent.source();
    let nav_size = src.shape().nav_size();
    if start > stop || stop > nav_size {
        return Err(to_pyerr(Error::param(
            "partition",
            format!("{start}..{stop}"),
            format!("a frame range within 0..{nav_size}"),
        )));
    }
    let roi = make_roi(roi, nav_size)?;
    let partials = enter(py, || {
        let partition = Partition {
            index: 0,
            frames: start..stop,
        };
        let n_frames = roi.as_ref().map_or(nav_size, Roi::count);
        let run = RunInfo {
            shape: src.shape(),
            n_frames,
            input,
        };
        let part = partition_info(&run, &partition, roi.as_ref());
        let opts = RunOptions {
            corrections,
            ..RunOptions::new(input)
        };
        run_partition(src, &part, roi.as_ref(), &kinds, &opts)
    })?;
    named_results(py, natives, input, partials)
}
