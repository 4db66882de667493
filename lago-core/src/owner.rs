//! Which lago process owns something on disk (a prefix being made, a
//! prefix's writer lock), and whether that process is still alive.
//!
//! An owner is a pid plus the process's start time (field 22 of
//! `/proc/<pid>/stat`, in clock ticks since boot), so a pid the kernel has
//! since given to another process is not mistaken for the owner. Owners are
//! stored as one line of JSON, `{"pid": 1234, "start_time": 5678, "verb":
//! "init"}`; a file that does not parse names no owner (and so no live one).
//!
//! Also here: the test-only pause hook. When the environment variable
//! `LAGO_TEST_PAUSE` names a phase (e.g. `init:materialize`, or
//! `<verb>:locked` right after a verb took its prefix's writer lock), the
//! process prints `LAGO_TEST_PAUSED <phase> <pid>` on stderr when it
//! reaches that phase and blocks there until its standard input closes (or
//! it is killed), so a fault test can signal lago at an exact point and then
//! let it go on. It is for the fault tests only; nothing else sets it.
//!
//! [`phase`] is what the verbs call at each named phase: the pause hook,
//! then a cancel check ([`crate::cancel::check`]), so an interrupt (Ctrl-C)
//! stops a verb at its next phase boundary and goes through the verb's
//! failure path (docs/crash-consistency.md lists the phases and what a
//! cancel undoes at each).

use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The test-only variable naming the phase to pause at (see module docs).
pub const TEST_PAUSE_VAR: &str = "LAGO_TEST_PAUSE";

/// A process that owns something, and what it was doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// Its pid.
    pub pid: u32,
    /// Its start time (clock ticks after boot), `/proc/<pid>/stat` field 22.
    pub start_time: u64,
    /// The lago verb it ran (`init`, `start`, ...).
    pub verb: String,
}

impl Owner {
    /// This process, running `verb`.
    pub fn current(verb: &str) -> Self {
        let pid = std::process::id();
        Self {
            pid,
            start_time: start_time(pid).unwrap_or(0),
            verb: verb.to_string(),
        }
    }

    /// Whether the process is still running (the same process: same pid and
    /// start time). A zombie counts as dead.
    pub fn is_alive(&self) -> bool {
        match stat(self.pid) {
            Some((state, start)) => state != 'Z' && state != 'X' && start == self.start_time,
            None => false,
        }
    }

    /// The owner recorded in `path`; `None` when the file is missing or is
    /// not an owner record.
    pub fn read(path: &Path) -> Option<Self> {
        let text = fs::read_to_string(path).ok()?;
        serde_json::from_str(text.trim()).ok()
    }

    /// Writes this owner to `path` (mode 0644, replacing it).
    pub fn write(&self, path: &Path) -> io::Result<()> {
        let text = serde_json::to_string(self).map_err(io::Error::other)?;
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(path)?;
        file.write_all(text.as_bytes())?;
        file.write_all(b"\n")
    }

    /// How messages name it: `lago init (pid 1234)`.
    pub fn describe(&self) -> String {
        format!("lago {} (pid {})", self.verb, self.pid)
    }
}

/// The start time of process `pid`, if it exists.
pub fn start_time(pid: u32) -> Option<u64> {
    stat(pid).map(|(_, start)| start)
}

/// The state letter (field 3) and start time (field 22) of `pid`.
fn stat(pid: u32) -> Option<(char, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Fields 3 and 22 of a `/proc/<pid>/stat` line. The command name (field 2)
/// is in parentheses and may hold spaces and parentheses itself, so the
/// fields are counted after its last `)`.
fn parse_stat(text: &str) -> Option<(char, u64)> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // after the state (field 3), field 22 is the 19th
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// The test-only pause hook (see module docs): blocks until standard input
/// closes when `LAGO_TEST_PAUSE` equals `phase`. While it blocks, a cancel
/// request ([`crate::cancel::request`], made by the Python binding when it
/// sees Ctrl-C) is reported once as `LAGO_TEST_INTERRUPT_SEEN <phase>
/// <pid>` on stderr, so a fault test lets lago go on only once the
/// interrupt has reached the core.
pub fn test_pause(phase: &str) {
    if std::env::var_os(TEST_PAUSE_VAR).is_some_and(|v| v == phase) {
        let pid = std::process::id();
        // The one place the core writes to stderr: the test harness reads it.
        let _ = writeln!(io::stderr().lock(), "LAGO_TEST_PAUSED {phase} {pid}");
        let (closed, stdin_closed) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            let _ = io::copy(&mut io::stdin().lock(), &mut io::sink());
            let _ = closed.send(());
        });
        let mut seen = false;
        while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
            stdin_closed.recv_timeout(std::time::Duration::from_millis(20))
        {
            if !seen && crate::cancel::requested() {
                seen = true;
                let _ = writeln!(
                    io::stderr().lock(),
                    "LAGO_TEST_INTERRUPT_SEEN {phase} {pid}"
                );
            }
        }
    }
}

/// A named phase of a verb (`start:nets`, `snapshot:taken`, ...): the
/// test-only pause hook ([`test_pause`]), then a cancel check, failing with
/// [`crate::error::ErrorKind::Cancelled`] when an interrupt was requested.
pub fn phase(name: &str) -> crate::error::Result<()> {
    phase_with(name, &crate::cancel::REQUESTED)
}

/// [`phase`] checking `flag` (tests use a flag of their own).
pub(crate) fn phase_with(name: &str, flag: &crate::cancel::Flag) -> crate::error::Result<()> {
    test_pause(name);
    let verb = name.split(':').next().unwrap_or(name);
    flag.check(&format!("running lago {verb} (at phase {name})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_after_the_last_parenthesis() {
        let line =
            "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_stat(line), Some(('S', 987654)));
        assert_eq!(parse_stat("4242 (x) S 1 2"), None);
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn this_process_is_alive_and_a_reused_pid_is_not() {
        let me = Owner::current("init");
        assert!(me.start_time > 0);
        assert!(me.is_alive());
        let reused = Owner {
            start_time: me.start_time + 1,
            ..me.clone()
        };
        assert!(!reused.is_alive());
        let gone = Owner {
            pid: u32::MAX - 1,
            ..me.clone()
        };
        assert!(!gone.is_alive());
    }

    #[test]
    fn owner_file_round_trips_and_garbage_is_no_owner() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("owner");
        assert_eq!(Owner::read(&path), None);
        let me = Owner::current("start");
        me.write(&path).unwrap();
        assert_eq!(Owner::read(&path), Some(me.clone()));
        assert_eq!(me.describe(), format!("lago start (pid {})", me.pid));
        fs::write(&path, "not json").unwrap();
        assert_eq!(Owner::read(&path), None);
    }

    #[test]
    fn a_phase_passes_until_a_cancel_is_requested() {
        let flag = crate::cancel::Flag::new();
        assert!(phase_with("snapshot:taken", &flag).is_ok());
        flag.request();
        let e = phase_with("snapshot:taken", &flag).unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::Cancelled);
        assert_eq!(
            e.to_string(),
            "interrupted while running lago snapshot (at phase snapshot:taken)"
        );
        flag.clear();
        assert!(phase_with("snapshot:taken", &flag).is_ok());
        // the process-wide one is not set by any test
        assert!(phase("init:reserve").is_ok());
    }
}
