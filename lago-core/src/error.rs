//! The public error type of the core.
//!
//! Every module boundary of the pipeline (spec, plan, prefix, provider,
//! bootstrap, guest) has its own error enum; each converts into [`Error`],
//! which keeps the module error as its [`source`](std::error::Error::source)
//! and classifies it with an [`ErrorKind`]. Front ends map the kind, and only
//! the kind, to their own codes: `lago_status` in the C ABI and the exception
//! classes of the Python package, each in exactly one place.

use std::error::Error as StdError;
use std::fmt;
use std::io;

/// A specialised `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The class of an [`Error`]: what went wrong, at which boundary.
///
/// New kinds may be added in minor releases, so matches outside this crate
/// need a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An argument given to an API call is not valid (empty name, bad value).
    InvalidInput,
    /// A LagoInitFile, spec or configuration value is malformed or inconsistent.
    Config,
    /// A named thing (workdir, prefix, VM, network, template, file) does not exist.
    NotFound,
    /// A thing to be created already exists (prefix, lease, domain).
    AlreadyExists,
    /// An operating-system I/O operation failed.
    Io,
    /// A libvirt call failed.
    Libvirt,
    /// A disk image operation failed (qemu-img, overlays, templates).
    Disk,
    /// An SSH connection, command or file transfer failed.
    Ssh,
    /// An operation did not finish within its time limit.
    Timeout,
    /// A bug in lago: an invariant did not hold.
    Internal,
}

impl ErrorKind {
    /// Every kind, in declaration order. Front ends use it to check that their
    /// mapping from kinds is total and gives each kind its own code.
    /// A new variant must be added here too.
    pub const ALL: &'static [ErrorKind] = &[
        ErrorKind::InvalidInput,
        ErrorKind::Config,
        ErrorKind::NotFound,
        ErrorKind::AlreadyExists,
        ErrorKind::Io,
        ErrorKind::Libvirt,
        ErrorKind::Disk,
        ErrorKind::Ssh,
        ErrorKind::Timeout,
        ErrorKind::Internal,
    ];
}

/// The error of every fallible operation of the core.
///
/// It carries a [`kind`](Error::kind), a one-line message for people and,
/// where there is one, the lower-level cause as its
/// [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
    #[source]
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

impl Error {
    /// An error of `kind` with `message` and no underlying cause.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// An error of `kind` with `message`, caused by `source`.
    pub fn with_source(
        kind: ErrorKind,
        message: impl Into<String>,
        source: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Self {
        Self {
            kind,
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// What class of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message of this error alone, without its causes.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The message followed by the messages of all causes, joined by `": "`.
    /// A cause whose text is already part of what was written (module errors
    /// kept as the source of an error with the same message) is skipped, so
    /// nothing is said twice.
    pub fn full_message(&self) -> String {
        let mut out = self.message.clone();
        let mut cause = self.source();
        while let Some(err) = cause {
            let text = err.to_string();
            if !text.is_empty() && !out.contains(&text) {
                out.push_str(": ");
                out.push_str(&text);
            }
            cause = err.source();
        }
        out
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            ErrorKind::InvalidInput => "invalid input",
            ErrorKind::Config => "configuration error",
            ErrorKind::NotFound => "not found",
            ErrorKind::AlreadyExists => "already exists",
            ErrorKind::Io => "I/O error",
            ErrorKind::Libvirt => "libvirt error",
            ErrorKind::Disk => "disk error",
            ErrorKind::Ssh => "SSH error",
            ErrorKind::Timeout => "timed out",
            ErrorKind::Internal => "internal error",
        };
        f.write_str(name)
    }
}

impl From<io::Error> for Error {
    /// Classifies an I/O error: a missing file is [`ErrorKind::NotFound`], an
    /// existing one [`ErrorKind::AlreadyExists`], a timeout
    /// [`ErrorKind::Timeout`], anything else [`ErrorKind::Io`].
    fn from(err: io::Error) -> Self {
        let kind = match err.kind() {
            io::ErrorKind::NotFound => ErrorKind::NotFound,
            io::ErrorKind::AlreadyExists => ErrorKind::AlreadyExists,
            io::ErrorKind::TimedOut => ErrorKind::Timeout,
            _ => ErrorKind::Io,
        };
        let message = err.to_string();
        Self::with_source(kind, message, err)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn new_keeps_kind_and_message() {
        let err = Error::new(ErrorKind::Config, "unknown network 'lago-net' in nic 0");
        assert_eq!(err.kind(), ErrorKind::Config);
        assert_eq!(err.message(), "unknown network 'lago-net' in nic 0");
        assert_eq!(err.to_string(), "unknown network 'lago-net' in nic 0");
        assert!(err.source().is_none());
    }

    #[test]
    fn with_source_chains_cause() {
        let cause = io::Error::new(io::ErrorKind::PermissionDenied, "permission denied");
        let err = Error::with_source(ErrorKind::Disk, "cannot create overlay", cause);
        assert_eq!(err.kind(), ErrorKind::Disk);
        let source = err.source().map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("permission denied"));
        assert_eq!(
            err.full_message(),
            "cannot create overlay: permission denied"
        );
    }

    #[test]
    fn with_source_accepts_plain_strings() {
        let err = Error::with_source(ErrorKind::Ssh, "ssh to vm0 failed", "connection refused");
        assert_eq!(err.full_message(), "ssh to vm0 failed: connection refused");
    }

    #[test]
    fn io_errors_are_classified() {
        let cases = [
            (io::ErrorKind::NotFound, ErrorKind::NotFound),
            (io::ErrorKind::AlreadyExists, ErrorKind::AlreadyExists),
            (io::ErrorKind::TimedOut, ErrorKind::Timeout),
            (io::ErrorKind::PermissionDenied, ErrorKind::Io),
        ];
        for (io_kind, expected) in cases {
            let err = Error::from(io::Error::new(io_kind, "boom"));
            assert_eq!(err.kind(), expected, "{io_kind:?}");
            assert_eq!(err.message(), "boom");
        }
    }

    #[test]
    fn question_mark_converts_io_errors() {
        fn open_missing() -> Result<std::fs::File> {
            Ok(std::fs::File::open(
                "/nonexistent/lago-core-test/LagoInitFile",
            )?)
        }
        let err = open_missing().expect_err("file must not exist");
        assert_eq!(err.kind(), ErrorKind::NotFound);
    }

    #[test]
    fn all_lists_each_kind_once() {
        let unique: HashSet<_> = ErrorKind::ALL.iter().collect();
        assert_eq!(unique.len(), ErrorKind::ALL.len());
        // Display names are distinct too, so messages never blur two kinds.
        let names: HashSet<_> = ErrorKind::ALL.iter().map(ToString::to_string).collect();
        assert_eq!(names.len(), ErrorKind::ALL.len());
    }

    #[test]
    fn error_is_send_sync_static() {
        fn assert_traits<T: Send + Sync + 'static>() {}
        assert_traits::<Error>();
    }
}

#[cfg(test)]
mod dedupe_tests {
    use super::*;

    #[test]
    fn a_cause_repeating_the_message_is_not_said_twice() {
        let inner = std::io::Error::other("cannot fetch URL: unexpected EOF");
        let err = Error::with_source(ErrorKind::Io, "cannot fetch URL: unexpected EOF", inner);
        assert_eq!(err.full_message(), "cannot fetch URL: unexpected EOF");
    }
}
