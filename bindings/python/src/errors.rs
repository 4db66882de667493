//! The one place where lago-core errors become Python exceptions.
//!
//! [`CLASSES`] maps each [`ErrorKind`] to the Python class raised for it (by
//! module and name: the classes live in the pure-Python package so they can
//! sit in Lago's hierarchy under `lago.utils.LagoException`). Nothing in the
//! Python package picks a class by itself: `lago._exc.BY_KIND` is this table
//! as [`error_classes`] gives it, and code that needs a class for a failure
//! catches the class raised here.
//!
//! The exception's message is the error's full message (causes included, as
//! lago has always said it). Its attributes are the error's structured
//! fields: `kind`, `vm`, `path`, `key_path`, `line`, `libvirt_code` (`None`
//! when absent) and `causes` (the cause chain's messages, outermost first);
//! `__cause__` is that chain as `lago._exc.LagoErrorCause` exceptions.

use lago_core::{Error, ErrorKind};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

/// The key of a kind (the exception's `kind` attribute), the module and the
/// name of its class.
struct Class {
    key: &'static str,
    module: &'static str,
    name: &'static str,
}

const fn class(key: &'static str, module: &'static str, name: &'static str) -> Class {
    Class { key, module, name }
}

/// Every kind's class, and `other` for a kind added to the core later.
const CLASSES: &[(Option<ErrorKind>, Class)] = &[
    (
        Some(ErrorKind::InvalidInput),
        class("invalid_input", "lago._exc", "LagoInvalidInputError"),
    ),
    (
        Some(ErrorKind::Config),
        class("config", "lago._exc", "LagoConfigError"),
    ),
    (
        Some(ErrorKind::NotFound),
        class("not_found", "lago._exc", "LagoNotFoundError"),
    ),
    (
        Some(ErrorKind::AlreadyExists),
        class(
            "already_exists",
            "lago.workdir",
            "LagoPrefixAlreadyExistsError",
        ),
    ),
    (Some(ErrorKind::Io), class("io", "lago._exc", "LagoIOError")),
    (
        Some(ErrorKind::Libvirt),
        class("libvirt", "lago._exc", "LagoLibvirtError"),
    ),
    (
        Some(ErrorKind::Disk),
        class("disk", "lago._exc", "LagoDiskError"),
    ),
    (
        Some(ErrorKind::Ssh),
        class("ssh", "lago._exc", "LagoSSHError"),
    ),
    (
        Some(ErrorKind::Timeout),
        class("timeout", "lago.ssh", "LagoSSHTimeoutException"),
    ),
    (
        Some(ErrorKind::Internal),
        class("internal", "lago._exc", "LagoInternalError"),
    ),
    (
        Some(ErrorKind::Cancelled),
        class("cancelled", "lago._exc", "LagoCancelledError"),
    ),
    (None, class("other", "lago._exc", "LagoNativeError")),
];

// One row per kind, plus `other` (the binding has no Rust test harness: it
// is tested from Python, so this is checked when it compiles).
const _: () = assert!(CLASSES.len() == ErrorKind::ALL.len() + 1);

/// The class entry of `kind` (`other` for a kind this table does not know).
fn class_of(kind: ErrorKind) -> &'static Class {
    CLASSES
        .iter()
        .find(|(k, _)| *k == Some(kind))
        .or_else(|| CLASSES.iter().find(|(k, _)| k.is_none()))
        .map(|(_, c)| c)
        .unwrap_or(&CLASSES[CLASSES.len() - 1].1)
}

fn load<'py>(py: Python<'py>, c: &Class) -> PyResult<Bound<'py, PyAny>> {
    py.import(c.module)?.getattr(c.name)
}

/// `{kind: class}` for every kind lago-core reports, plus `"other"`: the
/// table `lago._exc.BY_KIND` is made of.
#[pyfunction]
pub fn error_classes(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let out = PyDict::new(py);
    for (_, c) in CLASSES {
        out.set_item(c.key, load(py, c)?)?;
    }
    Ok(out)
}

/// `__cause__` for an error whose causes say `causes` (outermost first):
/// a chain of `lago._exc.LagoErrorCause`, or `None` without causes.
fn cause_chain(py: Python<'_>, causes: &[String]) -> PyResult<Option<PyErr>> {
    let class = py.import("lago._exc")?.getattr("LagoErrorCause")?;
    let mut inner: Option<PyErr> = None;
    for text in causes.iter().rev() {
        let exc = PyErr::from_value(class.call1((text.as_str(),))?);
        exc.set_cause(py, inner);
        inner = Some(exc);
    }
    Ok(inner)
}

/// The exception for `err`, or the failure to make it.
fn build(py: Python<'_>, err: &Error) -> PyResult<PyErr> {
    let c = class_of(err.kind());
    let exc = load(py, c)?.call1((err.full_message(),))?;
    exc.setattr("kind", c.key)?;
    exc.setattr("vm", err.vm())?;
    exc.setattr("path", err.path().map(|p| p.to_string_lossy().into_owned()))?;
    exc.setattr("key_path", err.key_path())?;
    exc.setattr("line", err.line())?;
    exc.setattr("libvirt_code", err.libvirt_code())?;
    let causes = err.causes();
    exc.setattr("causes", PyTuple::new(py, &causes)?)?;
    let exc = PyErr::from_value(exc);
    exc.set_cause(py, cause_chain(py, &causes)?);
    Ok(exc)
}

/// Builds the Python exception for a core error: the class of its kind,
/// with the full message (causes included) and the structured fields as
/// attributes.
pub fn to_py(err: &Error) -> PyErr {
    Python::attach(|py| {
        build(py, err).unwrap_or_else(|e| {
            // A signal handler's exception (Ctrl-C while the class was
            // imported or made) is the caller's answer: raise it.
            if !e.is_instance_of::<pyo3::exceptions::PyException>(py) {
                return e;
            }
            // The package is broken (a class missing): say what was raised.
            PyRuntimeError::new_err(format!(
                "{}: {} (and lago's exception class could not be made: {e})",
                class_of(err.kind()).key,
                err.full_message()
            ))
        })
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
