//! Advisory file locks shared by every lago process on the host: an
//! exclusive (or shared, [`lock_shared`]) `flock` on a lock file (the subnet-lease store's
//! `subnet-lease.lock`, a template store's `<name>.lock`), taken with a time
//! limit, and a best-effort lookup of the process holding it (from
//! `/proc/locks`) for the timeout message.
//!
//! `flock` locks belong to an open file description, so two handles opened
//! separately exclude each other even inside one process: threads that each
//! open the lock file serialise exactly like separate processes.
//!
//! Callers map [`LockError`] into their own error types, which keep their
//! own messages and error kinds.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

/// The first pause between two attempts to take a busy lock; it doubles up
/// to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(2);

/// The longest pause between two attempts to take a busy lock.
const MAX_PAUSE: Duration = Duration::from_millis(50);

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// The lock file could not be opened or created.
    #[error("cannot open the lock file {}", path.display())]
    Open {
        /// The lock file.
        path: PathBuf,
        /// The cause (of opening it read-write when the read-only fallback
        /// failed too).
        #[source]
        source: io::Error,
    },
    /// `flock` failed for another reason than the lock being held.
    #[error("cannot lock {}", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The lock stayed held by someone else for the whole timeout.
    #[error(
        "could not lock {} within {timeout:?}: it is held by {}",
        path.display(),
        holder.as_deref().unwrap_or("another process")
    )]
    Timeout {
        /// The lock file.
        path: PathBuf,
        /// How long we waited.
        timeout: Duration,
        /// The holding process (pid and command line), when `/proc/locks`
        /// named it.
        holder: Option<String>,
    },
}

/// A held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct LockGuard {
    file: File,
    path: PathBuf,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Err(err) = self.file.unlock() {
            // Closing the file (right after this) releases it anyway.
            tracing::debug!(lock = %self.path.display(), %err, "unlock failed");
        }
    }
}

/// Opens (creating it if needed) and exclusively locks `path`, retrying with
/// a growing pause (2 ms doubling up to 50 ms) for up to `timeout`.
///
/// `on_wait` runs once, the first time the lock is found held by someone
/// else (e.g. to log that this call is waiting).
pub fn lock(
    path: &Path,
    timeout: Duration,
    on_wait: impl FnOnce(),
) -> Result<LockGuard, LockError> {
    lock_as(path, timeout, on_wait, false)
}

/// As [`lock`], a shared lock: any number of shared holders at once, none
/// while an exclusive lock is held (readers of a file others rewrite under
/// the exclusive lock).
pub fn lock_shared(
    path: &Path,
    timeout: Duration,
    on_wait: impl FnOnce(),
) -> Result<LockGuard, LockError> {
    lock_as(path, timeout, on_wait, true)
}

