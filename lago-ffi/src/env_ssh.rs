//! Guest access through a `lago_env` over SSH: run commands, wait for SSH,
//! copy files. Blocking; safe from any thread, several at once (one SSH
//! connection per VM, shared). Thread safety: see `env.rs`.

use std::ffi::c_char;
use std::path::Path;
use std::time::Duration;

use crate::boundary::{FfiError, arg_out, arg_str, arg_str_list, write_out};
use crate::env::{arg_env, lago_env};
use crate::env_vm::check_vm_names;
use crate::error::lago_error;
use crate::exec::lago_exec_result;
use crate::ffi_boundary;
use crate::status::lago_status;

/// Runs `argv` (`argc` words, each quoted for the guest's shell) in VM `vm`
/// and waits at most `timeout_ms` milliseconds (> 0). On success
/// `*result_out` holds the exit code and output, whatever the exit code;
/// free it with `lago_exec_result_free`. Failing to connect or a timeout is
/// an error (`LAGO_STATUS_SSH`, `LAGO_STATUS_TIMEOUT`).
///
/// Ownership: `*result_out`: written only on success; its result is the
/// caller's: free it with `lago_exec_result_free`.
/// Errors: on failure, a new `lago_error` is stored in `*err_out` if `err_out`
/// is not NULL (the caller frees it with `lago_error_free`); on success
/// `*err_out` is untouched. `*err_out` must be NULL on entry, else the call
/// does nothing and returns `LAGO_STATUS_INVALID_ARGUMENT`.
/// Threads: any thread; calls on one `lago_env` may run concurrently.
/// Strings: arguments are NUL-terminated UTF-8, borrowed for the call only.
///
/// # Safety
///
/// `env` must be NULL or a live `lago_env`; `vm` must be NULL or
/// NUL-terminated; `argv` must be NULL or hold `argc` NUL-terminated
/// strings; `result_out` must be NULL or writable; `err_out` must be NULL or
/// point to a readable and writable `lago_error *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_env_ssh(
    env: *const lago_env,
    vm: *const c_char,
    argv: *const *const c_char,
    argc: usize,
    timeout_ms: u64,
    result_out: *mut *mut lago_exec_result,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let env = unsafe { arg_env(env) }?;
        // SAFETY: forwarded from this function's contract.
        let vm = unsafe { arg_str(vm, "vm") }?;
        // SAFETY: forwarded from this function's contract.
        let argv = unsafe { arg_str_list(argv, argc, "argv") }?;
        let out = arg_out(result_out, "result_out")?;
        if argv.is_empty() {
            return Err(FfiError::new(
                lago_status::InvalidArgument,
                "argv must hold at least one word",
            ));
        }
        if timeout_ms == 0 {
            return Err(FfiError::new(
                lago_status::InvalidArgument,
                "timeout_ms must be greater than 0",
            ));
        }
        let result = env.with(|e| Ok(e.ssh(vm, &argv, Duration::from_millis(timeout_ms))?))?;
        let result = Box::into_raw(Box::new(lago_exec_result::new(result)));
        // SAFETY: `out` is non-NULL and writable by this function's contract.
        unsafe { write_out(out, result) };
        Ok(())
    })
}

fn timeout(timeout_ms: u64) -> Option<Duration> {
    (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms))
}

/// Waits until VM `vm` answers SSH, at most `timeout_ms` milliseconds (0:
/// the VM's boot timeout). Fails at once if the VM is not running.
///
/// Ownership: nothing returned needs freeing.
/// Errors: on failure, a new `lago_error` is stored in `*err_out` if `err_out`
/// is not NULL (the caller frees it with `lago_error_free`); on success
/// `*err_out` is untouched. `*err_out` must be NULL on entry, else the call
/// does nothing and returns `LAGO_STATUS_INVALID_ARGUMENT`.
/// Threads: any thread; calls on one `lago_env` may run concurrently.
/// Strings: arguments are NUL-terminated UTF-8, borrowed for the call only.
///
/// # Safety
///
/// `env` must be NULL or a live `lago_env`; `vm` must be NULL or
/// NUL-terminated; `err_out` must be NULL or point to a readable and writable
/// `lago_error *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_env_wait_for_ssh(
    env: *const lago_env,
    vm: *const c_char,
    timeout_ms: u64,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let env = unsafe { arg_env(env) }?;
        // SAFETY: forwarded from this function's contract.
        let vm = unsafe { arg_str(vm, "vm") }?;
        env.with(|e| Ok(e.wait_for_ssh(vm, timeout(timeout_ms)).map(|_| ())?))
    })
}

