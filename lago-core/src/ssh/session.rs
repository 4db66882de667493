//! One SSH connection: TCP, handshake, host key check, authentication, and
//! the socket waits that drive libssh2 in non-blocking mode.

use std::io;
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use ssh2::{BlockDirections, ErrorCode, MethodType, Session};
use tracing::{debug, info};

use super::known_hosts::{HostKey, HostKeyCheck, KnownHosts, host_name};
use super::tunnel::JumpHost;
use super::{Result, SshError, SshTarget};

/// libssh2's "would block" code.
const EAGAIN: i32 = -37;
/// libssh2's "timed out" code (blocking mode with a session timeout).
const LIBSSH2_TIMEOUT: i32 = -9;

/// Ciphers in order of preference. The guests run under software emulation,
/// where the guest's side of the cipher is the bottleneck; ChaCha20-Poly1305
/// needs no separate MAC and is the cheapest there (measured by the guest
/// tests), AES-CTR and AES-GCM follow for servers without it.
const CIPHERS: &str = "chacha20-poly1305@openssh.com,aes128-ctr,aes128-gcm@openssh.com,\
                       aes256-gcm@openssh.com,aes256-ctr,aes192-ctr";

/// Who and where, for error messages.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub(crate) host: String,
    pub(crate) user: String,
}

impl Ctx {
    pub(crate) fn new(host: IpAddr, port: u16, user: &str) -> Self {
        let host = if port == 22 {
            host.to_string()
        } else {
            format!("{host}:{port}")
        };
        Self {
            host,
            user: user.to_owned(),
        }
    }

    /// `user@host` for messages.
    pub(crate) fn target(&self) -> String {
        format!("{}@{}", self.user, self.host)
    }

    pub(crate) fn session_err(&self, op: &str, source: ssh2::Error) -> SshError {
        if is_code(&source, LIBSSH2_TIMEOUT) {
            return self.timeout(op, Duration::ZERO, &source.to_string());
        }
        SshError::Session {
            target: self.target(),
            op: op.to_owned(),
            source,
        }
    }

    pub(crate) fn io_err(&self, op: &str, source: io::Error) -> SshError {
        if source.kind() == io::ErrorKind::TimedOut {
            return self.timeout(op, Duration::ZERO, &source.to_string());
        }
        SshError::Io {
            target: self.target(),
            op: op.to_owned(),
            source,
        }
    }

    pub(crate) fn timeout(&self, op: &str, after: Duration, detail: &str) -> SshError {
        SshError::Timeout {
            target: self.target(),
            op: op.to_owned(),
            after,
            detail: if detail.is_empty() {
                String::new()
            } else {
                format!("; {detail}")
            },
        }
    }
}

/// Whether `err` carries libssh2 session error `code`.
pub(crate) fn is_code(err: &ssh2::Error, code: i32) -> bool {
    err.code() == ErrorCode::Session(code)
}

/// Whether `err` is libssh2's "would block".
pub(crate) fn would_block(err: &ssh2::Error) -> bool {
    is_code(err, EAGAIN)
}

/// Time left until `deadline`, `None` once it has passed.
pub(crate) fn remaining(deadline: Instant) -> Option<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    (!left.is_zero()).then_some(left)
}

/// Milliseconds for libssh2's session timeout (0 would mean "forever").
pub(crate) fn timeout_ms(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1)
}

/// Waits until `fd` is ready for `events` or `timeout` passes. Returns the
/// `revents` of the descriptor (0 on timeout). An interrupted wait counts as
/// a timeout: callers loop anyway.
pub(crate) fn poll_fd(fd: i32, events: i16, timeout: Duration) -> io::Result<i16> {
    let mut fds = [libc::pollfd {
        fd,
        events,
        revents: 0,
    }];
    poll_fds(&mut fds, timeout)?;
    Ok(fds[0].revents)
}

