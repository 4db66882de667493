//! One writer per prefix: the verbs that change a prefix (init, start, stop,
//! shutdown, snapshot, revert, export, cleanup, destroy, deploy, collect)
//! hold an exclusive `flock` on the prefix's `writer.lock` for as long as
//! they run, and record in it who they are (pid, process start time, verb:
//! see [`crate::owner`]). A second writer waits for it, at most
//! `[lago] prefix_lock_timeout` seconds (default
//! [`DEFAULT_TIMEOUT`]), then fails naming the holder. Readers (`status`,
//! `list`, `ssh`, `shell`) never take it.
//!
//! Lago has no such lock; its tools never look for this file, and it lives
//! inside the prefix, so it goes away with it.
//!
//! The lock is re-entrant within one process: an operation that runs
//! another (revert starts the VMs it stopped; cleanup stops them) does not
//! wait on itself.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::fslock::{self, LockError, LockGuard};
use crate::owner::Owner;
use crate::paths::Paths;

/// The lock file's name inside the prefix.
pub const LOCK_FILE: &str = "writer.lock";
/// How long a writer waits for another by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// The configuration key (`[lago]`) of the wait, in seconds.
pub const TIMEOUT_KEY: &str = "prefix_lock_timeout";

/// A held writer lock; dropping the last handle of this process releases it.
#[derive(Debug, Clone)]
pub struct WriterLock {
    _inner: Arc<Held>,
}

#[derive(Debug)]
struct Held {
    _guard: LockGuard,
    path: PathBuf,
}

impl Drop for Held {
    fn drop(&mut self) {
        // The record goes before the flock does (the guard drops after this).
        let _ = std::fs::write(&self.path, b"");
    }
}

/// The locks this process holds, by lock file, so a nested operation shares
/// its caller's.
fn held() -> &'static Mutex<HashMap<PathBuf, Weak<Held>>> {
    static HELD: std::sync::OnceLock<Mutex<HashMap<PathBuf, Weak<Held>>>> =
        std::sync::OnceLock::new();
    HELD.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The wait the configuration asks for (`[lago] prefix_lock_timeout`, in
/// seconds), else [`DEFAULT_TIMEOUT`].
pub fn timeout(config: &Config) -> Result<Duration> {
    match config.get(TIMEOUT_KEY) {
        None => Ok(DEFAULT_TIMEOUT),
        Some(text) => text
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Config,
                    format!(
                        "configuration [lago] {TIMEOUT_KEY}: {text:?} is not a number of seconds (>= 0)"
                    ),
                )
            }),
    }
}

/// Takes the writer lock of the prefix at `paths` for `verb`, waiting at
/// most `timeout` for another writer.
pub fn lock(paths: &Paths, verb: &str, timeout: Duration) -> Result<WriterLock> {
    lock_file(&paths.prefixed(LOCK_FILE), verb, timeout)
}

fn lock_file(path: &Path, verb: &str, timeout: Duration) -> Result<WriterLock> {
    let shared = held()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(path)
        .and_then(Weak::upgrade);
    if let Some(inner) = shared {
        return Ok(WriterLock { _inner: inner });
    }
    let waiting = || {
        let holder = Owner::read(path)
            .map(|o| o.describe())
            .unwrap_or_else(|| "another lago command".to_string());
        tracing::warn!(lock = %path.display(), "waiting for {holder} to finish with this prefix");
    };
    let guard = fslock::lock(path, timeout, waiting).map_err(|e| lock_error(path, timeout, e))?;
    if let Err(e) = Owner::current(verb).write(path) {
        tracing::debug!(lock = %path.display(), error = %e, "cannot record the writer");
    }
    let inner = Arc::new(Held {
        _guard: guard,
        path: path.to_path_buf(),
    });
    let mut map = held().lock().unwrap_or_else(|e| e.into_inner());
    map.retain(|_, w| w.strong_count() > 0);
    map.insert(path.to_path_buf(), Arc::downgrade(&inner));
    drop(map);
    let lock = WriterLock { _inner: inner };
    // an interrupt here gives the lock back (dropped with the error)
    crate::owner::phase(&format!("{verb}:locked"))?;
    Ok(lock)
}

fn lock_error(path: &Path, timeout: Duration, err: LockError) -> Error {
    let prefix = path.parent().unwrap_or(Path::new("/"));
    match err {
        LockError::Timeout { holder, .. } => {
            let who = Owner::read(path)
                .map(|o| o.describe())
                .or(holder)
                .unwrap_or_else(|| "another lago command".to_string());
            Error::with_source(
                ErrorKind::Timeout,
                format!(
                    "prefix {} is being changed by {who}: waited {}s for it to finish \
                     (set [lago] {TIMEOUT_KEY} to wait longer, or stop that process)",
                    prefix.display(),
                    timeout.as_secs_f64()
                ),
                LockError::Timeout {
                    path: path.to_path_buf(),
                    timeout,
                    holder: None,
                },
            )
            .with_path(path.to_path_buf())
        }
        other => Error::with_source(
            ErrorKind::Io,
            format!("cannot lock prefix {} for writing", prefix.display()),
            other,
        )
        .with_path(path.to_path_buf()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_times_out_naming_the_first_and_nesting_shares() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path());
        let first = lock(&paths, "start", Duration::ZERO).unwrap();
        let recorded = Owner::read(&paths.prefixed(LOCK_FILE)).unwrap();
        assert_eq!(recorded.verb, "start");
        assert_eq!(recorded.pid, std::process::id());
        // the same process nests without waiting
        let nested = lock(&paths, "stop", Duration::ZERO).unwrap();
        drop(nested);
        // another open file description (as another process) must wait
        let err =
            fslock::lock(&paths.prefixed(LOCK_FILE), Duration::from_millis(20), || {}).unwrap_err();
        let err = lock_error(&paths.prefixed(LOCK_FILE), Duration::from_millis(20), err);
        let text = err.to_string();
        assert!(
            text.contains(&format!("lago start (pid {})", std::process::id())),
            "{text}"
        );
        assert_eq!(err.kind(), ErrorKind::Timeout);
        drop(first);
        assert_eq!(Owner::read(&paths.prefixed(LOCK_FILE)), None);
        let again = fslock::lock(&paths.prefixed(LOCK_FILE), Duration::ZERO, || {});
        assert!(again.is_ok());
    }

    #[test]
    fn the_timeout_comes_from_the_configuration() {
        let mut config = Config::new();
        assert_eq!(timeout(&config).unwrap(), DEFAULT_TIMEOUT);
        config.set("lago", TIMEOUT_KEY, "0.5");
        assert_eq!(timeout(&config).unwrap(), Duration::from_millis(500));
        config.set("lago", TIMEOUT_KEY, "soon");
        let text = timeout(&config).unwrap_err().to_string();
        assert!(
            text.contains(TIMEOUT_KEY) && text.contains("soon"),
            "{text}"
        );
    }
}
