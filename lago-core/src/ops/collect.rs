//! Copying guest paths out of VMs: `lago collect` (artifacts) and the
//! extraction calls under it (contract §9 "Collect").
//!
//! Three ways in, chosen per VM by [`Source`]:
//!
//! - **tar over SSH** when the guest has `/usr/bin/tar` and `/usr/bin/gzip`:
//!   one exec of `tar --dereference -c <paths> | gzip` whose output is
//!   streamed straight into the host's `tar -xz` (no archive is held in
//!   memory or written to disk). The host's GNU tar already refuses member
//!   names with `..` or a leading `/` and defers symbolic links, which is
//!   what unpacking an archive a guest made needs, so there is no
//!   in-process unpacker to keep safe.
//! - **SFTP** (`ssh::copy`) otherwise, path by path.
//! - **libguestfs** for a VM that is not running (or does not answer SSH):
//!   one read-only `guestfish` run on its root disk copies every path out.
//!
//! Whichever way, missing paths are found before anything is placed, and
//! everything is unpacked into a staging folder first and moved into place
//! only once all paths arrived: a failed extraction leaves nothing behind.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tracing::{debug, info, warn};

use crate::bootstrap::sysprep::libguestfs_command;
use crate::error::{Error, ErrorKind, Result};
use crate::ssh::{SshClient, quote};

/// Limit on one whole extraction over SSH (archives of large logs).
pub const EXTRACT_TIMEOUT: Duration = Duration::from_secs(3600);

/// Where a VM's files are read from.
#[derive(Debug)]
pub enum Source<'a> {
    /// A running guest answering SSH.
    Ssh(&'a SshClient),
    /// The root disk of a VM that is not running (or not reachable).
    Disk {
        /// The disk image.
        path: PathBuf,
        /// Its format (`qcow2`, `raw`), when known.
        format: Option<String>,
        /// The root file system's device (a disk's `root-partition`
        /// metadata); `None`: found by libguestfs' inspection.
        root: Option<String>,
    },
}

/// One guest path and where it goes. `local` follows `scp -r`: an existing
/// directory receives the copy under the guest path's own name, anything
/// else is the copy's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extract {
    /// The guest path.
    pub remote: String,
    /// The local destination.
    pub local: PathBuf,
}

/// The name Lago gives a collected artifact: its path with every `/` turned
/// into `_` (`/var/log` → `_var_log`).
pub fn artifact_name(path: &str) -> String {
    path.replace('/', "_")
}

/// The error a missing guest path gives: kind [`ErrorKind::NotFound`], its
/// message ending in `: No such file or directory` like Lago's
/// `ExtractPathNoPathError`.
fn no_path(vm: &str, missing: &[&str]) -> Error {
    let list: Vec<String> = missing
        .iter()
        .map(|p| format!("{p}: No such file or directory"))
        .collect();
    let err = Error::new(
        ErrorKind::NotFound,
        format!("VM '{vm}': {}", list.join(", ")),
    )
    .with_vm(vm);
    match missing {
        [one] => err.with_path(*one),
        _ => err,
    }
}

