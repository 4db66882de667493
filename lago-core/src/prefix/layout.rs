//! The skeleton of a new prefix and the small files in it, written the way
//! Lago writes them: `uuid` (32 hex characters, no newline), `id_rsa` /
//! `id_rsa.pub` (`ssh-keygen -t rsa -m PEM`, which every SSH client and
//! paramiko accept), `metadata` (`{"lago_version": ...}`), and the `logs/`,
//! `images/`, `scripts/` and `virt/` folders. `initialized` is written last
//! by whoever completes an init, so a half-made prefix is never taken for a
//! finished one.
//!
//! Every file written here is private to its owner from its first byte
//! ([`create_private`]: mode 0600 at creation, whatever the umask): the VM
//! records hold root passwords, and `id_rsa` is made 0600 by `ssh-keygen`.
//! Only `uuid` (which other users' subnet leases name, and their lago reads)
//! and the empty `initialized` keep the default mode.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use crate::error::{Error, ErrorKind};
use crate::paths::Paths;
use crate::pyjson;

/// What can go wrong while laying out or writing a prefix.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// The prefix folder exists already.
    #[error("prefix folder {0} already exists")]
    Exists(PathBuf),
    /// A file system operation failed.
    #[error("cannot {what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// On which path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// `ssh-keygen` could not make the key pair.
    #[error("ssh-keygen failed for {path}: {detail}")]
    Keygen {
        /// The key file.
        path: PathBuf,
        /// Its stderr, or why it could not run.
        detail: String,
    },
    /// A value could not be turned into JSON.
    #[error("cannot write {path} as JSON: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

impl From<LayoutError> for Error {
    fn from(err: LayoutError) -> Self {
        let kind = match err {
            LayoutError::Exists(_) => ErrorKind::AlreadyExists,
            LayoutError::Json { .. } => ErrorKind::Internal,
            _ => ErrorKind::Io,
        };
        let path = err.path().map(Path::to_path_buf);
        let out = Error::with_source(kind, err.to_string(), err);
        match path {
            Some(path) => out.with_path(path),
            None => out,
        }
    }
}

