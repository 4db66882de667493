//! The public error type of the core.
//!
//! Every module boundary of the pipeline (spec, plan, prefix, provider,
//! bootstrap, guest) has its own error enum; each converts into [`Error`],
//! which keeps the module error as its [`source`](std::error::Error::source)
//! and classifies it with an [`ErrorKind`]. Front ends map the kind, and only
//! the kind, to their own codes: `lago_status` in the C ABI and the exception
//! classes of the Python package, each in exactly one place.
//!
//! Besides its kind, message and cause, an [`Error`] carries structured
//! fields where the failing code knew them: the VM ([`Error::vm`]), the file
//! ([`Error::path`]), the key path and line inside a spec or configuration
//! file ([`Error::key_path`], [`Error::line`]) and libvirt's error code
//! ([`Error::libvirt_code`]). Front ends expose them as they are (C accessors,
//! Python exception attributes), so callers never parse messages.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

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
    /// The operation was interrupted ([`crate::cancel`], Ctrl-C) and undid
    /// what it had done.
    Cancelled,
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
        ErrorKind::Cancelled,
    ];
}

/// The error of every fallible operation of the core.
///
/// It carries a [`kind`](Error::kind), a one-line message for people and,
/// where there is one, the lower-level cause as its
/// [`source`](std::error::Error::source), plus the structured fields the
/// failing code knew (see the module documentation).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
    #[source]
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
    // Boxed and absent when empty: results carrying an Error stay small.
    details: Option<Box<Details>>,
}

/// The structured fields of an [`Error`], each set where it is known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Details {
    vm: Option<String>,
    path: Option<PathBuf>,
    key_path: Option<String>,
    line: Option<usize>,
    libvirt_code: Option<i32>,
}

impl Error {
    /// An error of `kind` with `message` and no underlying cause.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
            details: None,
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
            details: None,
        }
    }

    /// This error as the cause of a new one with the same kind and fields and
    /// the message `message` (which usually repeats this error's full
    /// message after some context, e.g. `cannot start VM 'vm0': …`).
    pub fn wrap(self, message: impl Into<String>) -> Self {
        let kind = self.kind;
        let details = self.details.clone();
        Self {
            details,
            ..Self::with_source(kind, message, self)
        }
    }

    fn details_mut(&mut self) -> &mut Details {
        self.details.get_or_insert_with(Box::default)
    }

    /// The same error naming the VM `vm` (the lago name, not libvirt's).
    #[must_use]
    pub fn with_vm(mut self, vm: impl Into<String>) -> Self {
        self.details_mut().vm = Some(vm.into());
        self
    }

    /// The same error naming the file or folder `path`.
    #[must_use]
    pub fn with_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.details_mut().path = Some(path.into());
        self
    }

    /// The same error naming the key path of the culprit in a spec or
    /// configuration file (`domains.vm0.nics[1].net`, `lago.ssh_timeout`).
    #[must_use]
    pub fn with_key_path(mut self, key_path: impl Into<String>) -> Self {
        self.details_mut().key_path = Some(key_path.into());
        self
    }

    /// The same error naming the 1-based line of the culprit in
    /// [`path`](Error::path).
    #[must_use]
    pub fn with_line(mut self, line: usize) -> Self {
        self.details_mut().line = Some(line);
        self
    }

    /// The same error carrying libvirt's error code (`virErrorNumber`).
    #[must_use]
    pub fn with_libvirt_code(mut self, code: i32) -> Self {
        self.details_mut().libvirt_code = Some(code);
        self
    }

    /// The VM the failure concerns, by its lago name, when known.
    pub fn vm(&self) -> Option<&str> {
        self.details.as_ref()?.vm.as_deref()
    }

    /// The file or folder the failure concerns (the init file, a prefix
    /// file, a configuration file, a local or remote path), when known.
    pub fn path(&self) -> Option<&Path> {
        self.details.as_ref()?.path.as_deref()
    }

    /// Where in a spec or configuration file the culprit sits
    /// (`domains.vm0.nics[1].net`), when known.
    pub fn key_path(&self) -> Option<&str> {
        self.details.as_ref()?.key_path.as_deref()
    }

    /// The 1-based line of the culprit in [`path`](Error::path), when known.
    pub fn line(&self) -> Option<usize> {
        self.details.as_ref()?.line
    }

    /// libvirt's error code (`virErrorNumber`, e.g. 42 for
    /// `VIR_ERR_NO_DOMAIN`), for failures of libvirt calls.
    pub fn libvirt_code(&self) -> Option<i32> {
        self.details.as_ref()?.libvirt_code
    }

    /// The messages of the causes of this error, outermost first, each as
    /// that cause says it (a libvirt error by its message alone). A cause
    /// whose text is the same as the text before it (a module error kept as
    /// the source of an error with its message) is left out; other causes
    /// are listed even when [`full_message`](Error::full_message) already
    /// contains their text: this is the chain, not the summary.
    pub fn causes(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut cause = self.source();
        while let Some(err) = cause {
            let text = cause_text(err);
            if text != *out.last().unwrap_or(&self.message) {
                out.push(text);
            }
            cause = err.source();
        }
        out
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
            let text = cause_text(err);
            if !text.is_empty() && !out.contains(&text) {
                out.push_str(": ");
                out.push_str(&text);
            }
            cause = err.source();
        }
        out
    }
}

