//! Running and inspecting the VMs and networks of a `lago_env`: start,
//! stop, shutdown, names, IP, state, status, spec. Thread safety: see
//! `env.rs`.

use std::ffi::c_char;
use std::time::Duration;

use lago_core::view::SpecView;
use lago_core::{Env, defaults};
use lago_core::{Error, ErrorKind};

use crate::boundary::{FfiError, arg_out, arg_str, arg_str_list, owned_c_string, write_out};
use crate::env::{arg_env, lago_env};
use crate::error::lago_error;
use crate::ffi_boundary;
use crate::list::lago_string_list;
use crate::status::lago_status;

/// Fails with `LAGO_STATUS_NOT_FOUND` when a name is not a VM of `env`,
/// before anything else (such as connecting to libvirt) happens.
pub(crate) fn check_vm_names(env: &Env, names: &[String]) -> lago_core::Result<()> {
    let known = env.vm_names();
    match names.iter().find(|n| !known.contains(n)) {
        Some(unknown) => Err(Error::new(
            ErrorKind::NotFound,
            format!("no VM '{unknown}' (VMs: {})", known.join(", ")),
        )),
        None => Ok(()),
    }
}

/// The management-network IPv4 address of VM `vm`, as text.
pub(crate) fn vm_ip(env: &Env, vm: &str) -> Result<String, FfiError> {
    let state = env.state();
    let spec = state.vm(vm).ok_or_else(|| {
        Error::new(
            ErrorKind::NotFound,
            format!("no VM '{vm}' (VMs: {})", env.vm_names().join(", ")),
        )
        .with_vm(vm)
    })?;
    let ip = spec.ip().ok_or_else(|| {
        Error::new(
            ErrorKind::NotFound,
            format!("VM '{vm}' has no address on its management network"),
        )
        .with_vm(vm)
    })?;
    Ok(ip.to_string())
}

/// Starts the `n_vm_names` named VMs (all when `n_vm_names` is 0; then
/// `vm_names` may be NULL) and the networks they need. If `started_out` is
/// not NULL, it receives the VMs this call started (free with
/// `lago_string_list_free`).
///
/// Ownership: `*started_out`: written only on success; its list is the
/// caller's: free it with `lago_string_list_free`.
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
/// `n_vm_names` NUL-terminated strings; `started_out` must be NULL or
/// writable; `err_out` must be NULL or point to a readable and writable
/// `lago_error *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_env_start(
    env: *const lago_env,
    vm_names: *const *const c_char,
    n_vm_names: usize,
    started_out: *mut *mut lago_string_list,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let env = unsafe { arg_env(env) }?;
        // SAFETY: forwarded from this function's contract.
        let names = unsafe { arg_str_list(vm_names, n_vm_names, "vm_names") }?;
        let started = env.with(|e| {
            check_vm_names(e, &names)?;
            Ok(e.start(&names)?)
        })?;
        if !started_out.is_null() {
            let list = lago_string_list::into_raw(started)?;
            // SAFETY: not NULL, and writable by this function's contract.
            unsafe { write_out(started_out, list) };
        }
        Ok(())
    })
}

/// Stops the named VMs (all when `n_vm_names` is 0) at once, and the
/// networks no running VM uses any more.
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
/// As `lago_env_start`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_env_stop(
    env: *const lago_env,
    vm_names: *const *const c_char,
    n_vm_names: usize,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let env = unsafe { arg_env(env) }?;
        // SAFETY: forwarded from this function's contract.
        let names = unsafe { arg_str_list(vm_names, n_vm_names, "vm_names") }?;
        env.with(|e| {
            check_vm_names(e, &names)?;
            Ok(e.stop(&names)?)
        })
    })
}

/// The names of the environment's VMs, in init-file order.
///
/// Ownership: `*names_out`: written only on success; its list is the caller's:
/// free it with `lago_string_list_free`.
/// Errors: on failure, a new `lago_error` is stored in `*err_out` if `err_out`
/// is not NULL (the caller frees it with `lago_error_free`); on success
/// `*err_out` is untouched. `*err_out` must be NULL on entry, else the call
/// does nothing and returns `LAGO_STATUS_INVALID_ARGUMENT`.
/// Threads: any thread; calls on one `lago_env` may run concurrently.
///
/// # Safety
///
/// `env` must be NULL or a live `lago_env`; `names_out` must be NULL or
/// writable; `err_out` must be NULL or point to a readable and writable
/// `lago_error *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_env_vm_names(
    env: *const lago_env,
    names_out: *mut *mut lago_string_list,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let env = unsafe { arg_env(env) }?;
        let out = arg_out(names_out, "names_out")?;
        let list = lago_string_list::into_raw(env.with(|e| Ok(e.vm_names()))?)?;
        // SAFETY: `out` is non-NULL and writable by this function's contract.
        unsafe { write_out(out, list) };
        Ok(())
    })
}

/// The names of the environment's networks, in init-file order.
///
/// Ownership: `*names_out`: written only on success; its list is the caller's:
/// free it with `lago_string_list_free`.
/// Errors: on failure, a new `lago_error` is stored in `*err_out` if `err_out`
/// is not NULL (the caller frees it with `lago_error_free`); on success
/// `*err_out` is untouched. `*err_out` must be NULL on entry, else the call
/// does nothing and returns `LAGO_STATUS_INVALID_ARGUMENT`.
/// Threads: any thread; calls on one `lago_env` may run concurrently.
///
/// # Safety
///
/// As `lago_env_vm_names`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_env_net_names(
    env: *const lago_env,
    names_out: *mut *mut lago_string_list,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let env = unsafe { arg_env(env) }?;
        let out = arg_out(names_out, "names_out")?;
        let list = lago_string_list::into_raw(env.with(|e| Ok(e.net_names()))?)?;
        // SAFETY: `out` is non-NULL and writable by this function's contract.
        unsafe { write_out(out, list) };
        Ok(())
    })
}