/// Copies each of `items` out of VM `vm` through `source`. Missing guest
/// paths fail the call (before anything is placed) unless `ignore_nopath`,
/// when they are skipped.
pub fn extract(
    vm: &str,
    source: &Source<'_>,
    items: &[Extract],
    ignore_nopath: bool,
) -> Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    let members: Vec<String> = items
        .iter()
        .map(|i| member(&i.remote))
        .collect::<Result<_>>()?;
    let Some(parent) = items[0].local.parent().map(Path::to_path_buf) else {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("cannot extract into {}", items[0].local.display()),
        ));
    };
    for item in items {
        if let Some(p) = item.local.parent()
            && !p.as_os_str().is_empty()
        {
            fs::create_dir_all(p).map_err(|e| io_err("create", p, e))?;
        }
    }
    let staging = Staging::new(&parent)?;
    let arrived = match source {
        Source::Ssh(client) => via_ssh(vm, client, items, &members, ignore_nopath, &staging)?,
        Source::Disk { path, format, root } => via_guestfs(
            vm,
            path,
            format.as_deref(),
            root.as_deref(),
            items,
            ignore_nopath,
            &staging,
        )?,
    };
    // every path is in the staging folder: move (or copy) each into place
    let overlapping = overlap(&members);
    let mut progress =
        crate::progress::Progress::items(format!("collecting from VM '{vm}'"), items.len() as u64);
    for (item, staged) in items.iter().zip(arrived) {
        progress.add(1);
        let Some(staged) = staged else { continue };
        let dest = destination(&item.local, &item.remote);
        if fs::symlink_metadata(&dest).is_ok() {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!(
                    "VM '{vm}': cannot extract {} to {}: it exists already",
                    item.remote,
                    dest.display()
                ),
            ));
        }
        if overlapping {
            copy_tree(&staged, &dest)?;
        } else {
            place(&staged, &dest)?;
        }
        debug!(vm, remote = %item.remote, local = %dest.display(), "extracted");
    }
    progress.finish();
    Ok(())
}

/// The destination of `remote` at `local` under `scp -r` rules.
fn destination(local: &Path, remote: &str) -> PathBuf {
    let name = Path::new(remote.trim_end_matches('/')).file_name();
    match name {
        Some(name) if local.is_dir() => local.join(name),
        _ => local.to_path_buf(),
    }
}

/// Where `remote` ends up inside an archive tar makes of it: no leading
/// `/`, no `.` or empty parts. A path with `..` or naming the whole root is
/// refused.
fn member(remote: &str) -> Result<String> {
    let bad = |why: &str| {
        Error::new(
            ErrorKind::InvalidInput,
            format!("cannot extract guest path {remote:?}: {why}"),
        )
    };
    if remote.contains('\0') {
        return Err(bad("it contains a NUL byte"));
    }
    let parts: Vec<&str> = remote
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.contains(&"..") {
        return Err(bad("'..' is not allowed"));
    }
    if parts.is_empty() {
        return Err(bad("name a file or folder, not the whole file system"));
    }
    Ok(parts.join("/"))
}

/// Whether one member is another or lies inside it (then staged trees are
/// copied, not moved, so each destination gets all of its own).
fn overlap(members: &[String]) -> bool {
    members.iter().enumerate().any(|(i, a)| {
        members
            .iter()
            .enumerate()
            .any(|(j, b)| i != j && (a == b || b.starts_with(&format!("{a}/"))))
    })
}

/// How a guest path is written on a shell command line: quoted, and never
/// taken for an option.
fn shell_path(remote: &str) -> String {
    if remote.starts_with('-') {
        quote(format!("./{remote}"))
    } else {
        quote(remote)
    }
}

/// The indexes of the paths that do not exist in the guest, and whether it
/// has `/usr/bin/tar` and `/usr/bin/gzip`: one command.
fn probe(vm: &str, client: &SshClient, items: &[Extract]) -> Result<(Vec<usize>, bool)> {
    let paths: Vec<String> = items.iter().map(|i| shell_path(&i.remote)).collect();
    let script = format!(
        "i=0; for p in {}; do [ -e \"$p\" ] || echo \"missing $i\"; i=$((i+1)); done; \
         if [ -x /usr/bin/tar ] && [ -x /usr/bin/gzip ]; then echo tar; fi",
        paths.join(" ")
    );
    let r = client
        .exec_command(&script, None, Duration::from_secs(60))
        .map_err(|e| context(e, &format!("VM '{vm}': cannot look for the paths")))?;
    if !r.success() {
        return Err(Error::new(
            ErrorKind::Ssh,
            format!(
                "VM '{vm}': looking for the paths to extract failed with status {}: {}",
                r.code,
                r.stderr_lossy().trim()
            ),
        ));
    }
    let out = r.stdout_lossy();
    let missing = out
        .lines()
        .filter_map(|l| l.strip_prefix("missing ")?.trim().parse().ok())
        .collect();
    Ok((missing, out.lines().any(|l| l.trim() == "tar")))
}

