//! `qemu-img` as a subprocess: create overlays and empty images, inspect,
//! convert and rebase.
//!
//! Each function checks its inputs first (missing files, existing
//! destinations, sizes), then runs one `qemu-img` command with stdin closed
//! and stdout/stderr captured. A failure is a [`DiskError::Command`] with the
//! command line and qemu-img's stderr. Files a function creates are removed
//! again when the command fails.

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use super::{DiskError, ImageFormat};

/// The program run for every operation here.
const QEMU_IMG: &str = "qemu-img";

/// The permission bits given to the images lago creates (as Lago does): qemu
/// runs as another user and must be able to read and write them.
pub const IMAGE_MODE: u32 = 0o666;

/// What `qemu-img info --output=json` says about an image (the keys lago
/// uses; everything else is kept in [`extra`](QemuImgInfo::extra)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct QemuImgInfo {
    /// The file name as qemu-img was given it.
    pub filename: String,
    /// The image format, e.g. `qcow2` or `raw`.
    pub format: String,
    /// The size the guest sees, in bytes.
    #[serde(rename = "virtual-size")]
    pub virtual_size: u64,
    /// The bytes the file takes on disk, when qemu-img knows.
    #[serde(rename = "actual-size", default)]
    pub actual_size: Option<u64>,
    /// The backing file as recorded in the image (may be relative to it).
    #[serde(rename = "backing-filename", default)]
    pub backing_filename: Option<String>,
    /// The backing file resolved by qemu-img.
    #[serde(rename = "full-backing-filename", default)]
    pub full_backing_filename: Option<String>,
    /// The backing file's format as recorded in the image (`-F`).
    #[serde(rename = "backing-filename-format", default)]
    pub backing_format: Option<String>,
    /// Whether the image is marked dirty (qcow2 with lazy refcounts).
    #[serde(rename = "dirty-flag", default)]
    pub dirty_flag: Option<bool>,
    /// Every other key of qemu-img's JSON.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl QemuImgInfo {
    /// Parses the JSON printed by `qemu-img info --output=json`; `path`
    /// names the image in the error.
    pub fn from_json(json: &[u8], path: &Path) -> Result<Self, DiskError> {
        serde_json::from_slice(json).map_err(|source| DiskError::InfoParse {
            path: path.to_owned(),
            source,
        })
    }
}

/// Parses a disk size as a LagoInitFile gives it (`10G`, `512M`, `1.5T`,
/// `1073741824`) into bytes. Suffixes are binary (`K` = 1024) and case
/// insensitive, as in qemu-img; a fraction needs a suffix.
pub fn parse_size(size: &str) -> Result<u64, DiskError> {
    let invalid = |reason| DiskError::InvalidSize {
        size: size.to_owned(),
        reason,
    };
    let s = size.trim();
    if s.is_empty() {
        return Err(invalid("it is empty"));
    }
    let (number, suffix) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&s[..i], Some(c.to_ascii_uppercase())),
        _ => (s, None),
    };
    let shift: u32 = match suffix {
        None | Some('B') => 0,
        Some('K') => 10,
        Some('M') => 20,
        Some('G') => 30,
        Some('T') => 40,
        Some('P') => 50,
        Some('E') => 60,
        Some(_) => return Err(invalid("unknown unit suffix")),
    };
    if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(invalid("not a number"));
    }
    let bytes = match number.split_once('.') {
        None => number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(1u64 << shift))
            .ok_or_else(|| invalid("too large"))?,
        Some((whole, frac)) => {
            if shift == 0 {
                return Err(invalid("a fraction needs a unit suffix"));
            }
            if whole.is_empty() || frac.is_empty() || frac.contains('.') {
                return Err(invalid("not a number"));
            }
            let value: f64 = number.parse().map_err(|_| invalid("not a number"))?;
            let bytes = value * (1u64 << shift) as f64;
            if bytes >= i64::MAX as f64 {
                return Err(invalid("too large"));
            }
            bytes as u64
        }
    };
    if bytes > i64::MAX as u64 {
        return Err(invalid("too large"));
    }
    if bytes == 0 {
        return Err(invalid("it must be greater than zero"));
    }
    Ok(bytes)
}

