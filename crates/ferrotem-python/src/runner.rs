//! Native runs: the built-in UDFs over a whole dataset (one call, all partitions in parallel on
//! the Rust pool) or over one partition (for executors that schedule partitions themselves).

use crate::corrections::PyCorrections;
use crate::enter::{enter, enter_cancellable};
use crate::errors::to_pyerr;
use crate::source::PyDataSource;
use ferrotem_core::buffer::{InputKind, TypedVec};
use ferrotem_core::dtype::DType;
use ferrotem_core::partition::Partition;
use ferrotem_core::roi::Roi;
use ferrotem_core::runner::{partition_info, run_partition, RunOptions, Runner};
use ferrotem_core::udf::{DynUdf, RunInfo, SumSigUdf, SumUdf};
use ferrotem_core::Error;
use numpy::{IntoPyArray, PyReadonlyArray1};
use pyo3::prelude::*;
use std::any::Any;

static SUM: SumUdf = SumUdf;
static SUMSIG: SumSigUdf = SumSigUdf;

/// Names of the UDFs implemented natively.
#[pyfunction]
pub fn native_udf_names() -> Vec<&'static str> {
    vec!["sum", "sumsig"]
}

fn lookup(names: &[String]) -> PyResult<Vec<&'static dyn DynUdf>> {
    names
        .iter()
        .map(|n| match n.as_str() {
            "sum" => Ok(&SUM as &dyn DynUdf),
            "sumsig" => Ok(&SUMSIG as &dyn DynUdf),
            other => Err(to_pyerr(Error::param(
                "udfs",
                format!("{other:?}"),
                "one of 'sum', 'sumsig'",
            ))),
        })
        .collect()
}

fn input_kind(input_dtype: &str) -> PyResult<InputKind> {
    let dtype = DType::parse(input_dtype, "input_dtype").map_err(to_pyerr)?;
    InputKind::from_scalar(dtype.kind).map_err(to_pyerr)
}

fn make_roi(roi: Option<PyReadonlyArray1<'_, bool>>, nav_size: u64) -> PyResult<Option<Roi>> {
    roi.map(|r| Roi::new(r.as_slice()?.to_vec(), nav_size).map_err(to_pyerr))
        .transpose()
}

fn to_numpy(py: Python<'_>, out: Box<dyn Any + Send>) -> PyResult<Py<PyAny>> {
    match out.downcast::<TypedVec>() {
        Ok(v) => Ok(match *v {
            TypedVec::F32(v) => v.into_pyarray(py).into_any().unbind(),
            TypedVec::F64(v) => v.into_pyarray(py).into_any().unbind(),
            TypedVec::C64(v) => v.into_pyarray(py).into_any().unbind(),
            TypedVec::C128(v) => v.into_pyarray(py).into_any().unbind(),
        }),
        Err(_) => Err(to_pyerr(Error::internal(
            "a native UDF's output is not a typed vector",
        ))),
    }
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

    /// Runs the native UDFs `udfs` over all `partitions` (`[(start, stop)]`) and returns one
    /// merged flat array per UDF. `roi` is a flat bool mask or None. `progress`, if given, is
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
        udfs: Vec<String>,
        progress: Option<Py<PyAny>>,
        corrections: Option<PyRef<'_, PyCorrections>>,
    ) -> PyResult<Vec<Py<PyAny>>> {
        let corrections = corrections.as_ref().map(|c| &c.inner);
        let kinds = lookup(&udfs)?;
        let input = input_kind(input_dtype)?;
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
        outputs.into_iter().map(|o| to_numpy(py, o)).collect()
    }
}

/// Runs the native UDFs over one partition (frames `start .. stop`) in the calling thread and
/// returns one partial result per UDF (`sum`: the frame-sized sum; `sumsig`: one value per
/// selected frame).
#[allow(
    clippy::needless_pass_by_value,
    reason = "PyO3 extracts Python arguments into owned values (`Vec`, `PathBuf`, array borrows)"
)]
#[pyfunction]
#[pyo3(signature = (source, start, stop, roi, input_dtype, udfs, corrections=None))]
#[allow(clippy::too_many_arguments)] // mirrors the Python signature
pub fn run_native_partition(
    py: Python<'_>,
    source: &PyDataSource,
    start: u64,
    stop: u64,
    roi: Option<PyReadonlyArray1<'_, bool>>,
    input_dtype: &str,
    udfs: Vec<String>,
    corrections: Option<PyRef<'_, PyCorrections>>,
) -> PyResult<Vec<Py<PyAny>>> {
    let corrections = corrections.as_ref().map(|c| &c.inner);
    let kinds = lookup(&udfs)?;
    let input = input_kind(input_dtype)?;
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
    partials.into_iter().map(|o| to_numpy(py, o)).collect()
}
