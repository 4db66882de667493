//! Templates: repositories that publish base images, and the host-wide store
//! that keeps one raw copy of each template version.
//!
//! The flow for a `template` disk:
//!
//! ```text
//! RepoMetadata::load(path or URL)              repo.metadata (Lago's JSON)
//!   .resolve(template, version, lookup)    ->  TemplateVersion (repo:tmpl:ver + source)
//! TemplateStore::new(dir).get_or_fetch(&v) ->  StoredTemplate (raw image, hash, metadata)
//! ```
//!
//! after which [`crate::disk::create_overlay`] makes the VM's qcow2 overlay
//! on the stored image. Files come from a `file` source (a local folder) or
//! an `http` source (`.xz`-compressed or not); see [`SourceLocation`].

mod expand;
mod http;
mod repo;
mod source;
mod store;

use std::io;
use std::path::PathBuf;
use std::time::Duration;

pub use expand::{env_lookup, expand_path, expand_user, expand_vars};
pub use http::{HttpClient, HttpOptions};
pub use repo::{RepoMetadata, SourceKind, SourceSpec, TemplateSpec, TemplateVersion, VersionSpec};
pub use source::SourceLocation;
pub use store::{DEFAULT_LOCK_TIMEOUT, DEFAULT_STORE_PATH, StoredTemplate, TemplateStore};

use crate::disk::DiskError;
use crate::error::{Error, ErrorKind};

/// What went wrong with a template repository, source or the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// A local file (repo metadata, source file, stored file) cannot be read.
    #[error("cannot read {what} {}", path.display())]
    Read {
        /// What the file is, e.g. `repo metadata`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The error from the operating system.
        #[source]
        source: io::Error,
    },
    /// `repo.metadata` is not valid JSON or not a valid repo.
    #[error(
        "invalid repo metadata {origin}{}{json_path}: {message}",
        if json_path.is_empty() { "" } else { " at " }
    )]
    InvalidRepo {
        /// The file path or URL of the repo.
        origin: String,
        /// The JSON path of the bad value, e.g. `templates.tiny.versions.v1`;
        /// empty for the whole document.
        json_path: String,
        /// What is wrong and what would be valid.
        message: String,
    },
    /// The repo has no template of that name.
    #[error(
        "template '{template}' not found in repo '{repo}' (available: {})",
        repo::list(available)
    )]
    TemplateNotFound {
        /// The template asked for.
        template: String,
        /// The repo name.
        repo: String,
        /// The templates the repo has.
        available: Vec<String>,
    },
    /// The template has no version of that name.
    #[error(
        "version '{version}' of template '{template}' not found in repo '{repo}' (available: {})",
        repo::list(available)
    )]
    VersionNotFound {
        /// The template.
        template: String,
        /// The repo name.
        repo: String,
        /// The version asked for.
        version: String,
        /// The versions the template has.
        available: Vec<String>,
    },
    /// No version was asked for and the template has none.
    #[error("template '{template}' in repo '{repo}' has no versions")]
    NoVersions {
        /// The template.
        template: String,
        /// The repo name.
        repo: String,
    },
    /// A source has no such file (image or hash): missing locally, or 404/410
    /// for every candidate URL.
    #[error("{what} not found: {location}")]
    NotFound {
        /// What is missing, e.g. `template image`.
        what: &'static str,
        /// The path, or the URLs tried.
        location: String,
    },
    /// An HTTP request ended with a status of 300 or more.
    #[error("HTTP status {status} for {url}")]
    HttpStatus {
        /// The URL requested.
        url: String,
        /// The final status code.
        status: u16,
    },
    /// An HTTP request failed before a status: DNS, connection, TLS,
    /// timeout, or the body broke off.
    #[error("{} {url}", if *timed_out { "timed out fetching" } else { "cannot fetch" })]
    Http {
        /// The URL requested.
        url: String,
        /// Whether a connect or read timeout expired.
        timed_out: bool,
        /// The client's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A `.hash` file does not hold a sha1.
    #[error("invalid hash file {location}: expected a sha1 (40 hex digits), found '{found}'")]
    BadHashFile {
        /// The file path or URL.
        location: String,
        /// The start of what it holds.
        found: String,
    },
    /// A `.metadata` file is not JSON.
    #[error("invalid template metadata in {location}")]
    BadMetadata {
        /// The file path or URL.
        location: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The fetched image's sha1 is not the one the repo publishes. The
    /// download has been deleted.
    #[error(
        "the image of {name} from {location} does not match its hash: the repo says \
         sha1 {expected} ({hash_location}), the image has sha1 {actual}"
    )]
    HashMismatch {
        /// The full name of the version.
        name: String,
        /// Where the image came from.
        location: String,
        /// Where the expected hash came from.
        hash_location: String,
        /// The sha1 the repo publishes.
        expected: String,
        /// The sha1 of what was fetched.
        actual: String,
    },
    /// The fetched image is an overlay on another file.
    #[error(
        "the image of {name} from {location} has a backing file ({backing}); \
         a template image must stand alone"
    )]
    HasBackingFile {
        /// The full name of the version.
        name: String,
        /// Where the image came from.
        location: String,
        /// The backing file it names.
        backing: String,
    },
    /// `xz` failed to decompress a downloaded image.
    #[error("cannot decompress {url}: `{command}` failed ({status}): {stderr}")]
    Decompress {
        /// The URL of the `.xz` image.
        url: String,
        /// The command line.
        command: String,
        /// How it ended.
        status: String,
        /// Its standard error.
        stderr: String,
    },
    /// A helper program could not be run.
    #[error("cannot run {program}")]
    Spawn {
        /// The program, e.g. `xz`.
        program: &'static str,
        /// The error from the operating system.
        #[source]
        source: io::Error,
    },
    /// A disk operation (qemu-img) on a fetched image failed.
    #[error("{context}")]
    Disk {
        /// What was being done.
        context: String,
        /// The disk error.
        #[source]
        source: DiskError,
    },
    /// Another fetch of the same version held the lock for too long.
    #[error(
        "timed out after {}s waiting for the lock {} (another process is fetching this template)",
        waited.as_secs(),
        path.display()
    )]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long it waited.
        waited: Duration,
    },
    /// A file-system operation in the store failed.
    #[error("cannot {op} {}", path.display())]
    Io {
        /// The operation.
        op: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The error from the operating system.
        #[source]
        source: io::Error,
    },
    /// A template full name cannot be a store file name.
    #[error("invalid template name '{name}': {reason}")]
    InvalidName {
        /// The name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl TemplateError {
    /// The [`ErrorKind`] this error is reported as.
    pub fn kind(&self) -> ErrorKind {
        match self {
            TemplateError::Read { source, .. } | TemplateError::Io { source, .. } => {
                match source.kind() {
                    io::ErrorKind::NotFound => ErrorKind::NotFound,
                    _ => ErrorKind::Io,
                }
            }
            TemplateError::InvalidRepo { .. }
            | TemplateError::BadHashFile { .. }
            | TemplateError::BadMetadata { .. } => ErrorKind::Config,
            TemplateError::TemplateNotFound { .. }
            | TemplateError::VersionNotFound { .. }
            | TemplateError::NoVersions { .. }
            | TemplateError::NotFound { .. } => ErrorKind::NotFound,
            TemplateError::HttpStatus { status, .. } => {
                if http::is_missing_status(*status) {
                    ErrorKind::NotFound
                } else {
                    ErrorKind::Io
                }
            }
            TemplateError::Http { timed_out, .. } => {
                if *timed_out {
                    ErrorKind::Timeout
                } else {
                    ErrorKind::Io
                }
            }
            TemplateError::HashMismatch { .. }
            | TemplateError::HasBackingFile { .. }
            | TemplateError::Decompress { .. } => ErrorKind::Disk,
            TemplateError::Spawn { .. } => ErrorKind::Io,
            TemplateError::Disk { source, .. } => source.kind(),
            TemplateError::LockTimeout { .. } => ErrorKind::Timeout,
            TemplateError::InvalidName { .. } => ErrorKind::InvalidInput,
        }
    }
}