/// `poll(2)` over `fds` for at most `timeout`; returns how many are ready.
pub(crate) fn poll_fds(fds: &mut [libc::pollfd], timeout: Duration) -> io::Result<usize> {
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    let n = libc::nfds_t::try_from(fds.len()).unwrap_or(libc::nfds_t::MAX);
    // SAFETY: `fds` is a valid, exclusively borrowed slice of `pollfd` of
    // length `n`; poll only reads and writes within it for this call.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), n, ms) };
    if rc < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(0);
        }
        return Err(err);
    }
    Ok(usize::try_from(rc).unwrap_or(0))
}

/// The socket an SSH session runs over: a TCP connection to the guest, or
/// the local end of a tunnel through a [`JumpHost`].
pub(crate) enum Stream {
    /// A direct TCP connection.
    Tcp(TcpStream),
    /// One end of a socket pair whose other end a jump host's pump thread
    /// carries to and from a `direct-tcpip` channel.
    Tunnel(UnixStream),
}

impl Stream {
    fn try_clone(&self) -> io::Result<Stream> {
        Ok(match self {
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
            Stream::Tunnel(s) => Stream::Tunnel(s.try_clone()?),
        })
    }

    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown(how),
            Stream::Tunnel(s) => s.shutdown(how),
        }
    }
}

impl AsRawFd for Stream {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Tunnel(s) => s.as_raw_fd(),
        }
    }
}

/// An established, authenticated SSH connection.
pub(crate) struct Conn {
    pub(crate) session: Session,
    /// A duplicate of the session's socket, to wait on it.
    sock: Stream,
    /// The SFTP channel, opened on first use and kept for the connection's
    /// life: closing an SFTP channel and opening another one soon after can
    /// leave dropbear never answering the new one, so there is only one.
    sftp: Option<ssh2::Sftp>,
}

impl Conn {
    /// Connects to `host` (directly, or through `jump`'s connection) and
    /// logs in, within `deadline` and the target's connect timeout.
    pub(crate) fn connect(
        target: &SshTarget,
        host: IpAddr,
        jump: Option<&JumpHost>,
        ctx: &Ctx,
        deadline: Option<Instant>,
    ) -> Result<Conn> {
        let start = Instant::now();
        let mut limit = start + target.connect_timeout;
        if let Some(d) = deadline {
            limit = limit.min(d);
        }
        if host.is_unspecified() {
            return Err(SshError::InvalidInput {
                what: "guest address",
                msg: format!("{host} (no address known for the guest yet)"),
            });
        }
        if let Some(jump) = jump {
            let stream = jump.open(host, target.port, Some(limit))?;
            return Self::establish(Stream::Tunnel(stream), target, host, ctx, limit);
        }
        let left = remaining(limit).ok_or_else(|| ctx.timeout("connect", Duration::ZERO, ""))?;
        let addr = SocketAddr::new(host, target.port);
        let tcp = TcpStream::connect_timeout(&addr, left).map_err(|source| {
            if source.kind() == io::ErrorKind::TimedOut {
                ctx.timeout("connect", start.elapsed(), &source.to_string())
            } else {
                SshError::Connect {
                    target: ctx.target(),
                    op: "connect".into(),
                    source,
                }
            }
        })?;
        Self::establish(Stream::Tcp(tcp), target, host, ctx, limit)
    }

