//! The native module `lago._native`: the Rust objects of lago exposed to
//! Python through PyO3, over `lago-core` directly (never through the C ABI).
//!
//! The pure-Python package `lago` (in `python/` at the repository root)
//! imports from this module and keeps Lago's public module layout; users
//! import `lago`, not `lago._native`.

use pyo3::prelude::*;

/// The native half of the `lago` package.
///
/// `gil_used = false`: the module holds no Python state of its own and the
/// core is `Send + Sync`, so it is safe under free-threaded CPython.
#[pymodule(gil_used = false)]
mod _native {
    /// The version of lago, equal to the Cargo workspace version.
    #[allow(non_upper_case_globals, reason = "Python's dunder name")]
    #[pymodule_export]
    const __version__: &str = lago_core::VERSION;
}