impl From<TemplateError> for Error {
    /// Keeps the [`TemplateError`] as the source, classified by
    /// [`TemplateError::kind`].
    fn from(err: TemplateError) -> Self {
        let kind = err.kind();
        Error::with_source(kind, err.to_string(), err)
    }
}

/// A repo, template or version name (and so a full name) must make one
/// plain file name in the store.
pub(crate) fn check_name_part(name: &str) -> Result<(), String> {
    if name.is_empty() {
        Err("must not be empty".to_owned())
    } else if name.contains('/') {
        Err("must not contain '/'".to_owned())
    } else if name.contains('\0') {
        Err("must not contain a NUL byte".to_owned())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        let http = |status| TemplateError::HttpStatus {
            url: "http://h/x".into(),
            status,
        };
        assert_eq!(http(404).kind(), ErrorKind::NotFound);
        assert_eq!(http(500).kind(), ErrorKind::Io);
        assert_eq!(http(500).to_string(), "HTTP status 500 for http://h/x");
        let timeout = TemplateError::Http {
            url: "http://h/x".into(),
            timed_out: true,
            source: "timeout".into(),
        };
        assert_eq!(timeout.kind(), ErrorKind::Timeout);
        assert_eq!(timeout.to_string(), "timed out fetching http://h/x");
        let err: Error = TemplateError::LockTimeout {
            path: PathBuf::from("/s/a.lock"),
            waited: Duration::from_secs(3),
        }
        .into();
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert!(
            err.message()
                .starts_with("timed out after 3s waiting for the lock /s/a.lock")
        );
    }

    #[test]
    fn disk_errors_keep_their_kind() {
        let err = TemplateError::Disk {
            context: "cannot convert".into(),
            source: DiskError::NotFound {
                role: "source image",
                path: PathBuf::from("/x"),
            },
        };
        assert_eq!(err.kind(), ErrorKind::NotFound);
        let err: Error = err.into();
        assert_eq!(err.message(), "cannot convert");
        assert!(
            err.full_message()
                .ends_with("cannot convert: source image not found: /x"),
            "{}",
            err.full_message()
        );
    }

    #[test]
    fn name_parts() {
        assert!(check_name_part("lago-tests:tiny:v1").is_ok());
        assert_eq!(check_name_part("").unwrap_err(), "must not be empty");
        assert_eq!(check_name_part("a/b").unwrap_err(), "must not contain '/'");
    }
}
