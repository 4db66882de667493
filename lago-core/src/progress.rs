//! Progress of long operations (template download and decompression,
//! export, collect, waiting for SSH) as `tracing` events.
//!
//! Every event has the target [`TARGET`] (`lago::progress`), level INFO, and
//! the fields `task` (a stable short text such as
//! `downloading template tiny:v1`), `done`, `total` (0 = unknown), `unit`
//! (`"bytes"` or `"items"`) and `finished` (bool); an operation that stops
//! early (an error, a cancel) ends with `finished = true` and
//! `aborted = true`. Events are throttled to at most one per
//! [`MIN_INTERVAL`] per task, plus the first and the final one. The core
//! renders nothing: front ends (the Python binding's bridge) turn the events
//! into bars or lines.

use std::time::{Duration, Instant};

/// The `tracing` target of progress events.
pub const TARGET: &str = "lago::progress";

/// The least time between two events of one task (the first and the final
/// event are always sent).
pub const MIN_INTERVAL: Duration = Duration::from_millis(200);

/// Test-only: with this variable set to `1`, every update is an event (no
/// throttling), and work that shows progress only once it lasts (a memory
/// save) shows it from its start, so that a test sees the lines a slow
/// download or save would give without one.
pub const TEST_UNTHROTTLED_ENV: &str = "LAGO_TEST_PROGRESS_UNTHROTTLED";

/// Whether [`TEST_UNTHROTTLED_ENV`] is set to `1`.
pub fn unthrottled() -> bool {
    static SET: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SET.get_or_init(|| std::env::var(TEST_UNTHROTTLED_ENV).as_deref() == Ok("1"))
}

/// [`MIN_INTERVAL`], or zero under [`TEST_UNTHROTTLED_ENV`].
fn default_interval() -> Duration {
    if unthrottled() {
        Duration::ZERO
    } else {
        MIN_INTERVAL
    }
}

/// What `done` and `total` count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Bytes (sizes are shown as MiB/GiB).
    Bytes,
    /// Items (disks, VMs, files).
    Items,
}

impl Unit {
    /// The `unit` field's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Bytes => "bytes",
            Unit::Items => "items",
        }
    }
}

/// One long operation's progress; sends its first event when made and a
/// final one on [`Progress::finish`] (or an aborted one when dropped
/// unfinished).
#[derive(Debug)]
pub struct Progress {
    task: String,
    unit: Unit,
    total: u64,
    done: u64,
    interval: Duration,
    last: Instant,
    finished: bool,
}

impl Progress {
    /// A task counting bytes; `total` 0 when unknown.
    pub fn bytes(task: impl Into<String>, total: u64) -> Self {
        Self::with_interval(task, Unit::Bytes, total, default_interval())
    }

    /// A task counting items.
    pub fn items(task: impl Into<String>, total: u64) -> Self {
        Self::with_interval(task, Unit::Items, total, default_interval())
    }

    /// A task with its own least interval between events.
    pub fn with_interval(
        task: impl Into<String>,
        unit: Unit,
        total: u64,
        interval: Duration,
    ) -> Self {
        let progress = Progress {
            task: task.into(),
            unit,
            total,
            done: 0,
            interval,
            last: Instant::now(),
            finished: false,
        };
        progress.emit(false, false);
        progress
    }

    /// Counts `n` more units done.
    pub fn add(&mut self, n: u64) {
        self.set(self.done.saturating_add(n));
    }

    /// Sets the units done so far.
    pub fn set(&mut self, done: u64) {
        self.done = done;
        let now = Instant::now();
        if now.duration_since(self.last) >= self.interval {
            self.last = now;
            self.emit(false, false);
        }
    }

    /// The units done so far.
    pub fn done(&self) -> u64 {
        self.done
    }

    /// Ends the task successfully: the final event, with `done` raised to
    /// `total` when a known total was not reached.
    pub fn finish(mut self) {
        self.finished = true;
        if self.total > self.done {
            self.done = self.total;
        }
        self.emit(true, false);
    }

    fn emit(&self, finished: bool, aborted: bool) {
        tracing::info!(
            target: "lago::progress",
            task = %self.task,
            done = self.done,
            total = self.total,
            unit = self.unit.as_str(),
            finished,
            aborted,
            "progress"
        );
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if !self.finished {
            self.emit(true, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    /// One captured event: target and its fields as text.
    type Captured = (String, Vec<(String, String)>);

    struct Capture(Arc<Mutex<Vec<Captured>>>);

    struct Fields(Vec<(String, String)>);

    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.push((field.name().to_owned(), format!("{value:?}")));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.push((field.name().to_owned(), value.to_owned()));
        }
    }

    impl Subscriber for Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut f = Fields(Vec::new());
            event.record(&mut f);
            if let Ok(mut v) = self.0.lock() {
                v.push((event.metadata().target().to_owned(), f.0));
            }
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    fn capture(f: impl FnOnce()) -> Vec<Captured> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        tracing::subscriber::with_default(Capture(seen.clone()), || {
            // another test's thread, with no subscriber, may have registered
            // the callsite as never interesting meanwhile: ask again
            tracing::callsite::rebuild_interest_cache();
            f()
        });
        seen.lock().map(|v| v.clone()).unwrap_or_default()
    }

    fn field<'a>(e: &'a Captured, name: &str) -> &'a str {
        e.1.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("<missing>")
    }

    #[test]
    fn events_carry_the_fields() {
        let events = capture(|| {
            let mut p = Progress::with_interval(
                "downloading template t:v1",
                Unit::Bytes,
                100,
                Duration::ZERO,
            );
            p.add(40);
            p.finish();
        });
        assert_eq!(events.len(), 3);
        for e in &events {
            assert_eq!(e.0, TARGET);
            assert_eq!(field(e, "task"), "downloading template t:v1");
            assert_eq!(field(e, "unit"), "bytes");
            assert_eq!(field(e, "total"), "100");
        }
        let done: Vec<_> = events.iter().map(|e| field(e, "done")).collect();
        assert_eq!(done, ["0", "40", "100"]);
        let fin: Vec<_> = events.iter().map(|e| field(e, "finished")).collect();
        assert_eq!(fin, ["false", "false", "true"]);
        assert_eq!(field(&events[2], "aborted"), "false");
    }

    #[test]
    fn throttled_to_first_and_final() {
        let events = capture(|| {
            let mut p = Progress::with_interval("t", Unit::Items, 0, Duration::from_secs(3600));
            for _ in 0..1000 {
                p.add(1);
            }
            p.finish();
        });
        let done: Vec<_> = events.iter().map(|e| field(e, "done")).collect();
        assert_eq!(done, ["0", "1000"]);
        assert_eq!(field(&events[1], "unit"), "items");
    }

    #[test]
    fn the_default_interval_limits_the_rate() {
        let events = capture(|| {
            let mut p = Progress::bytes("t", 0);
            for _ in 0..100_000 {
                p.add(1);
            }
            p.finish();
        });
        // far fewer events than updates, whatever the machine's speed: at
        // most one per 200 ms of the (short) loop plus first and final
        assert!(events.len() >= 2 && events.len() < 100, "{}", events.len());
    }

    #[test]
    fn dropped_unfinished_is_aborted() {
        let events = capture(|| {
            let mut p = Progress::items("t", 3);
            p.add(1);
        });
        let last = events
            .last()
            .map(|e| (field(e, "finished"), field(e, "aborted")));
        assert_eq!(last, Some(("true", "true")));
    }
}
