//! The store lock: an exclusive `flock` on `<lease dir>/subnet-lease.lock`,
//! taken with a time limit, and a best-effort lookup of the process holding
//! it (from `/proc/locks`) for the timeout message.
//!
//! `flock` locks belong to an open file description, so two handles opened
//! separately exclude each other even inside one process: threads that each
//! open the lock file serialise exactly like separate processes.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use super::LeaseError;

/// A held store lock; dropping it releases the lock.
#[derive(Debug)]
pub(super) struct StoreLock {
    file: File,
    path: PathBuf,
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        if let Err(err) = self.file.unlock() {
            // Closing the file (right after this) releases it anyway.
            tracing::debug!(lock = %self.path.display(), %err, "unlock failed");
        }
    }
}

/// Opens (creating it if needed) and locks `path`, polling for up to `timeout`.
pub(super) fn lock(path: &Path, timeout: Duration) -> Result<StoreLock, LeaseError> {
    let file = open_lock_file(path)?;
    let start = Instant::now();
    let mut pause = Duration::from_millis(2);
    loop {
        match file.try_lock() {
            Ok(()) => {
                tracing::trace!(lock = %path.display(), waited = ?start.elapsed(), "store lock taken");
                return Ok(StoreLock {
                    file,
                    path: path.to_path_buf(),
                });
            }
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(source)) => {
                return Err(LeaseError::Io {
                    action: "lock",
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
        let elapsed = start.elapsed();
        if elapsed >= timeout {
            return Err(LeaseError::LockTimeout {
                path: path.to_path_buf(),
                timeout,
                holder: describe_holder(&file),
            });
        }
        thread::sleep(pause.min(timeout - elapsed));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Opens the lock file read-write, creating it (mode 0666 minus the umask,
/// as Python's `open(path, 'w')` does); falls back to read-only, which is
/// enough for `flock`, when another user created it without write access.
fn open_lock_file(path: &Path) -> Result<File, LeaseError> {
    let io_err = |source| LeaseError::Io {
        action: "open the lock file",
        path: path.to_path_buf(),
        source,
    };
    match OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
    {
        Ok(file) => Ok(file),
        Err(err) if err.kind() == io::ErrorKind::PermissionDenied => {
            File::open(path).map_err(io_err)
        }
        Err(err) => Err(io_err(err)),
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
}
