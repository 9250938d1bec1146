//! The one mapping table from core errors to Python exceptions.
//!
//! | core error          | Python exception                                            |
//! |---------------------|-------------------------------------------------------------|
//! | InvalidParameter    | `ValueError`                                                |
//! | InvalidType         | `TypeError`                                                 |
//! | Io (by kind)        | `FileNotFoundError`, `PermissionError`, `IsADirectoryError`, `OSError` |
//! | Truncated           | `ferrotem.common.exceptions.TruncatedFileError` (`DataSetException`, `OSError`) |
//! | Corrupt             | `ferrotem.common.exceptions.CorruptFileError` (`DataSetException`, `ValueError`) |
//! | External            | the Python exception it carries (a Python reader's), else `RuntimeError` |
//! | Cancelled           | `KeyboardInterrupt`                                         |
//! | Internal            | `RuntimeError` (a bug; the message names the native UDF if one was at fault) |

use ferrotem_core::Error;
use pyo3::exceptions::{
    PyFileNotFoundError, PyIsADirectoryError, PyKeyboardInterrupt, PyOSError, PyPermissionError,
    PyRuntimeError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;

/// Raises the Python-side exception class `name` from `ferrotem.common.exceptions`, falling back
/// to `fallback` if that module cannot be imported (e.g. `_core` used on its own).
fn project_error(name: &str, message: String, fallback: fn(String) -> PyErr) -> PyErr {
    Python::attach(|py| {
        let class = py
            .import("ferrotem.common.exceptions")
            .and_then(|m| m.getattr(name));
        match class {
            Ok(cls) => match cls.call1((message.clone(),)) {
                Ok(instance) => PyErr::from_value(instance),
                Err(_) => fallback(message),
            },
            Err(_) => fallback(message),
        }
    })
}

/// Converts a core error into the fitting Python exception.
pub fn to_pyerr(err: Error) -> PyErr {
    let message = err.to_string();
    match err {
        Error::InvalidParameter { .. } => PyValueError::new_err(message),
        Error::InvalidType { .. } => PyTypeError::new_err(message),
        Error::Io { source, .. } => match source.kind() {
            std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(message),
            std::io::ErrorKind::PermissionDenied => PyPermissionError::new_err(message),
            std::io::ErrorKind::IsADirectory => PyIsADirectoryError::new_err(message),
            _ => PyOSError::new_err(message),
        },
        Error::Truncated { .. } => project_error("TruncatedFileError", message, PyOSError::new_err),
        Error::Corrupt { .. } => project_error("CorruptFileError", message, PyValueError::new_err),
        Error::External { source, .. } => match source.downcast::<PyErr>() {
            // A Python reader's exception, passed on as it was raised.
            Ok(err) => *err,
            Err(_) => PyRuntimeError::new_err(message),
        },
        Error::Cancelled => PyKeyboardInterrupt::new_err("ferrotem run cancelled"),
        Error::Internal { .. } => PyRuntimeError::new_err(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_are_runtime_errors_naming_the_udf() {
        Python::initialize();
        Python::attach(|py| {
            let err = to_pyerr(Error::udf_internal("SumUDF", "partial of the wrong type"));
            assert!(err.is_instance_of::<PyRuntimeError>(py));
            let text = err.value(py).to_string();
            assert!(text.contains("SumUDF"), "{text}");
            assert!(text.contains("partial of the wrong type"), "{text}");
            // A poisoned lock is a bug too, not a Ctrl-C.
            let err = to_pyerr(Error::internal("a lock was poisoned"));
            assert!(err.is_instance_of::<PyRuntimeError>(py));
            assert!(!err.is_instance_of::<PyKeyboardInterrupt>(py));
        });
    }
}
