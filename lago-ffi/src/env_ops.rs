//! Operations on the guests of a `lago_env` as a whole: collecting
//! artifacts, running the deploy scripts, the Ansible inventory. Thread
//! safety: see `env.rs`.

use std::ffi::c_char;
use std::path::Path;

use crate::boundary::{arg_out, arg_str, arg_str_list, owned_c_string, write_out};
use crate::env::{arg_env, lago_env};
use crate::env_vm::check_vm_names;
use crate::error::lago_error;
use crate::ffi_boundary;
use crate::status::lago_status;

/// Collects the `artifacts` of the `n_vm_names` named VMs (all when
/// `n_vm_names` is 0; then `vm_names` may be NULL) into
/// `output_dir/<vm>/<path with '/' turned into '_'>`, the VMs in parallel.
/// An existing `output_dir` is renamed `output_dir.YYYY-MM-DD_HH:MM:SS`
/// first. A running VM is read over SSH, a stopped one from its disk with
/// libguestfs. A missing guest path fails with `LAGO_STATUS_NOT_FOUND`
/// unless `ignore_nopath`; on failure nothing is left behind.
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
/// `env` must be NULL or a live `lago_env`; `output_dir` must be NULL or
/// NUL-terminated; `vm_names` must be NULL or hold `n_vm_names`
/// NUL-terminated strings; `err_out` must be NULL or point to a readable and
/// writable `lago_error *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_env_collect(
    env: *const lago_env,
    output_dir: *const c_char,
    ignore_nopath: bool,
    vm_names: *const *const c_char,
    n_vm_names: usize,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let env = unsafe { arg_env(env) }?;
        // SAFETY: forwarded from this function's contract.
        let output_dir = unsafe { arg_str(output_dir, "output_dir") }?;
        // SAFETY: forwarded from this function's contract.
        let names = unsafe { arg_str_list(vm_names, n_vm_names, "vm_names") }?;
        env.with(|e| {
            check_vm_names(e, &names)?;
            Ok(e.collect(Path::new(output_dir), ignore_nopath, &names)?)
        })
    })
}

/// Runs every VM's deploy scripts (`metadata.deploy-scripts`), the VMs in
/// parallel. A script exiting non-zero fails with `LAGO_STATUS_SSH` and
/// the message `<script> failed with status N on <vm>`.
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
pub unsafe extern "C" fn lago_env_deploy(
    env: *const lago_env,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let env = unsafe { arg_env(env) }?;
        env.with(|e| Ok(e.deploy()?))
    })
}

/// The Ansible inventory of the environment, as `lago ansible_hosts`
/// prints it (no newline at the end; free with `lago_string_free`).
/// `keys` are `/`-separated paths into the VM specs to group by; with
/// `n_keys` 0 (`keys` may then be NULL) they are `vm-type`, `groups`,
/// `vm-provider`.
///
/// Ownership: `*out`: written only on success; its string is the caller's: free
/// it with `lago_string_free`.
/// Errors: on failure, a new `lago_error` is stored in `*err_out` if `err_out`
/// is not NULL (the caller frees it with `lago_error_free`); on success
/// `*err_out` is untouched. `*err_out` must be NULL on entry, else the call
/// does nothing and returns `LAGO_STATUS_INVALID_ARGUMENT`.
/// Threads: any thread; calls on one `lago_env` may run concurrently.
/// Strings: NUL-terminated UTF-8, in and out; string arguments are borrowed for
/// the call only.
///
/// # Safety
///
/// `env` must be NULL or a live `lago_env`; `keys` must be NULL or hold
/// `n_keys` NUL-terminated strings; `out` must be NULL or writable;
/// `err_out` must be NULL or point to a readable and writable `lago_error *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_env_ansible_inventory(
    env: *const lago_env,
    keys: *const *const c_char,
    n_keys: usize,
    out: *mut *mut c_char,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let env = unsafe { arg_env(env) }?;
        // SAFETY: forwarded from this function's contract.
        let keys = unsafe { arg_str_list(keys, n_keys, "keys") }?;
        let out = arg_out(out, "out")?;
        let text = env.with(|e| Ok(e.ansible_inventory(&keys)?))?;
        let text = owned_c_string(text)?;
        // SAFETY: `out` is non-NULL and writable by this function's contract.
        unsafe { write_out(out, text) };
        Ok(())
    })
}
