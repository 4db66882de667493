//! Shows lago-core's progress events (target `lago::progress`) on stderr.
//!
//! Off until [`enable`] (the CLI turns it on unless `-q`; SDK users get
//! nothing unless they ask). On a terminal each task is an `indicatif` bar;
//! otherwise plain lines `lago: <task>: 40% (10.0 MiB of 25.0 MiB)`, at most
//! one per 10 % (or per 5 s when the total is unknown or progress is slow),
//! then `lago: <task>: done`. Rendering happens on the core's thread, on
//! the process's stderr (fd 2), without the GIL.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tracing::field::{Field, Visit};

/// 0 off, 1 plain lines, 2 bars.
static MODE: AtomicU8 = AtomicU8::new(0);

/// The longest time between two plain lines of a task that advances.
const LINE_EVERY: Duration = Duration::from_secs(5);

/// What is shown of one running task.
enum Shown {
    Bar(ProgressBar),
    Lines { tenth: u64, at: Instant },
}

static TASKS: Mutex<Option<HashMap<String, Shown>>> = Mutex::new(None);

/// Turns the rendering on (bars when `bars` and stderr is a terminal, else
/// lines) or off.
pub fn enable(on: bool, bars: bool) {
    let mode = match (on, bars && std::io::stderr().is_terminal()) {
        (false, _) => 0,
        (true, false) => 1,
        (true, true) => 2,
    };
    MODE.store(mode, Ordering::Relaxed);
}

/// The fields of one progress event.
#[derive(Default)]
struct Fields {
    task: String,
    done: u64,
    total: u64,
    bytes: bool,
    finished: bool,
    aborted: bool,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "task" {
            self.task = format!("{value:?}");
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "task" => self.task = value.to_owned(),
            "unit" => self.bytes = value == "bytes",
            _ => {}
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "done" => self.done = value,
            "total" => self.total = value,
            _ => {}
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        match field.name() {
            "finished" => self.finished = value,
            "aborted" => self.aborted = value,
            _ => {}
        }
    }
}

/// `12.3 MiB` for bytes, the plain number for items.
fn amount(n: u64, bytes: bool) -> String {
    if !bytes {
        return n.to_string();
    }
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// The plain line for an unfinished task.
fn line(f: &Fields) -> String {
    if let Some(pct) = f.done.saturating_mul(100).checked_div(f.total) {
        format!(
            "lago: {}: {pct}% ({} of {})",
            f.task,
            amount(f.done, f.bytes),
            amount(f.total, f.bytes)
        )
    } else {
        format!("lago: {}: {}", f.task, amount(f.done, f.bytes))
    }
}

fn print(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
}

/// Shows one `lago::progress` event (called by the log bridge).
pub fn event(event: &tracing::Event<'_>) {
    let mode = MODE.load(Ordering::Relaxed);
    if mode == 0 {
        return;
    }
    let mut f = Fields::default();
    event.record(&mut f);
    let Ok(mut guard) = TASKS.lock() else {
        return;
    };
    let tasks = guard.get_or_insert_with(HashMap::new);
    if f.finished {
        match tasks.remove(&f.task) {
            Some(Shown::Bar(bar)) => {
                if f.aborted {
                    bar.abandon();
                } else {
                    bar.set_position(f.done);
                    bar.finish_with_message("done");
                }
            }
            _ if f.aborted => {}
            _ => print(&format!("lago: {}: done", f.task)),
        }
        return;
    }
    let tenth = f.done.saturating_mul(10).checked_div(f.total).unwrap_or(0);
    match tasks.get_mut(&f.task) {
        Some(Shown::Bar(bar)) => bar.set_position(f.done),
        Some(Shown::Lines { tenth: last, at }) => {
            if tenth > *last || at.elapsed() >= LINE_EVERY {
                *last = tenth;
                *at = Instant::now();
                print(&line(&f));
            }
        }
        None if mode == 2 => {
            let bar = ProgressBar::with_draw_target(
                (f.total > 0).then_some(f.total),
                ProgressDrawTarget::stderr(),
            );
            let template = match (f.total > 0, f.bytes) {
                (true, true) => "{prefix} [{bar:30}] {bytes}/{total_bytes} {msg}",
                (true, false) => "{prefix} [{bar:30}] {pos}/{len} {msg}",
                (false, true) => "{prefix} {spinner} {bytes} {msg}",
                (false, false) => "{prefix} {spinner} {pos} {msg}",
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(format!("lago: {}", f.task));
            bar.set_position(f.done);
            tasks.insert(f.task, Shown::Bar(bar));
        }
        None => {
            print(&line(&f));
            tasks.insert(
                f.task,
                Shown::Lines {
                    tenth,
                    at: Instant::now(),
                },
            );
        }
    }
}
