//! `lago_net`: one network of a `lago_env`, got with `lago_env_get_net`,
//! released with `lago_net_free`.
//!
//! Ownership: `Box`, holding a counted reference to its env (so the env
//! stays open while the handle lives). Thread safety: a `lago_net` is
//! immutable; every function may be called on it from any number of
//! threads at once, and it may be freed from any thread, once. After
//! `lago_env_destroy` of its env every call but `lago_net_free` returns
//! `LAGO_STATUS_DESTROYED`.

use std::ffi::c_char;
use std::sync::Arc;

use lago_core::Env;
use lago_core::prefix::state::NetState;
use lago_core::{Error, ErrorKind};

use crate::boundary::{FfiError, arg_out, arg_ref, arg_str, write_out};
use crate::env::{arg_env, counted_ref, lago_env};
use crate::error::lago_error;
use crate::ffi_boundary;
use crate::status::lago_status;
use crate::vm::write_string;

/// A network of an environment. Opaque; free with `lago_net_free`. Keeps
/// its env open. Immutable: usable from any number of threads at once;
/// after `lago_env_destroy` of its env its calls return
/// `LAGO_STATUS_DESTROYED`.
pub struct lago_net {
    env: Arc<lago_env>,
    name: String,
}

impl lago_net {
    /// Runs `f` on the net's persisted spec, unless the env was destroyed.
    fn with<R>(&self, f: impl FnOnce(&NetState) -> Result<R, FfiError>) -> Result<R, FfiError> {
        self.env.with(|e| f(&net_state(e, &self.name)?))
    }
}

/// The persisted spec of net `name`; `NOT_FOUND` naming the known nets.
fn net_state(env: &Env, name: &str) -> Result<NetState, FfiError> {
    env.state().net(name).cloned().ok_or_else(|| {
        Error::new(
            ErrorKind::NotFound,
            format!(
                "no network '{name}' (networks: {})",
                env.net_names().join(", ")
            ),
        )
        .into()
    })
}

/// Borrows a `lago_net` argument.
///
/// # Safety
///
/// `net` must be NULL or a live `lago_net`.
unsafe fn arg_net<'a>(net: *const lago_net) -> Result<&'a lago_net, FfiError> {
    // SAFETY: forwarded from this function's contract.
    unsafe { arg_ref(net, "net") }
}

/// Gets network `name` of `env` as a handle (free with `lago_net_free`).
/// `LAGO_STATUS_NOT_FOUND` if the env has no such network. The handle keeps
/// the env open. Thread safety: as any `lago_env` call.
///
/// Ownership: `*net_out`: written only on success; its handle is the caller's:
/// free it with `lago_net_free`.
/// Errors: on failure, a new `lago_error` is stored in `*err_out` if `err_out`
/// is not NULL (the caller frees it with `lago_error_free`); on success
/// `*err_out` is untouched. `*err_out` must be NULL on entry, else the call
/// does nothing and returns `LAGO_STATUS_INVALID_ARGUMENT`.
/// Threads: any thread; calls on one `lago_env` may run concurrently.
/// Strings: arguments are NUL-terminated UTF-8, borrowed for the call only.
///
/// # Safety
///
/// `env` must be NULL or a live `lago_env`; `name` must be NULL or
/// NUL-terminated; `net_out` must be NULL or writable; `err_out` must be NULL
/// or point to a readable and writable `lago_error *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_env_get_net(
    env: *const lago_env,
    name: *const c_char,
    net_out: *mut *mut lago_net,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let handle = unsafe { arg_env(env) }?;
        // SAFETY: forwarded from this function's contract.
        let name = unsafe { arg_str(name, "name") }?;
        let out = arg_out(net_out, "net_out")?;
        handle.with(|e| net_state(e, name).map(drop))?;
        let net = lago_net {
            // SAFETY: `env` is a live lago_env (checked non-NULL above).
            env: unsafe { counted_ref(env) },
            name: name.to_owned(),
        };
        // SAFETY: `out` is non-NULL and writable by this function's contract.
        unsafe { write_out(out, Box::into_raw(Box::new(net))) };
        Ok(())
    })
}

