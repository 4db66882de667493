//! `lago_env`: one environment (a prefix of a workdir): made by
//! `lago_env_init*`, opened by `lago_env_load`, removed by
//! `lago_env_destroy`, released by `lago_env_free`.
//!
//! Ownership: `Arc`. `lago_env_clone` adds a reference (for another thread);
//! each reference is released with `lago_env_free`. Thread safety: every
//! function may be called on one `lago_env` from any number of threads at
//! once; calls block while `lago_env_destroy` runs, which itself waits for
//! running calls. After `lago_env_destroy` every call but `lago_env_clone`
//! and `lago_env_free` returns `LAGO_STATUS_DESTROYED`.

use std::ffi::c_char;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lago_core::Config;
use lago_core::{Destroyed, Env, EnvHandle};

use crate::boundary::{FfiError, arg_out, arg_ref, arg_str, write_out};
use crate::config::{lago_config, system_config};
use crate::error::lago_error;
use crate::ffi_boundary;
use crate::init_options::lago_init_options;
use crate::status::lago_status;

/// An environment. Opaque; release each reference with `lago_env_free`.
pub struct lago_env {
    /// The env and its destroyed lifecycle (lago-core's).
    handle: EnvHandle,
}

/// The C error of a call refused because the env was destroyed.
fn destroyed(why: Destroyed) -> FfiError {
    let message = match why {
        Destroyed::Used => "this lago_env was destroyed; only lago_env_free may be called on it",
        Destroyed::Again => "this lago_env was already destroyed",
    };
    FfiError::new(lago_status::Destroyed, message)
}

impl lago_env {
    /// Runs `f` on the env, unless it was destroyed.
    pub(crate) fn with<R>(
        &self,
        f: impl FnOnce(&Env) -> Result<R, FfiError>,
    ) -> Result<R, FfiError> {
        self.handle.with(f).map_err(destroyed)?
    }
}

/// Borrows a `lago_env` argument.
///
/// # Safety
///
/// `env` must be NULL or a live `lago_env` reference.
pub(crate) unsafe fn arg_env<'a>(env: *const lago_env) -> Result<&'a lago_env, FfiError> {
    // SAFETY: forwarded from this function's contract.
    unsafe { arg_ref(env, "env") }
}

/// A new counted reference to the env behind `env`, for a handle that must
/// keep it alive (`lago_vm`, `lago_net`).
///
/// # Safety
///
/// `env` must be a live `lago_env` reference handed out by lago (made by
/// `Arc::into_raw`).
pub(crate) unsafe fn counted_ref(env: *const lago_env) -> Arc<lago_env> {
    // SAFETY: forwarded from this function's contract: `env` comes from
    // `Arc::into_raw` and holds a reference, so the count is at least 1.
    unsafe {
        Arc::increment_strong_count(env);
        Arc::from_raw(env)
    }
}

/// The configuration to use: a copy of `config`, or the system's when NULL.
///
/// # Safety
///
/// `config` must be NULL or a live `lago_config`.
unsafe fn config_or_system(config: *const lago_config) -> Result<Config, FfiError> {
    // SAFETY: forwarded from this function's contract.
    match unsafe { config.as_ref() } {
        Some(c) => Ok(c.config.clone()),
        None => system_config(),
    }
}

fn into_handle(env: Env) -> *const lago_env {
    Arc::into_raw(Arc::new(lago_env {
        handle: EnvHandle::new(env),
    }))
}

/// Initializes a new environment from the LagoInitFile (YAML or JSON) at
/// `initfile_path`, as `lago init` does: disks from templates, networks,
/// bootstrap. With `config` NULL, Lago's system configuration is loaded.
///
/// Ownership: `*env_out`: written only on success; it holds a new reference the
/// caller releases with `lago_env_free`.
/// Errors: on failure, a new `lago_error` is stored in `*err_out` if `err_out`
/// is not NULL (the caller frees it with `lago_error_free`); on success
/// `*err_out` is untouched. `*err_out` must be NULL on entry, else the call
/// does nothing and returns `LAGO_STATUS_INVALID_ARGUMENT`.
/// Threads: any thread.
/// Strings: arguments are NUL-terminated UTF-8, borrowed for the call only.
///
/// # Safety
///
/// `options` and `config` must be NULL or live objects from lago;
/// `initfile_path` must be NULL or NUL-terminated; `env_out` must be NULL or
/// writable; `err_out` must be NULL or point to a readable and writable
/// `lago_error *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_env_init(
    options: *const lago_init_options,
    config: *const lago_config,
    initfile_path: *const c_char,
    env_out: *mut *const lago_env,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let options = unsafe { arg_ref(options, "options") }?;
        // SAFETY: forwarded from this function's contract.
        let path = unsafe { arg_str(initfile_path, "initfile_path") }?;
        let out = arg_out(env_out, "env_out")?;
        // SAFETY: forwarded from this function's contract.
        let config = unsafe { config_or_system(config) }?;
        let mut opts = options.opts.clone();
        opts.initfile = PathBuf::from(path);
        opts.initfile_text = None;
        let env = Env::init(&opts, config)?;
        // SAFETY: `out` is non-NULL and writable by this function's contract.
        unsafe { write_out(out, into_handle(env)) };
        Ok(())
    })
}