fn via_ssh(
    vm: &str,
    client: &SshClient,
    items: &[Extract],
    members: &[String],
    ignore_nopath: bool,
    staging: &Staging,
) -> Result<Vec<Option<PathBuf>>> {
    let (missing, has_tar) = probe(vm, client, items)?;
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|&i| items[i].remote.as_str()).collect();
        if !ignore_nopath {
            return Err(no_path(vm, &names));
        }
        debug!(vm, missing = ?names, "missing paths skipped");
    }
    let wanted: Vec<usize> = (0..items.len()).filter(|i| !missing.contains(i)).collect();
    let mut arrived = vec![None; items.len()];
    if wanted.is_empty() {
        return Ok(arrived);
    }
    if has_tar {
        let root = staging.dir("root")?;
        let paths: Vec<String> = wanted
            .iter()
            .map(|&i| shell_path(&items[i].remote))
            .collect();
        let command = format!(
            "{{ /usr/bin/tar --dereference -cf - {} || echo \"lago-collect: tar exited with $?\" >&2; }} \
             | /usr/bin/gzip -c -5",
            paths.join(" ")
        );
        let guest_stderr = unpack_stream(vm, client, &command, &root, &staging.path)?;
        for &i in &wanted {
            let staged = root.join(&members[i]);
            if fs::symlink_metadata(&staged).is_err() {
                return Err(Error::new(
                    ErrorKind::Ssh,
                    format!(
                        "VM '{vm}': {} did not arrive in the archive: {}",
                        items[i].remote,
                        guest_stderr.trim()
                    ),
                ));
            }
            arrived[i] = Some(staged);
        }
        if guest_stderr.contains("lago-collect: tar exited") {
            warn!(vm, stderr = %guest_stderr.trim(), "guest tar reported problems; every path arrived");
        }
    } else {
        info!(
            vm,
            "no /usr/bin/tar or /usr/bin/gzip in the guest: copying over SFTP"
        );
        for &i in &wanted {
            let staged = staging.dir(&i.to_string())?.join("item");
            client.copy_from(&items[i].remote, &staged)?;
            arrived[i] = Some(staged);
        }
    }
    Ok(arrived)
}

/// Runs `command` in the guest with its output piped into the host's
/// `tar -xz` unpacking into `root`; returns the guest command's stderr.
fn unpack_stream(
    vm: &str,
    client: &SshClient,
    command: &str,
    root: &Path,
    scratch: &Path,
) -> Result<String> {
    let err_path = scratch.join("host-tar.stderr");
    let err_file = fs::File::create(&err_path).map_err(|e| io_err("create", &err_path, e))?;
    let mut child = Command::new("tar")
        .args([
            "-x",
            "-z",
            "-f",
            "-",
            "--no-same-owner",
            "--delay-directory-restore",
            "-C",
        ])
        .arg(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::from(err_file))
        .spawn()
        .map_err(|e| Error::with_source(ErrorKind::Io, "cannot run the host's tar to unpack", e))?;
    let streamed = match child.stdin.take() {
        Some(mut stdin) => {
            let r = client.exec_to(command, &mut stdin, EXTRACT_TIMEOUT);
            let _ = stdin.flush();
            drop(stdin);
            r
        }
        None => {
            let _ = child.kill();
            return Err(Error::new(ErrorKind::Internal, "host tar has no stdin"));
        }
    };
    let status = child
        .wait()
        .map_err(|e| Error::with_source(ErrorKind::Io, "waiting for the host's tar", e))?;
    let host_stderr = fs::read_to_string(&err_path).unwrap_or_default();
    let result =
        streamed.map_err(|e| context(e, &format!("VM '{vm}': streaming the archive failed")))?;
    let guest_stderr = result.stderr_lossy();
    if !result.success() {
        return Err(Error::new(
            ErrorKind::Ssh,
            format!(
                "VM '{vm}': the archive command failed with status {}: {}",
                result.code,
                guest_stderr.trim()
            ),
        ));
    }
    if !status.success() {
        return Err(Error::new(
            ErrorKind::Io,
            format!(
                "VM '{vm}': unpacking the archive failed ({status}): {} {}",
                host_stderr.trim(),
                guest_stderr.trim()
            ),
        ));
    }
    Ok(guest_stderr)
}

