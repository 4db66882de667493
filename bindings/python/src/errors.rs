//! The one place where lago-core errors become Python exceptions.
//!
//! Each [`ErrorKind`] names a class of the pure-Python module `lago._exc`
//! (table `BY_KIND`), where the classes sit in Lago's hierarchy under
//! `lago.utils.LagoException`. The class is looked up when an error is
//! raised, so the native module needs no Python state of its own.

use lago_core::{Error, ErrorKind};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// The key of `kind` in `lago._exc.BY_KIND`.
fn kind_key(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidInput => "invalid_input",
        ErrorKind::Config => "config",
        ErrorKind::NotFound => "not_found",
        ErrorKind::AlreadyExists => "already_exists",
        ErrorKind::Io => "io",
        ErrorKind::Libvirt => "libvirt",
        ErrorKind::Disk => "disk",
        ErrorKind::Ssh => "ssh",
        ErrorKind::Timeout => "timeout",
        ErrorKind::Internal => "internal",
        // A kind added to the core later: a plain LagoException.
        _ => "other",
    }
}

/// Builds the Python exception for a core error: the class of its kind,
/// with the full message (causes included) and attribute `kind`.
pub fn to_py(err: &Error) -> PyErr {
    let key = kind_key(err.kind());
    let message = err.full_message();
    Python::attach(|py| {
        let class = py
            .import("lago._exc")
            .and_then(|m| m.getattr("BY_KIND"))
            .and_then(|t| t.get_item(key));
        match class {
            Ok(class) => match class.call1((message.clone(),)) {
                Ok(exc) => {
                    let _ = exc.setattr("kind", key);
                    PyErr::from_value(exc)
                }
                Err(e) => e,
            },
            Err(_) => PyRuntimeError::new_err(format!("{key}: {message}")),
        }
    })
}

/// A message error of kind `kind` (for failures found in the binding).
pub fn msg(kind: ErrorKind, message: impl Into<String>) -> PyErr {
    to_py(&Error::new(kind, message.into()))
}

/// `?` support: `core_call().map_err(err)`.
pub fn err(e: impl Into<Error>) -> PyErr {
    to_py(&e.into())
}
