//! `lago_error`: the detail of a failed call, handed to the caller through
//! the optional `lago_error **err_out` parameter of fallible functions.
//!
//! Ownership: the caller owns a `lago_error` it receives and frees it with
//! `lago_error_free`; every string an accessor returns is borrowed from the
//! error and lives until that free. Thread safety: a `lago_error` is
//! immutable; it may be read from any thread and sent between threads, and
//! freed once.
//!
//! Besides its status and message, an error carries the structured fields
//! lago knew when it failed: the VM, the file, the key path and line in a
//! LagoInitFile or configuration file, libvirt's error code, and the chain
//! of causes. Each accessor says what it returns when the field is absent.

use std::ffi::{CString, c_char};
use std::ptr;

use crate::boundary::{ErrorDetails, FfiError, arg_ref};
use crate::ffi_boundary;
use crate::status::lago_status;

/// An error reported by lago: a status code, a human-readable message and
/// optional structured fields (VM, path, key path, line, libvirt code,
/// causes). Opaque; free with `lago_error_free`.
pub struct lago_error {
    status: lago_status,
    message: CString,
    vm: Option<CString>,
    path: Option<CString>,
    key_path: Option<CString>,
    line: usize,
    libvirt_code: i32,
    causes: Vec<CString>,
}

/// `s` as a C string; interior NUL bytes, which a C string cannot hold, are
/// replaced by U+FFFD.
fn c_string(s: String) -> CString {
    CString::new(s).unwrap_or_else(|nul| {
        let cleaned = String::from_utf8_lossy(&nul.into_vec()).replace('\0', "\u{FFFD}");
        CString::new(cleaned).unwrap_or_default()
    })
}

impl lago_error {
    /// Builds the C-side error object from a boundary error.
    pub(crate) fn new(err: FfiError) -> Self {
        let (status, message, details) = err.into_parts();
        let d = details.map(|d| *d).unwrap_or_else(ErrorDetails::default);
        Self {
            status,
            message: c_string(message),
            vm: d.vm.map(c_string),
            path: d.path.map(c_string),
            key_path: d.key_path.map(c_string),
            line: d.line.unwrap_or(0),
            libvirt_code: d.libvirt_code.unwrap_or(0),
            causes: d.causes.into_iter().map(c_string).collect(),
        }
    }
}

/// Borrows the error behind `err` and reads one of its optional strings:
/// NULL for a NULL `err` or an absent field.
///
/// # Safety
///
/// `err` must be NULL or a live `lago_error`.
unsafe fn optional_str(
    err: *const lago_error,
    field: impl FnOnce(&lago_error) -> Option<&CString>,
) -> *const c_char {
    ffi_boundary!(default: ptr::null(), {
        // SAFETY: forwarded from this function's contract.
        match unsafe { arg_ref(err, "err") } {
            Ok(err) => field(err).map_or(ptr::null(), |s| s.as_ptr()),
            Err(_) => ptr::null(),
        }
    })
}

/// The status code of `err`.
///
/// Returns `LAGO_STATUS_NULL_ARGUMENT` if `err` is NULL.
///
/// Ownership: nothing returned needs freeing.
/// Errors: none; this function cannot fail.
/// Threads: any thread; `lago_error` is immutable, so concurrent calls are
/// allowed.
///
/// # Safety
///
/// `err` must be NULL or a pointer obtained from lago and not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_error_code(err: *const lago_error) -> lago_status {
    ffi_boundary!(default: lago_status::Panic, {
        // SAFETY: the caller guarantees `err` is NULL or a live lago_error.
        match unsafe { arg_ref(err, "err") } {
            Ok(err) => err.status,
            Err(e) => e.status(),
        }
    })
}