/// A string as guestfish reads it: double quotes, C escapes.
fn guestfish_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The guestfish script that says, per path, whether it exists (`true` /
/// `false` on a line of its own) and copies it into `dirs[i]` (errors of a
/// missing path's copy are ignored: the `-` prefix).
fn guestfish_script(items: &[Extract], dirs: &[PathBuf]) -> String {
    let mut script = String::new();
    for (item, dir) in items.iter().zip(dirs) {
        let remote = guestfish_quote(&item.remote);
        script.push_str(&format!("exists {remote}\n"));
        script.push_str(&format!(
            "-copy-out {remote} {}\n",
            guestfish_quote(&dir.to_string_lossy())
        ));
    }
    script
}

#[allow(
    clippy::too_many_arguments,
    reason = "one disk and what to take out of it"
)]
fn via_guestfs(
    vm: &str,
    disk: &Path,
    format: Option<&str>,
    root: Option<&str>,
    items: &[Extract],
    ignore_nopath: bool,
    staging: &Staging,
) -> Result<Vec<Option<PathBuf>>> {
    let dirs: Vec<PathBuf> = (0..items.len())
        .map(|i| staging.dir(&i.to_string()))
        .collect::<Result<_>>()?;
    let mut cmd = libguestfs_command("guestfish");
    cmd.arg("--ro");
    if let Some(f) = format.filter(|f| !f.is_empty()) {
        cmd.arg(format!("--format={f}"));
    }
    cmd.arg("-a").arg(disk);
    match root {
        Some(dev) => cmd.arg("-m").arg(dev),
        None => cmd.arg("-i"),
    };
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    info!(vm, disk = %disk.display(), "reading the paths from the disk with libguestfs");
    let mut child = cmd.spawn().map_err(|e| {
        Error::with_source(
            ErrorKind::Disk,
            "cannot run guestfish (install libguestfs-tools)",
            e,
        )
    })?;
    let script = guestfish_script(items, &dirs);
    if let Some(mut stdin) = child.stdin.take() {
        // guestfish reads the whole script before it answers much
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| Error::with_source(ErrorKind::Disk, "cannot talk to guestfish", e))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::with_source(ErrorKind::Disk, "waiting for guestfish", e))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let answers: Vec<&str> = stdout
        .lines()
        .map(str::trim)
        .filter(|l| *l == "true" || *l == "false")
        .collect();
    if answers.len() != items.len() {
        return Err(Error::new(
            ErrorKind::Disk,
            format!(
                "VM '{vm}': guestfish on {} failed ({}): {}",
                disk.display(),
                out.status,
                stderr.trim()
            ),
        ));
    }
    let missing: Vec<&str> = items
        .iter()
        .zip(&answers)
        .filter(|(_, a)| **a == "false")
        .map(|(i, _)| i.remote.as_str())
        .collect();
    if !missing.is_empty() {
        if !ignore_nopath {
            return Err(no_path(vm, &missing));
        }
        debug!(vm, ?missing, "missing paths skipped");
    }
    let mut arrived = vec![None; items.len()];
    for (i, (item, dir)) in items.iter().zip(&dirs).enumerate() {
        if answers[i] == "false" {
            continue;
        }
        let name = Path::new(item.remote.trim_end_matches('/'))
            .file_name()
            .map(|n| dir.join(n));
        match name {
            Some(staged) if fs::symlink_metadata(&staged).is_ok() => arrived[i] = Some(staged),
            _ => {
                return Err(Error::new(
                    ErrorKind::Disk,
                    format!(
                        "VM '{vm}': guestfish did not copy {} out of {}: {}",
                        item.remote,
                        disk.display(),
                        stderr.trim()
                    ),
                ));
            }
        }
    }
    Ok(arrived)
}