/// The IPv4 address of VM `vm` on its management network, e.g.
/// `"192.168.200.101"` (free with `lago_string_free`).
/// `LAGO_STATUS_NOT_FOUND` for an unknown VM or one without an address.
///
/// Ownership: `*ip_out`: written only on success; its string is the caller's:
/// free it with `lago_string_free`.
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
/// `env` must be NULL or a live `lago_env`; `vm` must be NULL or
/// NUL-terminated; `ip_out` must be NULL or writable; `err_out` must be NULL or
/// point to a readable and writable `lago_error *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_env_vm_ip(
    env: *const lago_env,
    vm: *const c_char,
    ip_out: *mut *mut c_char,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let env = unsafe { arg_env(env) }?;
        // SAFETY: forwarded from this function's contract.
        let vm = unsafe { arg_str(vm, "vm") }?;
        let out = arg_out(ip_out, "ip_out")?;
        let ip = env.with(|e| vm_ip(e, vm))?;
        let ip = owned_c_string(ip)?;
        // SAFETY: `out` is non-NULL and writable by this function's contract.
        unsafe { write_out(out, ip) };
        Ok(())
    })
}

/// The state of VM `vm` as Lago names it (`"running"`, `"down"`, ...; free
/// with `lago_string_free`). `LAGO_STATUS_NOT_FOUND` for an unknown VM.
///
/// Ownership: `*state_out`: written only on success; its string is the
/// caller's: free it with `lago_string_free`.
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
/// As `lago_env_vm_ip`, with `state_out`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_env_vm_state(
    env: *const lago_env,
    vm: *const c_char,
    state_out: *mut *mut c_char,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let env = unsafe { arg_env(env) }?;
        // SAFETY: forwarded from this function's contract.
        let vm = unsafe { arg_str(vm, "vm") }?;
        let out = arg_out(state_out, "state_out")?;
        let state = env.with(|e| Ok(e.vm_state(vm)?.as_str().to_owned()))?;
        let state = owned_c_string(state)?;
        // SAFETY: `out` is non-NULL and writable by this function's contract.
        unsafe { write_out(out, state) };
        Ok(())
    })
}

/// The status `lago status --format json` prints, as a JSON string (free
/// with `lago_string_free`).
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
pub unsafe extern "C" fn lago_env_status_json(
    env: *const lago_env,
    json_out: *mut *mut c_char,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let env = unsafe { arg_env(env) }?;
        let out = arg_out(json_out, "json_out")?;
        let json = env.with(|e| Ok(e.status()?.to_string()))?;
        let json = owned_c_string(json)?;
        // SAFETY: `out` is non-NULL and writable by this function's contract.
        unsafe { write_out(out, json) };
        Ok(())
    })
}

/// Shuts the named VMs (all when `n_vm_names` is 0) down cleanly, or with
/// `reboot` reboots them, as `lago shutdown [-r]` does: an ACPI request
/// through libvirt, then `poweroff` (or `reboot`) over SSH if the guest
/// ignores it. Waits at most `timeout_ms` milliseconds (0: 5 minutes) for
/// each VM to go down, all VMs in parallel, then stops the networks no
/// running VM uses (not on reboot). A VM that is not running is skipped.
/// `LAGO_STATUS_TIMEOUT` if a VM is still up after the timeout. Blocking;
/// thread safety: as any `lago_env` call.
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
/// As `lago_env_stop`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_env_shutdown(
    env: *const lago_env,
    vm_names: *const *const c_char,
    n_vm_names: usize,
    reboot: bool,
    timeout_ms: u64,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let env = unsafe { arg_env(env) }?;
        // SAFETY: forwarded from this function's contract.
        let names = unsafe { arg_str_list(vm_names, n_vm_names, "vm_names") }?;
        let timeout = if timeout_ms == 0 {
            defaults::SHUTDOWN_TIMEOUT
        } else {
            Duration::from_millis(timeout_ms)
        };
        env.with(|e| {
            check_vm_names(e, &names)?;
            Ok(e.shutdown(&names, reboot, timeout)?)
        })
    })
}

/// The persisted spec of the environment as JSON (free with
/// `lago_string_free`): `{"uuid": ..., "vms": {<name>: <spec>, ...},
/// "nets": {<name>: <spec>, ...}}`, VMs and networks in init-file order,
/// each spec as the prefix stores it (`virt/vm-<name>`, `virt/net-<name>`:
/// disks, NICs with their IPs, memory, metadata; type, gateway, DHCP range,
/// address mapping). Read from memory: needs no libvirt connection.
/// Thread safety: as any `lago_env` call.
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
/// As `lago_env_status_json`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_env_spec_json(
    env: *const lago_env,
    json_out: *mut *mut c_char,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let env = unsafe { arg_env(env) }?;
        let out = arg_out(json_out, "json_out")?;
        let json = env.with(|e| Ok(spec_json(e)))?;
        let json = owned_c_string(json)?;
        // SAFETY: `out` is non-NULL and writable by this function's contract.
        unsafe { write_out(out, json) };
        Ok(())
    })
}

/// The text `lago_env_spec_json` returns: lago-core's [`SpecView`].
fn spec_json(env: &Env) -> String {
    serde_json::to_string(&SpecView::of(&env.state())).unwrap_or_else(|_| "null".into())
}
