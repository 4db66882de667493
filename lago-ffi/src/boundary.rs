//! The boundary between C callers and Rust: every exported function body runs
//! inside [`ffi_boundary!`](crate::ffi_boundary), and reads its pointer
//! arguments through the checked helpers here.
//!
//! The boundary guarantees that:
//! - no panic unwinds into C: it is caught and reported as
//!   `LAGO_STATUS_PANIC` (or the function's documented default value);
//! - a NULL where a value is required is `LAGO_STATUS_NULL_ARGUMENT`, and a
//!   string that is not UTF-8 is `LAGO_STATUS_INVALID_UTF8`, never UB or a
//!   panic;
//! - a failure writes a `lago_error` to `*err_out` when `err_out` is not NULL,
//!   and leaves it untouched on success;
//! - a `*err_out` that is not NULL on entry (an earlier error not freed and
//!   reset, or an uninitialised variable) is refused before any work with
//!   `LAGO_STATUS_INVALID_ARGUMENT` and left as it is: an error is never
//!   overwritten, so never leaked, and a garbage pointer is never freed.

use std::any::Any;
use std::ffi::{CStr, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::error::lago_error;
use crate::status::lago_status;

/// A failure on its way to a C caller: the status to return, the message
/// and the structured fields to put in the `lago_error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FfiError {
    status: lago_status,
    message: String,
    details: Option<Box<ErrorDetails>>,
}

/// The structured fields of a core error, as the C accessors give them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorDetails {
    /// `lago_error_vm`.
    pub vm: Option<String>,
    /// `lago_error_path` (a path that is not UTF-8 is converted lossily).
    pub path: Option<String>,
    /// `lago_error_key_path`.
    pub key_path: Option<String>,
    /// `lago_error_line`.
    pub line: Option<usize>,
    /// `lago_error_libvirt_code`.
    pub libvirt_code: Option<i32>,
    /// `lago_error_cause`, outermost first.
    pub causes: Vec<String>,
}

impl FfiError {
    /// A failure with `status` and `message`.
    pub fn new(status: lago_status, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            details: None,
        }
    }

    /// The structured fields, if the failure came from a core error.
    pub fn details(&self) -> Option<&ErrorDetails> {
        self.details.as_deref()
    }

    /// The status code the exported function returns.
    pub fn status(&self) -> lago_status {
        self.status
    }

    /// The message the caller reads with `lago_error_message`.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn into_parts(self) -> (lago_status, String, Option<Box<ErrorDetails>>) {
        (self.status, self.message, self.details)
    }

    fn from_panic(payload: &(dyn Any + Send)) -> Self {
        let detail = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("unknown cause");
        Self::new(lago_status::Panic, format!("lago panicked: {detail}"))
    }
}

impl From<lago_core::Error> for FfiError {
    /// The status of the error's kind, its full message (causes included,
    /// as lago has always reported it) and its structured fields.
    fn from(err: lago_core::Error) -> Self {
        let details = ErrorDetails {
            vm: err.vm().map(str::to_owned),
            path: err.path().map(|p| p.to_string_lossy().into_owned()),
            key_path: err.key_path().map(str::to_owned),
            line: err.line(),
            libvirt_code: err.libvirt_code(),
            causes: err.causes(),
        };
        Self {
            status: err.kind().into(),
            message: err.full_message(),
            details: Some(Box::new(details)),
        }
    }
}

/// Borrows the object behind a pointer argument named `name`.
///
/// # Errors
///
/// `LAGO_STATUS_NULL_ARGUMENT` if `ptr` is NULL.
///
/// # Safety
///
/// `ptr` must be NULL or point to a live `T` that is not mutated for `'a`.
pub unsafe fn arg_ref<'a, T>(ptr: *const T, name: &str) -> Result<&'a T, FfiError> {
    // SAFETY: the caller guarantees a non-NULL `ptr` points to a live `T`
    // that stays unchanged for 'a.
    unsafe { ptr.as_ref() }.ok_or_else(|| null_argument(name))
}

