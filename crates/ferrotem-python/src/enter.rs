//! The one entry helper for slow calls into the core: it releases the GIL, turns a Rust panic
//! into an ordinary Python exception (a PyO3 `PanicException` derives from `BaseException`, which
//! `except Exception` would miss) and maps core errors through [`crate::errors`].
//!
//! [`enter_cancellable`] additionally runs the work on a helper thread while the calling thread
//! checks for Ctrl-C every 100 ms, so that a long native run can be interrupted.

use crate::errors::to_pyerr;
use ferrotem_core::Result;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_owned()
    }
}

fn panic_error(payload: &(dyn std::any::Any + Send)) -> PyErr {
    PyRuntimeError::new_err(format!(
        "internal error in ferrotem (this is a bug, please report it): {}",
        panic_message(payload)
    ))
}

/// Runs `work` without the GIL; panics and core errors become Python exceptions.
pub fn enter<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> Result<T> + Send,
{
    match py.detach(|| catch_unwind(AssertUnwindSafe(work))) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(to_pyerr(err)),
        Err(payload) => Err(panic_error(payload.as_ref())),
    }
}

/// Like [`enter`], but `work` gets a cancellation flag that is raised when the user presses
/// Ctrl-C (or any other pending signal handler raises); the Python exception is then re-raised.
pub fn enter_cancellable<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce(&AtomicBool) -> Result<T> + Send,
{
    let cancel = AtomicBool::new(false);
    let (done_tx, done_rx) = mpsc::channel::<()>();
    // `detach` needs `Sync` captures; a receiver is not, so it sits behind a mutex.
    let done_rx = std::sync::Mutex::new(done_rx);
    let mut signal_error: Option<PyErr> = None;
    let outcome = std::thread::scope(|scope| {
        let cancel_ref = &cancel;
        let handle = scope.spawn(move || {
            let r = catch_unwind(AssertUnwindSafe(|| work(cancel_ref)));
            let _ = done_tx.send(());
            r
        });
        loop {
            let finished = py.detach(|| match done_rx.lock() {
                Ok(rx) => !matches!(
                    rx.recv_timeout(Duration::from_millis(100)),
                    Err(mpsc::RecvTimeoutError::Timeout)
                ),
                Err(_) => true,
            });
            if finished {
                break;
            }
            if signal_error.is_none() {
                if let Err(e) = py.check_signals() {
                    signal_error = Some(e);
                    cancel.store(true, Ordering::Relaxed);
                }
            }
        }
        py.detach(|| handle.join())
    });
    if let Some(e) = signal_error {
        return Err(e);
    }
    match outcome {
        Ok(Ok(Ok(value))) => Ok(value),
        Ok(Ok(Err(err))) => Err(to_pyerr(err)),
        Ok(Err(payload)) | Err(payload) => Err(panic_error(payload.as_ref())),
    }
}
