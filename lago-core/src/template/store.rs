//! The template store: one raw image per template version, shared by every
//! prefix and user of the host.
//!
//! Layout (Lago's, so both tools can share a store):
//!
//! ```text
//! <store>/<repo>:<tmpl>:<ver>            the raw image
//! <store>/<repo>:<tmpl>:<ver>.hash       the repo's sha1 of the fetched image
//! <store>/<repo>:<tmpl>:<ver>.metadata   the template's metadata (JSON)
//! <store>/<repo>:<tmpl>:<ver>.lock       flock(2) serialising fetches
//! <store>/<repo>:<tmpl>:<ver>.tmp*       work files of a fetch in progress
//! ```
//!
//! A version is *present* when the image and its `.hash` exist; a present
//! version is returned without touching the network (Lago does not
//! re-validate against the repo either). Otherwise, holding an exclusive lock
//! on `<name>.lock`, a fetch:
//!
//! 1. reads the repo's hash and metadata (small files first: a missing hash
//!    fails before a large download);
//! 2. copies or downloads (decompressing `.xz`) the image into `<name>.tmp`,
//!    sparse, hashing it on the way;
//! 3. compares the sha1 with the repo's hash (a mismatch names both and the
//!    source, and deletes the download);
//! 4. converts the image to raw with `qemu-img convert -O raw` into
//!    `<name>.tmp.raw` unless it is raw already, in which case `<name>.tmp`
//!    is used as is (qemu-img would only copy it again);
//! 5. refuses an image with a backing file (a template must stand alone; a
//!    backing file in a downloaded qcow2 could name any file of the host);
//! 6. writes `<name>.metadata` and `<name>.hash` (each through a temporary
//!    file and a rename), fsyncs, and renames the image into place last, so a
//!    reader never sees a half image.
//!
//! A failed fetch removes its work files; work files left by a killed process
//! are removed by the next fetch. Another process (or thread) waiting on the
//! lock finds the version present when it gets the lock.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use sha1::{Digest, Sha1};

use super::TemplateError;
use super::http::HttpClient;
use super::repo::TemplateVersion;
use super::source::parse_hash;
use crate::disk::{self, ImageFormat};
use crate::fslock::{self, LockError};

/// Where the store is unless configured otherwise (Lago's default).
pub const DEFAULT_STORE_PATH: &str = "/var/lib/lago/store";

/// How long a fetch waits for another one of the same version by default.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The suffixes of a fetch's work files.
const WORK_SUFFIXES: [&str; 4] = [".tmp", ".tmp.raw", ".tmp.hash", ".tmp.metadata"];

/// A template version in the store.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTemplate {
    /// `<repo>:<tmpl>:<ver>`.
    pub name: String,
    /// The raw image: the backing file for overlays.
    pub image_path: PathBuf,
    /// The sha1 the repo published for it.
    pub hash: String,
    /// The template's metadata (`distro`, `root-partition`, …); an empty
    /// object if the repo had none.
    pub metadata: Value,
    /// Whether this call fetched it (false: it was present).
    pub fetched: bool,
}

/// The shared store of template images.
#[derive(Debug, Clone)]
pub struct TemplateStore {
    root: PathBuf,
    http: HttpClient,
    lock_timeout: Duration,
}