impl LayoutError {
    /// The file or folder the error is about.
    pub fn path(&self) -> Option<&Path> {
        match self {
            LayoutError::Exists(path)
            | LayoutError::Io { path, .. }
            | LayoutError::Keygen { path, .. }
            | LayoutError::Json { path, .. } => Some(path),
        }
    }
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> LayoutError {
    let path = path.to_path_buf();
    move |source| LayoutError::Io { what, path, source }
}

/// A new random prefix id: 32 lowercase hex characters (the form of Lago's
/// `uuid.uuid1().hex`), from the kernel's random source.
pub fn new_uuid() -> Result<String, LayoutError> {
    let mut bytes = [0u8; 16];
    let dev = Path::new("/dev/urandom");
    fs::File::open(dev)
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(io("read", dev))?;
    // RFC 4122 version 4 / variant bits, so it is a well-formed uuid too
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The mode of every file lago writes that may hold a secret (a password,
/// a private key): read and write for its owner only.
pub const PRIVATE_MODE: u32 = 0o600;

/// Creates `path` for writing with mode [`PRIVATE_MODE`] from the start (a
/// file left there before, whose mode would be kept, is removed first), so
/// no other user can read it at any moment, whatever the umask.
pub fn create_private(path: &Path) -> io::Result<fs::File> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(PRIVATE_MODE)
        .open(path)
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder
/// (private from its first byte, see [`create_private`]), then a rename, so
/// readers see the old content or the new, never half.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), LayoutError> {
    write_atomic_with(path, bytes, create_private)
}

/// Like [`write_atomic`], for a file that holds no secret and that other
/// users' lago may read (the prefix's `uuid`, which subnet leases name):
/// the default mode (0666 less the umask).
pub fn write_atomic_public(path: &Path, bytes: &[u8]) -> Result<(), LayoutError> {
    write_atomic_with(path, bytes, |p| {
        let _ = fs::remove_file(p);
        fs::OpenOptions::new().write(true).create_new(true).open(p)
    })
}

fn write_atomic_with(
    path: &Path,
    bytes: &[u8],
    create: impl FnOnce(&Path) -> io::Result<fs::File>,
) -> Result<(), LayoutError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let result = create(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .map_err(io("write", &tmp))
        .and_then(|()| fs::rename(&tmp, path).map_err(io("rename into", path)));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Writes `value` as Python's `json.dump(value, f, indent=4)` would.
pub fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<(), LayoutError> {
    let text = pyjson::dumps_indent4(value).map_err(|source| LayoutError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    write_atomic(path, text.as_bytes())
}

/// Reads the prefix's uuid.
pub fn read_uuid(paths: &Paths) -> Result<String, LayoutError> {
    let path = paths.uuid();
    let text = fs::read_to_string(&path).map_err(io("read", &path))?;
    Ok(text.trim().to_string())
}

/// Makes the SSH key pair guests will trust: RSA in PEM form, no passphrase.
/// `ssh-keygen` opens the private key file with mode 0600 itself.
pub fn generate_ssh_key(private: &Path) -> Result<(), LayoutError> {
    let out = Command::new("ssh-keygen")
        .args([
            "-q", "-t", "rsa", "-b", "2048", "-m", "PEM", "-N", "", "-C", "lago", "-f",
        ])
        .arg(private)
        .output()
        .map_err(|e| LayoutError::Keygen {
            path: private.to_path_buf(),
            detail: format!("cannot run ssh-keygen ({e}); install openssh-client"),
        })?;
    if !out.status.success() {
        return Err(LayoutError::Keygen {
            path: private.to_path_buf(),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// Creates the skeleton of a new prefix at `paths` and returns its uuid.
/// The folder must not exist; its parent must. Nothing is written outside it.
pub fn create(paths: &Paths) -> Result<String, LayoutError> {
    create_avoiding(paths, &|_| false)
}

/// How many uuids [`create_avoiding`] draws before it takes one anyway.
const UUID_DRAWS: usize = 64;

/// [`create`], with a uuid for which `taken` is false: libvirt objects are
/// named after the uuid's first hex digits (Lago's naming), so a caller
/// avoids the short names of the environments that exist already. After
/// [`UUID_DRAWS`] taken draws the last one is kept.
pub fn create_avoiding(paths: &Paths, taken: &dyn Fn(&str) -> bool) -> Result<String, LayoutError> {
    let root = paths.prefix_path();
    match fs::create_dir(root) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(LayoutError::Exists(root.to_path_buf()));
        }
        Err(e) => return Err(io("create", root)(e)),
    }
    for dir in [paths.logs(), paths.images(), paths.scripts(), paths.virt()] {
        fs::create_dir(&dir).map_err(io("create", &dir))?;
    }
    let mut uuid = new_uuid()?;
    for _ in 1..UUID_DRAWS {
        if !taken(&uuid) {
            break;
        }
        uuid = new_uuid()?;
    }
    write_atomic_public(&paths.uuid(), uuid.as_bytes())?;
    generate_ssh_key(&paths.ssh_id_rsa())?;
    write_json(
        &paths.metadata(),
        &serde_json::json!({ "lago_version": crate::VERSION }),
    )?;
    Ok(uuid)
}

/// Marks the prefix as initialized (the last step of a successful init).
pub fn mark_initialized(paths: &Paths) -> Result<(), LayoutError> {
    write_atomic_public(&paths.initialized(), b"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lago-layout-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn uuids_are_32_hex_and_differ() {
        let a = new_uuid().unwrap();
        let b = new_uuid().unwrap();
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(a, b);
    }

    #[test]
    fn a_taken_uuid_is_drawn_again() {
        let dir = scratch("avoiding");
        let seen = std::sync::Mutex::new(Vec::new());
        let taken = |u: &str| {
            let mut seen = seen.lock().unwrap();
            seen.push(u.to_string());
            seen.len() <= 3 // the first three draws are taken
        };
        let uuid = create_avoiding(&Paths::new(dir.join("p")), &taken).unwrap();
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.len(), 4, "{seen:?}");
        assert_eq!(seen[3], uuid);
        assert_eq!(
            fs::read_to_string(dir.join("p").join("uuid")).unwrap(),
            uuid
        );
        // always taken: the last draw is kept rather than failing
        let uuid = create_avoiding(&Paths::new(dir.join("q")), &|_| true).unwrap();
        assert_eq!(uuid.len(), 32);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn skeleton_has_lagos_files() {
        let dir = scratch("skeleton");
        let paths = Paths::new(dir.join("default"));
        let uuid = create(&paths).unwrap();
        assert_eq!(fs::read_to_string(paths.uuid()).unwrap(), uuid);
        assert_eq!(read_uuid(&paths).unwrap(), uuid);
        let key = fs::read_to_string(paths.ssh_id_rsa()).unwrap();
        assert!(key.starts_with("-----BEGIN RSA PRIVATE KEY-----"), "{key}");
        assert!(
            fs::read_to_string(paths.ssh_id_rsa_pub())
                .unwrap()
                .starts_with("ssh-rsa ")
        );
        assert_eq!(
            fs::read_to_string(paths.metadata()).unwrap(),
            format!("{{\n    \"lago_version\": \"{}\"\n}}", crate::VERSION)
        );
        for d in ["logs", "images", "scripts", "virt"] {
            assert!(paths.prefixed(d).is_dir(), "{d}");
        }
        assert!(!paths.initialized().exists());
        mark_initialized(&paths).unwrap();
        assert!(paths.initialized().is_file());
        assert!(matches!(create(&paths), Err(LayoutError::Exists(_))));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn private_files_are_0600_before_their_first_byte() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |f: &fs::File| f.metadata().unwrap().permissions().mode() & 0o777;
        let dir = scratch("private");
        let path = dir.join("secret");
        // a file left there with a wider mode is not reused (its mode would be)
        fs::write(&path, b"old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let file = create_private(&path).unwrap();
        assert_eq!(file.metadata().unwrap().len(), 0, "nothing written yet");
        assert_eq!(mode(&file), 0o600);
        drop(file);
        // what write_atomic and write_json leave: 0600, even over a 0644 file
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        write_json(&path, &serde_json::json!({"root-password": "x"})).unwrap();
        assert_eq!(mode(&fs::File::open(&path).unwrap()), 0o600);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = scratch("atomic");
        let f = dir.join("virt-env");
        write_atomic(&f, b"one").unwrap();
        write_atomic(&f, b"two").unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"two");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        let err = write_atomic(&dir.join("missing/x"), b"").unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
