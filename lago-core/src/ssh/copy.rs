//! Copying files and whole trees to and from the guest over SFTP.
//!
//! Semantics follow `scp -r`: when the destination is an existing
//! directory, the source is copied *into* it under its own name; otherwise
//! the destination path itself becomes the copy. Trees are copied
//! recursively; permission bits and modification times are kept, symbolic
//! links are copied as links (never followed, except a link given as the
//! source itself, which `scp` follows too). Other file types (devices,
//! sockets, FIFOs) are skipped with a warning.
//!
//! Data is streamed in large blocks: libssh2 splits each block into
//! pipelined SFTP requests (writes) or reads ahead four blocks (reads), so
//! the transfer is not bound by one round trip per 32 KiB.

use std::fs::{self, File, FileTimes};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use ssh2::{ErrorCode, FileStat, OpenFlags, OpenType, Sftp};
use tracing::{debug, warn};

use super::client::SshClient;
use super::exec::Failure;
use super::session::{Ctx, with_after};
use super::{Result, SshError};

/// Block size of a transfer: large enough for deep pipelining.
const BLOCK: usize = 2 * 1024 * 1024;

/// File type bits of a mode.
const S_IFMT: u32 = 0o170_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;

/// What a copy transferred.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyStats {
    /// Regular files copied.
    pub files: u64,
    /// Directories created or updated.
    pub dirs: u64,
    /// Symbolic links created.
    pub symlinks: u64,
    /// Bytes of file content transferred.
    pub bytes: u64,
}

/// One copy in progress: the SFTP session and what is needed for messages.
struct Copy<'a> {
    sftp: &'a Sftp,
    ctx: &'a Ctx,
    op: &'a str,
    stats: CopyStats,
    buf: Vec<u8>,
}

