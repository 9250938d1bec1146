//! The one error type of the core. Every variant says which parameter or file was at fault, so
//! that the binding layer can map it to the fitting Python exception with a useful message.

use std::path::PathBuf;

/// Result alias used throughout the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A parameter has a value outside what fits (Python: `ValueError`).
    #[error("{name}: got {value}, expected {expected}")]
    InvalidParameter {
        /// Name of the parameter as the user spells it.
        name: String,
        /// The value given, rendered for humans.
        value: String,
        /// What would have fitted.
        expected: String,
    },
    /// A parameter has the wrong kind of value (Python: `TypeError`).
    #[error("{name}: got {value}, expected {expected}")]
    InvalidType {
        /// Name of the parameter.
        name: String,
        /// The value given.
        value: String,
        /// What would have fitted.
        expected: String,
    },
    /// An operating-system error while touching a file (Python: `OSError` subclass by kind).
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error; its kind selects the Python exception.
        #[source]
        source: std::io::Error,
    },
    /// A file is shorter than its description needs, possibly because it shrank after loading.
    #[error("{path}: file is {actual} bytes but {needed} bytes are needed ({context})")]
    Truncated {
        /// The file concerned.
        path: PathBuf,
        /// Bytes required.
        needed: u64,
        /// Bytes present.
        actual: u64,
        /// What was being read.
        context: String,
    },
    /// A file's content does not follow its format (Python: `ValueError` subclass).
    #[error("{path}: {detail}")]
    Corrupt {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// An error raised by code outside the core that feeds it (a reader behind
    /// [`crate::source::CallbackSource`]); the binding passes it on as it was raised.
    #[error("{context}: {source}")]
    External {
        /// What was being done.
        context: String,
        /// The error as raised.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The run was cancelled (Ctrl-C or an explicit cancel).
    #[error("run cancelled")]
    Cancelled,
    /// A broken internal invariant: a bug in ferrotem or in a native UDF, never the user's input
    /// (Python: `RuntimeError`). Returned instead of a `debug_assert!`, so that a release build
    /// fails loudly rather than returning zeros.
    #[error("{}", internal_message(udf.as_deref(), detail))]
    Internal {
        /// The native UDF whose invariant broke, if one did (as [`crate::udf::Udf::name`] says).
        udf: Option<String>,
        /// What went wrong.
        detail: String,
    },
}

fn internal_message(udf: Option<&str>, detail: &str) -> String {
    match udf {
        Some(name) => format!(
            "internal error in native UDF {name}: {detail} (this is a bug, please report it)"
        ),
        None => format!("internal error in ferrotem: {detail} (this is a bug, please report it)"),
    }
}

impl Error {
    /// Shorthand for [`Error::InvalidParameter`].
    pub fn param(name: &str, value: impl std::fmt::Display, expected: impl Into<String>) -> Self {
        Error::InvalidParameter {
            name: name.to_owned(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }

    /// Shorthand for [`Error::InvalidType`].
    pub fn type_(name: &str, value: impl std::fmt::Display, expected: impl Into<String>) -> Self {
        Error::InvalidType {
            name: name.to_owned(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }

    /// Shorthand for [`Error::Internal`] raised by the native UDF called `udf`.
    pub fn udf_internal(udf: &str, detail: impl Into<String>) -> Self {
        Error::Internal {
            udf: Some(udf.to_owned()),
            detail: detail.into(),
        }
    }

    /// Shorthand for [`Error::Internal`] outside any UDF.
    pub fn internal(detail: impl Into<String>) -> Self {
        Error::Internal {
            udf: None,
            detail: detail.into(),
        }
    }

    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
