//! Lago's log messages for C: `lago_set_log_callback` installs a small
//! `tracing` subscriber (once, as the process's global one) that forwards
//! each event at or above the chosen level to a C callback.
//!
//! Why a hand-written subscriber rather than `tracing-subscriber`: all it
//! must do is filter by level and format an event's fields into one line;
//! that is a few dozen lines, and avoids another dependency (and its
//! regex/sharded-slab build) in the C library.

use std::ffi::{CString, c_char, c_void};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::RwLock;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};

use crate::boundary::FfiError;
use crate::error::lago_error;
use crate::ffi_boundary;
use crate::status::lago_status;

/// The severity of a log message; a larger value is more verbose.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum lago_log_level {
    /// Something failed.
    Error = 1,
    /// Something looks wrong but lago goes on.
    Warn = 2,
    /// Progress of long operations.
    Info = 3,
    /// Details for debugging.
    Debug = 4,
    /// Everything.
    Trace = 5,
}

impl lago_log_level {
    fn from_u32(value: u32) -> Option<Self> {
        [
            Self::Error,
            Self::Warn,
            Self::Info,
            Self::Debug,
            Self::Trace,
        ]
        .into_iter()
        .find(|l| *l as u32 == value)
    }

    fn of(level: &Level) -> Self {
        match *level {
            Level::ERROR => Self::Error,
            Level::WARN => Self::Warn,
            Level::INFO => Self::Info,
            Level::DEBUG => Self::Debug,
            _ => Self::Trace,
        }
    }
}

/// A log callback: `userdata` as given to `lago_set_log_callback`, the
/// message's level, its target (the lago module, e.g. `lago_core::env`) and
/// the message, both NUL-terminated UTF-8 and valid only during the call.
/// Called from any thread, possibly from several at once; it must not call
/// `lago_set_log_callback`.
pub type lago_log_fn = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        level: lago_log_level,
        target: *const c_char,
        message: *const c_char,
    ),
>;

/// Frees the `userdata` of a log callback once lago no longer uses it.
pub type lago_userdata_free_fn = Option<unsafe extern "C" fn(userdata: *mut c_void)>;

/// The installed callback and its user data.
struct Sink {
    max_level: lago_log_level,
    callback: unsafe extern "C" fn(*mut c_void, lago_log_level, *const c_char, *const c_char),
    userdata: *mut c_void,
    userdata_free: lago_userdata_free_fn,
}

// SAFETY: `lago_set_log_callback` requires the callback and its user data
// to be usable from any thread, concurrently; lago only passes the pointer on.
unsafe impl Send for Sink {}
// SAFETY: as for Send: the sink is only read, and the caller vouches for
// concurrent calls.
unsafe impl Sync for Sink {}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Some(free) = self.userdata_free {
            // SAFETY: the caller gave this finalizer for this user data; the
            // sink is dropped once, after its last use.
            unsafe { free(self.userdata) };
        }
    }
}

static SINK: RwLock<Option<Arc<Sink>>> = RwLock::new(None);
static INSTALLED: OnceLock<bool> = OnceLock::new();

fn current_sink() -> Option<Arc<Sink>> {
    SINK.read().clone()
}

/// Formats an event's fields: the message, then ` key=value` pairs.
#[derive(Default)]
struct Line {
    message: String,
    fields: String,
}

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

/// The subscriber that forwards events to the C callback.
struct Forwarder {
    next_span: AtomicU64,
}

impl Subscriber for Forwarder {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        // The level can change at any time: ask `enabled` each time.
        Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        SINK.read()
            .as_ref()
            .is_some_and(|s| lago_log_level::of(metadata.level()) <= s.max_level)
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed).max(1))
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let Some(sink) = current_sink() else { return };
        let level = lago_log_level::of(event.metadata().level());
        if level > sink.max_level {
            return;
        }
        let mut line = Line::default();
        event.record(&mut line);
        line.message.push_str(&line.fields);
        let clean = |s: String| CString::new(s.replace('\0', "\u{FFFD}")).unwrap_or_default();
        let target = clean(event.metadata().target().to_owned());
        let message = clean(line.message);
        // SAFETY: the caller of lago_set_log_callback guarantees the callback
        // may be called from any thread with its user data; the strings live
        // until after the call.
        unsafe { (sink.callback)(sink.userdata, level, target.as_ptr(), message.as_ptr()) };
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// Sends lago's log messages at `max_level` (a `LAGO_LOG_LEVEL_*` value) or
/// more severe to `callback`, replacing any previous callback (whose
/// `userdata_free` then runs, once no call uses it). A NULL `callback`
/// turns forwarding off. `userdata_free` (may be NULL) runs when lago drops
/// `userdata`. The first call installs lago's `tracing` subscriber as the
/// process's global one; it fails with `LAGO_STATUS_INTERNAL` if another was
/// installed first.
///
/// Ownership: nothing returned needs freeing.
/// Errors: on failure, a new `lago_error` is stored in `*err_out` if `err_out`
/// is not NULL (the caller frees it with `lago_error_free`); on success
/// `*err_out` is untouched. `*err_out` must be NULL on entry, else the call
/// does nothing and returns `LAGO_STATUS_INVALID_ARGUMENT`.
/// Threads: any thread.
///
/// # Safety
///
/// `callback` and `userdata_free` must be NULL or functions safe to call
/// from any thread, concurrently, with `userdata`; `err_out` must be NULL or
/// point to a readable and writable `lago_error *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_set_log_callback(
    max_level: u32,
    callback: lago_log_fn,
    userdata: *mut c_void,
    userdata_free: lago_userdata_free_fn,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        let max_level = lago_log_level::from_u32(max_level).ok_or_else(|| {
            FfiError::new(
                lago_status::InvalidArgument,
                format!("max_level {max_level} is not a LAGO_LOG_LEVEL_* value (1 to 5)"),
            )
        })?;
        let installed = *INSTALLED.get_or_init(|| {
            tracing::subscriber::set_global_default(Forwarder {
                next_span: AtomicU64::new(1),
            })
            .is_ok()
        });
        if !installed {
            return Err(FfiError::new(
                lago_status::Internal,
                "another tracing subscriber is already the process's global one",
            ));
        }
        let sink = callback.map(|callback| {
            Arc::new(Sink {
                max_level,
                callback,
                userdata,
                userdata_free,
            })
        });
        // The old sink is dropped outside the lock (its finalizer is C code).
        let old = std::mem::replace(&mut *SINK.write(), sink);
        drop(old);
        Ok(())
    })
}