impl Copy<'_> {
    fn local_err(&self, path: &Path, source: io::Error) -> Failure {
        Failure::harmless(SshError::Local {
            op: self.op.to_owned(),
            path: path.to_owned(),
            source,
        })
    }

    /// Classifies an error on remote `path`: a missing path or an SFTP
    /// status leaves the connection fine; anything else breaks it.
    fn remote_err(&self, path: &Path, err: ssh2::Error) -> Failure {
        match err.code() {
            ErrorCode::SFTP(code) => {
                if code == 2 || code == 10 {
                    // SSH_FX_NO_SUCH_FILE, SSH_FX_NO_SUCH_PATH
                    Failure::harmless(self.not_found(path))
                } else {
                    Failure::harmless(self.remote(path, err.into()))
                }
            }
            ErrorCode::Session(-9) => {
                Failure::after(self.ctx.timeout(self.op, Duration::ZERO, &err.to_string()))
            }
            ErrorCode::Session(_) => Failure::after(self.remote(path, err.into())),
        }
    }

    /// Same for an error that came through `std::io` (file reads/writes).
    fn remote_io_err(&self, path: &Path, err: io::Error) -> Failure {
        match err.kind() {
            io::ErrorKind::TimedOut => {
                Failure::after(self.ctx.timeout(self.op, Duration::ZERO, &err.to_string()))
            }
            io::ErrorKind::NotFound => Failure::harmless(self.not_found(path)),
            _ => Failure::after(self.remote(path, err)),
        }
    }

    fn not_found(&self, path: &Path) -> SshError {
        SshError::RemoteNotFound {
            target: self.ctx.target(),
            op: self.op.to_owned(),
            path: path.to_owned(),
        }
    }

    fn remote(&self, path: &Path, source: io::Error) -> SshError {
        SshError::Remote {
            target: self.ctx.target(),
            op: self.op.to_owned(),
            path: path.to_owned(),
            source,
        }
    }

    /// The remote path's attributes, `None` if it does not exist.
    fn remote_stat(&self, path: &Path) -> std::result::Result<Option<FileStat>, Failure> {
        match self.sftp.stat(path) {
            Ok(st) => Ok(Some(st)),
            Err(e) if matches!(e.code(), ErrorCode::SFTP(2) | ErrorCode::SFTP(10)) => Ok(None),
            Err(e) => Err(self.remote_err(path, e)),
        }
    }

    // ---- local -> guest ---------------------------------------------------

    fn put(
        &mut self,
        local: &Path,
        remote: &Path,
        meta: &fs::Metadata,
    ) -> std::result::Result<(), Failure> {
        let ft = meta.file_type();
        if ft.is_dir() {
            self.put_dir(local, remote, meta)
        } else if ft.is_file() {
            self.put_file(local, remote, meta)
        } else if ft.is_symlink() {
            let target = fs::read_link(local).map_err(|e| self.local_err(local, e))?;
            // Replace what is there, like `ln -sf`; a missing path is fine.
            let _ = self.sftp.unlink(remote);
            // OpenSSH's sftp-server takes (target, link) in this order,
            // which is what ssh2's `symlink(path, target)` sends.
            self.sftp
                .symlink(&target, remote)
                .map_err(|e| self.remote_err(remote, e))?;
            self.stats.symlinks += 1;
            Ok(())
        } else {
            warn!(path = %local.display(), "not a file, directory or symlink: skipped");
            Ok(())
        }
    }

    fn put_dir(
        &mut self,
        local: &Path,
        remote: &Path,
        meta: &fs::Metadata,
    ) -> std::result::Result<(), Failure> {
        match self.remote_stat(remote)? {
            Some(st) if st.is_dir() => {}
            Some(_) => {
                return Err(Failure::harmless(self.remote(
                    remote,
                    io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        "exists and is not a directory",
                    ),
                )));
            }
            None => self
                .sftp
                .mkdir(remote, 0o700)
                .map_err(|e| self.remote_err(remote, e))?,
        }
        let mut entries = Vec::new();
        for entry in fs::read_dir(local).map_err(|e| self.local_err(local, e))? {
            let entry = entry.map_err(|e| self.local_err(local, e))?;
            entries.push(entry.file_name());
        }
        entries.sort();
        for name in entries {
            let child = local.join(&name);
            let meta = fs::symlink_metadata(&child).map_err(|e| self.local_err(&child, e))?;
            self.put(&child, &remote.join(&name), &meta)?;
        }
        // Permissions last, so a read-only directory can be filled first.
        self.sftp
            .setstat(remote, stat_of(meta))
            .map_err(|e| self.remote_err(remote, e))?;
        self.stats.dirs += 1;
        Ok(())
    }

    fn put_file(
        &mut self,
        local: &Path,
        remote: &Path,
        meta: &fs::Metadata,
    ) -> std::result::Result<(), Failure> {
        let mut src = File::open(local).map_err(|e| self.local_err(local, e))?;
        let mut dst = self
            .sftp
            .open_mode(
                remote,
                OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE,
                0o600,
                OpenType::File,
            )
            .map_err(|e| self.remote_err(remote, e))?;
        loop {
            let n = read_full(&mut src, &mut self.buf).map_err(|e| self.local_err(local, e))?;
            if n == 0 {
                break;
            }
            sftp_write_all(&mut dst, &self.buf[..n]).map_err(|e| self.remote_io_err(remote, e))?;
            self.stats.bytes += n as u64;
        }
        dst.setstat(stat_of(meta))
            .map_err(|e| self.remote_err(remote, e))?;
        dst.close().map_err(|e| self.remote_err(remote, e))?;
        self.stats.files += 1;
        Ok(())
    }

    // ---- guest -> local ---------------------------------------------------

    fn get(
        &mut self,
        remote: &Path,
        local: &Path,
        st: &FileStat,
    ) -> std::result::Result<(), Failure> {
        let mode = st.perm.unwrap_or(0);
        match mode & S_IFMT {
            S_IFDIR => self.get_dir(remote, local, st),
            S_IFREG => self.get_file(remote, local, st),
            S_IFLNK => {
                let target = self
                    .sftp
                    .readlink(remote)
                    .map_err(|e| self.remote_err(remote, e))?;
                match fs::symlink_metadata(local) {
                    Ok(m) if !m.is_dir() => {
                        fs::remove_file(local).map_err(|e| self.local_err(local, e))?
                    }
                    _ => {}
                }
                symlink(&target, local).map_err(|e| self.local_err(local, e))?;
                self.stats.symlinks += 1;
                Ok(())
            }
            _ => {
                warn!(path = %remote.display(), mode, "not a file, directory or symlink: skipped");
                Ok(())
            }
        }
    }

    fn get_dir(
        &mut self,
        remote: &Path,
        local: &Path,
        st: &FileStat,
    ) -> std::result::Result<(), Failure> {
        match fs::symlink_metadata(local) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(self.local_err(
                    local,
                    io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        "exists and is not a directory",
                    ),
                ));
            }
            Err(_) => fs::create_dir(local).map_err(|e| self.local_err(local, e))?,
        }
        let mut entries = self
            .sftp
            .readdir(remote)
            .map_err(|e| self.remote_err(remote, e))?;
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        for (path, child_st) in entries {
            let Some(name) = path.file_name() else {
                continue;
            };
            self.get(&path, &local.join(name), &child_st)?;
        }
        set_local_meta(local, st, false).map_err(|e| self.local_err(local, e))?;
        self.stats.dirs += 1;
        Ok(())
    }

    fn get_file(
        &mut self,
        remote: &Path,
        local: &Path,
        st: &FileStat,
    ) -> std::result::Result<(), Failure> {
        let mut src = self
            .sftp
            .open(remote)
            .map_err(|e| self.remote_err(remote, e))?;
        let mut dst = File::create(local).map_err(|e| self.local_err(local, e))?;
        loop {
            let n =
                read_full(&mut src, &mut self.buf).map_err(|e| self.remote_io_err(remote, e))?;
            if n == 0 {
                break;
            }
            dst.write_all(&self.buf[..n])
                .map_err(|e| self.local_err(local, e))?;
            self.stats.bytes += n as u64;
        }
        drop(src);
        drop(dst);
        set_local_meta(local, st, true).map_err(|e| self.local_err(local, e))?;
        self.stats.files += 1;
        Ok(())
    }
}