/// Borrows a NUL-terminated UTF-8 string argument named `name`.
///
/// # Errors
///
/// `LAGO_STATUS_NULL_ARGUMENT` if `ptr` is NULL, `LAGO_STATUS_INVALID_UTF8`
/// if the bytes are not UTF-8.
///
/// # Safety
///
/// `ptr` must be NULL or point to a NUL-terminated string that stays valid
/// and unchanged for `'a`.
pub unsafe fn arg_str<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, FfiError> {
    if ptr.is_null() {
        return Err(null_argument(name));
    }
    // SAFETY: `ptr` is not NULL, and the caller guarantees it points to a
    // NUL-terminated string valid for 'a.
    let bytes = unsafe { CStr::from_ptr(ptr) };
    bytes.to_str().map_err(|e| {
        FfiError::new(
            lago_status::InvalidUtf8,
            format!(
                "argument `{name}` is not valid UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )
    })
}

/// Borrows a list of `n` NUL-terminated UTF-8 strings named `name`. A NULL
/// `items` with `n == 0` is the empty list.
///
/// # Errors
///
/// `LAGO_STATUS_NULL_ARGUMENT` if `items` is NULL while `n > 0` or an item is
/// NULL, `LAGO_STATUS_INVALID_UTF8` if an item is not UTF-8.
///
/// # Safety
///
/// `items` must be NULL or point to `n` pointers, each NULL or a
/// NUL-terminated string, all valid for the call.
pub unsafe fn arg_str_list(
    items: *const *const c_char,
    n: usize,
    name: &str,
) -> Result<Vec<String>, FfiError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    if items.is_null() {
        return Err(null_argument(name));
    }
    // SAFETY: `items` is not NULL and the caller guarantees it points to `n`
    // readable pointers.
    let items = unsafe { std::slice::from_raw_parts(items, n) };
    items
        .iter()
        .enumerate()
        .map(|(i, &item)| {
            // SAFETY: the caller guarantees each item is NULL or a valid string.
            unsafe { arg_str(item, &format!("{name}[{i}]")) }.map(str::to_owned)
        })
        .collect()
}

/// Checks an out-parameter named `name` before any work is done, so that a
/// NULL is reported without side effects. Write it with [`write_out`].
///
/// # Errors
///
/// `LAGO_STATUS_NULL_ARGUMENT` if `ptr` is NULL.
pub fn arg_out<T>(ptr: *mut T, name: &str) -> Result<*mut T, FfiError> {
    if ptr.is_null() {
        Err(null_argument(name))
    } else {
        Ok(ptr)
    }
}

/// Writes `value` to an out-parameter checked by [`arg_out`].
///
/// # Safety
///
/// `ptr` must be non-NULL and valid for writing one `T`.
pub unsafe fn write_out<T>(ptr: *mut T, value: T) {
    // SAFETY: forwarded from this function's contract.
    unsafe { ptr.write(value) };
}

/// A caller-owned C string (freed with `lago_string_free`) holding `s`.
///
/// # Errors
///
/// `LAGO_STATUS_INTERNAL` if `s` holds a NUL byte.
pub fn owned_c_string(s: impl Into<Vec<u8>>) -> Result<*mut c_char, FfiError> {
    std::ffi::CString::new(s)
        .map(std::ffi::CString::into_raw)
        .map_err(|_| FfiError::new(lago_status::Internal, "a result string holds a NUL byte"))
}

fn null_argument(name: &str) -> FfiError {
    FfiError::new(
        lago_status::NullArgument,
        format!("argument `{name}` must not be NULL"),
    )
}

/// Hands `err` to the caller through `err_out`, or drops it if `err_out` is
/// NULL.
///
/// # Safety
///
/// `err_out` must be NULL or point to a readable and writable `lago_error *`.
pub unsafe fn write_error(err_out: *mut *mut lago_error, err: FfiError) {
    if err_out.is_null() {
        return;
    }
    let boxed = Box::into_raw(Box::new(lago_error::new(err)));
    // SAFETY: `err_out` is not NULL and the caller guarantees it is writable.
    unsafe { err_out.write(boxed) };
}

/// Runs the body of a fallible exported function: see
/// [`ffi_boundary!`](crate::ffi_boundary). A `*err_out` that is not NULL on
/// entry is refused with `LAGO_STATUS_INVALID_ARGUMENT` before `body` runs,
/// and left untouched.
///
/// # Safety
///
/// `err_out` must be NULL or valid for reading and writing one pointer.
#[doc(hidden)]
pub unsafe fn run_fallible<F>(err_out: *mut *mut lago_error, body: F) -> lago_status
where
    F: FnOnce() -> Result<(), FfiError>,
{
    // SAFETY: the caller guarantees a non-NULL `err_out` is readable.
    if !err_out.is_null() && !unsafe { err_out.read() }.is_null() {
        return lago_status::InvalidArgument;
    }
    let err = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => return lago_status::Ok,
        Ok(Err(err)) => err,
        Err(payload) => FfiError::from_panic(payload.as_ref()),
    };
    let status = err.status();
    // SAFETY: forwarded from this function's own contract.
    unsafe { write_error(err_out, err) };
    status
}

