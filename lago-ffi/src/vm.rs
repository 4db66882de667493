//! `lago_vm`: one VM of a `lago_env`, got with `lago_env_get_vm`, released
//! with `lago_vm_free`.
//!
//! Ownership: `Box`, holding a counted reference to its env (so the env
//! stays open while the handle lives, even after `lago_env_free` of every
//! env reference). Thread safety: a `lago_vm` is immutable; every function
//! may be called on it from any number of threads at once, and it may be
//! freed from any thread, once. Its calls read the env's current state, so
//! they see what calls on the env did. After `lago_env_destroy` of its env
//! every call but `lago_vm_free` returns `LAGO_STATUS_DESTROYED`.

use std::ffi::c_char;
use std::sync::Arc;

use crate::boundary::{FfiError, arg_out, arg_ref, arg_str, owned_c_string, write_out};
use crate::env::{arg_env, counted_ref, lago_env};
use crate::env_vm::{check_vm_names, vm_ip};
use crate::error::lago_error;
use crate::ffi_boundary;
use crate::status::lago_status;

/// A VM of an environment. Opaque; free with `lago_vm_free`. Keeps its env
/// open. Immutable: usable from any number of threads at once; after
/// `lago_env_destroy` of its env its calls return `LAGO_STATUS_DESTROYED`.
pub struct lago_vm {
    env: Arc<lago_env>,
    name: String,
}

/// Borrows a `lago_vm` argument.
///
/// # Safety
///
/// `vm` must be NULL or a live `lago_vm`.
unsafe fn arg_vm<'a>(vm: *const lago_vm) -> Result<&'a lago_vm, FfiError> {
    // SAFETY: forwarded from this function's contract.
    unsafe { arg_ref(vm, "vm") }
}

/// Writes a caller-owned copy of `text` to the checked out-parameter `out`.
///
/// # Safety
///
/// `out` must be non-NULL and valid for writing one pointer.
pub(crate) unsafe fn write_string(out: *mut *mut c_char, text: String) -> Result<(), FfiError> {
    let text = owned_c_string(text)?;
    // SAFETY: forwarded from this function's contract.
    unsafe { write_out(out, text) };
    Ok(())
}

/// Gets VM `name` of `env` as a handle (free with `lago_vm_free`).
/// `LAGO_STATUS_NOT_FOUND` if the env has no such VM. The handle keeps the
/// env open. Thread safety: as any `lago_env` call.
///
/// Ownership: `*vm_out`: written only on success; its handle is the caller's:
/// free it with `lago_vm_free`.
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
/// NUL-terminated; `vm_out` must be NULL or writable; `err_out` must be NULL or
/// point to a readable and writable `lago_error *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_env_get_vm(
    env: *const lago_env,
    name: *const c_char,
    vm_out: *mut *mut lago_vm,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let handle = unsafe { arg_env(env) }?;
        // SAFETY: forwarded from this function's contract.
        let name = unsafe { arg_str(name, "name") }?;
        let out = arg_out(vm_out, "vm_out")?;
        handle.with(|e| Ok(check_vm_names(e, &[name.to_owned()])?))?;
        let vm = lago_vm {
            // SAFETY: `env` is a live lago_env (checked non-NULL above).
            env: unsafe { counted_ref(env) },
            name: name.to_owned(),
        };
        // SAFETY: `out` is non-NULL and writable by this function's contract.
        unsafe { write_out(out, Box::into_raw(Box::new(vm))) };
        Ok(())
    })
}

/// The VM's name (free with `lago_string_free`). Thread safety: any
/// thread, concurrently with any other call on `vm`.
///
/// Ownership: `*name_out`: written only on success; its string is the caller's:
/// free it with `lago_string_free`.
/// Errors: on failure, a new `lago_error` is stored in `*err_out` if `err_out`
/// is not NULL (the caller frees it with `lago_error_free`); on success
/// `*err_out` is untouched. `*err_out` must be NULL on entry, else the call
/// does nothing and returns `LAGO_STATUS_INVALID_ARGUMENT`.
/// Threads: any thread; `lago_vm` is immutable, so concurrent calls are
/// allowed.
/// Strings: the returned string is NUL-terminated UTF-8.
///
/// # Safety
///
/// `vm` must be NULL or a live `lago_vm`; `name_out` must be NULL or
/// writable; `err_out` must be NULL or point to a readable and writable
/// `lago_error *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_vm_name(
    vm: *const lago_vm,
    name_out: *mut *mut c_char,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let vm = unsafe { arg_vm(vm) }?;
        let out = arg_out(name_out, "name_out")?;
        let name = vm.env.with(|_| Ok(vm.name.clone()))?;
        // SAFETY: `out` is non-NULL and writable by this function's contract.
        unsafe { write_string(out, name) }
    })
}

