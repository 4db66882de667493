//! `lago_error`: the detail of a failed call, handed to the caller through
//! the optional `lago_error **err_out` parameter of fallible functions.
//!
//! Ownership: the caller owns a `lago_error` it receives and frees it with
//! `lago_error_free`. Thread safety: a `lago_error` is immutable; it may be
//! read from any thread and sent between threads, and freed once.

use std::ffi::{CString, c_char};
use std::ptr;

use crate::boundary::{FfiError, arg_ref};
use crate::ffi_boundary;
use crate::status::lago_status;

/// An error reported by lago: a status code and a human-readable message.
/// Opaque; free with `lago_error_free`.
pub struct lago_error {
    status: lago_status,
    message: CString,
}

impl lago_error {
    /// Builds the C-side error object from a boundary error. Interior NUL
    /// bytes, which a C string cannot hold, are replaced.
    pub(crate) fn new(err: FfiError) -> Self {
        let (status, message) = err.into_parts();
        let message = CString::new(message).unwrap_or_else(|nul| {
            let cleaned = String::from_utf8_lossy(&nul.into_vec()).replace('\0', "\u{FFFD}");
            CString::new(cleaned).unwrap_or_default()
        });
        Self { status, message }
    }
}

/// The status code of `err`.
///
/// Returns `LAGO_STATUS_NULL_ARGUMENT` if `err` is NULL.
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

/// The message of `err`: NUL-terminated UTF-8, borrowed from `err` and valid
/// until `lago_error_free(err)`. Do not free it.
///
/// Returns NULL if `err` is NULL.
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

/// Frees `err`. NULL is accepted and ignored. Never fails.
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
