//! Guest access over SSH: commands, files, scripts, interactive sessions and
//! service probes, on one reused connection per guest.
//!
//! [`SshClient`] holds at most one SSH connection to its [`SshTarget`] and
//! reuses it for every call; calls from several threads are serialised on
//! it. When a reused connection turns out to be dead before a command
//! started (the guest rebooted, dropbear restarted), the client reconnects
//! once and retries, so callers never see a stale connection. A command that
//! fails *after* it started is never retried: it may have had effects.
//!
//! Everything is bounded in time. Commands take a timeout covering the
//! whole call; file transfers use [`SshTarget::io_timeout`] as the limit on
//! any single network wait; connecting uses [`SshTarget::connect_timeout`].
//! [`SshClient::wait_for_ssh`] polls the guest's port with short TCP probes
//! until it answers with an SSH banner and a first `true` succeeds;
//! [`SshClient::wait_for_ssh_from`] takes the address to probe from a
//! source asked before each probe (`Env::wait_for_ssh` gives it the DHCP
//! lease of the VM's management NIC, else the address init planned).
//!
//! Commands given as argument vectors are quoted for a POSIX shell and
//! joined into the single command line an SSH `exec` request carries (see
//! [`join_command`]); [`SshClient::exec_command`] takes a ready command line
//! instead, for Lago's unquoted `' '.join(command)` behaviour.
//!
//! Guests that only a remote libvirt host can reach (on its private
//! networks, with `qemu+ssh://` URLs) are reached through that host: a
//! [`JumpHost`] holds one SSH connection to it and carries each guest
//! connection in a `direct-tcpip` channel on it; [`SshClient::via`] makes a
//! client whose connections go that way. Everything else is the same.
//!
//! Host keys are recorded on first contact in an OpenSSH `known_hosts` file
//! chosen by the caller (a prefix uses `<prefix>/known_hosts`) and checked
//! on every later connection; see [`KnownHosts`].
//!
//! Errors are [`SshError`], which names the user, the host and the
//! operation, and converts into [`crate::Error`].

mod client;
mod copy;
mod exec;
mod interactive;
pub mod known_hosts;
mod quote;
mod session;
mod stream;
mod tunnel;

use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, ErrorKind};

pub use client::SshClient;
pub use copy::CopyStats;
pub use interactive::PtySize;
pub use known_hosts::{HostKey, KnownHosts};
pub use quote::quote;
pub use tunnel::{JumpHost, JumpTarget};
// Service management moved to `crate::service`; kept here for existing imports.
pub use crate::service::{ServiceManager, ServiceState};

/// The SSH port guests listen on unless told otherwise.
pub const DEFAULT_PORT: u16 = 22;
/// The user Lago logs in as (`ssh_user` in Lago's configuration).
pub const DEFAULT_USER: &str = "root";
/// Lago's default root password (`ssh_password`, a VM's `ssh-password`).
pub const DEFAULT_PASSWORD: &str = "123456";
/// Default limit on establishing a connection (TCP, handshake, auth).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default limit on any single network wait of a file transfer.
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(60);

/// Where and as whom to log in. Its `Debug` form hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct SshTarget {
    /// The guest's address.
    pub host: IpAddr,
    /// The guest's SSH port.
    pub port: u16,
    /// The user to log in as.
    pub user: String,
    /// Private key file for public-key authentication (a prefix's `id_rsa`).
    /// A missing file is skipped, so the password can still be used.
    pub key: Option<PathBuf>,
    /// Password tried when there is no key or the key is refused.
    pub password: Option<String>,
    /// OpenSSH `known_hosts` file recording the guest's host key; `None`
    /// accepts any host key (nothing is recorded or checked).
    pub known_hosts: Option<PathBuf>,
    /// Limit on establishing one connection: TCP connect, SSH handshake and
    /// authentication together.
    pub connect_timeout: Duration,
    /// Limit on any single network wait during a file transfer.
    pub io_timeout: Duration,
}

impl std::fmt::Debug for SshTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshTarget")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("key", &self.key)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("known_hosts", &self.known_hosts)
            .field("connect_timeout", &self.connect_timeout)
            .field("io_timeout", &self.io_timeout)
            .finish()
    }
}

impl SshTarget {
    /// A target at `host`, port 22, user `root`, password `123456`, no key,
    /// no host key checking and the default timeouts.
    pub fn new(host: IpAddr) -> Self {
        Self {
            host,
            port: DEFAULT_PORT,
            user: DEFAULT_USER.to_owned(),
            key: None,
            password: Some(DEFAULT_PASSWORD.to_owned()),
            known_hosts: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            io_timeout: DEFAULT_IO_TIMEOUT,
        }
    }

