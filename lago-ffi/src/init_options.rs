//! `lago_init_options`: what `lago_env_init` and `lago_env_init_from_string`
//! make, and where (a builder over `lago_core::ops::init::InitOptions`).
//!
//! Ownership: `Box`; free with `lago_init_options_free`. Thread safety: one
//! thread at a time for the setters; reading it from an init call on several
//! threads at once is safe.

use std::ffi::c_char;
use std::path::PathBuf;

use lago_core::ops::init::InitOptions;

use crate::boundary::{FfiError, arg_out, arg_str, write_out};
use crate::error::lago_error;
use crate::ffi_boundary;
use crate::status::lago_status;

/// Options of `lago_env_init`. Opaque; free with `lago_init_options_free`.
pub struct lago_init_options {
    pub(crate) opts: InitOptions,
}

/// Borrows `options` mutably.
///
/// # Safety
///
/// `options` must be NULL or a live `lago_init_options` used by no one else
/// during the call.
unsafe fn options_mut<'a>(
    options: *mut lago_init_options,
) -> Result<&'a mut InitOptions, FfiError> {
    // SAFETY: forwarded from this function's contract.
    unsafe { options.as_mut() }
        .map(|o| &mut o.opts)
        .ok_or_else(|| {
            FfiError::new(
                lago_status::NullArgument,
                "argument `options` must not be NULL",
            )
        })
}

/// Options to make an environment in the workdir `workdir` (created by
/// init; it must not hold the prefix yet), with Lago's defaults: prefix
/// `default`, template repository and store from the configuration
/// (`[init] template_repo_path`, `[init] template_store`).
///
/// Ownership: `*options_out`: written only on success; its object is the
/// caller's: free it with `lago_init_options_free`.
/// Errors: on failure, a new `lago_error` is stored in `*err_out` if `err_out`
/// is not NULL (the caller frees it with `lago_error_free`); on success
/// `*err_out` is untouched. `*err_out` must be NULL on entry, else the call
/// does nothing and returns `LAGO_STATUS_INVALID_ARGUMENT`.
/// Threads: any thread.
/// Strings: arguments are NUL-terminated UTF-8, borrowed for the call only.
///
/// # Safety
///
/// `workdir` must be NULL or NUL-terminated; `options_out` must be NULL or
/// writable; `err_out` must be NULL or point to a readable and writable
/// `lago_error *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_init_options_new(
    workdir: *const c_char,
    options_out: *mut *mut lago_init_options,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let workdir = unsafe { arg_str(workdir, "workdir") }?;
        let out = arg_out(options_out, "options_out")?;
        let opts = InitOptions::new(workdir, "LagoInitFile");
        // SAFETY: `out` is non-NULL and writable by this function's contract.
        unsafe { write_out(out, Box::into_raw(Box::new(lago_init_options { opts }))) };
        Ok(())
    })
}

/// Sets the prefix name (NULL: back to `default`).
///
/// Ownership: nothing returned needs freeing.
/// Errors: on failure, a new `lago_error` is stored in `*err_out` if `err_out`
/// is not NULL (the caller frees it with `lago_error_free`); on success
/// `*err_out` is untouched. `*err_out` must be NULL on entry, else the call
/// does nothing and returns `LAGO_STATUS_INVALID_ARGUMENT`.
/// Threads: any thread, while no other thread uses `options`.
/// Strings: arguments are NUL-terminated UTF-8, borrowed for the call only.
///
/// # Safety
///
/// `options` must be NULL or a live `lago_init_options` used by no one else
/// during the call; `name` must be NULL or NUL-terminated; `err_out` must be
/// NULL or point to a readable and writable `lago_error *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_init_options_set_prefix_name(
    options: *mut lago_init_options,
    name: *const c_char,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let opts = unsafe { options_mut(options) }?;
        opts.prefix_name = if name.is_null() {
            "default".to_owned()
        } else {
            // SAFETY: not NULL; the caller guarantees a C string.
            unsafe { arg_str(name, "name") }?.to_owned()
        };
        Ok(())
    })
}

/// Sets the template repository: a path or URL of a `repo.metadata` (NULL:
/// back to `[init] template_repo_path` of the configuration).
///
/// Ownership: nothing returned needs freeing.
/// Errors: on failure, a new `lago_error` is stored in `*err_out` if `err_out`
/// is not NULL (the caller frees it with `lago_error_free`); on success
/// `*err_out` is untouched. `*err_out` must be NULL on entry, else the call
/// does nothing and returns `LAGO_STATUS_INVALID_ARGUMENT`.
/// Threads: any thread, while no other thread uses `options`.
/// Strings: arguments are NUL-terminated UTF-8, borrowed for the call only.
///
/// # Safety
///
/// As `lago_init_options_set_prefix_name`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_init_options_set_template_repo(
    options: *mut lago_init_options,
    repo: *const c_char,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let opts = unsafe { options_mut(options) }?;
        opts.template_repo = if repo.is_null() {
            None
        } else {
            // SAFETY: not NULL; the caller guarantees a C string.
            Some(unsafe { arg_str(repo, "repo") }?.to_owned())
        };
        Ok(())
    })
}

/// Sets the template store directory (NULL: back to `[init]
/// template_store` of the configuration).
///
/// Ownership: nothing returned needs freeing.
/// Errors: on failure, a new `lago_error` is stored in `*err_out` if `err_out`
/// is not NULL (the caller frees it with `lago_error_free`); on success
/// `*err_out` is untouched. `*err_out` must be NULL on entry, else the call
/// does nothing and returns `LAGO_STATUS_INVALID_ARGUMENT`.
/// Threads: any thread, while no other thread uses `options`.
/// Strings: arguments are NUL-terminated UTF-8, borrowed for the call only.
///
/// # Safety
///
/// As `lago_init_options_set_prefix_name`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_init_options_set_template_store(
    options: *mut lago_init_options,
    store: *const c_char,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let opts = unsafe { options_mut(options) }?;
        opts.template_store = if store.is_null() {
            None
        } else {
            // SAFETY: not NULL; the caller guarantees a C string.
            Some(PathBuf::from(unsafe { arg_str(store, "store") }?))
        };
        Ok(())
    })
}

/// Frees `options`. NULL is accepted and ignored. Never fails.
///
/// Ownership: takes back what lago handed out; `options` must not be used
/// afterwards.
/// Errors: none; this function cannot fail.
/// Threads: call it once, when no other thread uses `options`.
///
/// # Safety
///
/// `options` must be NULL or a `lago_init_options` from lago, not yet freed
/// and not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_init_options_free(options: *mut lago_init_options) {
    ffi_boundary!(default: (), {
        if !options.is_null() {
            // SAFETY: options are made by `Box::into_raw` here, and the caller
            // guarantees these were not freed before.
            drop(unsafe { Box::from_raw(options) });
        }
    })
}