    /// Runs the SSH handshake, host key check and authentication over an
    /// already connected socket, all before `deadline`.
    pub(crate) fn establish(
        stream: Stream,
        target: &SshTarget,
        host: IpAddr,
        ctx: &Ctx,
        deadline: Instant,
    ) -> Result<Conn> {
        let start = Instant::now();
        let local_err = |op: &str, source: io::Error| SshError::Connect {
            target: ctx.target(),
            op: op.to_owned(),
            source,
        };
        if let Stream::Tcp(tcp) = &stream {
            tcp.set_nodelay(true).map_err(|e| local_err("connect", e))?;
        }
        let sock = stream.try_clone().map_err(|e| local_err("connect", e))?;
        let mut session = Session::new().map_err(|e| ctx.session_err("connect", e))?;
        session.set_tcp_stream(stream);
        session.set_blocking(true);
        let left = remaining(deadline).ok_or_else(|| ctx.timeout("connect", Duration::ZERO, ""))?;
        session.set_timeout(timeout_ms(left));
        for method in [MethodType::CryptCs, MethodType::CryptSc] {
            // Unknown names are skipped by libssh2; a failure here only
            // means libssh2's default order is used.
            if let Err(e) = session.method_pref(method, CIPHERS) {
                debug!(error = %e, "cipher preference not applied");
            }
        }
        if let Some(path) = &target.known_hosts {
            prefer_recorded_host_keys(
                &session,
                &KnownHosts::new(path),
                &host_name(host, target.port),
            )?;
        }
        session
            .handshake()
            .map_err(|e| with_elapsed(ctx.session_err("handshake", e), start))?;

        let key = session
            .host_key()
            .and_then(|(blob, _)| HostKey::from_blob(blob))
            .ok_or_else(|| ctx.session_err("handshake", ssh2::Error::unknown()))?;
        if let Some(path) = &target.known_hosts {
            let known = KnownHosts::new(path);
            let name = host_name(host, target.port);
            match known.check_or_record(&name, &key)? {
                HostKeyCheck::Match => {
                    debug!(host = %name, key = %key.describe(), "host key matches")
                }
                HostKeyCheck::Unknown => info!(
                    host = %name, key = %key.describe(), file = %path.display(),
                    "host key recorded"
                ),
                HostKeyCheck::Mismatch(recorded) => {
                    return Err(SshError::HostKeyMismatch {
                        target: ctx.target(),
                        known_hosts: path.clone(),
                        recorded: recorded.describe(),
                        presented: key.describe(),
                    });
                }
            }
        }

        authenticate(&session, target, ctx).map_err(|e| with_elapsed(e, start))?;
        debug!(
            host = %ctx.host, user = %ctx.user,
            cipher = session.methods(MethodType::CryptCs).unwrap_or("?"),
            elapsed_ms = start.elapsed().as_millis() as u64,
            "ssh connected"
        );
        Ok(Conn {
            session,
            sock,
            sftp: None,
        })
    }

    /// Waits (at most until `deadline`, and at most 1 s per call) for the
    /// socket to be ready in the direction libssh2 last blocked on. Returns
    /// `false` once the deadline has passed.
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> io::Result<bool> {
        self.wait_at_most(deadline, Duration::from_secs(1))
    }

    /// Like [`wait`](Conn::wait), waiting at most `slice`.
    pub(crate) fn wait_at_most(
        &self,
        deadline: Option<Instant>,
        slice: Duration,
    ) -> io::Result<bool> {
        let mut slice = slice;
        if let Some(d) = deadline {
            match remaining(d) {
                Some(left) => slice = slice.min(left),
                None => return Ok(false),
            }
        }
        let events = match self.session.block_directions() {
            BlockDirections::Outbound => libc::POLLOUT,
            BlockDirections::Both => libc::POLLIN | libc::POLLOUT,
            BlockDirections::Inbound | BlockDirections::None => libc::POLLIN,
        };
        poll_fd(self.sock.as_raw_fd(), events, slice)?;
        Ok(true)
    }

    /// The connection's SFTP session (opened now if needed), with the
    /// session in blocking mode and `io_timeout` as the limit on any wait.
    pub(crate) fn sftp(
        &mut self,
        io_timeout: Duration,
    ) -> std::result::Result<&ssh2::Sftp, ssh2::Error> {
        self.session.set_blocking(true);
        self.session.set_timeout(timeout_ms(io_timeout));
        if self.sftp.is_none() {
            self.sftp = Some(self.session.sftp()?);
        }
        self.sftp.as_ref().ok_or_else(ssh2::Error::unknown)
    }

    /// The raw socket descriptor, for callers that poll it with others.
    pub(crate) fn fd(&self) -> i32 {
        self.sock.as_raw_fd()
    }
}