    /// Sets the private key file.
    pub fn with_key(mut self, key: impl Into<PathBuf>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets (or, with `None`, removes) the password.
    pub fn with_password(mut self, password: Option<&str>) -> Self {
        self.password = password.map(str::to_owned);
        self
    }

    /// Sets the `known_hosts` file that records and checks the host key.
    pub fn with_known_hosts(mut self, path: impl Into<PathBuf>) -> Self {
        self.known_hosts = Some(path.into());
        self
    }

    /// Sets the user.
    pub fn with_user(mut self, user: impl Into<String>) -> Self {
        self.user = user.into();
        self
    }

    /// Sets the port.
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }
}

/// What a remote command did: its exit code and its output, byte for byte.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecResult {
    /// The exit status. A command killed by a signal reports `128 + signal
    /// number`, like a shell (`-1` for a signal without a Linux number).
    pub code: i32,
    /// Everything the command wrote to its standard output. With a PTY this
    /// also holds its standard error, as on a terminal.
    pub stdout: Vec<u8>,
    /// Everything the command wrote to its standard error (empty with a PTY).
    pub stderr: Vec<u8>,
}

impl ExecResult {
    /// Whether the command exited with status 0.
    pub fn success(&self) -> bool {
        self.code == 0
    }

    /// Standard output as text, with invalid UTF-8 replaced.
    pub fn stdout_lossy(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Standard error as text, with invalid UTF-8 replaced.
    pub fn stderr_lossy(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// A failure of guest access. Every message names the user, the host and
/// the operation.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// The TCP connection could not be made.
    #[error("ssh {target}: {op}: cannot connect: {source}")]
    Connect {
        /// `user@address`, or `user@address:port` off port 22.
        target: String,
        /// What was being done.
        op: String,
        /// The socket error.
        #[source]
        source: io::Error,
    },
    /// No authentication method succeeded.
    #[error(
        "ssh {target}: {op}: authentication failed (tried: {tried}; the server accepts: {accepted})"
    )]
    Auth {
        /// `user@address`, or `user@address:port` off port 22.
        target: String,
        /// What was being done.
        op: String,
        /// The methods tried, with what happened to each.
        tried: String,
        /// The methods the server offers.
        accepted: String,
    },
    /// The host presented a key other than the one recorded for it.
    #[error(
        "ssh {target}: host key mismatch: {known_hosts} pins {recorded} but the host \
         presented {presented}; if its key was changed on purpose, remove its line from that file"
    )]
    HostKeyMismatch {
        /// `user@address`, or `user@address:port` off port 22.
        target: String,
        /// The known-hosts file holding the recorded key.
        known_hosts: PathBuf,
        /// Type and SHA256 fingerprint of the recorded key.
        recorded: String,
        /// Type and SHA256 fingerprint of the key the host presented.
        presented: String,
    },
    /// An operation did not finish in time.
    #[error("ssh {target}: {op}: timed out after {after:.1?}{detail}")]
    Timeout {
        /// `user@address`, or `user@address:port` off port 22.
        target: String,
        /// What was being done (for a command: the command line).
        op: String,
        /// How long was waited.
        after: Duration,
        /// Extra detail (the last failure seen), `""` or starting with `"; "`.
        detail: String,
    },
    /// The SSH session or channel failed.
    #[error("ssh {target}: {op}: {source}")]
    Session {
        /// `user@address`, or `user@address:port` off port 22.
        target: String,
        /// What was being done.
        op: String,
        /// The libssh2 error.
        #[source]
        source: ssh2::Error,
    },
    /// Reading or writing on the connection failed.
    #[error("ssh {target}: {op}: {source}")]
    Io {
        /// `user@address`, or `user@address:port` off port 22.
        target: String,
        /// What was being done.
        op: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A remote path does not exist.
    #[error("ssh {target}: {op}: {}: No such file or directory", path.display())]
    RemoteNotFound {
        /// `user@address`, or `user@address:port` off port 22.
        target: String,
        /// What was being done.
        op: String,
        /// The missing remote path.
        path: PathBuf,
    },
    /// An SFTP operation on a remote path failed.
    #[error("ssh {target}: {op}: {}: {source}", path.display())]
    Remote {
        /// `user@address`, or `user@address:port` off port 22.
        target: String,
        /// What was being done.
        op: String,
        /// The remote path.
        path: PathBuf,
        /// The SFTP error.
        #[source]
        source: io::Error,
    },
    /// A local file operation failed.
    #[error("{op}: {}: {source}", path.display())]
    Local {
        /// What was being done.
        op: String,
        /// The local path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The known-hosts file could not be read, parsed or written.
    #[error("known hosts file {}: {msg}", path.display())]
    KnownHosts {
        /// The known-hosts file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// A service could not be queried, started or stopped.
    #[error("ssh {target}: service {name}: {msg}")]
    Service {
        /// `user@address`, or `user@address:port` off port 22.
        target: String,
        /// The service name.
        name: String,
        /// What went wrong.
        msg: String,
        /// Whether the failure is that the service (or any service manager)
        /// does not exist.
        missing: bool,
    },
    /// A jump host could not carry a connection to a guest: it refused or
    /// failed to open the channel, or its own connection broke.
    #[error("ssh jump host {jump}: channel to {guest}: {msg}")]
    Tunnel {
        /// The jump host, `user@address`, or `user@address:port` off port 22.
        jump: String,
        /// The guest's `address:port`, as the jump host sees it.
        guest: String,
        /// What went wrong.
        msg: String,
        /// The libssh2 error, when there is one.
        #[source]
        source: Option<ssh2::Error>,
    },
    /// An argument is not valid.
    #[error("invalid {what}: {msg}")]
    InvalidInput {
        /// Which argument.
        what: &'static str,
        /// Why.
        msg: String,
    },
}

impl SshError {
    /// The [`ErrorKind`] this error converts to.
    pub fn kind(&self) -> ErrorKind {
        match self {
            SshError::Timeout { .. } => ErrorKind::Timeout,
            SshError::RemoteNotFound { .. } => ErrorKind::NotFound,
            SshError::Service { missing: true, .. } => ErrorKind::NotFound,
            SshError::Local { source, .. } => match source.kind() {
                io::ErrorKind::NotFound => ErrorKind::NotFound,
                io::ErrorKind::AlreadyExists => ErrorKind::AlreadyExists,
                io::ErrorKind::TimedOut => ErrorKind::Timeout,
                _ => ErrorKind::Io,
            },
            SshError::KnownHosts { .. } => ErrorKind::Io,
            SshError::InvalidInput { .. } => ErrorKind::InvalidInput,
            SshError::Connect { .. }
            | SshError::Auth { .. }
            | SshError::HostKeyMismatch { .. }
            | SshError::Session { .. }
            | SshError::Tunnel { .. }
            | SshError::Io { .. }
            | SshError::Remote { .. }
            | SshError::Service { .. } => ErrorKind::Ssh,
        }
    }

    /// Whether this is a [`SshError::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, SshError::Timeout { .. })
    }
}

impl From<SshError> for Error {
    fn from(err: SshError) -> Self {
        let kind = err.kind();
        let path = match &err {
            SshError::RemoteNotFound { path, .. }
            | SshError::Remote { path, .. }
            | SshError::Local { path, .. }
            | SshError::KnownHosts { path, .. } => Some(path.clone()),
            SshError::HostKeyMismatch { known_hosts, .. } => Some(known_hosts.clone()),
            _ => None,
        };
        let out = Error::with_source(kind, err.to_string(), err);
        match path {
            Some(path) => out.with_path(path),
            None => out,
        }
    }
}

/// A specialised `Result` whose error is [`SshError`].
pub type Result<T, E = SshError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_defaults_follow_lago() {
        let t = SshTarget::new("192.168.160.10".parse().unwrap());
        assert_eq!(t.port, 22);
        assert_eq!(t.user, "root");
        assert_eq!(t.password.as_deref(), Some("123456"));
        assert!(t.key.is_none() && t.known_hosts.is_none());
        let t = t
            .with_key("/p/id_rsa")
            .with_password(None)
            .with_known_hosts("/p/known_hosts");
        assert_eq!(t.key.as_deref(), Some(std::path::Path::new("/p/id_rsa")));
        assert!(t.password.is_none());
    }

    #[test]
    fn debug_form_hides_the_password() {
        let t = SshTarget::new("192.168.160.10".parse().unwrap()).with_password(Some("s3cret-pw"));
        let text = format!("{t:?}");
        assert!(!text.contains("s3cret-pw"), "{text}");
        assert!(
            text.contains("192.168.160.10") && text.contains("***"),
            "{text}"
        );
    }

    #[test]
    fn errors_convert_with_kind_and_context() {
        let err = SshError::Timeout {
            target: "root@192.168.160.10".into(),
            op: "exec `sleep 10`".into(),
            after: Duration::from_millis(1500),
            detail: String::new(),
        };
        assert!(err.is_timeout());
        let core: Error = err.into();
        assert_eq!(core.kind(), ErrorKind::Timeout);
        assert_eq!(
            core.message(),
            "ssh root@192.168.160.10: exec `sleep 10`: timed out after 1.5s"
        );
        let missing = SshError::RemoteNotFound {
            target: "u@h".into(),
            op: "copy_from".into(),
            path: "/nope".into(),
        };
        // Lago's ExtractPathNoPathError is recognised by this suffix.
        assert!(missing.to_string().ends_with(": No such file or directory"));
        assert_eq!(Error::from(missing).kind(), ErrorKind::NotFound);
    }
}
