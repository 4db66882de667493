//! `lago_exec_result`: the outcome of a command run in a VM over SSH.
//!
//! Ownership: `Box`; the caller frees it with `lago_exec_result_free`.
//! Thread safety: immutable; readable from any thread at once.

use std::ptr;

use lago_core::ExecResult;

use crate::boundary::arg_ref;
use crate::ffi_boundary;

/// A command's exit code, standard output and standard error. Opaque; free
/// with `lago_exec_result_free`.
pub struct lago_exec_result {
    code: i32,
    /// The bytes, then one NUL byte not counted in the length.
    stdout: Vec<u8>,
    /// The bytes, then one NUL byte not counted in the length.
    stderr: Vec<u8>,
}

impl lago_exec_result {
    pub(crate) fn new(result: ExecResult) -> Self {
        let with_nul = |mut v: Vec<u8>| {
            v.push(0);
            v
        };
        Self {
            code: result.code,
            stdout: with_nul(result.stdout),
            stderr: with_nul(result.stderr),
        }
    }
}

/// Reads one output buffer of `result` for C: its pointer, and its length
/// (without the trailing NUL) in `*len_out` when `len_out` is not NULL.
///
/// # Safety
///
/// `len_out` must be NULL or writable.
unsafe fn buffer(bytes: Option<&Vec<u8>>, len_out: *mut usize) -> *const u8 {
    let (ptr, len) = bytes.map_or((ptr::null(), 0), |b| {
        (b.as_ptr(), b.len().saturating_sub(1))
    });
    if !len_out.is_null() {
        // SAFETY: not NULL, and writable by this function's contract.
        unsafe { len_out.write(len) };
    }
    ptr
}

/// The exit status of the command (`128 + N` when killed by signal N);
/// -1 if `result` is NULL.
///
/// Ownership: nothing returned needs freeing.
/// Errors: none; this function cannot fail.
/// Threads: any thread; `lago_exec_result` is immutable, so concurrent calls
/// are allowed.
///
/// # Safety
///
/// `result` must be NULL or a live `lago_exec_result`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_exec_result_code(result: *const lago_exec_result) -> i32 {
    ffi_boundary!(default: -1, {
        // SAFETY: forwarded from this function's contract.
        unsafe { arg_ref(result, "result") }.map_or(-1, |r| r.code)
    })
}

/// The command's standard output: `*len_out` bytes (may hold NULs),
/// followed by one NUL byte not counted, so text can be used as a C string.
/// Borrowed from `result`. NULL (and length 0) if `result` is NULL.
///
/// Ownership: `*len_out` is a plain value (written when `len_out` is not
/// NULL). The returned pointer is borrowed from `result` and valid until
/// `result` is freed: never free it.
/// Errors: none; this function cannot fail.
/// Threads: any thread; `lago_exec_result` is immutable, so concurrent calls
/// are allowed.
///
/// # Safety
///
/// `result` must be NULL or a live `lago_exec_result`; `len_out` must be
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_exec_result_stdout(
    result: *const lago_exec_result,
    len_out: *mut usize,
) -> *const u8 {
    ffi_boundary!(default: ptr::null(), {
        // SAFETY: forwarded from this function's contract.
        unsafe { buffer(arg_ref(result, "result").ok().map(|r| &r.stdout), len_out) }
    })
}

/// The command's standard error, as `lago_exec_result_stdout`.
///
/// Ownership: `*len_out` is a plain value (written when `len_out` is not
/// NULL). The returned pointer is borrowed from `result` and valid until
/// `result` is freed: never free it.
/// Errors: none; this function cannot fail.
/// Threads: any thread; `lago_exec_result` is immutable, so concurrent calls
/// are allowed.
///
/// # Safety
///
/// As `lago_exec_result_stdout`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_exec_result_stderr(
    result: *const lago_exec_result,
    len_out: *mut usize,
) -> *const u8 {
    ffi_boundary!(default: ptr::null(), {
        // SAFETY: forwarded from this function's contract.
        unsafe { buffer(arg_ref(result, "result").ok().map(|r| &r.stderr), len_out) }
    })
}

/// Frees `result`. NULL is accepted and ignored. Never fails.
///
/// Ownership: takes back what lago handed out; `result` must not be used
/// afterwards.
/// Errors: none; this function cannot fail.
/// Threads: call it once, when no other thread uses `result`.
///
/// # Safety
///
/// `result` must be NULL or a result from lago, not yet freed and not used
/// afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_exec_result_free(result: *mut lago_exec_result) {
    ffi_boundary!(default: (), {
        if !result.is_null() {
            // SAFETY: results are made by `Box::into_raw` in env_vm.rs, and the
            // caller guarantees this one was not freed before.
            drop(unsafe { Box::from_raw(result) });
        }
    })
}