/// As `lago_env_init`, from the text of a LagoInitFile (YAML or JSON) held
/// in memory. Relative paths in it are taken from the current directory.
///
/// Ownership: `*env_out`: written only on success; it holds a new reference the
/// caller releases with `lago_env_free`.
/// Errors: on failure, a new `lago_error` is stored in `*err_out` if `err_out`
/// is not NULL (the caller frees it with `lago_error_free`); on success
/// `*err_out` is untouched. `*err_out` must be NULL on entry, else the call
/// does nothing and returns `LAGO_STATUS_INVALID_ARGUMENT`.
/// Threads: any thread.
/// Strings: arguments are NUL-terminated UTF-8, borrowed for the call only.
///
/// # Safety
///
/// As `lago_env_init`, with `initfile_text` NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_env_init_from_string(
    options: *const lago_init_options,
    config: *const lago_config,
    initfile_text: *const c_char,
    env_out: *mut *const lago_env,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let options = unsafe { arg_ref(options, "options") }?;
        // SAFETY: forwarded from this function's contract.
        let text = unsafe { arg_str(initfile_text, "initfile_text") }?;
        let out = arg_out(env_out, "env_out")?;
        // SAFETY: forwarded from this function's contract.
        let config = unsafe { config_or_system(config) }?;
        let mut opts = options.opts.clone();
        opts.initfile = PathBuf::from("LagoInitFile");
        opts.initfile_text = Some(text.to_owned());
        let env = Env::init(&opts, config)?;
        // SAFETY: `out` is non-NULL and writable by this function's contract.
        unsafe { write_out(out, into_handle(env)) };
        Ok(())
    })
}

/// Opens prefix `prefix_name` (NULL: `current`) of the workdir `workdir`.
/// With `config` NULL, Lago's system configuration is loaded.
///
/// Ownership: `*env_out`: written only on success; it holds a new reference the
/// caller releases with `lago_env_free`.
/// Errors: on failure, a new `lago_error` is stored in `*err_out` if `err_out`
/// is not NULL (the caller frees it with `lago_error_free`); on success
/// `*err_out` is untouched. `*err_out` must be NULL on entry, else the call
/// does nothing and returns `LAGO_STATUS_INVALID_ARGUMENT`.
/// Threads: any thread; concurrent reads of one `lago_config` are allowed, not
/// while it is being set.
/// Strings: arguments are NUL-terminated UTF-8, borrowed for the call only.
///
/// # Safety
///
/// `config` must be NULL or a live `lago_config`; the strings must be NULL
/// or NUL-terminated; `env_out` must be NULL or writable; `err_out` must be
/// NULL or point to a readable and writable `lago_error *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_env_load(
    config: *const lago_config,
    workdir: *const c_char,
    prefix_name: *const c_char,
    env_out: *mut *const lago_env,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let workdir = unsafe { arg_str(workdir, "workdir") }?;
        let prefix = if prefix_name.is_null() {
            "current"
        } else {
            // SAFETY: not NULL; the caller guarantees a C string.
            unsafe { arg_str(prefix_name, "prefix_name") }?
        };
        let out = arg_out(env_out, "env_out")?;
        // SAFETY: forwarded from this function's contract.
        let config = unsafe { config_or_system(config) }?;
        let env = Env::load(Path::new(workdir), prefix, config)?;
        // SAFETY: `out` is non-NULL and writable by this function's contract.
        unsafe { write_out(out, into_handle(env)) };
        Ok(())
    })
}

/// Stops everything of the environment, releases its leases and removes the
/// prefix (and the workdir with its last prefix). The handle stays valid
/// but destroyed, even if this fails: release it with `lago_env_free`.
///
/// Ownership: nothing returned needs freeing.
/// Errors: on failure, a new `lago_error` is stored in `*err_out` if `err_out`
/// is not NULL (the caller frees it with `lago_error_free`); on success
/// `*err_out` is untouched. `*err_out` must be NULL on entry, else the call
/// does nothing and returns `LAGO_STATUS_INVALID_ARGUMENT`.
/// Threads: any thread; calls on one `lago_env` may run concurrently.
///
/// # Safety
///
/// `env` must be NULL or a live `lago_env`; `err_out` must be NULL or point to
/// a readable and writable `lago_error *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_env_destroy(
    env: *const lago_env,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let handle = unsafe { arg_env(env) }?;
        handle.handle.destroy().map_err(destroyed)??;
        Ok(())
    })
}

/// Adds a reference to `env` (e.g. for another thread) and returns it;
/// NULL if `env` is NULL. Release it with `lago_env_free`.
///
/// Ownership: the returned pointer is a new reference the caller releases with
/// `lago_env_free`.
/// Errors: none; this function cannot fail.
/// Threads: any thread; calls on one `lago_env` may run concurrently.
///
/// # Safety
///
/// `env` must be NULL or a live `lago_env`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_env_clone(env: *const lago_env) -> *const lago_env {
    ffi_boundary!(default: std::ptr::null(), {
        if !env.is_null() {
            // SAFETY: a non-NULL env is a live pointer from `Arc::into_raw`.
            unsafe { Arc::increment_strong_count(env) };
        }
        env
    })
}

/// Releases one reference to `env`; the last one closes the environment's
/// connections (it does not stop or remove anything). NULL is accepted and
/// ignored. Never fails.
///
/// Ownership: takes back what lago handed out; `env` must not be used
/// afterwards.
/// Errors: none; this function cannot fail.
/// Threads: call it once, when no other thread uses `env`.
///
/// # Safety
///
/// `env` must be NULL or a reference from lago, not yet released and not
/// used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_env_free(env: *const lago_env) {
    ffi_boundary!(default: (), {
        if !env.is_null() {
            // SAFETY: envs are made by `Arc::into_raw` (or counted by
            // `lago_env_clone`); the caller gives up this reference.
            drop(unsafe { Arc::from_raw(env) });
        }
    })
}