/// Waits for the named VMs (all when `n_vm_names` is 0) in parallel, as
/// `lago_env_wait_for_ssh`.
///
/// Ownership: nothing returned needs freeing.
/// Errors: on failure, a new `lago_error` is stored in `*err_out` if `err_out`
/// is not NULL (the caller frees it with `lago_error_free`); on success
/// `*err_out` is untouched. `*err_out` must be NULL on entry, else the call
/// does nothing and returns `LAGO_STATUS_INVALID_ARGUMENT`.
/// Threads: any thread; calls on one `lago_env` may run concurrently.
/// Strings: arguments are NUL-terminated UTF-8, borrowed for the call only.
///
/// # Safety
///
/// `env` must be NULL or a live `lago_env`; `vm_names` must be NULL or hold
/// `n_vm_names` NUL-terminated strings; `err_out` must be NULL or point to a
/// readable and writable `lago_error *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_env_wait_for_ssh_all(
    env: *const lago_env,
    vm_names: *const *const c_char,
    n_vm_names: usize,
    timeout_ms: u64,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let env = unsafe { arg_env(env) }?;
        // SAFETY: forwarded from this function's contract.
        let names = unsafe { arg_str_list(vm_names, n_vm_names, "vm_names") }?;
        env.with(|e| {
            check_vm_names(e, &names)?;
            Ok(e.wait_for_ssh_all(&names, timeout(timeout_ms))?)
        })
    })
}

/// Copies the local file or tree `local_path` to `remote_path` in VM `vm`.
///
/// Ownership: nothing returned needs freeing.
/// Errors: on failure, a new `lago_error` is stored in `*err_out` if `err_out`
/// is not NULL (the caller frees it with `lago_error_free`); on success
/// `*err_out` is untouched. `*err_out` must be NULL on entry, else the call
/// does nothing and returns `LAGO_STATUS_INVALID_ARGUMENT`.
/// Threads: any thread; calls on one `lago_env` may run concurrently.
/// Strings: arguments are NUL-terminated UTF-8, borrowed for the call only.
///
/// # Safety
///
/// `env` must be NULL or a live `lago_env`; the strings must be NULL or
/// NUL-terminated; `err_out` must be NULL or point to a readable and writable
/// `lago_error *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_env_copy_to(
    env: *const lago_env,
    vm: *const c_char,
    local_path: *const c_char,
    remote_path: *const c_char,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let env = unsafe { arg_env(env) }?;
        // SAFETY: forwarded from this function's contract.
        let (vm, local, remote) = unsafe {
            (
                arg_str(vm, "vm")?,
                arg_str(local_path, "local_path")?,
                arg_str(remote_path, "remote_path")?,
            )
        };
        env.with(|e| {
            e.copy_to(vm, Path::new(local), Path::new(remote))?;
            Ok(())
        })
    })
}

/// Copies the file or tree `remote_path` of VM `vm` to `local_path`.
///
/// Ownership: nothing returned needs freeing.
/// Errors: on failure, a new `lago_error` is stored in `*err_out` if `err_out`
/// is not NULL (the caller frees it with `lago_error_free`); on success
/// `*err_out` is untouched. `*err_out` must be NULL on entry, else the call
/// does nothing and returns `LAGO_STATUS_INVALID_ARGUMENT`.
/// Threads: any thread; calls on one `lago_env` may run concurrently.
/// Strings: arguments are NUL-terminated UTF-8, borrowed for the call only.
///
/// # Safety
///
/// As `lago_env_copy_to`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_env_copy_from(
    env: *const lago_env,
    vm: *const c_char,
    remote_path: *const c_char,
    local_path: *const c_char,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let env = unsafe { arg_env(env) }?;
        // SAFETY: forwarded from this function's contract.
        let (vm, remote, local) = unsafe {
            (
                arg_str(vm, "vm")?,
                arg_str(remote_path, "remote_path")?,
                arg_str(local_path, "local_path")?,
            )
        };
        env.with(|e| {
            e.copy_from(vm, Path::new(remote), Path::new(local))?;
            Ok(())
        })
    })
}