/// Creates a qcow2 overlay `dest` on top of `backing`:
/// `qemu-img create -f qcow2 -o lazy_refcounts=on -F <fmt> -b <backing> <dest>`,
/// then `chmod 0666 dest`.
///
/// The backing path is made absolute, so the overlay works from any current
/// folder. Errors: [`DiskError::NotFound`] if `backing` does not exist,
/// [`DiskError::AlreadyExists`] if `dest` does.
pub fn create_overlay(
    backing: &Path,
    backing_format: ImageFormat,
    dest: &Path,
) -> Result<(), DiskError> {
    let backing = absolute(backing)?;
    require_exists(&backing, "backing file")?;
    let dest = absolute(dest)?;
    require_absent(&dest)?;
    let args: Vec<OsString> = vec![
        "create".into(),
        "-q".into(),
        "-f".into(),
        "qcow2".into(),
        "-o".into(),
        "lazy_refcounts=on".into(),
        "-F".into(),
        backing_format.qemu_format().into(),
        "-b".into(),
        backing.into_os_string(),
        dest.clone().into_os_string(),
    ];
    run_creating(&args, &dest)?;
    set_image_mode(&dest)
}

/// Creates a qcow2 overlay `dest` of `size` bytes on top of `backing`
/// without opening `backing` (`qemu-img create -u`): for a backing file a
/// running VM holds locked, whose size the caller read with [`info`]
/// (`--force-share`). Then `chmod 0666 dest`. Errors as [`create_overlay`].
pub fn create_overlay_unopened(
    backing: &Path,
    backing_format: ImageFormat,
    dest: &Path,
    size: u64,
) -> Result<(), DiskError> {
    let backing = absolute(backing)?;
    require_exists(&backing, "backing file")?;
    let dest = absolute(dest)?;
    require_absent(&dest)?;
    let args: Vec<OsString> = vec![
        "create".into(),
        "-q".into(),
        "-f".into(),
        "qcow2".into(),
        "-o".into(),
        "lazy_refcounts=on".into(),
        "-u".into(),
        "-F".into(),
        backing_format.qemu_format().into(),
        "-b".into(),
        backing.into_os_string(),
        dest.clone().into_os_string(),
        size.to_string().into(),
    ];
    run_creating(&args, &dest)?;
    set_image_mode(&dest)
}

/// Creates an empty image of `size` (see [`parse_size`]) at `dest`. qcow2
/// images get `-o preallocation=metadata` (as Lago); `iso` is not a format
/// one can create empty. The file is made mode 0666.
pub fn create_empty(dest: &Path, format: ImageFormat, size: &str) -> Result<(), DiskError> {
    let bytes = parse_size(size)?;
    let dest = absolute(dest)?;
    require_absent(&dest)?;
    let mut args: Vec<OsString> = vec!["create".into(), "-q".into(), "-f".into()];
    match format {
        ImageFormat::Qcow2 => {
            args.extend(["qcow2".into(), "-o".into(), "preallocation=metadata".into()]);
        }
        ImageFormat::Raw => args.push("raw".into()),
        ImageFormat::Iso => {
            return Err(DiskError::InvalidFormat {
                format: format.to_string(),
                valid: "qcow2, raw",
            });
        }
    }
    args.push(dest.clone().into_os_string());
    args.push(bytes.to_string().into());
    run_creating(&args, &dest)?;
    set_image_mode(&dest)
}

/// Describes an image: `qemu-img info --output=json --force-share <path>`
/// (`--force-share` so it also works on the image of a running VM).
pub fn info(path: &Path) -> Result<QemuImgInfo, DiskError> {
    let path = absolute(path)?;
    require_exists(&path, "image")?;
    let args: Vec<OsString> = vec![
        "info".into(),
        "--output=json".into(),
        "--force-share".into(),
        path.clone().into_os_string(),
    ];
    let stdout = run(&args)?;
    QemuImgInfo::from_json(&stdout, &path)
}

/// Converts `src` into a new image `dest` of `dest_format`:
/// `qemu-img convert [-f <src_format>] -O <fmt> <src> <dest>`. Without
/// `src_format` qemu-img probes it. The output is sparse; its mode follows
/// the umask (this is not an image handed to a VM as is).
pub fn convert(
    src: &Path,
    src_format: Option<&str>,
    dest: &Path,
    dest_format: ImageFormat,
) -> Result<(), DiskError> {
    let src = absolute(src)?;
    require_exists(&src, "source image")?;
    let dest = absolute(dest)?;
    require_absent(&dest)?;
    let mut args: Vec<OsString> = vec!["convert".into()];
    if let Some(fmt) = src_format {
        args.extend(["-f".into(), fmt.into()]);
    }
    args.extend([
        "-O".into(),
        dest_format.qemu_format().into(),
        src.into_os_string(),
        dest.clone().into_os_string(),
    ]);
    run_creating(&args, &dest)
}

