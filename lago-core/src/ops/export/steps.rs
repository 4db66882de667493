//! The long steps of exporting one disk, each reporting its progress in
//! bytes (see [`crate::progress`]): the copy (`cp --sparse`, or `qemu-img
//! convert` for a flattened chain), the sha1, and the `xz` compression; plus
//! `virt-sparsify`, which reports nothing (libguestfs runs it in an
//! appliance).
//!
//! The copy is done by tools that print nothing usable, so its progress is
//! the bytes the new file occupies so far, polled, against the bytes the
//! source occupies (for a chain, the sum of its files, at most its virtual
//! size): both count the same data, so the bar ends near its total and is
//! set to it when the copy is done. The hash and the compression read the
//! image themselves (`xz` gets it through a pipe), so their bytes are exact.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sha1::{Digest, Sha1};
use tracing::debug;

use super::io_error;
use crate::disk;
use crate::error::{Error, ErrorKind, Result};
use crate::progress::Progress;

/// How often a copy's new file is looked at.
const COPY_POLL: Duration = Duration::from_millis(200);

/// The bytes a file occupies on disk (what a sparse copy writes).
fn allocated(meta: &fs::Metadata) -> u64 {
    meta.blocks().saturating_mul(512)
}

/// The bytes the image `src` and its backing files occupy, at most its
/// virtual size: about what flattening it writes.
pub(super) fn chain_allocated(src: &Path) -> u64 {
    let mut total = 0u64;
    let mut next = Some(src.to_path_buf());
    let mut virtual_size = None;
    while let Some(path) = next.take() {
        let Ok(meta) = fs::metadata(&path) else {
            break;
        };
        total = total.saturating_add(allocated(&meta));
        match disk::info(&path) {
            Ok(info) => {
                virtual_size.get_or_insert(info.virtual_size);
                next = info.full_backing_filename.map(Into::into);
            }
            Err(e) => debug!(image = %path.display(), error = %e, "no backing chain to size"),
        }
    }
    virtual_size.map_or(total, |v| total.min(v))
}

/// The bytes `src` occupies (what copying it sparse writes).
pub(super) fn file_allocated(src: &Path) -> u64 {
    fs::metadata(src).map_or(0, |m| allocated(&m))
}

/// Runs `copy`, which writes the new file `dst`, as task `task` of `total`
/// bytes: a watcher reports the bytes `dst` occupies so far. Done when the
/// copy succeeds; aborted when it fails.
pub(super) fn copy_with_progress(
    task: String,
    dst: &Path,
    total: u64,
    copy: impl FnOnce() -> Result<()>,
) -> Result<()> {
    let done = AtomicBool::new(false);
    // made here: the first event comes from the caller's thread
    let mut progress = Progress::bytes(task, total);
    std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            let tick = Duration::from_millis(20);
            let mut waited = Duration::ZERO;
            while !done.load(Ordering::SeqCst) {
                std::thread::sleep(tick);
                waited += tick;
                if waited >= COPY_POLL {
                    waited = Duration::ZERO;
                    if let Ok(meta) = fs::metadata(dst) {
                        progress.set(allocated(&meta).min(total));
                    }
                }
            }
            progress
        });
        let out = copy();
        done.store(true, Ordering::SeqCst);
        if let (Ok(()), Ok(mut progress)) = (&out, watcher.join()) {
            progress.set(total);
            progress.finish();
        }
        out
    })
}

/// The sha1 of a file, in lowercase hex.
pub fn sha1_file(path: &Path) -> Result<String> {
    sha1_reporting(path, &mut |_| {})
}

/// [`sha1_file`] as task `task` (bytes of the file).
pub(super) fn sha1_with_progress(path: &Path, task: String) -> Result<String> {
    let size = fs::metadata(path)
        .map_err(|e| io_error("look at", path, e))?
        .len();
    let mut progress = Progress::bytes(task, size);
    let sha1 = sha1_reporting(path, &mut |n| progress.add(n))?;
    progress.finish();
    Ok(sha1)
}