/// How a cause is said in messages: its `Display`, except a libvirt error,
/// which is said by its message alone (its code and domain are fields).
fn cause_text(err: &(dyn StdError + 'static)) -> String {
    match err.downcast_ref::<virt::error::Error>() {
        Some(e) => e.message().to_string(),
        None => err.to_string(),
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
            ErrorKind::Cancelled => "interrupted",
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

/// Each structured field is filled by a real error path of the core.
#[cfg(test)]
mod fields_tests {
    use std::net::Ipv4Addr;
    use std::path::Path;

    use super::*;
    use crate::plan::{self, NetInput, NetKind, NicInput, VmInput};

    #[test]
    fn spec_errors_carry_file_key_path_and_line() {
        let text = "domains:\n  vm0:\n    memory: lots\n    nics:\n      - net: n0\nnets:\n  n0:\n    type: nat\n";
        let err = Error::from(
            crate::spec::load_str(text, Path::new("/w/init.yaml")).expect_err("bad memory"),
        );
        assert_eq!(err.kind(), ErrorKind::Config);
        assert_eq!(err.path(), Some(Path::new("/w/init.yaml")));
        assert_eq!(err.key_path(), Some("domains.vm0.memory"));
        assert_eq!(err.line(), Some(3));
        assert_eq!(err.vm(), None);
        assert_eq!(err.libvirt_code(), None);
        // The message users see is unchanged by the fields.
        assert!(
            err.full_message()
                .starts_with("invalid init file: /w/init.yaml:3:"),
            "{}",
            err.full_message()
        );
    }

    #[test]
    fn plan_errors_carry_vm_and_key_path() {
        let nets = [NetInput {
            name: "n0".into(),
            kind: NetKind::Nat,
            management: None,
            gw: Some(Ipv4Addr::new(192, 168, 200, 1)),
            mtu: 1500,
            dns_records: Vec::new(),
        }];
        let vms = [VmInput {
            name: "vm0".into(),
            nics: vec![NicInput {
                net: "n9".into(),
                ip: None,
            }],
        }];
        let err = Error::from(plan::plan(&nets, &vms, |_| true).expect_err("unknown net"));
        assert_eq!(err.vm(), Some("vm0"));
        assert_eq!(err.key_path(), Some("domains.vm0.nics[0].net"));
        let text = err.to_string();
        assert_eq!(err.full_message(), text, "nothing is said twice");
        let source = err.source().map(ToString::to_string);
        assert_eq!(source.as_deref(), Some(text.as_str()), "PlanError kept");
    }

    #[test]
    fn prefix_and_workdir_errors_carry_the_path() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("nope");
        let err = Error::from(
            crate::prefix::state::PrefixState::load(&crate::paths::Paths::new(&dir))
                .expect_err("not a prefix"),
        );
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert_eq!(err.path(), Some(dir.as_path()));
        assert!(err.source().is_some(), "StateError kept as the source");

        let err = Error::from(crate::workdir::Workdir::load(&dir).expect_err("no workdir"));
        assert_eq!(err.path(), Some(dir.as_path()));
        assert!(err.source().is_some(), "WorkdirError kept as the source");
    }

    #[test]
    fn libvirt_errors_carry_the_code_and_keep_the_libvirt_error() {
        // An URI no libvirt driver accepts fails inside libvirt, with no daemon.
        let err = crate::provider::libvirt::Libvirt::connect("lago-no-such-driver:///x")
            .expect_err("no driver");
        let code = err.code.expect("libvirt gives a code");
        assert!(err.libvirt.is_some());
        let message = err.message.clone();
        let err = Error::from(err);
        assert_eq!(err.kind(), ErrorKind::Libvirt);
        assert_eq!(err.libvirt_code(), Some(code));
        // The chain reaches the virt error; messages say its text only once.
        let virt_err = err
            .source()
            .and_then(StdError::source)
            .and_then(|e| e.downcast_ref::<virt::error::Error>());
        let virt_message = virt_err.map(|e| e.message().to_string());
        assert!(virt_message.is_some(), "virt error is the source's source");
        assert!(err.to_string().ends_with(&message));
        assert_eq!(err.full_message(), err.to_string());
        // The chain ends at libvirt's own message (without lago's hint).
        assert_eq!(err.causes(), Vec::from_iter(virt_message));
    }

    #[test]
    fn wrap_keeps_kind_fields_and_cause() {
        let inner =
            Error::new(ErrorKind::Libvirt, "create domain d-vm0: boom").with_libvirt_code(1);
        let outer = inner
            .wrap("cannot start VM 'vm0': create domain d-vm0: boom")
            .with_vm("vm0");
        assert_eq!(outer.kind(), ErrorKind::Libvirt);
        assert_eq!(outer.libvirt_code(), Some(1));
        assert_eq!(outer.vm(), Some("vm0"));
        assert_eq!(
            outer.full_message(),
            "cannot start VM 'vm0': create domain d-vm0: boom"
        );
        assert_eq!(
            outer.causes(),
            vec!["create domain d-vm0: boom".to_string()]
        );
    }

    #[test]
    fn ssh_errors_carry_the_path() {
        let err = Error::from(crate::ssh::SshError::RemoteNotFound {
            target: "root@h".into(),
            op: "copy_from".into(),
            path: "/var/log/x".into(),
        });
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert_eq!(err.path(), Some(Path::new("/var/log/x")));
    }
}
