//! Services of a `lago_env`'s VMs (Lago's `vm.service(name)`): the guest's
//! service manager, detected once and kept in the VM's spec, a service's
//! state, start and stop, and the guest agent. Every call talks to the
//! guest over SSH, so the VM must be running. Thread safety: see `env.rs`
//! (any thread, concurrently).

use std::ffi::c_char;

use lago_core::ServiceState;

use crate::boundary::{arg_out, arg_str, write_out};
use crate::env::{arg_env, lago_env};
use crate::env_vm::check_vm_names;
use crate::error::lago_error;
use crate::ffi_boundary;
use crate::status::lago_status;
use crate::vm::write_string;

/// The state of a service in a guest, with Lago's `ServiceState` values.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum lago_service_state {
    /// The guest has no such service.
    Missing = 0,
    /// The service exists and is not running.
    Inactive = 1,
    /// The service is running.
    Active = 2,
}

impl From<ServiceState> for lago_service_state {
    fn from(s: ServiceState) -> Self {
        match s {
            ServiceState::Missing => Self::Missing,
            ServiceState::Inactive => Self::Inactive,
            ServiceState::Active => Self::Active,
        }
    }
}

/// Writes the service manager of VM `vm` to `*provider_out` (`"systemd"`
/// or `"sysvinit"`, free with `lago_string_free`): the one in its spec,
/// else detected over SSH and kept as `service_provider` in the spec.
/// `LAGO_STATUS_NOT_FOUND` for an unknown VM or a guest with neither;
/// `LAGO_STATUS_INVALID_ARGUMENT` if the VM is not running.
///
/// Ownership: `*provider_out`: written only on success; its string is the
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
/// `env` must be NULL or a live `lago_env`; `vm` must be NULL or
/// NUL-terminated; `provider_out` must be NULL or writable; `err_out` must be
/// NULL or point to a readable and writable `lago_error *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_env_service_provider(
    env: *const lago_env,
    vm: *const c_char,
    provider_out: *mut *mut c_char,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let env = unsafe { arg_env(env) }?;
        // SAFETY: forwarded from this function's contract.
        let vm = unsafe { arg_str(vm, "vm") }?;
        let out = arg_out(provider_out, "provider_out")?;
        let name = env.with(|e| {
            check_vm_names(e, &[vm.to_string()])?;
            Ok(e.service_provider(vm)?.name())
        })?;
        // SAFETY: `out` is non-NULL and writable by this function's contract.
        unsafe { write_string(out, name.to_string()) }
    })
}

/// Writes the state of service `service` in VM `vm` to `*state_out`
/// (`LAGO_SERVICE_STATE_MISSING` when the guest has no such service).
/// Errors as `lago_env_service_provider`, and `LAGO_STATUS_INVALID_ARGUMENT`
/// for a service name that is not a plain unit or script name.
///
/// Ownership: `*state_out`: a plain value, written only on success.
/// Errors: on failure, a new `lago_error` is stored in `*err_out` if `err_out`
/// is not NULL (the caller frees it with `lago_error_free`); on success
/// `*err_out` is untouched. `*err_out` must be NULL on entry, else the call
/// does nothing and returns `LAGO_STATUS_INVALID_ARGUMENT`.
/// Threads: any thread; calls on one `lago_env` may run concurrently.
/// Strings: arguments are NUL-terminated UTF-8, borrowed for the call only.
///
/// # Safety
///
/// As `lago_env_service_provider`; `service` must be NULL or
/// NUL-terminated; `state_out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_env_service_state(
    env: *const lago_env,
    vm: *const c_char,
    service: *const c_char,
    state_out: *mut lago_service_state,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let env = unsafe { arg_env(env) }?;
        // SAFETY: forwarded from this function's contract.
        let vm = unsafe { arg_str(vm, "vm") }?;
        // SAFETY: forwarded from this function's contract.
        let service = unsafe { arg_str(service, "service") }?;
        let out = arg_out(state_out, "state_out")?;
        let state = env.with(|e| {
            check_vm_names(e, &[vm.to_string()])?;
            Ok(e.service(vm, service)?.state()?)
        })?;
        // SAFETY: `out` is non-NULL and writable by this function's contract.
        unsafe { write_out(out, state.into()) };
        Ok(())
    })
}

/// Starts (`start` true) or stops service `service` in VM `vm`.
/// `LAGO_STATUS_NOT_FOUND` if the guest has no such service; other errors
/// as `lago_env_service_state`.
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
/// As `lago_env_service_state` (without `state_out`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_env_service_set(
    env: *const lago_env,
    vm: *const c_char,
    service: *const c_char,
    start: bool,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let env = unsafe { arg_env(env) }?;
        // SAFETY: forwarded from this function's contract.
        let vm = unsafe { arg_str(vm, "vm") }?;
        // SAFETY: forwarded from this function's contract.
        let service = unsafe { arg_str(service, "service") }?;
        env.with(|e| {
            check_vm_names(e, &[vm.to_string()])?;
            let svc = e.service(vm, service)?;
            if start {
                svc.start()?
            } else {
                svc.stop()?
            }
            Ok(())
        })
    })
}

/// Writes to `*has_agent_out` whether VM `vm` has a guest agent service
/// (`qemu-guest-agent` or `qemu-ga`); the one found is kept as
/// `guest-agent` in the VM's spec. Failing to ask (VM down, SSH) is an
/// error, not `false`.
///
/// Ownership: `*has_agent_out`: a plain value, written only on success.
/// Errors: on failure, a new `lago_error` is stored in `*err_out` if `err_out`
/// is not NULL (the caller frees it with `lago_error_free`); on success
/// `*err_out` is untouched. `*err_out` must be NULL on entry, else the call
/// does nothing and returns `LAGO_STATUS_INVALID_ARGUMENT`.
/// Threads: any thread; calls on one `lago_env` may run concurrently.
/// Strings: arguments are NUL-terminated UTF-8, borrowed for the call only.
///
/// # Safety
///
/// As `lago_env_service_provider`; `has_agent_out` must be NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_env_has_guest_agent(
    env: *const lago_env,
    vm: *const c_char,
    has_agent_out: *mut bool,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let env = unsafe { arg_env(env) }?;
        // SAFETY: forwarded from this function's contract.
        let vm = unsafe { arg_str(vm, "vm") }?;
        let out = arg_out(has_agent_out, "has_agent_out")?;
        let found = env.with(|e| {
            check_vm_names(e, &[vm.to_string()])?;
            Ok(e.has_guest_agent(vm)?)
        })?;
        // SAFETY: `out` is non-NULL and writable by this function's contract.
        unsafe { write_out(out, found) };
        Ok(())
    })
}