/// A private folder next to the destinations, removed when dropped.
struct Staging {
    path: PathBuf,
}

impl Staging {
    fn new(parent: &Path) -> Result<Self> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        let path = parent.join(format!(
            ".lago-extract-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir(&path).map_err(|e| io_err("create", &path, e))?;
        Ok(Self { path })
    }

    fn dir(&self, name: &str) -> Result<PathBuf> {
        let p = self.path.join(name);
        fs::create_dir_all(&p).map_err(|e| io_err("create", &p, e))?;
        Ok(p)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if let Err(e) = remove_tree(&self.path) {
            warn!(path = %self.path.display(), error = %e, "cannot remove the staging folder");
        }
    }
}

/// Removes a tree this module made, making read-only folders (copied
/// with their guest permissions) writable first.
fn remove_tree(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if fs::remove_dir_all(path).is_ok() {
        return Ok(());
    }
    fn unlock(p: &Path) {
        if let Ok(m) = fs::symlink_metadata(p)
            && m.is_dir()
        {
            let _ = fs::set_permissions(p, fs::Permissions::from_mode(0o700));
            if let Ok(rd) = fs::read_dir(p) {
                for e in rd.flatten() {
                    unlock(&e.path());
                }
            }
        }
    }
    unlock(path);
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

/// Moves `src` to `dst` (a rename; a copy across file systems).
pub(crate) fn place(src: &Path, dst: &Path) -> Result<()> {
    match fs::rename(src, dst) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => copy_tree(src, dst),
        Err(e) => Err(io_err("move into place", dst, e)),
    }
}

/// Copies a tree (files, folders, symbolic links as links).
fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    let meta = fs::symlink_metadata(src).map_err(|e| io_err("read", src, e))?;
    let ft = meta.file_type();
    if ft.is_symlink() {
        let target = fs::read_link(src).map_err(|e| io_err("read", src, e))?;
        std::os::unix::fs::symlink(target, dst).map_err(|e| io_err("create", dst, e))?;
    } else if ft.is_dir() {
        fs::create_dir(dst).map_err(|e| io_err("create", dst, e))?;
        for entry in fs::read_dir(src).map_err(|e| io_err("read", src, e))? {
            let entry = entry.map_err(|e| io_err("read", src, e))?;
            copy_tree(&entry.path(), &dst.join(entry.file_name()))?;
        }
        fs::set_permissions(dst, meta.permissions()).map_err(|e| io_err("chmod", dst, e))?;
    } else if ft.is_file() {
        fs::copy(src, dst).map_err(|e| io_err("copy to", dst, e))?;
    }
    Ok(())
}

/// `e` with `what` said first, its kind kept.
fn context(e: impl Into<Error>, what: &str) -> Error {
    let e = e.into();
    let message = format!("{what}: {}", e.message());
    e.wrap(message)
}

fn io_err(what: &str, path: &Path, e: io::Error) -> Error {
    let kind = Error::from(io::Error::new(e.kind(), "")).kind();
    Error::with_source(kind, format!("cannot {what} {}", path.display()), e)
}

/// `output_dir` renamed out of the way (`<output_dir>.YYYY-MM-DD_HH:MM:SS`,
/// local time, with `.N` added if that name is taken): returns the new
/// name, `None` when there was nothing to rotate.
pub fn rotate(output_dir: &Path) -> Result<Option<PathBuf>> {
    if fs::symlink_metadata(output_dir).is_err() {
        return Ok(None);
    }
    let stamp = local_timestamp();
    let base = format!("{}.{stamp}", output_dir.display());
    let mut target = PathBuf::from(&base);
    let mut n = 1;
    while fs::symlink_metadata(&target).is_ok() {
        target = PathBuf::from(format!("{base}.{n}"));
        n += 1;
    }
    fs::rename(output_dir, &target).map_err(|e| io_err("rotate", output_dir, e))?;
    info!(from = %output_dir.display(), to = %target.display(), "previous output kept");
    Ok(Some(target))
}

