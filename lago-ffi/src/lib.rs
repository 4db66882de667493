//! `liblago`: the C ABI of lago, over `lago-core`.
//!
//! This crate only adapts: it checks C arguments, converts types, maps
//! [`lago_core::ErrorKind`] to [`lago_status`] (in `status.rs`, the one place)
//! and manages ownership of the objects it hands out. The header
//! `include/lago.h` is generated from it by a pinned cbindgen; its opening
//! conventions section is the `header` of `cbindgen.toml`, and every
//! function's comment says who frees what it returns, what happens to
//! `*err_out`, its threading rule and the encoding of its strings.
//!
//! Conventions, for every function:
//! - names are `lago_<noun>_<verb>`; objects are opaque pointers;
//! - fallible functions return `lago_status` and take an optional
//!   `lago_error **err_out` as last argument, written only on failure;
//!   `*err_out` must be NULL on entry (else `LAGO_STATUS_INVALID_ARGUMENT`,
//!   nothing done, the earlier error left in place);
//!   out-parameters are written only on success;
//! - string arguments are borrowed NUL-terminated UTF-8; strings returned as
//!   `char *` are owned by the caller and freed with `lago_string_free`;
//! - `_free` functions accept NULL and never fail;
//! - no panic crosses into C: every body runs inside
//!   [`ffi_boundary!`](crate::ffi_boundary).

#![allow(non_camel_case_types, reason = "C type names: lago_<noun>")]

pub mod boundary;
mod config;
mod env;
mod env_export;
mod env_ops;
mod env_service;
mod env_snapshot;
mod env_ssh;
mod env_vm;
mod error;
mod exec;
mod init_options;
mod list;
mod log;
#[cfg(test)]
mod misuse_tests;
mod net;
mod status;
mod strings;
mod vm;

use std::ffi::{CStr, c_char};

pub use config::{
    lago_config, lago_config_free, lago_config_get, lago_config_load_system, lago_config_new,
    lago_config_set,
};
pub use env::{
    lago_env, lago_env_clone, lago_env_destroy, lago_env_free, lago_env_init,
    lago_env_init_from_string, lago_env_load,
};
pub use env_export::{
    LAGO_EXPORT_COLLECT_ONLY, LAGO_EXPORT_COMPRESS, LAGO_EXPORT_INIT_FILE_JSON,
    LAGO_EXPORT_SEQUENTIAL, LAGO_EXPORT_SPARSIFY, LAGO_EXPORT_STANDALONE, lago_env_export,
};
pub use env_ops::{lago_env_ansible_inventory, lago_env_collect, lago_env_deploy};
pub use env_service::{
    lago_env_has_guest_agent, lago_env_service_provider, lago_env_service_set,
    lago_env_service_state, lago_service_state,
};
pub use env_snapshot::{
    LAGO_SNAPSHOT_MEMORY, lago_env_revert, lago_env_snapshot, lago_env_snapshot_flags,
    lago_env_snapshots_json,
};
pub use env_ssh::{
    lago_env_copy_from, lago_env_copy_to, lago_env_ssh, lago_env_wait_for_ssh,
    lago_env_wait_for_ssh_all,
};
pub use env_vm::{
    lago_env_net_names, lago_env_shutdown, lago_env_spec_json, lago_env_start,
    lago_env_status_json, lago_env_stop, lago_env_vm_ip, lago_env_vm_names, lago_env_vm_state,
};
pub use error::{
    lago_error, lago_error_cause, lago_error_cause_count, lago_error_code, lago_error_free,
    lago_error_key_path, lago_error_libvirt_code, lago_error_line, lago_error_message,
    lago_error_path, lago_error_vm,
};
pub use exec::{
    lago_exec_result, lago_exec_result_code, lago_exec_result_free, lago_exec_result_stderr,
    lago_exec_result_stdout,
};
pub use init_options::{
    lago_init_options, lago_init_options_free, lago_init_options_new,
    lago_init_options_set_prefix_name, lago_init_options_set_template_repo,
    lago_init_options_set_template_store,
};
pub use list::{
    lago_string_list, lago_string_list_free, lago_string_list_get, lago_string_list_len,
};
pub use log::{lago_log_fn, lago_log_level, lago_set_log_callback, lago_userdata_free_fn};
pub use net::{
    lago_env_get_net, lago_net, lago_net_free, lago_net_gateway, lago_net_is_management,
    lago_net_name,
};
pub use status::lago_status;
pub use strings::lago_string_free;
pub use vm::{lago_env_get_vm, lago_vm, lago_vm_free, lago_vm_ip, lago_vm_name, lago_vm_state};

