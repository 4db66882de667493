//! `lago_config`: Lago's configuration (the `[lago]` and `[init]` sections
//! and their sources), passed to `lago_env_init` and `lago_env_load`.
//!
//! Ownership: `Box`; the caller owns it and frees it with `lago_config_free`.
//! An env copies the configuration it is given, so the `lago_config` may be
//! freed or changed afterwards. Thread safety: reading (`lago_config_get`,
//! passing it to an env call) from several threads at once is safe;
//! `lago_config_set` must not run concurrently with any other use.

use std::ffi::c_char;
use std::ptr;

use lago_core::{Config, ConfigLoader};

use crate::boundary::{FfiError, arg_out, arg_ref, arg_str, owned_c_string, write_out};
use crate::error::lago_error;
use crate::ffi_boundary;
use crate::status::lago_status;

/// A Lago configuration. Opaque; free with `lago_config_free`.
pub struct lago_config {
    pub(crate) config: Config,
}

/// Loads the configuration the way `lago` does: built-in defaults, then the
/// config files (`/etc/lago/lago.conf`, `~/.config/lago/lago.conf`, ...),
/// then `LAGO__SECTION__KEY` environment variables.
pub(crate) fn system_config() -> Result<Config, FfiError> {
    ConfigLoader::from_system()
        .load()
        .map_err(|e| FfiError::from(lago_core::Error::from(e)))
}

/// A configuration holding only the built-in defaults (no files, no
/// environment). Never returns NULL; free with `lago_config_free`.
///
/// Ownership: the returned object is the caller's: free it with
/// `lago_config_free`.
/// Errors: none; this function cannot fail.
/// Threads: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn lago_config_new() -> *mut lago_config {
    ffi_boundary!(default: ptr::null_mut(), {
        Box::into_raw(Box::new(lago_config { config: Config::new() }))
    })
}

/// Loads Lago's configuration from its usual sources (defaults, config
/// files, `LAGO__SECTION__KEY` environment variables) into `*config_out`.
///
/// Ownership: `*config_out`: written only on success; its object is the
/// caller's: free it with `lago_config_free`.
/// Errors: on failure, a new `lago_error` is stored in `*err_out` if `err_out`
/// is not NULL (the caller frees it with `lago_error_free`); on success
/// `*err_out` is untouched. `*err_out` must be NULL on entry, else the call
/// does nothing and returns `LAGO_STATUS_INVALID_ARGUMENT`.
/// Threads: any thread.
///
/// # Safety
///
/// `config_out` must be NULL or writable; `err_out` must be NULL or point to a
/// readable and writable `lago_error *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_config_load_system(
    config_out: *mut *mut lago_config,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        let out = arg_out(config_out, "config_out")?;
        let config = system_config()?;
        // SAFETY: `out` is non-NULL and writable by this function's contract.
        unsafe { write_out(out, Box::into_raw(Box::new(lago_config { config }))) };
        Ok(())
    })
}

/// Sets `key` in `section` (e.g. `"lago"`, `"lease_dir"`) to `value`,
/// overriding every other source.
///
/// Ownership: nothing returned needs freeing.
/// Errors: on failure, a new `lago_error` is stored in `*err_out` if `err_out`
/// is not NULL (the caller frees it with `lago_error_free`); on success
/// `*err_out` is untouched. `*err_out` must be NULL on entry, else the call
/// does nothing and returns `LAGO_STATUS_INVALID_ARGUMENT`.
/// Threads: any thread, while no other thread uses `config`.
/// Strings: arguments are NUL-terminated UTF-8, borrowed for the call only.
///
/// # Safety
///
/// `config` must be NULL or a live `lago_config` not used by another thread
/// during the call; the strings must be NULL or NUL-terminated; `err_out` must
/// be NULL or point to a readable and writable `lago_error *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_config_set(
    config: *mut lago_config,
    section: *const c_char,
    key: *const c_char,
    value: *const c_char,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: the caller guarantees `config` is NULL or a live,
        // exclusively used lago_config.
        let config = unsafe { config.as_mut() }.ok_or_else(|| {
            FfiError::new(
                lago_status::NullArgument,
                "argument `config` must not be NULL",
            )
        })?;
        // SAFETY: forwarded from this function's contract.
        let (section, key, value) = unsafe {
            (
                arg_str(section, "section")?,
                arg_str(key, "key")?,
                arg_str(value, "value")?,
            )
        };
        config.config.set(section, key, value);
        Ok(())
    })
}

/// The value of `key` in `section` (`"lago"` when `section` is NULL), as a
/// caller-owned string in `*value_out` (free with `lago_string_free`).
/// `LAGO_STATUS_NOT_FOUND` if the key has no value.
///
/// Ownership: `*value_out`: written only on success; its string is the
/// caller's: free it with `lago_string_free`.
/// Errors: on failure, a new `lago_error` is stored in `*err_out` if `err_out`
/// is not NULL (the caller frees it with `lago_error_free`); on success
/// `*err_out` is untouched. `*err_out` must be NULL on entry, else the call
/// does nothing and returns `LAGO_STATUS_INVALID_ARGUMENT`.
/// Threads: any thread; concurrent reads of one `lago_config` are allowed, not
/// while it is being set.
/// Strings: NUL-terminated UTF-8, in and out; string arguments are borrowed for
/// the call only.
///
/// # Safety
///
/// `config` must be NULL or a live `lago_config`; the strings must be NULL
/// or NUL-terminated; `value_out` must be NULL or writable; `err_out` must be
/// NULL or point to a readable and writable `lago_error *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_config_get(
    config: *const lago_config,
    section: *const c_char,
    key: *const c_char,
    value_out: *mut *mut c_char,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let config = unsafe { arg_ref(config, "config") }?;
        let section = if section.is_null() {
            "lago"
        } else {
            // SAFETY: `section` is not NULL; the caller guarantees a C string.
            unsafe { arg_str(section, "section") }?
        };
        // SAFETY: forwarded from this function's contract.
        let key = unsafe { arg_str(key, "key") }?;
        let out = arg_out(value_out, "value_out")?;
        let value = config.config.get_in(section, key).ok_or_else(|| {
            FfiError::new(
                lago_status::NotFound,
                format!("no value for '{key}' in section [{section}]"),
            )
        })?;
        let value = owned_c_string(value)?;
        // SAFETY: `out` is non-NULL and writable by this function's contract.
        unsafe { write_out(out, value) };
        Ok(())
    })
}

/// Frees `config`. NULL is accepted and ignored. Never fails.
///
/// Ownership: takes back what lago handed out; `config` must not be used
/// afterwards.
/// Errors: none; this function cannot fail.
/// Threads: call it once, when no other thread uses `config`.
///
/// # Safety
///
/// `config` must be NULL or a `lago_config` from lago, not yet freed and not
/// used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_config_free(config: *mut lago_config) {
    ffi_boundary!(default: (), {
        if !config.is_null() {
            // SAFETY: configs are made by `Box::into_raw` here, and the caller
            // guarantees this one was not freed before.
            drop(unsafe { Box::from_raw(config) });
        }
    })
}