/// The VM's IPv4 address on its management network, e.g.
/// `"192.168.200.101"` (free with `lago_string_free`), as
/// `lago_env_vm_ip`. `LAGO_STATUS_NOT_FOUND` if it has none. Thread
/// safety: any thread, concurrently with any other call on `vm`.
///
/// Ownership: `*ip_out`: written only on success; its string is the caller's:
/// free it with `lago_string_free`.
/// Errors: on failure, a new `lago_error` is stored in `*err_out` if `err_out`
/// is not NULL (the caller frees it with `lago_error_free`); on success
/// `*err_out` is untouched. `*err_out` must be NULL on entry, else the call
/// does nothing and returns `LAGO_STATUS_INVALID_ARGUMENT`.
/// Threads: any thread; `lago_vm` is immutable, so concurrent calls are
/// allowed.
/// Strings: the returned string is NUL-terminated UTF-8.
///
/// # Safety
///
/// As `lago_vm_name`, with `ip_out`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_vm_ip(
    vm: *const lago_vm,
    ip_out: *mut *mut c_char,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let vm = unsafe { arg_vm(vm) }?;
        let out = arg_out(ip_out, "ip_out")?;
        let ip = vm.env.with(|e| vm_ip(e, &vm.name))?;
        // SAFETY: `out` is non-NULL and writable by this function's contract.
        unsafe { write_string(out, ip) }
    })
}

/// The VM's state as Lago names it (`"running"`, `"down"`, ...; free with
/// `lago_string_free`), as `lago_env_vm_state`: asks libvirt. Thread
/// safety: any thread, concurrently with any other call on `vm`.
///
/// Ownership: `*state_out`: written only on success; its string is the
/// caller's: free it with `lago_string_free`.
/// Errors: on failure, a new `lago_error` is stored in `*err_out` if `err_out`
/// is not NULL (the caller frees it with `lago_error_free`); on success
/// `*err_out` is untouched. `*err_out` must be NULL on entry, else the call
/// does nothing and returns `LAGO_STATUS_INVALID_ARGUMENT`.
/// Threads: any thread; `lago_vm` is immutable, so concurrent calls are
/// allowed.
/// Strings: the returned string is NUL-terminated UTF-8.
///
/// # Safety
///
/// As `lago_vm_name`, with `state_out`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_vm_state(
    vm: *const lago_vm,
    state_out: *mut *mut c_char,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let vm = unsafe { arg_vm(vm) }?;
        let out = arg_out(state_out, "state_out")?;
        let state = vm
            .env
            .with(|e| Ok(e.vm_state(&vm.name)?.as_str().to_owned()))?;
        // SAFETY: `out` is non-NULL and writable by this function's contract.
        unsafe { write_string(out, state) }
    })
}

/// Frees `vm` (and its reference to the env). NULL is accepted and
/// ignored. Never fails. From any thread, once no other call on `vm` runs.
///
/// Ownership: takes back what lago handed out; `vm` must not be used
/// afterwards.
/// Errors: none; this function cannot fail.
/// Threads: call it once, when no other thread uses `vm`.
///
/// # Safety
///
/// `vm` must be NULL or a `lago_vm` from lago, not yet freed and not used
/// afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_vm_free(vm: *mut lago_vm) {
    ffi_boundary!(default: (), {
        if !vm.is_null() {
            // SAFETY: VM handles are made by `Box::into_raw` in
            // `lago_env_get_vm`; the caller gives this one up.
            drop(unsafe { Box::from_raw(vm) });
        }
    })
}