/// The message of `err`, causes included (`cannot start VM 'vm0': …`):
/// NUL-terminated UTF-8, borrowed from `err` and valid until
/// `lago_error_free(err)`. Do not free it.
///
/// Returns NULL if `err` is NULL.
///
/// Ownership: the returned pointer is borrowed from `err` and valid until `err`
/// is freed: never free it.
/// Errors: none; this function cannot fail.
/// Threads: any thread; `lago_error` is immutable, so concurrent calls are
/// allowed.
/// Strings: the returned string is NUL-terminated UTF-8.
///
/// # Safety
///
/// `err` must be NULL or a pointer obtained from lago and not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_error_message(err: *const lago_error) -> *const c_char {
    ffi_boundary!(default: ptr::null(), {
        // SAFETY: the caller guarantees `err` is NULL or a live lago_error.
        match unsafe { arg_ref(err, "err") } {
            Ok(err) => err.message.as_ptr(),
            Err(_) => ptr::null(),
        }
    })
}

/// The name of the VM the failure concerns (lago's name, e.g. `vm0`, not
/// libvirt's): NUL-terminated UTF-8, borrowed from `err` and valid until
/// `lago_error_free(err)`. Do not free it.
///
/// Returns NULL if the error names no VM, or if `err` is NULL.
///
/// Ownership: the returned pointer is borrowed from `err` and valid until `err`
/// is freed: never free it.
/// Errors: none; this function cannot fail.
/// Threads: any thread; `lago_error` is immutable, so concurrent calls are
/// allowed.
/// Strings: the returned string is NUL-terminated UTF-8.
///
/// # Safety
///
/// `err` must be NULL or a pointer obtained from lago and not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_error_vm(err: *const lago_error) -> *const c_char {
    // SAFETY: forwarded from this function's contract.
    unsafe { optional_str(err, |e| e.vm.as_ref()) }
}

/// The file or folder the failure concerns: the LagoInitFile of a spec
/// error, a configuration file, a prefix file, a local or remote path of a
/// copy. NUL-terminated UTF-8 (bytes of the path that are not UTF-8 are
/// replaced by U+FFFD), borrowed from `err` and valid until
/// `lago_error_free(err)`. Do not free it.
///
/// Returns NULL if the error names no path, or if `err` is NULL.
///
/// Ownership: the returned pointer is borrowed from `err` and valid until `err`
/// is freed: never free it.
/// Errors: none; this function cannot fail.
/// Threads: any thread; `lago_error` is immutable, so concurrent calls are
/// allowed.
/// Strings: the returned string is NUL-terminated UTF-8.
///
/// # Safety
///
/// `err` must be NULL or a pointer obtained from lago and not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_error_path(err: *const lago_error) -> *const c_char {
    // SAFETY: forwarded from this function's contract.
    unsafe { optional_str(err, |e| e.path.as_ref()) }
}

/// Where the culprit sits in the LagoInitFile or configuration file of
/// `lago_error_path`: keys joined by `.`, list indexes as `[n]`
/// (`domains.vm0.nics[1].net`; `lago.ssh_timeout` for a configuration key).
/// NUL-terminated UTF-8, borrowed from `err` and valid until
/// `lago_error_free(err)`. Do not free it.
///
/// Returns NULL if the error names no key, or if `err` is NULL.
///
/// Ownership: the returned pointer is borrowed from `err` and valid until `err`
/// is freed: never free it.
/// Errors: none; this function cannot fail.
/// Threads: any thread; `lago_error` is immutable, so concurrent calls are
/// allowed.
/// Strings: the returned string is NUL-terminated UTF-8.
///
/// # Safety
///
/// `err` must be NULL or a pointer obtained from lago and not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_error_key_path(err: *const lago_error) -> *const c_char {
    // SAFETY: forwarded from this function's contract.
    unsafe { optional_str(err, |e| e.key_path.as_ref()) }
}