fn sha1_reporting(path: &Path, read: &mut dyn FnMut(u64)) -> Result<String> {
    let mut f = fs::File::open(path).map_err(|e| io_error("open", path, e))?;
    let mut hasher = Sha1::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| io_error("read", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        read(n as u64);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Packs `image` into the new file `out` with `xz` (multi-threaded, 16 MiB
/// blocks, `--best`), as task `task`: the image is fed to `xz` through a
/// pipe, counted as it goes. An interrupt ([`crate::cancel`]) stops it.
pub(super) fn xz(image: &Path, out: &Path, task: String) -> Result<()> {
    let args = [
        "--compress",
        "--stdout",
        "--threads=0",
        "--best",
        "--block-size=16777216",
    ];
    let line = {
        let a: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
        format!(
            "{} < {} > {}",
            disk::command_line("xz", &a),
            image.display(),
            out.display()
        )
    };
    debug!(command = %line, "running");
    let mut src = fs::File::open(image).map_err(|e| io_error("open", image, e))?;
    let size = src
        .metadata()
        .map_err(|e| io_error("look at", image, e))?
        .len();
    let sink = fs::File::create_new(out).map_err(|e| io_error("create", out, e))?;
    let mut child = Command::new("xz")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(sink)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| spawn_error("xz", "xz-utils", e))?;
    let stderr = collect_stderr(&mut child);
    let mut progress = Progress::bytes(task, size);
    let fed = (|| -> Result<()> {
        let Some(mut pipe) = child.stdin.take() else {
            return Err(Error::new(ErrorKind::Internal, "xz has no stdin pipe"));
        };
        let mut buf = vec![0u8; 1 << 20];
        loop {
            crate::cancel::check("compressing with xz")?;
            let n = src.read(&mut buf).map_err(|e| io_error("read", image, e))?;
            if n == 0 {
                return Ok(());
            }
            pipe.write_all(&buf[..n]).map_err(|e| {
                Error::with_source(ErrorKind::Disk, format!("cannot feed `{line}`"), e)
            })?;
            progress.add(n as u64);
        }
    })();
    if let Err(e) = fed {
        let _ = child.kill();
        let status = child.wait();
        let text = stderr.and_then(|r| r.join().ok()).unwrap_or_default();
        // xz's own complaint explains a broken pipe better than the pipe
        return match status {
            Ok(status) if !status.success() && !text.trim().is_empty() => {
                Err(tool_failed(&line, &status.to_string(), &text))
            }
            _ => Err(e),
        };
    }
    finish(child, stderr, "xz", &line)?;
    progress.finish();
    Ok(())
}

/// `virt-sparsify --in-place` of `image` (`format` qcow2, else raw).
pub(super) fn sparsify(image: &Path, format: &str) -> Result<()> {
    let fmt = if format == "qcow2" { "qcow2" } else { "raw" };
    let args: [&std::ffi::OsStr; 5] = [
        "-q".as_ref(),
        "--format".as_ref(),
        fmt.as_ref(),
        "--in-place".as_ref(),
        image.as_os_str(),
    ];
    let line = {
        let a: Vec<std::ffi::OsString> = args.iter().map(|s| s.to_os_string()).collect();
        disk::command_line("virt-sparsify", &a)
    };
    debug!(command = %line, "running");
    let mut child = Command::new("virt-sparsify")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| spawn_error("virt-sparsify", "guestfs-tools", e))?;
    let stderr = collect_stderr(&mut child);
    finish(child, stderr, "virt-sparsify", &line)
}

type StderrReader = Option<std::thread::JoinHandle<String>>;

/// A thread reading all of `child`'s stderr.
fn collect_stderr(child: &mut std::process::Child) -> StderrReader {
    child.stderr.take().map(|mut err| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = err.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    })
}

/// Waits for `child` (killed on an interrupt); its failure is an error with
/// the command line and the end of its stderr.
fn finish(
    mut child: std::process::Child,
    stderr: StderrReader,
    program: &str,
    line: &str,
) -> Result<()> {
    let status = wait_cancellable(&mut child, program)?;
    let text = stderr.and_then(|r| r.join().ok()).unwrap_or_default();
    if status.success() {
        return Ok(());
    }
    Err(tool_failed(line, &status.to_string(), &text))
}

fn spawn_error(program: &str, package: &str, e: std::io::Error) -> Error {
    Error::with_source(
        ErrorKind::Io,
        format!("cannot run {program} (not installed? it is in Debian's {package} package)"),
        e,
    )
}

/// `` `line` failed (status): `` and the last 20 lines of its stderr.
fn tool_failed(line: &str, status: &str, stderr: &str) -> Error {
    let tail: Vec<&str> = stderr.trim().lines().rev().take(20).collect();
    Error::new(
        ErrorKind::Disk,
        format!(
            "`{line}` failed ({status}): {}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ),
    )
}

/// Waits for `child`; an interrupt ([`crate::cancel`]) kills it and is the
/// error.
fn wait_cancellable(
    child: &mut std::process::Child,
    program: &str,
) -> Result<std::process::ExitStatus> {
    loop {
        if let Some(status) = child.try_wait().map_err(|e| {
            Error::with_source(ErrorKind::Io, format!("cannot wait for {program}"), e)
        })? {
            return Ok(status);
        }
        if let Err(e) = crate::cancel::check(&format!("running {program}")) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_reports_every_byte() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("img");
        fs::write(&f, vec![7u8; 3 << 20]).unwrap();
        let mut seen = 0;
        let sha = sha1_reporting(&f, &mut |n| seen += n).unwrap();
        assert_eq!(seen, 3 << 20);
        assert_eq!(sha, sha1_file(&f).unwrap());
        assert_eq!(sha.len(), 40);
    }

    #[test]
    fn xz_packs_through_the_pipe_and_fails_with_its_words() {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("img");
        fs::write(&img, b"hello lago\n".repeat(10_000)).unwrap();
        let out = dir.path().join("img.xz");
        xz(&img, &out, "compressing img".into()).unwrap();
        let back = Command::new("xz").args(["-dc"]).arg(&out).output().unwrap();
        assert!(back.status.success());
        assert_eq!(back.stdout, fs::read(&img).unwrap());
        // an existing output is never overwritten
        let e = xz(&img, &out, "compressing img".into()).unwrap_err();
        assert!(e.message().contains("cannot create"), "{}", e.message());
    }

    #[test]
    fn a_copy_ends_at_its_total_only_when_it_worked() {
        let dir = tempfile::tempdir().unwrap();
        let dst = dir.path().join("copy");
        copy_with_progress("copying".into(), &dst, 4096, || {
            fs::write(&dst, [1u8; 4096]).map_err(|e| io_error("write", &dst, e))
        })
        .unwrap();
        let e = copy_with_progress("copying".into(), &dst, 4096, || {
            Err(Error::new(ErrorKind::Disk, "no"))
        })
        .unwrap_err();
        assert_eq!(e.message(), "no");
    }

    #[test]
    fn a_chain_is_sized_by_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base.raw");
        fs::write(&base, vec![1u8; 1 << 20]).unwrap();
        assert_eq!(file_allocated(&base), 1 << 20);
        // not an image qemu-img can read as a chain: the file alone
        assert_eq!(chain_allocated(&base), 1 << 20);
        assert_eq!(file_allocated(&dir.path().join("none")), 0);
    }
}