/// [`lock`] (`shared` false) or [`lock_shared`].
fn lock_as(
    path: &Path,
    timeout: Duration,
    on_wait: impl FnOnce(),
    shared: bool,
) -> Result<LockGuard, LockError> {
    let file = open(path).map_err(|source| LockError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let start = Instant::now();
    let mut pause = FIRST_PAUSE;
    let mut on_wait = Some(on_wait);
    loop {
        let attempt = if shared {
            file.try_lock_shared()
        } else {
            file.try_lock()
        };
        match attempt {
            Ok(()) => {
                tracing::trace!(lock = %path.display(), waited = ?start.elapsed(), "lock taken");
                return Ok(LockGuard {
                    file,
                    path: path.to_path_buf(),
                });
            }
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(source)) => {
                return Err(LockError::Lock {
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
        let elapsed = start.elapsed();
        if elapsed >= timeout {
            return Err(LockError::Timeout {
                path: path.to_path_buf(),
                timeout,
                holder: describe_holder(&file),
            });
        }
        if let Some(on_wait) = on_wait.take() {
            on_wait();
        }
        thread::sleep(pause.min(timeout - elapsed));
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// Opens the lock file read-write, creating it (mode 0666 minus the umask,
/// as Python's `open(path, 'w')` does); falls back to read-only, which is
/// enough for `flock`, when another user created it without write access.
/// If the fallback fails too, the error is the first one (permission denied)
/// rather than the fallback's (e.g. "not found" in a folder we may not
/// write).
fn open(path: &Path) -> io::Result<File> {
    match OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
    {
        Err(err) if err.kind() == io::ErrorKind::PermissionDenied => {
            File::open(path).map_err(|_| err)
        }
        other => other,
    }
}

/// Names the process holding an `flock` on `file`, if `/proc/locks` says.
fn describe_holder(file: &File) -> Option<String> {
    let meta = file.metadata().ok()?;
    let locks = fs::read_to_string("/proc/locks").ok()?;
    let pid = holder_pid(&locks, meta.dev(), meta.ino())?;
    let cmdline = fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .map(|raw| {
            let text: String = String::from_utf8_lossy(&raw)
                .split('\0')
                .filter(|part| !part.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            text.chars().take(200).collect::<String>()
        })
        .filter(|text| !text.is_empty());
    let who = if pid == i64::from(std::process::id()) {
        format!("this process (pid {pid})")
    } else {
        format!("pid {pid}")
    };
    Some(match cmdline {
        Some(cmd) => format!("{who}: {cmd}"),
        None => who,
    })
}

/// Finds the pid holding an `FLOCK` on the inode `ino` of device `dev` in the
/// text of `/proc/locks` (lines like
/// `9: FLOCK  ADVISORY  WRITE 9411 fe:00:10010768 0 EOF`, the device as hex
/// major:minor). Waiters (`->` lines) are skipped. If no line matches both
/// device and inode (some file systems report another device there), the
/// first line matching the inode alone is used.
fn holder_pid(locks: &str, dev: u64, ino: u64) -> Option<i64> {
    let (major, minor) = dev_major_minor(dev);
    let mut inode_only = None;
    for line in locks.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // fields: ["9:", "FLOCK", "ADVISORY", "WRITE", pid, "maj:min:ino", start, end]
        if fields.len() < 6 || fields[1] != "FLOCK" {
            continue;
        }
        let Ok(pid) = fields[4].parse::<i64>() else {
            continue;
        };
        let mut id = fields[5].split(':');
        let (Some(maj), Some(min), Some(line_ino)) = (id.next(), id.next(), id.next()) else {
            continue;
        };
        if line_ino.parse::<u64>().ok() != Some(ino) || pid <= 0 {
            continue;
        }
        let same_dev = u64::from_str_radix(maj, 16).ok() == Some(major)
            && u64::from_str_radix(min, 16).ok() == Some(minor);
        if same_dev {
            return Some(pid);
        }
        inode_only.get_or_insert(pid);
    }
    inode_only
}

/// Splits a Linux `dev_t` into (major, minor), as glibc's `gnu_dev_major` and
/// `gnu_dev_minor` do.
fn dev_major_minor(dev: u64) -> (u64, u64) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & 0xffff_f000);
    let minor = (dev & 0xff) | ((dev >> 12) & 0xffff_ff00);
    (major, minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_dev_t() {
        assert_eq!(dev_major_minor(0xfe00), (0xfe, 0));
        assert_eq!(dev_major_minor(0x0801), (8, 1));
        // glibc's makedev, for numbers that need the large encoding.
        let makedev = |major: u64, minor: u64| {
            (minor & 0xff)
                | ((major & 0xfff) << 8)
                | ((minor & !0xff) << 12)
                | ((major & !0xfff) << 32)
        };
        assert_eq!(dev_major_minor(makedev(0x1103, 0x12345)), (0x1103, 0x12345));
        assert_eq!(dev_major_minor(makedev(259, 3)), (259, 3));
    }

    #[test]
    fn finds_flock_holder_in_proc_locks() {
        let text = "\
1: POSIX  ADVISORY  WRITE 8521 fe:00:794929 0 0
2: FLOCK  ADVISORY  WRITE 77 08:01:10010768 0 EOF
3: FLOCK  ADVISORY  WRITE 9411 fe:00:10010768 0 EOF
3: -> FLOCK  ADVISORY  WRITE 9500 fe:00:10010768 0 EOF
";
        assert_eq!(holder_pid(text, 0xfe00, 10010768), Some(9411));
        // Only the inode matches: fall back to the first such holder.
        assert_eq!(holder_pid(text, 0x0900, 10010768), Some(77));
        assert_eq!(holder_pid(text, 0xfe00, 794929), None);
        assert_eq!(holder_pid("", 0xfe00, 1), None);
    }

    #[test]
    fn lock_waits_names_holder_and_releases_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let held = lock(&path, Duration::ZERO, || panic!("not held yet")).unwrap();
        let mut waits = 0;
        let err = lock(&path, Duration::from_millis(30), || waits += 1).unwrap_err();
        assert_eq!(waits, 1);
        let LockError::Timeout {
            path: p, holder, ..
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!(p, &path);
        let me = format!("this process (pid {})", std::process::id());
        assert!(
            holder.as_deref().unwrap_or("").starts_with(&me),
            "{holder:?}"
        );
        drop(held);
        lock(&path, Duration::ZERO, || panic!("released")).unwrap();
        let missing = dir.path().join("no/such/dir/x.lock");
        let err = lock(&missing, Duration::ZERO, || {}).unwrap_err();
        assert!(matches!(err, LockError::Open { .. }), "{err:?}");
    }

    #[test]
    fn shared_locks_exclude_only_the_exclusive_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.lock");
        let a = lock_shared(&path, Duration::ZERO, || panic!("free")).unwrap();
        let b = lock_shared(&path, Duration::ZERO, || panic!("shared with a")).unwrap();
        let err = lock(&path, Duration::ZERO, || {}).unwrap_err();
        assert!(matches!(err, LockError::Timeout { .. }), "{err:?}");
        drop((a, b));
        let exclusive = lock(&path, Duration::ZERO, || panic!("released")).unwrap();
        let err = lock_shared(&path, Duration::ZERO, || {}).unwrap_err();
        assert!(matches!(err, LockError::Timeout { .. }), "{err:?}");
        drop(exclusive);
    }
}
