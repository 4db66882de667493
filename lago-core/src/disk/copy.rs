//! Sparse copies of images.
//!
//! [`copy_sparse`] (a file disk's `make_a_copy`) runs
//! `cp --sparse=always --reflink=auto`, as Lago runs `cp --sparse=always`:
//! GNU cp skips holes with `SEEK_DATA`/`SEEK_HOLE`, turns zero blocks into
//! holes, and shares extents on file systems that can (btrfs, xfs), which a
//! plain read/write loop cannot match.
//!
//! [`copy_sparse_from`] is the in-process variant for streams (a download, a
//! decompressor's output): it writes data blocks, seeks over all-zero blocks
//! and shows every byte to an observer (the template store hashes with it),
//! so an image is read once, hashed and stored sparse in one pass.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use super::DiskError;
use super::qemu_img::{absolute, command_line, require_absent, require_exists, set_image_mode};

/// The granularity of hole detection: a block of this many zero bytes is
/// skipped instead of written.
const BLOCK: usize = 4096;
/// The read buffer of [`copy_sparse_from`].
const BUFFER: usize = 1 << 20;

static ZEROS: [u8; BLOCK] = [0; BLOCK];

/// Copies the image `src` to the new file `dst`, keeping it sparse
/// (`cp --sparse=always --reflink=auto`), then makes `dst` mode 0666 as
/// Lago does for images in a prefix.
///
/// Errors: [`DiskError::NotFound`] if `src` does not exist,
/// [`DiskError::AlreadyExists`] if `dst` does; a failed copy removes `dst`.
pub fn copy_sparse(src: &Path, dst: &Path) -> Result<(), DiskError> {
    let src = absolute(src)?;
    require_exists(&src, "source file")?;
    let dst = absolute(dst)?;
    require_absent(&dst)?;
    let args: Vec<OsString> = vec![
        "--sparse=always".into(),
        "--reflink=auto".into(),
        "--".into(),
        src.into_os_string(),
        dst.clone().into_os_string(),
    ];
    let command = command_line("cp", &args);
    tracing::debug!(%command, "running");
    let output = Command::new("cp")
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| DiskError::Spawn {
            program: "cp",
            hint: "",
            source,
        })?;
    if !output.status.success() {
        let _ = std::fs::remove_file(&dst);
        return Err(DiskError::Command {
            command,
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    set_image_mode(&dst)
}

/// Copies everything `reader` yields into `out` from its current position,
/// seeking over all-zero blocks so that they become holes, and passes every
/// byte read to `observe` in order. Sets the file length at the end (a
/// trailing hole needs it) and returns the number of bytes copied.
///
/// `out` should be a new, empty file: skipped blocks are not overwritten.
pub(crate) fn copy_sparse_from(
    reader: &mut dyn Read,
    out: &mut File,
    observe: &mut dyn FnMut(&[u8]),
) -> io::Result<u64> {
    let start = out.stream_position()?;
    let mut buf = vec![0u8; BUFFER];
    let mut total: u64 = 0;
    loop {
        let n = read_full(reader, &mut buf)?;
        if n == 0 {
            break;
        }
        let data = &buf[..n];
        observe(data);
        write_sparse(out, data)?;
        total += n as u64;
    }
    out.set_len(start + total)?;
    Ok(total)
}

/// Reads until `buf` is full or the reader ends; the number of bytes read.
fn read_full(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Writes `data` at the current position of `out`, seeking over runs of
/// all-zero blocks instead of writing them.
fn write_sparse(out: &mut File, data: &[u8]) -> io::Result<()> {
    let mut run_start = 0;
    let mut run_is_zero: Option<bool> = None;
    let mut pos = 0;
    while pos < data.len() {
        let end = (pos + BLOCK).min(data.len());
        let block = &data[pos..end];
        let zero = block == &ZEROS[..block.len()];
        match run_is_zero {
            Some(z) if z == zero => {}
            Some(z) => {
                flush_run(out, &data[run_start..pos], z)?;
                run_start = pos;
                run_is_zero = Some(zero);
            }
            None => run_is_zero = Some(zero),
        }
        pos = end;
    }
    if let Some(z) = run_is_zero {
        flush_run(out, &data[run_start..], z)?;
    }
    Ok(())
}

fn flush_run(out: &mut File, run: &[u8], zero: bool) -> io::Result<()> {
    if zero {
        let len = i64::try_from(run.len()).map_err(io::Error::other)?;
        out.seek(SeekFrom::Current(len))?;
        Ok(())
    } else {
        out.write_all(run)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    /// A reader that returns at most 1000 bytes per call, to exercise
    /// short reads.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(buf.len()).min(1000);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn copy_keeps_content_and_makes_holes() {
        let dir = tempfile::tempdir().unwrap();
        let mut data = vec![0u8; 8 << 20];
        data[5000] = 1;
        data[3 << 20] = 7;
        // trailing zeros must still count in the length
        let path = dir.path().join("out");
        let mut out = File::create(&path).unwrap();
        let mut seen = 0usize;
        let n = copy_sparse_from(&mut &data[..], &mut out, &mut |b| seen += b.len()).unwrap();
        drop(out);
        assert_eq!(n, data.len() as u64);
        assert_eq!(seen, data.len());
        assert_eq!(std::fs::read(&path).unwrap(), data);
        let blocks = std::fs::metadata(&path).unwrap().blocks();
        assert!(blocks * 512 < (1 << 20), "not sparse: {blocks} blocks");
    }

    #[test]
    fn short_reads_and_unaligned_data() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        let path = dir.path().join("out");
        let mut out = File::create(&path).unwrap();
        let mut observed = Vec::new();
        copy_sparse_from(&mut Trickle(&data), &mut out, &mut |b| {
            observed.extend_from_slice(b)
        })
        .unwrap();
        drop(out);
        assert_eq!(observed, data);
        assert_eq!(std::fs::read(&path).unwrap(), data);
    }

    #[test]
    fn empty_input_gives_empty_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let mut out = File::create(&path).unwrap();
        assert_eq!(
            copy_sparse_from(&mut io::empty(), &mut out, &mut |_| {}).unwrap(),
            0
        );
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    }
}