/// Runs the body of an infallible exported function: see
/// [`ffi_boundary!`](crate::ffi_boundary).
#[doc(hidden)]
pub fn run_or_default<T, F>(default: T, body: F) -> T
where
    F: FnOnce() -> T,
{
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(default)
}

/// Wraps the body of an exported function.
///
/// - `ffi_boundary!(err_out, { ... })`: the body returns
///   `Result<(), FfiError>` (so `?` works on core results); the macro returns
///   `lago_status`, writing a `lago_error` to `err_out` on failure or panic.
///   Use it only in an `unsafe extern "C" fn` whose `# Safety` section
///   requires `err_out` to be NULL or valid for writing one pointer.
/// - `ffi_boundary!(default: VALUE, { ... })`: for functions that cannot fail
///   (accessors, `_free`); returns the body's value, or `VALUE` on panic.
#[macro_export]
macro_rules! ffi_boundary {
    (default: $default:expr, $body:block) => {
        $crate::boundary::run_or_default($default, || $body)
    };
    ($err_out:expr, $body:block) => {{
        // Built outside the unsafe block, so the body gets no unsafe context.
        let body = || -> ::core::result::Result<(), $crate::boundary::FfiError> { $body };
        let err_out = $err_out;
        // SAFETY: this macro is only used in exported functions whose contract
        // makes `err_out` NULL or valid for writing one pointer.
        unsafe { $crate::boundary::run_fallible(err_out, body) }
    }};
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;
    use std::ptr;

    use lago_core::{Error, ErrorKind};

    use super::*;
    use crate::error::{lago_error_code, lago_error_free, lago_error_message};

    /// A fallible function shaped like the real exports: it takes a string,
    /// fails with a core error on "missing", panics on "panic".
    ///
    /// # Safety
    ///
    /// `name` must be NULL or a NUL-terminated string; `err_out` must be NULL
    /// or writable.
    unsafe extern "C" fn probe(name: *const c_char, err_out: *mut *mut lago_error) -> lago_status {
        ffi_boundary!(err_out, {
            // SAFETY: forwarded from this function's contract.
            let name = unsafe { arg_str(name, "name") }?;
            match name {
                "missing" => Err(Error::new(ErrorKind::NotFound, "no VM named 'missing'").into()),
                "panic" => panic!("probe asked to panic"),
                _ => Ok(()),
            }
        })
    }

    /// Calls `probe` and returns its status and the message of its error.
    fn call(name: *const c_char) -> (lago_status, Option<String>) {
        let mut err: *mut lago_error = ptr::null_mut();
        // SAFETY: `name` is NULL or a C string from the tests; `err` is writable.
        let status = unsafe { probe(name, &mut err) };
        if err.is_null() {
            return (status, None);
        }
        // SAFETY: `err` was just written by lago and is freed once here.
        unsafe {
            assert_eq!(lago_error_code(err), status);
            let msg = CStr::from_ptr(lago_error_message(err))
                .to_string_lossy()
                .into_owned();
            lago_error_free(err);
            (status, Some(msg))
        }
    }

    #[test]
    fn success_leaves_err_out_untouched() {
        assert_eq!(call(c"vm0".as_ptr()), (lago_status::Ok, None));
    }

    #[test]
    fn null_string_is_reported() {
        let (status, msg) = call(ptr::null());
        assert_eq!(status, lago_status::NullArgument);
        assert_eq!(msg.as_deref(), Some("argument `name` must not be NULL"));
    }

    #[test]
    fn invalid_utf8_is_reported() {
        let bad = c"vm\xff0";
        let (status, msg) = call(bad.as_ptr());
        assert_eq!(status, lago_status::InvalidUtf8);
        assert!(msg.is_some_and(|m| m.contains("offset 2")));
    }

    #[test]
    fn core_error_maps_kind_and_message() {
        let (status, msg) = call(c"missing".as_ptr());
        assert_eq!(status, lago_status::NotFound);
        assert_eq!(msg.as_deref(), Some("no VM named 'missing'"));
    }

    #[test]
    fn panic_is_caught() {
        let (status, msg) = call(c"panic".as_ptr());
        assert_eq!(status, lago_status::Panic);
        assert_eq!(msg.as_deref(), Some("lago panicked: probe asked to panic"));
    }

    #[test]
    fn an_error_left_in_err_out_is_refused_and_kept() {
        let earlier = Box::into_raw(Box::new(lago_error::new(FfiError::new(
            lago_status::Config,
            "earlier",
        ))));
        let mut err = earlier;
        // SAFETY: a C string literal and a writable, readable err_out.
        let status = unsafe { probe(c"missing".as_ptr(), &mut err) };
        assert_eq!(status, lago_status::InvalidArgument);
        assert_eq!(err, earlier, "the earlier error is left in place");
        // SAFETY: `err` is the live error made above, freed once here.
        unsafe {
            assert_eq!(lago_error_code(err), lago_status::Config);
            lago_error_free(err);
        }
        // The body did not run: a panicking call is refused the same way.
        let mut garbage = ptr::NonNull::<lago_error>::dangling().as_ptr();
        // SAFETY: as above; the dangling pointer is never dereferenced.
        let status = unsafe { probe(c"panic".as_ptr(), &mut garbage) };
        assert_eq!(status, lago_status::InvalidArgument);
    }

    #[test]
    fn core_fields_reach_the_ffi_error() {
        let err = FfiError::from(
            Error::new(ErrorKind::Libvirt, "create domain d-vm0: boom")
                .with_vm("vm0")
                .with_libvirt_code(38),
        );
        let details = err.details().expect("core errors carry details");
        assert_eq!(details.vm.as_deref(), Some("vm0"));
        assert_eq!(details.libvirt_code, Some(38));
        assert_eq!(details.path, None);
    }

    #[test]
    fn null_err_out_is_allowed() {
        // SAFETY: a C string literal and a NULL err_out are valid arguments.
        let status = unsafe { probe(c"missing".as_ptr(), ptr::null_mut()) };
        assert_eq!(status, lago_status::NotFound);
    }

    #[test]
    fn default_form_returns_default_on_panic() {
        let value = ffi_boundary!(default: -1, {
            let items: Vec<i32> = Vec::new();
            // Index out of bounds on purpose: a panic in a body.
            items[usize::from(items.is_empty())]
        });
        assert_eq!(value, -1);
        assert_eq!(ffi_boundary!(default: -1, { 7 }), 7);
    }

    #[test]
    fn arg_ref_rejects_null() {
        // SAFETY: NULL is an allowed argument.
        let err = unsafe { arg_ref::<u32>(ptr::null(), "vm") }.expect_err("NULL must fail");
        assert_eq!(err.status(), lago_status::NullArgument);
        let value = 5_u32;
        // SAFETY: `value` lives for the whole call.
        assert_eq!(unsafe { arg_ref(&value, "vm") }, Ok(&5));
    }
}