impl TemplateStore {
    /// A store in the folder `path` (made absolute; created on the first
    /// fetch), with the default HTTP timeouts and lock timeout.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let root = std::path::absolute(&path).unwrap_or(path);
        TemplateStore {
            root,
            http: HttpClient::default(),
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
        }
    }

    /// This store using `http` for `http` sources.
    pub fn with_http(mut self, http: HttpClient) -> Self {
        self.http = http;
        self
    }

    /// This store waiting at most `timeout` for another fetch of the same
    /// version.
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// The store folder.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Where the image of the version `full_name` is (or would be).
    pub fn image_path(&self, full_name: &str) -> PathBuf {
        self.root.join(full_name)
    }

    /// The version `full_name` if it is present; never touches the network
    /// or the lock.
    pub fn get(&self, full_name: &str) -> Result<Option<StoredTemplate>, TemplateError> {
        check_full_name(full_name)?;
        self.read_present(full_name, false)
    }

    /// The version, fetched into the store first if it is not present (see
    /// the module documentation for the steps and guarantees).
    pub fn get_or_fetch(&self, version: &TemplateVersion) -> Result<StoredTemplate, TemplateError> {
        let name = version.full_name();
        check_full_name(&name)?;
        fs::create_dir_all(&self.root).map_err(|source| TemplateError::Io {
            op: "create the template store",
            path: self.root.clone(),
            source,
        })?;
        let lock_path = self.file(&name, ".lock");
        let waiting = || {
            tracing::info!(lock = %lock_path.display(), "waiting for another fetch of this template");
        };
        let lock = match fslock::lock(&lock_path, self.lock_timeout, waiting) {
            Ok(lock) => lock,
            Err(err) => {
                // A store we may only read: a present version is still
                // usable, as images are published whole.
                if matches!(err, LockError::Open { .. })
                    && let Some(stored) = self.read_present(&name, false)?
                {
                    return Ok(stored);
                }
                return Err(lock_error(err));
            }
        };
        if let Some(stored) = self.read_present(&name, false)? {
            tracing::debug!(template = %name, "template is in the store");
            return Ok(stored);
        }
        let result = self.fetch(version, &name);
        if result.is_err() {
            self.remove_work_files(&name);
        }
        drop(lock);
        result
    }

    /// Fetches `version` into the store; the lock is held.
    fn fetch(
        &self,
        version: &TemplateVersion,
        name: &str,
    ) -> Result<StoredTemplate, TemplateError> {
        self.remove_work_files(name);
        let handle = &version.handle;
        tracing::info!(template = %name, source = %version.source.describe(handle), "fetching template");
        let (expected, hash_location) = version.source.fetch_hash(handle, &self.http)?;
        let metadata = version.source.fetch_metadata(handle, &self.http)?;

        let tmp = self.file(name, ".tmp");
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|source| TemplateError::Io {
                op: "create",
                path: tmp.clone(),
                source,
            })?;
        let mut hasher = Sha1::new();
        let mut progress = crate::progress::Progress::bytes(
            format!("downloading template {name}"),
            version.source.image_size_hint(handle),
        );
        let location = version.source.fetch_image(
            handle,
            &self.http,
            &mut out,
            &tmp,
            &mut |bytes: &[u8]| {
                hasher.update(bytes);
                progress.add(bytes.len() as u64);
            },
        )?;
        progress.finish();
        out.sync_all().map_err(|source| TemplateError::Io {
            op: "sync",
            path: tmp.clone(),
            source,
        })?;
        drop(out);
        let actual = hex(&hasher.finalize());
        if actual != expected {
            return Err(TemplateError::HashMismatch {
                name: name.to_owned(),
                location,
                hash_location,
                expected,
                actual,
            });
        }

        let info = disk::info(&tmp).map_err(|source| TemplateError::Disk {
            context: format!("cannot inspect the fetched image of {name}"),
            source,
        })?;
        if let Some(backing) = &info.backing_filename {
            return Err(TemplateError::HasBackingFile {
                name: name.to_owned(),
                location,
                backing: backing.clone(),
            });
        }
        let image_tmp = if info.format == "raw" {
            tmp
        } else {
            let raw = self.file(name, ".tmp.raw");
            disk::convert(&tmp, Some(&info.format), &raw, ImageFormat::Raw).map_err(|source| {
                TemplateError::Disk {
                    context: format!("cannot convert the {} image of {name} to raw", info.format),
                    source,
                }
            })?;
            remove(&tmp)?;
            sync_file(&raw)?;
            raw
        };

        let metadata_text =
            serde_json::to_string(&metadata).map_err(|source| TemplateError::BadMetadata {
                location: location.clone(),
                source,
            })?;
        self.publish_small(name, ".metadata", metadata_text.as_bytes())?;
        self.publish_small(name, ".hash", expected.as_bytes())?;
        let image_path = self.image_path(name);
        rename(&image_tmp, &image_path)?;
        sync_dir(&self.root);
        tracing::info!(template = %name, image = %image_path.display(), "template stored");
        Ok(StoredTemplate {
            name: name.to_owned(),
            image_path,
            hash: expected,
            metadata,
            fetched: true,
        })
    }

    /// The version if its image and hash exist.
    fn read_present(
        &self,
        name: &str,
        fetched: bool,
    ) -> Result<Option<StoredTemplate>, TemplateError> {
        let image_path = self.image_path(name);
        let hash_path = self.file(name, ".hash");
        if !image_path.is_file() || !hash_path.is_file() {
            return Ok(None);
        }
        let hash_text = fs::read_to_string(&hash_path).map_err(|source| TemplateError::Read {
            what: "stored hash",
            path: hash_path.clone(),
            source,
        })?;
        let hash = parse_hash(&hash_text, &hash_path.display().to_string())?;
        let metadata_path = self.file(name, ".metadata");
        let metadata = match fs::read_to_string(&metadata_path) {
            Ok(text) => {
                serde_json::from_str(&text).map_err(|source| TemplateError::BadMetadata {
                    location: metadata_path.display().to_string(),
                    source,
                })?
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                tracing::warn!(path = %metadata_path.display(), "stored template has no metadata");
                Value::Object(Default::default())
            }
            Err(source) => {
                return Err(TemplateError::Read {
                    what: "stored metadata",
                    path: metadata_path,
                    source,
                });
            }
        };
        Ok(Some(StoredTemplate {
            name: name.to_owned(),
            image_path,
            hash,
            metadata,
            fetched,
        }))
    }

    /// Writes `<name><suffix>` whole: to `<name>.tmp<suffix>`, fsync, rename.
    fn publish_small(&self, name: &str, suffix: &str, bytes: &[u8]) -> Result<(), TemplateError> {
        let tmp = self.file(name, &format!(".tmp{suffix}"));
        let io_err = |op, path: &Path| {
            let path = path.to_owned();
            move |source| TemplateError::Io { op, path, source }
        };
        let mut file = File::create(&tmp).map_err(io_err("create", &tmp))?;
        file.write_all(bytes).map_err(io_err("write", &tmp))?;
        file.sync_all().map_err(io_err("sync", &tmp))?;
        rename(&tmp, &self.file(name, suffix))
    }

    fn remove_work_files(&self, name: &str) {
        for suffix in WORK_SUFFIXES {
            let path = self.file(name, suffix);
            match fs::remove_file(&path) {
                Ok(()) => tracing::debug!(path = %path.display(), "removed work file"),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot remove work file");
                }
            }
        }
    }

    /// `<store>/<name><suffix>`.
    fn file(&self, name: &str, suffix: &str) -> PathBuf {
        self.root.join(format!("{name}{suffix}"))
    }
}

