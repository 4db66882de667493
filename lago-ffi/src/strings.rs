//! Strings handed out by lago.
//!
//! Every `char *` that lago returns through an out-parameter is owned by the
//! caller and must be released with `lago_string_free`, never with `free()`:
//! it comes from Rust's allocator. Borrowed strings (`const char *` results
//! such as `lago_error_message` or `lago_version`) are never freed.

use std::ffi::{CString, c_char};

use crate::ffi_boundary;

/// Frees a string that lago returned to the caller. NULL is accepted and
/// ignored. Never fails.
///
/// Ownership: takes back what lago handed out; `s` must not be used afterwards.
/// Errors: none; this function cannot fail.
/// Threads: call it once, when no other thread uses `s`.
///
/// # Safety
///
/// `s` must be NULL or a string returned by lago as caller-owned and not yet
/// freed; it must not be used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_string_free(s: *mut c_char) {
    ffi_boundary!(default: (), {
        if !s.is_null() {
            // SAFETY: caller-owned strings are made by `CString::into_raw`
            // in lago, and the caller guarantees this one was not freed before.
            drop(unsafe { CString::from_raw(s) });
        }
    })
}

#[cfg(test)]
mod tests {
    use std::ptr;

    use super::*;

    #[test]
    fn frees_owned_string() {
        let s = CString::from(c"vm0").into_raw();
        // SAFETY: `s` comes from `CString::into_raw` and is freed once.
        unsafe { lago_string_free(s) };
    }

    #[test]
    fn null_is_ignored() {
        // SAFETY: NULL is an allowed argument.
        unsafe { lago_string_free(ptr::null_mut()) };
    }
}