/// Writes all of `data` to a remote file. Unlike `write_all`, a write
/// that reports 0 bytes is repeated: libssh2 returns 0 while its pipelined
/// requests are sent but none is acknowledged yet, and expects the same
/// data to be passed again.
fn sftp_write_all(dst: &mut ssh2::File, data: &[u8]) -> io::Result<()> {
    let mut pos = 0;
    let mut idle = 0u32;
    while pos < data.len() {
        match dst.write(&data[pos..]) {
            Ok(0) => {
                idle += 1;
                // Each call sends or waits (bounded by the session timeout),
                // so this only trips if libssh2 stops making progress.
                if idle > 1_000_000 {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "SFTP write makes no progress",
                    ));
                }
            }
            Ok(k) => {
                pos += k;
                idle = 0;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads until `buf` is full or end of file; returns the bytes read.
fn read_full(src: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match src.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The SFTP attributes that keep a local file's permissions and times.
fn stat_of(meta: &fs::Metadata) -> FileStat {
    FileStat {
        size: None,
        uid: None,
        gid: None,
        perm: Some(meta.mode() & 0o7777),
        atime: u64::try_from(meta.atime()).ok(),
        mtime: u64::try_from(meta.mtime()).ok(),
    }
}

/// Applies a remote file's times (for files) and permissions locally.
fn set_local_meta(local: &Path, st: &FileStat, times: bool) -> io::Result<()> {
    if times && let Some(mtime) = st.mtime {
        let mut ft = FileTimes::new().set_modified(UNIX_EPOCH + Duration::from_secs(mtime));
        if let Some(atime) = st.atime {
            ft = ft.set_accessed(UNIX_EPOCH + Duration::from_secs(atime));
        }
        // Before the permissions, which may make the file unreadable.
        File::options().read(true).open(local)?.set_times(ft)?;
    }
    if let Some(perm) = st.perm {
        fs::set_permissions(local, fs::Permissions::from_mode(perm & 0o7777))?;
    }
    Ok(())
}

/// The first request of a copy on a kept SFTP channel: a broken
/// connection shows here, before anything was transferred, so the client
/// may reconnect and retry.
fn first_op<T>(r: std::result::Result<T, Failure>) -> std::result::Result<T, Failure> {
    r.map_err(|mut f| {
        if !f.conn_ok {
            f.started = false;
        }
        f
    })
}

/// The destination under `scp -r` rules: inside `dest` if it is an
/// existing directory, else `dest` itself.
fn destination(dest: &Path, dest_is_dir: bool, source: &Path) -> PathBuf {
    match (dest_is_dir, source.file_name()) {
        (true, Some(name)) => dest.join(name),
        _ => dest.to_owned(),
    }
}

impl SshClient {
    /// Copies a local file or directory tree to the guest (see the module
    /// documentation for the rules). Returns what was copied.
    ///
    /// A missing local source is [`SshError::Local`] with a not-found
    /// cause; any single network wait longer than the target's
    /// [`io_timeout`](super::SshTarget::io_timeout) fails with
    /// [`SshError::Timeout`].
    pub fn copy_to(&self, local: impl AsRef<Path>, remote: impl AsRef<Path>) -> Result<CopyStats> {
        let (local, remote) = (local.as_ref(), remote.as_ref());
        let op = format!("copy_to {} -> {}", local.display(), remote.display());
        // Top level: follow a symlink, as scp does.
        let meta = fs::metadata(local).map_err(|source| SshError::Local {
            op: op.clone(),
            path: local.to_owned(),
            source,
        })?;
        let io_timeout = self.io_timeout();
        let start = std::time::Instant::now();
        let stats = self
            .with_conn(None, |conn, ctx| {
                let sftp = conn
                    .sftp(io_timeout)
                    .map_err(|e| Failure::before(ctx.session_err(&op, e)))?;
                let mut copy = Copy {
                    sftp,
                    ctx,
                    op: &op,
                    stats: CopyStats::default(),
                    buf: vec![0; BLOCK],
                };
                let dest_is_dir = first_op(copy.remote_stat(remote))?.is_some_and(|st| st.is_dir());
                let dest = destination(remote, dest_is_dir, local);
                copy.put(local, &dest, &meta)?;
                Ok(copy.stats)
            })
            .map_err(|e| with_after(e, io_timeout))?;
        debug!(
            op = %op, files = stats.files, bytes = stats.bytes,
            ms = start.elapsed().as_millis() as u64, "copied"
        );
        Ok(stats)
    }

    /// Copies a file or directory tree from the guest to a local path (see
    /// the module documentation for the rules). Returns what was copied.
    ///
    /// A missing remote source is [`SshError::RemoteNotFound`] (kind
    /// [`NotFound`](crate::ErrorKind::NotFound)), whose message ends in
    /// `: No such file or directory` as Lago's SCP errors did.
    pub fn copy_from(
        &self,
        remote: impl AsRef<Path>,
        local: impl AsRef<Path>,
    ) -> Result<CopyStats> {
        let (remote, local) = (remote.as_ref(), local.as_ref());
        let op = format!("copy_from {} -> {}", remote.display(), local.display());
        let io_timeout = self.io_timeout();
        let start = std::time::Instant::now();
        let stats = self
            .with_conn(None, |conn, ctx| {
                let sftp = conn
                    .sftp(io_timeout)
                    .map_err(|e| Failure::before(ctx.session_err(&op, e)))?;
                let mut copy = Copy {
                    sftp,
                    ctx,
                    op: &op,
                    stats: CopyStats::default(),
                    buf: vec![0; BLOCK],
                };
                // Top level: follow a symlink, as scp does.
                let st = first_op(copy.remote_stat(remote))?
                    .ok_or_else(|| Failure::harmless(copy.not_found(remote)))?;
                let dest_is_dir = fs::metadata(local).is_ok_and(|m| m.is_dir());
                let dest = destination(local, dest_is_dir, remote);
                copy.get(remote, &dest, &st)?;
                Ok(copy.stats)
            })
            .map_err(|e| with_after(e, io_timeout))?;
        debug!(
            op = %op, files = stats.files, bytes = stats.bytes,
            ms = start.elapsed().as_millis() as u64, "copied"
        );
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destination_follows_scp() {
        let d =
            |dest: &str, is_dir, src: &str| destination(Path::new(dest), is_dir, Path::new(src));
        assert_eq!(d("/tmp", true, "/home/u/file"), Path::new("/tmp/file"));
        assert_eq!(d("/tmp/new", false, "/home/u/file"), Path::new("/tmp/new"));
        assert_eq!(d("/tmp", true, "/home/u/tree/"), Path::new("/tmp/tree"));
        assert_eq!(d("/tmp", true, "/"), Path::new("/tmp"));
    }

    #[test]
    fn read_full_fills_across_short_reads() {
        struct Dribble(Vec<u8>);
        impl Read for Dribble {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(3).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0.drain(..n);
                Ok(n)
            }
        }
        let mut src = Dribble((0..10).collect());
        let mut buf = [0u8; 8];
        assert_eq!(read_full(&mut src, &mut buf).unwrap(), 8);
        assert_eq!(buf, [0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(read_full(&mut src, &mut buf).unwrap(), 2);
        assert_eq!(read_full(&mut src, &mut buf).unwrap(), 0);
    }
}