/// The store's error for a lock that could not be taken.
fn lock_error(err: LockError) -> TemplateError {
    match err {
        LockError::Open { path, source } => TemplateError::Io {
            op: "open the lock file",
            path,
            source,
        },
        LockError::Lock { path, source } => TemplateError::Io {
            op: "lock",
            path,
            source,
        },
        LockError::Timeout { path, timeout, .. } => TemplateError::LockTimeout {
            path,
            waited: timeout,
        },
    }
}

/// A full name must be one plain file name.
fn check_full_name(name: &str) -> Result<(), TemplateError> {
    super::check_name_part(name).map_err(|reason| TemplateError::InvalidName {
        name: name.to_owned(),
        reason,
    })
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

fn rename(from: &Path, to: &Path) -> Result<(), TemplateError> {
    fs::rename(from, to).map_err(|source| TemplateError::Io {
        op: "move into place",
        path: to.to_owned(),
        source,
    })
}

fn remove(path: &Path) -> Result<(), TemplateError> {
    fs::remove_file(path).map_err(|source| TemplateError::Io {
        op: "remove",
        path: path.to_owned(),
        source,
    })
}

fn sync_file(path: &Path) -> Result<(), TemplateError> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|source| TemplateError::Io {
            op: "sync",
            path: path.to_owned(),
            source,
        })
}

/// fsyncs a folder so renames in it survive a crash; best effort.
fn sync_dir(path: &Path) {
    if let Err(e) = File::open(path).and_then(|f| f.sync_all()) {
        tracing::debug!(path = %path.display(), error = %e, "cannot sync folder");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_hex_of_known_input() {
        let mut h = Sha1::new();
        h.update(b"abc");
        assert_eq!(
            hex(&h.finalize()),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }

    #[test]
    fn bad_full_names_are_refused() {
        let store = TemplateStore::new("/nonexistent-store");
        let err = store.get("a/b:c:d").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid template name 'a/b:c:d': must not contain '/'"
        );
        assert_eq!(store.get("r:t:v").unwrap(), None);
    }

    #[test]
    fn store_paths() {
        let store = TemplateStore::new("/var/lib/lago/store");
        assert_eq!(
            store.image_path("r:t:v"),
            PathBuf::from("/var/lib/lago/store/r:t:v")
        );
        assert_eq!(store.path(), Path::new(DEFAULT_STORE_PATH));
    }
}