/// The 1-based line of the culprit in the file of `lago_error_path`.
///
/// Returns 0 if the line is not known, or if `err` is NULL.
///
/// Ownership: nothing returned needs freeing.
/// Errors: none; this function cannot fail.
/// Threads: any thread; `lago_error` is immutable, so concurrent calls are
/// allowed.
///
/// # Safety
///
/// `err` must be NULL or a pointer obtained from lago and not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_error_line(err: *const lago_error) -> usize {
    ffi_boundary!(default: 0, {
        // SAFETY: the caller guarantees `err` is NULL or a live lago_error.
        unsafe { arg_ref(err, "err") }.map_or(0, |e| e.line)
    })
}

/// libvirt's error code for a failed libvirt call (a `virErrorNumber`, e.g.
/// 42 `VIR_ERR_NO_DOMAIN`, 38 `VIR_ERR_SYSTEM_ERROR`), usually with status
/// `LAGO_STATUS_LIBVIRT`.
///
/// Returns 0 (`VIR_ERR_OK`) if libvirt reported no code, or if `err` is
/// NULL.
///
/// Ownership: nothing returned needs freeing.
/// Errors: none; this function cannot fail.
/// Threads: any thread; `lago_error` is immutable, so concurrent calls are
/// allowed.
///
/// # Safety
///
/// `err` must be NULL or a pointer obtained from lago and not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_error_libvirt_code(err: *const lago_error) -> i32 {
    ffi_boundary!(default: 0, {
        // SAFETY: the caller guarantees `err` is NULL or a live lago_error.
        unsafe { arg_ref(err, "err") }.map_or(0, |e| e.libvirt_code)
    })
}

/// How many causes `err` has: the lower-level errors that led to it, read
/// with `lago_error_cause`. 0 for an error without causes (a bad argument),
/// or if `err` is NULL.
///
/// Ownership: nothing returned needs freeing.
/// Errors: none; this function cannot fail.
/// Threads: any thread; `lago_error` is immutable, so concurrent calls are
/// allowed.
///
/// # Safety
///
/// `err` must be NULL or a pointer obtained from lago and not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_error_cause_count(err: *const lago_error) -> usize {
    ffi_boundary!(default: 0, {
        // SAFETY: the caller guarantees `err` is NULL or a live lago_error.
        unsafe { arg_ref(err, "err") }.map_or(0, |e| e.causes.len())
    })
}

/// The message of cause `index` of `err`, outermost first: index 0 is the
/// error that directly caused this one, the last is the root cause (e.g. the
/// operating system's `No such file or directory (os error 2)` or libvirt's
/// own message). A cause that only repeats the text before it is left out.
/// NUL-terminated UTF-8, borrowed from `err` and valid until
/// `lago_error_free(err)`. Do not free it.
///
/// Returns NULL if `index` is not below `lago_error_cause_count(err)`, or if
/// `err` is NULL.
///
/// Ownership: the returned pointer is borrowed from `err` and valid until `err`
/// is freed: never free it.
/// Errors: none; this function cannot fail.
/// Threads: any thread; `lago_error` is immutable, so concurrent calls are
/// allowed.
/// Strings: the returned string is NUL-terminated UTF-8.
///
/// # Safety
///
/// `err` must be NULL or a pointer obtained from lago and not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_error_cause(err: *const lago_error, index: usize) -> *const c_char {
    // SAFETY: forwarded from this function's contract.
    unsafe { optional_str(err, |e| e.causes.get(index)) }
}