/// Points the qcow2 image `image` at a new backing file:
/// `qemu-img rebase [-u] -f qcow2 -F <fmt> -b <backing> <image>`.
///
/// With `unsafe_mode` (`-u`) only the backing-file pointer is rewritten and
/// the new backing file need not exist yet; otherwise qemu-img copies the
/// differences, and `backing` must exist.
pub fn rebase(
    image: &Path,
    backing: &Path,
    backing_format: ImageFormat,
    unsafe_mode: bool,
) -> Result<(), DiskError> {
    let image = absolute(image)?;
    require_exists(&image, "image")?;
    let backing = absolute(backing)?;
    if !unsafe_mode {
        require_exists(&backing, "backing file")?;
    }
    let mut args: Vec<OsString> = vec!["rebase".into(), "-q".into()];
    if unsafe_mode {
        args.push("-u".into());
    }
    args.extend([
        "-f".into(),
        "qcow2".into(),
        "-F".into(),
        backing_format.qemu_format().into(),
        "-b".into(),
        backing.into_os_string(),
        image.into_os_string(),
    ]);
    run(&args).map(drop)
}

/// Rewrites the backing-file pointer of the qcow2 image `image` to the
/// text `backing` exactly as given (e.g. `./tiny:v1`, relative to the image's
/// folder): `qemu-img rebase -u -f qcow2 -F <fmt> -b <backing> <image>`.
/// Only the pointer changes; `backing` need not exist. An empty `backing`
/// is refused: that would make the image lose its data silently.
pub fn set_backing_pointer(
    image: &Path,
    backing: &str,
    backing_format: ImageFormat,
) -> Result<(), DiskError> {
    let image = absolute(image)?;
    require_exists(&image, "image")?;
    if backing.is_empty() {
        return Err(DiskError::InvalidName {
            what: "backing file",
            name: String::new(),
            reason: "it is empty",
        });
    }
    let args: Vec<OsString> = vec![
        "rebase".into(),
        "-q".into(),
        "-u".into(),
        "-f".into(),
        "qcow2".into(),
        "-F".into(),
        backing_format.qemu_format().into(),
        "-b".into(),
        backing.into(),
        image.into_os_string(),
    ];
    run(&args).map(drop)
}

/// `path` made absolute against the current folder (not resolving links).
pub(super) fn absolute(path: &Path) -> Result<PathBuf, DiskError> {
    std::path::absolute(path).map_err(|source| DiskError::Io {
        op: "make absolute",
        path: path.to_owned(),
        source,
    })
}

/// Fails with [`DiskError::NotFound`] unless `path` exists.
pub(super) fn require_exists(path: &Path, role: &'static str) -> Result<(), DiskError> {
    match fs::metadata(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(DiskError::NotFound {
            role,
            path: path.to_owned(),
        }),
        Err(source) => Err(DiskError::Io {
            op: "look at",
            path: path.to_owned(),
            source,
        }),
    }
}

/// Fails with [`DiskError::AlreadyExists`] if anything (even a dangling
/// link) is at `path`.
pub(super) fn require_absent(path: &Path) -> Result<(), DiskError> {
    match fs::symlink_metadata(path) {
        Ok(_) => Err(DiskError::AlreadyExists {
            path: path.to_owned(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(DiskError::Io {
            op: "look at",
            path: path.to_owned(),
            source,
        }),
    }
}

/// `chmod 0666 path`.
pub(super) fn set_image_mode(path: &Path) -> Result<(), DiskError> {
    fs::set_permissions(path, fs::Permissions::from_mode(IMAGE_MODE)).map_err(|source| {
        DiskError::Io {
            op: "set permissions of",
            path: path.to_owned(),
            source,
        }
    })
}

/// Runs qemu-img with `args` to create `dest`; removes `dest` if it failed.
fn run_creating(args: &[OsString], dest: &Path) -> Result<(), DiskError> {
    match run(args) {
        Ok(_) => Ok(()),
        Err(err) => {
            if let Err(e) = fs::remove_file(dest)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(path = %dest.display(), error = %e, "cannot remove a failed image");
            }
            Err(err)
        }
    }
}

/// Runs qemu-img with `args`; its stdout on success.
fn run(args: &[OsString]) -> Result<Vec<u8>, DiskError> {
    let command = command_line(QEMU_IMG, args);
    tracing::debug!(%command, "running");
    let output = Command::new(QEMU_IMG)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| DiskError::Spawn {
            program: QEMU_IMG,
            hint: if source.kind() == std::io::ErrorKind::NotFound {
                " (not installed? it is in Debian's qemu-utils package)"
            } else {
                ""
            },
            source,
        })?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        Err(DiskError::Command {
            command,
            status: output.status.to_string(),
            stderr: if stderr.is_empty() {
                "(no output)".to_owned()
            } else {
                stderr
            },
        })
    }
}

