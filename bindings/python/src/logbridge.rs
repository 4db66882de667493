//! Forwards lago-core's `tracing` events to Python's `logging`.
//!
//! Events are queued by a small global subscriber and handed to
//! `logging.getLogger(<target>)` by [`flush`], which every native method
//! calls with the GIL held once the core call has returned. Core threads thus
//! never wait for the GIL (which could deadlock against a Python thread that
//! waits for a core lock), and records keep their order.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use pyo3::prelude::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Records waiting for [`flush`]: (Python level, logger name, message).
static QUEUE: Mutex<Vec<(u32, String, String)>> = Mutex::new(Vec::new());

/// At most this many records wait; older ones are dropped beyond it.
const MAX_QUEUED: usize = 10_000;

/// The subscriber that fills [`QUEUE`].
struct Bridge {
    next_id: AtomicU64,
}

/// Collects an event's message and fields as `message k=v …`.
struct Text(String);

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

/// Python's number for a tracing level.
fn py_level(level: &Level) -> u32 {
    match *level {
        Level::ERROR => 40,
        Level::WARN => 30,
        Level::INFO => 20,
        Level::DEBUG => 10,
        Level::TRACE => 5,
    }
}

impl Subscriber for Bridge {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= Level::DEBUG
    }

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        Id::from_u64(self.next_id.fetch_add(1, Ordering::Relaxed).max(1))
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let meta = event.metadata();
        if meta.target() == lago_core::progress::TARGET {
            // shown (or not) by the progress renderer, never logged
            crate::progress::event(event);
            return;
        }
        let mut text = Text(String::new());
        event.record(&mut text);
        let name = meta.target().replace("::", ".");
        if let Ok(mut q) = QUEUE.lock() {
            if q.len() >= MAX_QUEUED {
                q.remove(0);
            }
            q.push((py_level(meta.level()), name, text.0));
        }
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}

/// Installs the bridge as the process's global subscriber (once; a second
/// call, or a subscriber installed by someone else, leaves things as they are).
pub fn install() {
    let _ = tracing::subscriber::set_global_default(Bridge {
        next_id: AtomicU64::new(1),
    });
}

/// Hands the queued records to Python's `logging`.
pub fn flush(py: Python<'_>) {
    // an interrupt is raised by Python at its next check anyway
    let _ = try_flush(py);
}

/// [`flush`], returning the first exception a logging call raised that is
/// not an `Exception` (a signal handler's `KeyboardInterrupt` or
/// `SystemExit`, run by Python in the middle of the logging code): the
/// caller must not lose it. The other records are handed over all the same;
/// errors of broken handlers are dropped, as `logging` itself does.
pub fn try_flush(py: Python<'_>) -> PyResult<()> {
    let records = match QUEUE.lock() {
        Ok(mut q) if !q.is_empty() => std::mem::take(&mut *q),
        _ => return Ok(()),
    };
    let is_interrupt = |e: &PyErr| !e.is_instance_of::<pyo3::exceptions::PyException>(py);
    // the first import of `logging` runs Python code too
    let logging = match py.import("logging") {
        Ok(logging) => logging,
        Err(e) if is_interrupt(&e) => return Err(e),
        Err(_) => return Ok(()),
    };
    let mut interrupt = None;
    for (level, name, message) in records {
        let logged = logging
            .call_method1("getLogger", (name,))
            .and_then(|logger| logger.call_method1("log", (level, message)));
        if let Err(e) = logged
            && is_interrupt(&e)
            && interrupt.is_none()
        {
            interrupt = Some(e);
        }
    }
    interrupt.map_or(Ok(()), Err)
}