/// Frees `err` and every string borrowed from it. NULL is accepted and
/// ignored. Never fails. Call it once per error lago wrote to an `err_out`,
/// then reset the variable to NULL before passing it to another call.
///
/// Ownership: takes back what lago handed out; `err` must not be used
/// afterwards.
/// Errors: none; this function cannot fail.
/// Threads: call it once, when no other thread uses `err`.
///
/// # Safety
///
/// `err` must be NULL or a pointer obtained from lago and not yet freed;
/// it must not be used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_error_free(err: *mut lago_error) {
    ffi_boundary!(default: (), {
        if !err.is_null() {
            // SAFETY: non-NULL error pointers are only ever made by
            // `Box::into_raw` in `boundary::write_error`, and the caller
            // guarantees this one was not freed before.
            drop(unsafe { Box::from_raw(err) });
        }
    })
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use super::*;

    fn boxed(status: lago_status, message: &str) -> *mut lago_error {
        Box::into_raw(Box::new(lago_error::new(FfiError::new(status, message))))
    }

    #[test]
    fn accessors_read_code_and_message() {
        let err = boxed(lago_status::Config, "unknown network 'lago'");
        // SAFETY: `err` is a live lago_error made above, freed once at the end.
        unsafe {
            assert_eq!(lago_error_code(err), lago_status::Config);
            let msg = CStr::from_ptr(lago_error_message(err));
            assert_eq!(msg.to_str(), Ok("unknown network 'lago'"));
            lago_error_free(err);
        }
    }

    #[test]
    fn null_error_is_handled() {
        // SAFETY: NULL is an allowed argument of all three functions.
        unsafe {
            assert_eq!(lago_error_code(ptr::null()), lago_status::NullArgument);
            assert!(lago_error_message(ptr::null()).is_null());
            lago_error_free(ptr::null_mut());
        }
    }

    #[test]
    fn fields_are_absent_on_a_plain_error_and_for_null() {
        let err = boxed(lago_status::Config, "plain");
        // SAFETY: `err` is a live lago_error made above, freed once at the end;
        // NULL is an allowed argument of every accessor.
        unsafe {
            for e in [err.cast_const(), ptr::null()] {
                assert!(lago_error_vm(e).is_null());
                assert!(lago_error_path(e).is_null());
                assert!(lago_error_key_path(e).is_null());
                assert_eq!(lago_error_line(e), 0);
                assert_eq!(lago_error_libvirt_code(e), 0);
                assert_eq!(lago_error_cause_count(e), 0);
                assert!(lago_error_cause(e, 0).is_null());
            }
            lago_error_free(err);
        }
    }

    #[test]
    fn fields_of_a_core_error_are_read() {
        let core = lago_core::Error::with_source(
            lago_core::ErrorKind::Libvirt,
            "create domain d-vm0: boom",
            std::io::Error::other("root cause"),
        )
        .with_vm("vm0")
        .with_path("/w/init.yaml")
        .with_key_path("domains.vm0")
        .with_line(7)
        .with_libvirt_code(38);
        let err = Box::into_raw(Box::new(lago_error::new(FfiError::from(core))));
        let text = |p: *const c_char| {
            // SAFETY: a non-NULL result is a live string borrowed from `err`.
            (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
        };
        // SAFETY: `err` is a live lago_error made above, freed once at the end.
        unsafe {
            assert_eq!(lago_error_code(err), lago_status::Libvirt);
            assert_eq!(text(lago_error_vm(err)).as_deref(), Some("vm0"));
            assert_eq!(text(lago_error_path(err)).as_deref(), Some("/w/init.yaml"));
            assert_eq!(
                text(lago_error_key_path(err)).as_deref(),
                Some("domains.vm0")
            );
            assert_eq!(lago_error_line(err), 7);
            assert_eq!(lago_error_libvirt_code(err), 38);
            assert_eq!(lago_error_cause_count(err), 1);
            assert_eq!(
                text(lago_error_cause(err, 0)).as_deref(),
                Some("root cause")
            );
            assert!(lago_error_cause(err, 1).is_null());
            assert!(lago_error_cause(err, usize::MAX).is_null());
            lago_error_free(err);
        }
    }

    #[test]
    fn interior_nul_is_replaced() {
        let err = boxed(lago_status::Internal, "a\0b");
        // SAFETY: `err` is a live lago_error made above, freed once at the end.
        unsafe {
            let msg = CStr::from_ptr(lago_error_message(err));
            assert_eq!(msg.to_str(), Ok("a\u{FFFD}b"));
            lago_error_free(err);
        }
    }
}
