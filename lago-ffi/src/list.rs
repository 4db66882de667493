//! `lago_string_list`: a list of strings lago returns (VM names, net names).
//!
//! Ownership: `Box`; the caller frees it with `lago_string_list_free`.
//! Thread safety: immutable; readable from any thread at once.

use std::ffi::{CString, c_char};
use std::ptr;

use crate::boundary::{FfiError, arg_ref};
use crate::ffi_boundary;
use crate::status::lago_status;

/// A list of strings. Opaque; free with `lago_string_list_free`.
pub struct lago_string_list {
    items: Vec<CString>,
}

impl lago_string_list {
    /// A boxed list of `items`, handed to C.
    pub(crate) fn into_raw(items: Vec<String>) -> Result<*mut Self, FfiError> {
        let items = items
            .into_iter()
            .map(CString::new)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| FfiError::new(lago_status::Internal, "a list item holds a NUL byte"))?;
        Ok(Box::into_raw(Box::new(Self { items })))
    }
}

/// The number of strings in `list` (0 if `list` is NULL).
///
/// Ownership: nothing returned needs freeing.
/// Errors: none; this function cannot fail.
/// Threads: any thread; `lago_string_list` is immutable, so concurrent calls
/// are allowed.
///
/// # Safety
///
/// `list` must be NULL or a live `lago_string_list`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_string_list_len(list: *const lago_string_list) -> usize {
    ffi_boundary!(default: 0, {
        // SAFETY: forwarded from this function's contract.
        unsafe { arg_ref(list, "list") }.map_or(0, |l| l.items.len())
    })
}

/// String `index` of `list`, borrowed from the list (valid until
/// `lago_string_list_free`); NULL if `list` is NULL or `index` is out of
/// range.
///
/// Ownership: the returned pointer is borrowed from `list` and valid until
/// `list` is freed: never free it.
/// Errors: none; this function cannot fail.
/// Threads: any thread; `lago_string_list` is immutable, so concurrent calls
/// are allowed.
/// Strings: the returned string is NUL-terminated UTF-8.
///
/// # Safety
///
/// `list` must be NULL or a live `lago_string_list`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_string_list_get(
    list: *const lago_string_list,
    index: usize,
) -> *const c_char {
    ffi_boundary!(default: ptr::null(), {
        // SAFETY: forwarded from this function's contract.
        unsafe { arg_ref(list, "list") }
            .ok()
            .and_then(|l| l.items.get(index))
            .map_or(ptr::null(), |s| s.as_ptr())
    })
}

/// Frees `list`. NULL is accepted and ignored. Never fails.
///
/// Ownership: takes back what lago handed out; `list` must not be used
/// afterwards.
/// Errors: none; this function cannot fail.
/// Threads: call it once, when no other thread uses `list`.
///
/// # Safety
///
/// `list` must be NULL or a list from lago, not yet freed and not used
/// afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_string_list_free(list: *mut lago_string_list) {
    ffi_boundary!(default: (), {
        if !list.is_null() {
            // SAFETY: lists are made by `Box::into_raw` in `into_raw`, and the
            // caller guarantees this one was not freed before.
            drop(unsafe { Box::from_raw(list) });
        }
    })
}