/// The network's name in the init file (free with `lago_string_free`).
/// Thread safety: any thread, concurrently with any other call on `net`.
///
/// Ownership: `*name_out`: written only on success; its string is the caller's:
/// free it with `lago_string_free`.
/// Errors: on failure, a new `lago_error` is stored in `*err_out` if `err_out`
/// is not NULL (the caller frees it with `lago_error_free`); on success
/// `*err_out` is untouched. `*err_out` must be NULL on entry, else the call
/// does nothing and returns `LAGO_STATUS_INVALID_ARGUMENT`.
/// Threads: any thread; `lago_net` is immutable, so concurrent calls are
/// allowed.
/// Strings: the returned string is NUL-terminated UTF-8.
///
/// # Safety
///
/// `net` must be NULL or a live `lago_net`; `name_out` must be NULL or
/// writable; `err_out` must be NULL or point to a readable and writable
/// `lago_error *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_net_name(
    net: *const lago_net,
    name_out: *mut *mut c_char,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let net = unsafe { arg_net(net) }?;
        let out = arg_out(name_out, "name_out")?;
        let name = net.with(|n| Ok(n.name.clone()))?;
        // SAFETY: `out` is non-NULL and writable by this function's contract.
        unsafe { write_string(out, name) }
    })
}

/// The network's gateway address, e.g. `"192.168.200.1"` (free with
/// `lago_string_free`). `LAGO_STATUS_NOT_FOUND` for a network without one
/// (a bridge network). Thread safety: any thread, concurrently with any
/// other call on `net`.
///
/// Ownership: `*gateway_out`: written only on success; its string is the
/// caller's: free it with `lago_string_free`.
/// Errors: on failure, a new `lago_error` is stored in `*err_out` if `err_out`
/// is not NULL (the caller frees it with `lago_error_free`); on success
/// `*err_out` is untouched. `*err_out` must be NULL on entry, else the call
/// does nothing and returns `LAGO_STATUS_INVALID_ARGUMENT`.
/// Threads: any thread; `lago_net` is immutable, so concurrent calls are
/// allowed.
/// Strings: the returned string is NUL-terminated UTF-8.
///
/// # Safety
///
/// As `lago_net_name`, with `gateway_out`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_net_gateway(
    net: *const lago_net,
    gateway_out: *mut *mut c_char,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let net = unsafe { arg_net(net) }?;
        let out = arg_out(gateway_out, "gateway_out")?;
        let gw = net.with(|n| {
            let gw = n.gw().ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!("network '{}' ({}) has no gateway", n.name, n.kind()),
                )
            })?;
            Ok(gw.to_string())
        })?;
        // SAFETY: `out` is non-NULL and writable by this function's contract.
        unsafe { write_string(out, gw) }
    })
}

/// Whether the network is a management network (`management: true` in the
/// init file): `*is_management_out` receives it. Thread safety: any
/// thread, concurrently with any other call on `net`.
///
/// Ownership: `*is_management_out`: a plain value, written only on success.
/// Errors: on failure, a new `lago_error` is stored in `*err_out` if `err_out`
/// is not NULL (the caller frees it with `lago_error_free`); on success
/// `*err_out` is untouched. `*err_out` must be NULL on entry, else the call
/// does nothing and returns `LAGO_STATUS_INVALID_ARGUMENT`.
/// Threads: any thread; `lago_net` is immutable, so concurrent calls are
/// allowed.
///
/// # Safety
///
/// `net` must be NULL or a live `lago_net`; `is_management_out` must be
/// NULL or writable; `err_out` must be NULL or point to a readable and writable
/// `lago_error *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_net_is_management(
    net: *const lago_net,
    is_management_out: *mut bool,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let net = unsafe { arg_net(net) }?;
        let out = arg_out(is_management_out, "is_management_out")?;
        let management = net.with(|n| Ok(n.is_management()))?;
        // SAFETY: `out` is non-NULL and writable by this function's contract.
        unsafe { write_out(out, management) };
        Ok(())
    })
}

/// Frees `net` (and its reference to the env). NULL is accepted and
/// ignored. Never fails. From any thread, once no other call on `net`
/// runs.
///
/// Ownership: takes back what lago handed out; `net` must not be used
/// afterwards.
/// Errors: none; this function cannot fail.
/// Threads: call it once, when no other thread uses `net`.
///
/// # Safety
///
/// `net` must be NULL or a `lago_net` from lago, not yet freed and not used
/// afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_net_free(net: *mut lago_net) {
    ffi_boundary!(default: (), {
        if !net.is_null() {
            // SAFETY: net handles are made by `Box::into_raw` in
            // `lago_env_get_net`; the caller gives this one up.
            drop(unsafe { Box::from_raw(net) });
        }
    })
}