/// A command line for messages: arguments with spaces or quotes are quoted.
pub(crate) fn command_line(program: &str, args: &[OsString]) -> String {
    let mut out = program.to_owned();
    for arg in args {
        let arg = arg.to_string_lossy();
        out.push(' ');
        if arg.is_empty() || arg.contains(|c: char| c.is_whitespace() || "'\"\\$`".contains(c)) {
            out.push('\'');
            out.push_str(&arg.replace('\'', r"'\''"));
            out.push('\'');
        } else {
            out.push_str(&arg);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("10G").unwrap(), 10 << 30);
        assert_eq!(parse_size("10g").unwrap(), 10 << 30);
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("4k").unwrap(), 4096);
        assert_eq!(parse_size(" 1024 ").unwrap(), 1024);
        assert_eq!(parse_size("1024B").unwrap(), 1024);
        assert_eq!(parse_size("1.5G").unwrap(), 3 << 29);
        assert_eq!(parse_size("2T").unwrap(), 2 << 40);
    }

    #[test]
    fn bad_sizes_say_why() {
        for (size, reason) in [
            ("", "it is empty"),
            ("G", "not a number"),
            ("10X", "unknown unit suffix"),
            ("ten", "unknown unit suffix"),
            ("-1G", "not a number"),
            ("1.5", "a fraction needs a unit suffix"),
            ("1..5G", "not a number"),
            ("0", "it must be greater than zero"),
            ("0G", "it must be greater than zero"),
            ("99999999999E", "too large"),
            ("16E", "too large"),
        ] {
            match parse_size(size) {
                Err(DiskError::InvalidSize { reason: r, .. }) => assert_eq!(r, reason, "{size}"),
                other => panic!("{size}: {other:?}"),
            }
        }
        let msg = parse_size("10X").unwrap_err().to_string();
        assert!(
            msg.starts_with("invalid disk size '10X': unknown unit suffix"),
            "{msg}"
        );
        assert!(msg.contains("e.g. 10G"), "{msg}");
    }

    #[test]
    fn info_json_is_parsed() {
        let json = br#"{
            "virtual-size": 268435456,
            "filename": "/p/images/vm0_root.qcow2",
            "cluster-size": 65536,
            "format": "qcow2",
            "actual-size": 200704,
            "format-specific": {"type": "qcow2", "data": {"lazy-refcounts": true}},
            "full-backing-filename": "/var/lib/lago/store/r:t:v1",
            "backing-filename": "/var/lib/lago/store/r:t:v1",
            "backing-filename-format": "raw",
            "dirty-flag": false
        }"#;
        let info = QemuImgInfo::from_json(json, Path::new("/p")).unwrap();
        assert_eq!(info.format, "qcow2");
        assert_eq!(info.virtual_size, 256 << 20);
        assert_eq!(info.backing_format.as_deref(), Some("raw"));
        assert_eq!(
            info.backing_filename.as_deref(),
            Some("/var/lib/lago/store/r:t:v1")
        );
        assert_eq!(info.dirty_flag, Some(false));
        assert!(info.extra.contains_key("format-specific"));
    }

    #[test]
    fn info_without_backing() {
        let json = br#"{"virtual-size": 1024, "filename": "a.raw", "format": "raw"}"#;
        let info = QemuImgInfo::from_json(json, Path::new("a.raw")).unwrap();
        assert_eq!(info.backing_filename, None);
        assert_eq!(info.actual_size, None);
    }

    #[test]
    fn garbage_info_names_the_image() {
        let err = QemuImgInfo::from_json(b"qemu-img: oops", Path::new("/a/b.qcow2")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot parse the output of `qemu-img info` for /a/b.qcow2"
        );
    }

    #[test]
    fn command_lines_quote_odd_arguments() {
        let args: Vec<OsString> = vec!["create".into(), "/a b/c".into(), "it's".into()];
        assert_eq!(
            command_line("qemu-img", &args),
            r"qemu-img create '/a b/c' 'it'\''s'"
        );
    }
}
