//! Snapshots of a `lago_env`'s VMs: take one env-wide, revert to one, list
//! them. Thread safety: see `env.rs` (any thread, concurrently; two
//! snapshot or revert calls on the same VMs at once are not coordinated —
//! serialize them).

use std::ffi::c_char;

use lago_core::Env;
use lago_core::ops::snapshot::SnapshotKind;

use crate::boundary::{FfiError, arg_out, arg_str, arg_str_list, owned_c_string, write_out};
use crate::env::{arg_env, lago_env};
use crate::env_vm::check_vm_names;
use crate::error::lago_error;
use crate::ffi_boundary;
use crate::status::lago_status;

/// Takes snapshot `name` of the `n_vm_names` named VMs (all when
/// `n_vm_names` is 0; then `vm_names` may be NULL), in parallel: running
/// VMs live (disk-only), stopped VMs by new overlays; persisted in Lago's
/// format (`virt/vm-<name>`). `LAGO_STATUS_ALREADY_EXISTS` if a VM has a
/// snapshot of that name already (nothing changes);
/// `LAGO_STATUS_INVALID_ARGUMENT` for a name that is not 1–64 letters,
/// digits, `.`, `_`, `-`. A VM whose snapshot fails keeps nothing of it,
/// and the message names it.
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
/// `env` must be NULL or a live `lago_env`; `name` must be NULL or
/// NUL-terminated; `vm_names` must be NULL or hold `n_vm_names`
/// NUL-terminated strings; `err_out` must be NULL or point to a readable and
/// writable `lago_error *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_env_snapshot(
    env: *const lago_env,
    name: *const c_char,
    vm_names: *const *const c_char,
    n_vm_names: usize,
    err_out: *mut *mut lago_error,
) -> lago_status {
    // SAFETY: forwarded from this function's contract.
    unsafe { lago_env_snapshot_flags(env, name, vm_names, n_vm_names, 0, err_out) }
}

/// `lago_env_snapshot_flags` flag: save the running VMs' memory too (they
/// are paused together meanwhile), so that `lago_env_revert` resumes them
/// where they were instead of booting them.
pub const LAGO_SNAPSHOT_MEMORY: u32 = 1;

/// As `lago_env_snapshot`, with `flags`: 0 or `LAGO_SNAPSHOT_MEMORY` (a
/// memory snapshot: the running VMs' RAM and device state are saved beside
/// their disk overlays, in the prefix; stopped VMs get a disk-only
/// snapshot). Unknown flags are `LAGO_STATUS_INVALID_ARGUMENT`.
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
/// As `lago_env_snapshot`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_env_snapshot_flags(
    env: *const lago_env,
    name: *const c_char,
    vm_names: *const *const c_char,
    n_vm_names: usize,
    flags: u32,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let env = unsafe { arg_env(env) }?;
        // SAFETY: forwarded from this function's contract.
        let name = unsafe { arg_str(name, "name") }?;
        // SAFETY: forwarded from this function's contract.
        let names = unsafe { arg_str_list(vm_names, n_vm_names, "vm_names") }?;
        let kind = match flags {
            0 => SnapshotKind::Disk,
            LAGO_SNAPSHOT_MEMORY => SnapshotKind::Memory,
            _ => {
                return Err(FfiError::new(
                    lago_status::InvalidArgument,
                    format!(
                        "unknown lago_env_snapshot_flags flags {:#x} (valid: LAGO_SNAPSHOT_MEMORY)",
                        flags & !LAGO_SNAPSHOT_MEMORY
                    ),
                ));
            }
        };
        env.with(|e| {
            check_vm_names(e, &names)?;
            Ok(e.snapshot_with(name, &names, kind)?)
        })
    })
}

/// Reverts the named VMs (all when `n_vm_names` is 0) to snapshot `name`:
/// running VMs are stopped, every disk gets a fresh overlay on the
/// snapshot's file, and the VMs that ran are started again; returns once
/// they answer SSH (bounded by their boot timeout). A VM whose snapshot
/// holds its memory (`LAGO_SNAPSHOT_MEMORY`) is resumed from it instead,
/// running, with no boot, its clock set. `LAGO_STATUS_NOT_FOUND` if a VM
/// has no such snapshot (the message lists the ones it has).
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
/// As `lago_env_snapshot`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_env_revert(
    env: *const lago_env,
    name: *const c_char,
    vm_names: *const *const c_char,
    n_vm_names: usize,
    err_out: *mut *mut lago_error,
) -> lago_status {
    // SAFETY: forwarded from this function's contract.
    unsafe { named_vms_call(env, name, vm_names, n_vm_names, err_out, Env::revert) }
}

/// The body both snapshot and revert share: their arguments checked (the
/// VM names against the env), then `op(env, name, vm_names)`.
///
/// # Safety
///
/// As `lago_env_snapshot`.
unsafe fn named_vms_call(
    env: *const lago_env,
    name: *const c_char,
    vm_names: *const *const c_char,
    n_vm_names: usize,
    err_out: *mut *mut lago_error,
    op: fn(&Env, &str, &[String]) -> lago_core::Result<()>,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let env = unsafe { arg_env(env) }?;
        // SAFETY: forwarded from this function's contract.
        let name = unsafe { arg_str(name, "name") }?;
        // SAFETY: forwarded from this function's contract.
        let names = unsafe { arg_str_list(vm_names, n_vm_names, "vm_names") }?;
        env.with(|e| {
            check_vm_names(e, &names)?;
            Ok(op(e, name, &names)?)
        })
    })
}

/// The snapshots of every VM as JSON, `{vm: {snapshot: [disk dicts]}}`
/// (what `lago snapshot --list -f json` prints, the disk dicts of memory
/// snapshots marked `"snapshot-kind": "memory"`; free with
/// `lago_string_free`). Reads the persisted state only: no libvirt.
///
/// Ownership: `*json_out`: written only on success; its string is the caller's:
/// free it with `lago_string_free`.
/// Errors: on failure, a new `lago_error` is stored in `*err_out` if `err_out`
/// is not NULL (the caller frees it with `lago_error_free`); on success
/// `*err_out` is untouched. `*err_out` must be NULL on entry, else the call
/// does nothing and returns `LAGO_STATUS_INVALID_ARGUMENT`.
/// Threads: any thread; calls on one `lago_env` may run concurrently.
/// Strings: the returned string is NUL-terminated UTF-8.
///
/// # Safety
///
/// `env` must be NULL or a live `lago_env`; `json_out` must be NULL or
/// writable; `err_out` must be NULL or point to a readable and writable
/// `lago_error *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_env_snapshots_json(
    env: *const lago_env,
    json_out: *mut *mut c_char,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let env = unsafe { arg_env(env) }?;
        let out = arg_out(json_out, "json_out")?;
        let json = env.with(|e| Ok(e.snapshots().to_string()))?;
        let json = owned_c_string(json)?;
        // SAFETY: `out` is non-NULL and writable by this function's contract.
        unsafe { write_out(out, json) };
        Ok(())
    })
}