/// Now as `YYYY-MM-DD_HH:MM:SS` in local time.
fn local_timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let t = libc::time_t::try_from(now).unwrap_or(0);
    // SAFETY: `tm` is a plain C struct for which all-zero bytes are valid;
    // localtime_r only writes into it and reads `t`.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the duration of the call.
    let ok = !unsafe { libc::localtime_r(&t, &mut tm) }.is_null();
    if !ok {
        return now.to_string();
    }
    format!(
        "{:04}-{:02}-{:02}_{:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_names_follow_lago() {
        assert_eq!(artifact_name("/var/log"), "_var_log");
        assert_eq!(artifact_name("/etc/hosts"), "_etc_hosts");
        assert_eq!(artifact_name("rel/x"), "rel_x");
    }

    #[test]
    fn members_are_archive_names() {
        assert_eq!(member("/var/log/").unwrap(), "var/log");
        assert_eq!(member("//etc/./hosts").unwrap(), "etc/hosts");
        assert_eq!(member("rel").unwrap(), "rel");
        for bad in ["/", ".", "/a/../b", "a\0b"] {
            let e = member(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad:?}");
        }
    }

    #[test]
    fn overlapping_members() {
        let m = |v: &[&str]| overlap(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert!(!m(&["var/log", "etc/hosts", "var/logs"]));
        assert!(m(&["var/log", "var/log/messages"]));
        assert!(m(&["etc", "etc"]));
    }

    #[test]
    fn missing_paths_say_no_such_file() {
        let e = no_path("vm0", &["/nope", "/also"]);
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(
            e.message(),
            "VM 'vm0': /nope: No such file or directory, /also: No such file or directory"
        );
    }

    #[test]
    fn guestfish_script_quotes_paths() {
        let items = [Extract {
            remote: "/var/a \"b\"\\".into(),
            local: "/o/x".into(),
        }];
        let s = guestfish_script(&items, &[PathBuf::from("/s/0")]);
        assert_eq!(
            s,
            "exists \"/var/a \\\"b\\\"\\\\\"\n-copy-out \"/var/a \\\"b\\\"\\\\\" \"/s/0\"\n"
        );
    }

    #[test]
    fn shell_paths_are_never_options() {
        assert_eq!(shell_path("-rf"), "./-rf");
        assert_eq!(shell_path("/a b"), "'/a b'");
    }

    #[test]
    fn rotation_keeps_every_previous_output() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        assert_eq!(rotate(&out).unwrap(), None);
        fs::create_dir(&out).unwrap();
        fs::write(out.join("f"), "1").unwrap();
        let first = rotate(&out).unwrap().unwrap();
        assert!(!out.exists());
        assert_eq!(fs::read_to_string(first.join("f")).unwrap(), "1");
        let name = first.file_name().unwrap().to_string_lossy().into_owned();
        // out.YYYY-MM-DD_HH:MM:SS
        assert_eq!(name.len(), "out.".len() + 19, "{name}");
        assert_eq!(&name[14..15], "_");
        fs::create_dir(&out).unwrap();
        let second = rotate(&out).unwrap().unwrap();
        assert_ne!(first, second);
        assert!(first.exists() && second.exists());
    }

    #[test]
    fn placing_moves_and_copying_keeps_links() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        fs::create_dir_all(src.join("d")).unwrap();
        fs::write(src.join("d/f"), "x").unwrap();
        std::os::unix::fs::symlink("d/f", src.join("l")).unwrap();
        copy_tree(&src, &dir.path().join("copy")).unwrap();
        assert_eq!(
            fs::read_link(dir.path().join("copy/l")).unwrap(),
            Path::new("d/f")
        );
        place(&src, &dir.path().join("moved")).unwrap();
        assert!(!src.exists());
        assert_eq!(
            fs::read_to_string(dir.path().join("moved/d/f")).unwrap(),
            "x"
        );
    }
}