/// Asks for the host key types already recorded for `name` first, so a
/// guest offering several types is always checked against the recorded
/// one (as OpenSSH orders its host key algorithms).
pub(crate) fn prefer_recorded_host_keys(
    session: &Session,
    known: &KnownHosts,
    name: &str,
) -> Result<()> {
    let recorded = known.lookup(name)?;
    if recorded.is_empty() {
        return Ok(());
    }
    let mut prefs: Vec<&str> = Vec::new();
    for key in &recorded {
        match key.key_type() {
            "ssh-rsa" => prefs.extend(["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]),
            other => prefs.push(other),
        }
    }
    if let Ok(all) = session.supported_algs(MethodType::HostKey) {
        prefs.extend(all);
    }
    let mut seen = std::collections::HashSet::new();
    prefs.retain(|p| seen.insert(*p));
    if let Err(e) = session.method_pref(MethodType::HostKey, &prefs.join(",")) {
        debug!(error = %e, "host key preference not applied");
    }
    Ok(())
}

impl Drop for Conn {
    /// Closes the SFTP channel (waiting at most 300 ms for the server,
    /// which a dead connection never answers), says goodbye without
    /// waiting, then shuts the socket down so that libssh2 frees the
    /// session without waiting for the server at all.
    ///
    /// libssh2 frees a session only once every channel on it is closed, and
    /// closing a channel waits for the server's close message. When the
    /// guest is gone (stopped or destroyed before the env is dropped, the
    /// usual order) that message never comes: `libssh2_session_free` timed
    /// out and left the session, its channels, its SFTP state and its key
    /// exchange state allocated, one leak per connection. On a shut-down
    /// socket every read fails at once, so each channel is freed locally.
    fn drop(&mut self) {
        self.session.set_timeout(300);
        drop(self.sftp.take());
        self.session.set_blocking(false);
        let _ = self
            .session
            .disconnect(Some(ssh2::DisconnectCode::ByApplication), "bye", None);
        // Data already queued (the goodbye) is still sent before the FIN.
        if let Err(e) = self.sock.shutdown(Shutdown::Both) {
            debug!(error = %e, "ssh socket shutdown failed");
        }
        // Blocking (bounded by the 300 ms timeout) before ssh2 frees the
        // session: a non-blocking libssh2_session_free can return EAGAIN
        // and leave the whole session allocated.
        self.session.set_blocking(true);
    }
}

/// Fills in the elapsed time of a timeout that libssh2 reported.
fn with_elapsed(err: SshError, start: Instant) -> SshError {
    with_after(err, start.elapsed())
}

/// Sets how long a timeout reported by libssh2 (which does not say)
/// waited; other errors pass unchanged.
pub(crate) fn with_after(err: SshError, waited: Duration) -> SshError {
    match err {
        SshError::Timeout {
            target,
            op,
            after,
            detail,
        } if after.is_zero() => SshError::Timeout {
            target,
            op,
            after: waited,
            detail,
        },
        other => other,
    }
}

/// Public key first (if the key file exists), then the password.
pub(crate) fn authenticate(session: &Session, target: &SshTarget, ctx: &Ctx) -> Result<()> {
    let user = target.user.as_str();
    let mut tried = Vec::new();
    if let Some(key) = &target.key {
        if key.exists() {
            match session.userauth_pubkey_file(user, None, key, None) {
                Ok(()) => return Ok(()),
                Err(e) if is_code(&e, LIBSSH2_TIMEOUT) => {
                    return Err(ctx.session_err("authentication", e));
                }
                Err(e) => {
                    debug!(key = %key.display(), error = %e, "public key refused");
                    tried.push(format!("publickey {} ({})", key.display(), e.message()));
                }
            }
        } else {
            debug!(key = %key.display(), "key file missing, skipping public key auth");
            tried.push(format!("publickey {} (no such file)", key.display()));
        }
    }
    if let Some(password) = &target.password {
        match session.userauth_password(user, password) {
            Ok(()) => return Ok(()),
            Err(e) if is_code(&e, LIBSSH2_TIMEOUT) => {
                return Err(ctx.session_err("authentication", e));
            }
            Err(e) => tried.push(format!("password ({})", e.message())),
        }
    }
    if tried.is_empty() {
        tried.push("nothing: no key and no password".into());
    }
    let accepted = session
        .auth_methods(user)
        .map(str::to_owned)
        .unwrap_or_else(|_| "unknown".into());
    Err(SshError::Auth {
        target: ctx.target(),
        op: "authentication".into(),
        tried: tried.join(", "),
        accepted,
    })
}