/// The version of the lago library, e.g. `"0.1.0"`: a static string, never
/// freed. Compare with `LAGO_VERSION_MAJOR/MINOR/PATCH` to detect a library
/// older than the header a program was compiled with.
///
/// Ownership: the returned string is static: never free it.
/// Errors: none; this function cannot fail.
/// Threads: any thread.
/// Strings: the returned string is NUL-terminated UTF-8.
#[unsafe(no_mangle)]
pub extern "C" fn lago_version() -> *const c_char {
    const VERSION_C: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(version) => version,
            Err(_) => panic!("CARGO_PKG_VERSION contains a NUL byte"),
        };
    ffi_boundary!(default: VERSION_C.as_ptr(), { VERSION_C.as_ptr() })
}

/// Asks every lago operation running in this process to stop at its next
/// check and undo what it did (an init removes its half-made prefix, a start
/// stops what it started, ...); those calls then return
/// `LAGO_STATUS_CANCELLED`. Meant for a program's `SIGINT` handler. The
/// request stays until `lago_cancel_clear`, so call that once the
/// interrupted calls have returned.
///
/// Ownership: nothing is passed or returned.
/// Errors: none; this function cannot fail.
/// Threads: any thread, and async-signal-safe (it stores one atomic flag).
/// Strings: none.
#[unsafe(no_mangle)]
pub extern "C" fn lago_cancel() {
    lago_core::cancel::request();
}

/// Clears a `lago_cancel` request, so that later calls run again.
///
/// Ownership: nothing is passed or returned.
/// Errors: none; this function cannot fail.
/// Threads: any thread, and async-signal-safe.
/// Strings: none.
#[unsafe(no_mangle)]
pub extern "C" fn lago_cancel_clear() {
    lago_core::cancel::clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_equals_cargo_version() {
        // SAFETY: lago_version returns a static NUL-terminated string.
        let version = unsafe { CStr::from_ptr(lago_version()) };
        assert_eq!(version.to_str(), Ok(env!("CARGO_PKG_VERSION")));
        assert_eq!(version.to_str(), Ok(lago_core::VERSION));
    }
}

/// Checks on the committed header `include/lago.h`.
#[cfg(test)]
mod header {
    use std::path::Path;

    fn header() -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../include/lago.h");
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
    }

    fn define(header: &str, name: &str) -> Option<String> {
        header.lines().find_map(|line| {
            let mut words = line.split_whitespace();
            match (words.next(), words.next(), words.next(), words.next()) {
                (Some("#define"), Some(n), Some(value), None) if n == name => {
                    Some(value.to_owned())
                }
                _ => None,
            }
        })
    }

    #[test]
    fn version_macros_match_cargo_version() {
        let header = header();
        for (name, expected) in [
            ("LAGO_VERSION_MAJOR", env!("CARGO_PKG_VERSION_MAJOR")),
            ("LAGO_VERSION_MINOR", env!("CARGO_PKG_VERSION_MINOR")),
            ("LAGO_VERSION_PATCH", env!("CARGO_PKG_VERSION_PATCH")),
        ] {
            assert_eq!(
                define(&header, name).as_deref(),
                Some(expected),
                "{name} in include/lago.h (edit after_includes in lago-ffi/cbindgen.toml)"
            );
        }
    }

    #[test]
    fn header_declares_exports() {
        let header = header();
        for name in [
            "lago_version(void)",
            "lago_error_code(",
            "lago_error_message(",
            "lago_error_free(",
            "lago_string_free(",
            "LAGO_STATUS_PANIC = 199",
            "LAGO_STATUS_DESTROYED = 103",
            "lago_env_destroy(",
            "lago_env_ssh(",
            "lago_set_log_callback(",
            "typedef struct lago_env lago_env;",
            "lago_env_shutdown(",
            "lago_env_spec_json(",
            "lago_env_get_vm(",
            "lago_env_get_net(",
            "typedef struct lago_vm lago_vm;",
            "typedef struct lago_net lago_net;",
        ] {
            assert!(header.contains(name), "include/lago.h lacks {name}");
        }
    }
}
