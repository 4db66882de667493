//! SSH to guests that only a libvirt host can reach: connections tunnelled
//! over the host's own SSH connection.
//!
//! With `libvirt_url = qemu+ssh://root@HOST/system` the guests live on
//! HOST's private networks, which the machine running lago has no route to.
//! A [`JumpHost`] holds one SSH connection to HOST (its key checked against
//! a `known_hosts` file, public-key login) and opens a `direct-tcpip`
//! channel on it for every guest connection ([`JumpHost::connect_to`]), as
//! `ssh -J HOST guest` does. Every guest connection through one jump host
//! shares that one host connection; [`SshClient::via`](super::SshClient::via)
//! runs lago's usual guest sessions (commands, files, `wait_for_ssh`) over
//! such channels.
//!
//! How: libssh2 runs a session over a socket descriptor, and a channel is
//! not one. So each guest connection is a [`UnixStream::pair`]: the guest's
//! SSH session gets one end, and one *pump thread* per jump host copies
//! bytes between the other end and the channel. libssh2 sessions are not
//! thread-safe, so all use of the host session (opening channels, channel
//! I/O, keepalives) happens on that thread, with the session non-blocking
//! and `poll(2)` on the host socket, every local end and a wake-up socket.
//! End of file travels both ways (a local EOF becomes a channel EOF and the
//! reverse); a channel is closed once both directions ended, or at once
//! when the local end is gone.
//!
//! Bounds: connecting to the host (TCP, handshake, authentication) is
//! limited by [`JumpTarget::connect_timeout`], opening a channel by
//! [`JumpTarget::open_timeout`] (and by the caller's own deadline). libssh2
//! opens one channel at a time, so opens through one jump host queue behind
//! each other: a guest address that does not answer holds the queue until
//! the host's sshd gives up on it (a few seconds on a local bridge).
//!
//! Reuse: the host connection is made on the first
//! [`JumpHost::connect_to`] and kept for the jump host's life. If it broke
//! (the host rebooted, sshd restarted), the next open makes a new one and
//! tries once more. Channels of a broken connection end with their local
//! ends shut down, which the guest sessions see as a broken connection.
//!
//! Errors are [`SshError`]s naming the jump host: [`SshError::Tunnel`] for a
//! channel the host could not open (with libssh2's reason), the usual
//! connect, handshake, host key and authentication variants for the host
//! connection itself.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use ssh2::{BlockDirections, Channel, ErrorCode, Session};
use tracing::{debug, info, warn};

use super::known_hosts::{HostKey, HostKeyCheck, KnownHosts};
use super::session::{
    Ctx, authenticate, poll_fds, prefer_recorded_host_keys, remaining, timeout_ms, with_after,
    would_block,
};
use super::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_USER, Result, SshError, SshTarget};

/// Default limit on opening one channel to a guest.
pub const DEFAULT_OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Most bytes buffered per direction of one channel.
const CHUNK: usize = 64 * 1024;
/// How long a channel whose local end is finished waits for the guest's
/// side to end too (EOF, close) before it is dropped anyway.
const LINGER: Duration = Duration::from_secs(5);
/// Seconds between keepalives on an idle host connection.
const KEEPALIVE_SECS: u32 = 30;
/// Longest single wait of the pump thread.
const MAX_WAIT: Duration = Duration::from_secs(1);
/// How long the pump leaves the host socket out of its wait when the socket
/// is readable but nothing consumes its data (no channel wants to read).
const STALL_WAIT: Duration = Duration::from_millis(100);
/// Extra time given to the pump thread to answer an open past its deadline
/// (it answers by then itself; this only bounds a stuck thread).
const REPLY_GRACE: Duration = Duration::from_secs(2);

/// libssh2 errors meaning the host connection itself is gone.
const LIBSSH2_ERROR_SOCKET_SEND: i32 = -7;
const LIBSSH2_ERROR_SOCKET_DISCONNECT: i32 = -13;
const LIBSSH2_ERROR_SOCKET_RECV: i32 = -43;

/// Where and as whom to log in on a jump host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JumpTarget {
    /// The host's name or address (as in `qemu+ssh://root@HOST/system`).
    pub address: String,
    /// The host's SSH port.
    pub port: u16,
    /// The user to log in as.
    pub user: String,
    /// Private key file for public-key authentication (the only method).
    pub key: PathBuf,
    /// OpenSSH `known_hosts` file that must already hold the host's key
    /// (under `address`, or `[address]:port` off port 22); an unknown or
    /// different key is refused.
    pub known_hosts: PathBuf,
    /// Limit on connecting to the host: TCP, handshake and authentication.
    pub connect_timeout: Duration,
    /// Limit on opening one channel to a guest.
    pub open_timeout: Duration,
}

impl JumpTarget {
    /// A jump host at `address`, port 22, user `root`, default timeouts.
    pub fn new(
        address: impl Into<String>,
        key: impl Into<PathBuf>,
        known_hosts: impl Into<PathBuf>,
    ) -> Self {
        Self {
            address: address.into(),
            port: 22,
            user: DEFAULT_USER.to_owned(),
            key: key.into(),
            known_hosts: known_hosts.into(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            open_timeout: DEFAULT_OPEN_TIMEOUT,
        }
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

    /// `user@address`, or `user@address:port` off port 22, for messages.
    pub fn name(&self) -> String {
        format!("{}@{}", self.user, self.host_port())
    }

    fn host_port(&self) -> String {
        if self.port == 22 {
            self.address.clone()
        } else {
            format!("{}:{}", self.address, self.port)
        }
    }

    /// The name the host's key is recorded under in `known_hosts`.
    fn known_hosts_name(&self) -> String {
        if self.port == 22 {
            self.address.clone()
        } else {
            format!("[{}]:{}", self.address, self.port)
        }
    }

    fn ctx(&self) -> Ctx {
        Ctx {
            host: self.host_port(),
            user: self.user.clone(),
        }
    }
}

/// One SSH connection to a host, carrying connections to the guests behind
/// it: one pump thread carries a `direct-tcpip` channel for each guest
/// connection between the channel and a local socket. `Send + Sync`: share it (in an
/// `Arc`) between every client of the guests on that host.
pub struct JumpHost {
    target: JumpTarget,
    pump: Mutex<Option<Pump>>,
}

impl std::fmt::Debug for JumpHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JumpHost")
            .field("target", &self.target)
            .field("connected", &self.is_connected())
            .finish()
    }
}

impl JumpHost {
    /// A jump host for `target`. Nothing is connected until the first use.
    pub fn new(target: JumpTarget) -> Self {
        Self {
            target,
            pump: Mutex::new(None),
        }
    }

    /// The target.
    pub fn target(&self) -> &JumpTarget {
        &self.target
    }

    /// `user@address` of the host, for messages.
    pub fn name(&self) -> String {
        self.target.name()
    }

    /// Whether a live host connection is held.
    pub fn is_connected(&self) -> bool {
        self.pump.lock().as_ref().is_some_and(Pump::alive)
    }

    /// Drops the host connection (closing every channel on it); the next
    /// use connects again.
    pub fn disconnect(&self) {
        let pump = self.pump.lock().take();
        drop(pump);
    }

    /// Opens a connection to `guest:port` as the host sees it, connecting
    /// to the host first if needed. The returned socket carries the
    /// guest's byte stream (run an SSH session over it); dropping it (or
    /// shutting it down) closes the channel.
    pub fn connect_to(&self, guest: IpAddr, port: u16) -> Result<UnixStream> {
        self.open(guest, port, None)
    }

    /// [`connect_to`](JumpHost::connect_to), all before `deadline` as well.
    pub(crate) fn open(
        &self,
        guest: IpAddr,
        port: u16,
        deadline: Option<Instant>,
    ) -> Result<UnixStream> {
        let guest_name = SocketAddr::new(guest, port).to_string();
        let mut slot = self.pump.lock();
        let mut retried = false;
        loop {
            let (pump, fresh) = match slot.take() {
                Some(pump) if pump.alive() => (pump, false),
                old => {
                    drop(old);
                    (self.start(deadline)?, true)
                }
            };
            let mut limit = Instant::now() + self.target.open_timeout;
            if let Some(d) = deadline {
                limit = limit.min(d);
            }
            let started = Instant::now();
            let outcome = pump.request(guest, port, limit);
            *slot = Some(pump);
            let err = match outcome {
                Ok(stream) => return Ok(stream),
                Err(e) => e,
            };
            return Err(match err {
                OpenError::Died(msg) if !fresh && !retried => {
                    info!(jump = %self.name(), error = %msg, "jump host connection broke, reconnecting");
                    retried = true;
                    *slot = None;
                    continue;
                }
                OpenError::Died(msg) => SshError::Tunnel {
                    jump: self.name(),
                    guest: guest_name,
                    msg: format!("the connection to the jump host broke: {msg}"),
                    source: None,
                },
                OpenError::Refused(e) => SshError::Tunnel {
                    jump: self.name(),
                    guest: guest_name,
                    msg: format!("the jump host could not open the channel: {e}"),
                    source: Some(e),
                },
                OpenError::Timeout => SshError::Timeout {
                    target: self.name(),
                    op: format!("open a channel to {guest_name}"),
                    after: started.elapsed(),
                    detail: String::new(),
                },
                OpenError::Local(source) => SshError::Io {
                    target: self.name(),
                    op: format!("local socket for the channel to {guest_name}"),
                    source,
                },
            });
        }
    }

    /// Connects and logs in to the host, then starts its pump thread.
    fn start(&self, deadline: Option<Instant>) -> Result<Pump> {
        let t = &self.target;
        let ctx = t.ctx();
        let start = Instant::now();
        let mut limit = start + t.connect_timeout;
        if let Some(d) = deadline {
            limit = limit.min(d);
        }
        let op = "connect to the jump host";
        let timeout = |detail: &str| ctx.timeout(op, start.elapsed(), detail);
        let addrs: Vec<SocketAddr> = (t.address.as_str(), t.port)
            .to_socket_addrs()
            .map_err(|source| SshError::Connect {
                target: ctx.target(),
                op: "resolve the jump host".into(),
                source,
            })?
            .collect();
        let mut last: Option<io::Error> = None;
        let mut tcp = None;
        for addr in addrs {
            let left = remaining(limit).ok_or_else(|| timeout(""))?;
            match TcpStream::connect_timeout(&addr, left) {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let tcp = match (tcp, last) {
            (Some(tcp), _) => tcp,
            (None, Some(e)) if e.kind() == io::ErrorKind::TimedOut => {
                return Err(timeout(&e.to_string()));
            }
            (None, last) => {
                return Err(SshError::Connect {
                    target: ctx.target(),
                    op: op.into(),
                    source: last.unwrap_or_else(|| {
                        io::Error::new(io::ErrorKind::NotFound, "the name has no address")
                    }),
                });
            }
        };
        let local_err = |source: io::Error| SshError::Connect {
            target: ctx.target(),
            op: op.into(),
            source,
        };
        tcp.set_nodelay(true).map_err(local_err)?;
        let peer = tcp.peer_addr().map_err(local_err)?;
        let sock = tcp.try_clone().map_err(local_err)?;
        let mut session = Session::new().map_err(|e| ctx.session_err(op, e))?;
        session.set_tcp_stream(tcp);
        session.set_blocking(true);
        let left = remaining(limit).ok_or_else(|| timeout(""))?;
        session.set_timeout(timeout_ms(left));

        let known = KnownHosts::new(&t.known_hosts);
        let name = t.known_hosts_name();
        prefer_recorded_host_keys(&session, &known, &name)?;
        session.handshake().map_err(|e| {
            with_after(
                ctx.session_err("handshake with the jump host", e),
                start.elapsed(),
            )
        })?;
        let key = session
            .host_key()
            .and_then(|(blob, _)| HostKey::from_blob(blob))
            .ok_or_else(|| {
                ctx.session_err("handshake with the jump host", ssh2::Error::unknown())
            })?;
        match known.check(&name, &key)? {
            HostKeyCheck::Match => {
                debug!(host = %name, key = %key.describe(), "jump host key matches")
            }
            HostKeyCheck::Unknown => {
                return Err(SshError::KnownHosts {
                    path: t.known_hosts.clone(),
                    msg: format!(
                        "no host key recorded for jump host {name} (it presented {}); \
                         record the host's key first",
                        key.describe()
                    ),
                });
            }
            HostKeyCheck::Mismatch(recorded) => {
                return Err(SshError::HostKeyMismatch {
                    target: ctx.target(),
                    known_hosts: t.known_hosts.clone(),
                    recorded: recorded.describe(),
                    presented: key.describe(),
                });
            }
        }
        let auth = SshTarget::new(peer.ip())
            .with_port(t.port)
            .with_user(t.user.clone())
            .with_key(t.key.clone())
            .with_password(None);
        authenticate(&session, &auth, &ctx).map_err(|e| with_after(e, start.elapsed()))?;
        session.set_keepalive(false, KEEPALIVE_SECS);
        session.set_blocking(false);
        debug!(
            jump = %t.name(), elapsed_ms = start.elapsed().as_millis() as u64,
            "jump host connected"
        );

        let (wake_tx, wake_rx) = UnixStream::pair().map_err(local_err)?;
        wake_tx.set_nonblocking(true).map_err(local_err)?;
        wake_rx.set_nonblocking(true).map_err(local_err)?;
        let (requests, inbox) = mpsc::channel();
        let alive = Arc::new(AtomicBool::new(true));
        let worker = Worker {
            name: t.name(),
            session,
            sock,
            wake: wake_rx,
            inbox,
            alive: alive.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("lago-jump {}", t.host_port()))
            .spawn(move || worker.run())
            .map_err(local_err)?;
        Ok(Pump {
            requests,
            wake: wake_tx,
            alive,
            thread: Some(thread),
        })
    }
}

/// Why an open failed, as the pump thread reports it.
#[derive(Debug)]
enum OpenError {
    /// The host refused or failed to open the channel.
    Refused(ssh2::Error),
    /// The host connection is gone.
    Died(String),
    /// Not opened before the deadline.
    Timeout,
    /// A local socket operation failed.
    Local(io::Error),
}

/// An open asked of the pump thread.
struct Open {
    guest: IpAddr,
    port: u16,
    /// The pump's end of the local socket pair.
    local: UnixStream,
    deadline: Instant,
    reply: mpsc::Sender<std::result::Result<(), OpenError>>,
    /// Whether the caller has had its answer (a timeout) already.
    answered: bool,
}

impl Open {
    fn answer(&mut self, outcome: std::result::Result<(), OpenError>) {
        if !self.answered {
            self.answered = true;
            // The caller may have given up; then nobody needs the answer.
            let _ = self.reply.send(outcome);
        }
    }
}

/// The caller's handle on a pump thread.
struct Pump {
    requests: mpsc::Sender<Open>,
    /// Written to after each request; shut down to stop the thread.
    wake: UnixStream,
    alive: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Pump {
    fn alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    fn request(
        &self,
        guest: IpAddr,
        port: u16,
        deadline: Instant,
    ) -> std::result::Result<UnixStream, OpenError> {
        let (ours, theirs) = UnixStream::pair().map_err(OpenError::Local)?;
        theirs.set_nonblocking(true).map_err(OpenError::Local)?;
        let (reply, answer) = mpsc::channel();
        let open = Open {
            guest,
            port,
            local: theirs,
            deadline,
            reply,
            answered: false,
        };
        if self.requests.send(open).is_err() {
            return Err(OpenError::Died("its pump thread has ended".into()));
        }
        // A full wake-up socket already has a wake-up pending.
        let _ = send_nosignal(self.wake.as_raw_fd(), &[1]);
        let wait = deadline.saturating_duration_since(Instant::now()) + REPLY_GRACE;
        match answer.recv_timeout(wait) {
            Ok(Ok(())) => Ok(ours),
            Ok(Err(e)) => Err(e),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(OpenError::Timeout),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(OpenError::Died("its pump thread has ended".into()))
            }
        }
    }
}

impl Drop for Pump {
    /// Stops the pump thread: it closes every channel, says goodbye to the
    /// host and ends; waits for it.
    fn drop(&mut self) {
        let _ = self.wake.shutdown(Shutdown::Both);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            warn!("jump host pump thread panicked");
        }
    }
}

/// What one direction-pair of a channel has buffered and which ends are
/// finished: the pump's bookkeeping, apart from the I/O.
#[derive(Debug, Default)]
struct Flow {
    /// Read from the local end, not yet written to the channel.
    to_guest: Vec<u8>,
    /// Read from the channel, not yet written to the local end.
    to_local: Vec<u8>,
    /// The local end reached end of file (or failed).
    local_eof: bool,
    /// End of file was sent on the channel.
    eof_sent: bool,
    /// The guest's side reached end of file.
    remote_eof: bool,
    /// The local end's write side was shut down after `remote_eof`.
    local_shut: bool,
    /// The local end cannot take data any more: close the channel now.
    broken: bool,
}

impl Flow {
    /// Whether to read the local end now.
    fn wants_local_read(&self) -> bool {
        !self.local_eof && !self.broken && self.to_guest.is_empty()
    }

    /// How much to read from the channel now (0: nothing).
    fn channel_room(&self) -> usize {
        if self.remote_eof || self.broken {
            0
        } else {
            CHUNK.saturating_sub(self.to_local.len())
        }
    }

    /// Whether end of file should be sent on the channel now.
    fn eof_due(&self) -> bool {
        self.local_eof && self.to_guest.is_empty() && !self.eof_sent && !self.broken
    }

    /// Whether the local end's write side should be shut down now.
    fn shut_due(&self) -> bool {
        self.remote_eof && self.to_local.is_empty() && !self.local_shut && !self.broken
    }

    /// Whether both directions are over and the channel can be closed.
    fn finished(&self) -> bool {
        self.broken || (self.eof_sent && self.remote_eof && self.to_local.is_empty())
    }

    /// Whether only the guest's side is still going (the local side ended).
    fn lingering(&self) -> bool {
        self.eof_sent && !self.remote_eof
    }

    /// The `poll` events to wait for on the local end.
    fn local_events(&self) -> i16 {
        let mut events = 0;
        if self.wants_local_read() {
            events |= libc::POLLIN;
        }
        if !self.to_local.is_empty() && !self.broken {
            events |= libc::POLLOUT;
        }
        events
    }
}

/// One guest connection carried by the pump.
struct Tunnel {
    guest: String,
    channel: Channel,
    local: UnixStream,
    flow: Flow,
    /// Since when the local side is over and the guest's is not.
    lingering_since: Option<Instant>,
    /// Since when the channel is being closed (`None`: still carrying).
    closing_since: Option<Instant>,
}

/// What one step of a tunnel did.
#[derive(Default)]
struct StepResult {
    progress: bool,
    /// The channel is closed (or given up on): drop the tunnel.
    closed: bool,
    /// A libssh2 error the host connection may not survive.
    error: Option<ssh2::Error>,
}

impl Tunnel {
    fn new(guest: String, channel: Channel, local: UnixStream) -> Self {
        Self {
            guest,
            channel,
            local,
            flow: Flow::default(),
            lingering_since: None,
            closing_since: None,
        }
    }

    /// Moves what can be moved without waiting.
    fn step(&mut self, session: &Session, buf: &mut [u8]) -> StepResult {
        let mut out = StepResult::default();
        if self.closing_since.is_some() {
            return self.step_close(session);
        }
        let f = &mut self.flow;
        if f.wants_local_read() {
            match self.local.read(buf) {
                Ok(0) => {
                    f.local_eof = true;
                    out.progress = true;
                }
                Ok(n) => {
                    f.to_guest.extend_from_slice(&buf[..n]);
                    out.progress = true;
                }
                Err(e) if is_retry(&e) => {}
                Err(e) => {
                    debug!(guest = %self.guest, error = %e, "tunnel: local read failed");
                    f.broken = true;
                }
            }
        }
        while !f.to_guest.is_empty() && !f.broken {
            match self.channel.write(&f.to_guest) {
                Ok(0) => break,
                Ok(n) => {
                    f.to_guest.drain(..n);
                    out.progress = true;
                }
                Err(e) if is_retry(&e) => break,
                Err(e) => {
                    debug!(guest = %self.guest, error = %e, "tunnel: channel write failed");
                    out.error = ssh2::Error::last_session_error(session);
                    f.broken = true;
                }
            }
        }
        if f.eof_due() {
            match self.channel.send_eof() {
                Ok(()) => {
                    f.eof_sent = true;
                    out.progress = true;
                }
                Err(e) if would_block(&e) => {}
                Err(e) => {
                    debug!(guest = %self.guest, error = %e, "tunnel: channel eof failed");
                    f.broken = true;
                    out.error = Some(e);
                }
            }
        }
        let room = f.channel_room().min(buf.len());
        if room > 0 {
            match self.channel.read(&mut buf[..room]) {
                Ok(0) => {
                    f.remote_eof = true;
                    out.progress = true;
                }
                Ok(n) => {
                    f.to_local.extend_from_slice(&buf[..n]);
                    out.progress = true;
                }
                Err(e) if is_retry(&e) => {}
                Err(e) => {
                    debug!(guest = %self.guest, error = %e, "tunnel: channel read failed");
                    out.error = ssh2::Error::last_session_error(session);
                    f.broken = true;
                }
            }
        }
        while !f.to_local.is_empty() && !f.broken {
            match send_nosignal(self.local.as_raw_fd(), &f.to_local) {
                Ok(n) => {
                    f.to_local.drain(..n);
                    out.progress = true;
                }
                Err(e) if is_retry(&e) => break,
                Err(e) => {
                    // The guest session dropped its end: nobody to carry for.
                    debug!(guest = %self.guest, error = %e, "tunnel: local end gone");
                    f.broken = true;
                }
            }
        }
        if f.shut_due() {
            let _ = self.local.shutdown(Shutdown::Write);
            f.local_shut = true;
            out.progress = true;
        }
        if f.lingering() {
            let since = *self.lingering_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= LINGER {
                debug!(guest = %self.guest, "tunnel: guest side never ended, closing");
                f.broken = true;
            }
        }
        if f.finished() {
            let _ = self.local.shutdown(Shutdown::Both);
            self.closing_since = Some(Instant::now());
            out.progress = true;
            let closed = self.step_close(session);
            out.closed = closed.closed;
            out.error = out.error.or(closed.error);
        }
        out
    }

    /// Drives the channel's close; `closed` once it is closed (or given up
    /// on) and can be dropped.
    fn step_close(&mut self, session: &Session) -> StepResult {
        let mut out = StepResult::default();
        match self.channel.close() {
            Ok(()) => out.closed = true,
            Err(e) if would_block(&e) => {
                if self.closing_since.is_some_and(|s| s.elapsed() >= LINGER) {
                    debug!(guest = %self.guest, "tunnel: channel close unanswered, dropping it");
                    out.closed = true;
                }
            }
            Err(e) => {
                out.closed = true;
                if is_fatal(&e) {
                    out.error = Some(e);
                } else {
                    out.error = ssh2::Error::last_session_error(session).filter(is_fatal);
                }
            }
        }
        out
    }
}

/// The pump thread's state.
struct Worker {
    name: String,
    session: Session,
    /// A duplicate of the host socket, to poll it.
    sock: TcpStream,
    /// Readable after each request; end of file: stop.
    wake: UnixStream,
    inbox: mpsc::Receiver<Open>,
    alive: Arc<AtomicBool>,
}

impl Worker {
    fn run(mut self) {
        let mut tunnels = Vec::new();
        let reason = self.pump(&mut tunnels);
        self.alive.store(false, Ordering::Release);
        match &reason {
            Ok(()) => debug!(jump = %self.name, "jump host connection closed"),
            Err(msg) => warn!(jump = %self.name, error = %msg, "jump host connection lost"),
        }
        let msg = reason
            .err()
            .unwrap_or_else(|| "the jump host was closed".into());
        // Whoever still waits for a channel learns why there is none.
        while let Ok(mut open) = self.inbox.try_recv() {
            open.answer(Err(OpenError::Died(msg.clone())));
        }
        // Like `Conn::drop`: goodbye without waiting, then a shut-down
        // socket so that freeing the channels and the session never waits.
        self.session.set_timeout(300);
        let _ = self
            .session
            .disconnect(Some(ssh2::DisconnectCode::ByApplication), "bye", None);
        let _ = self.sock.shutdown(Shutdown::Both);
        self.session.set_blocking(true);
        // Freed now, blocking: a non-blocking free of an open channel
        // returns "would block" and leaves it allocated.
        drop(tunnels);
    }

    /// Carries channels until told to stop (`Ok`) or the host connection
    /// broke (`Err` with why). The local ends of the channels left in
    /// `tunnels` are shut down on return; the caller frees the channels.
    fn pump(&mut self, tunnels: &mut Vec<Tunnel>) -> std::result::Result<(), String> {
        let mut queue: VecDeque<Open> = VecDeque::new();
        let mut opening: Option<Open> = None;
        let mut buf = vec![0u8; CHUNK];
        let mut progress = true;
        let mut stalled = false;
        let outcome = loop {
            // -- wait ---------------------------------------------------
            let mut wait = if progress { Duration::ZERO } else { MAX_WAIT };
            if let Some(o) = queue.front().or(opening.as_ref())
                && !o.answered
            {
                wait = wait.min(o.deadline.saturating_duration_since(Instant::now()));
            }
            if tunnels
                .iter()
                .any(|t| t.lingering_since.is_some() || t.closing_since.is_some())
            {
                wait = wait.min(Duration::from_millis(250));
            }
            let host_events = if stalled {
                wait = wait.min(STALL_WAIT);
                0
            } else {
                match self.session.block_directions() {
                    BlockDirections::Outbound | BlockDirections::Both => {
                        libc::POLLIN | libc::POLLOUT
                    }
                    _ => libc::POLLIN,
                }
            };
            let mut fds = Vec::with_capacity(tunnels.len() + 2);
            fds.push(pollfd(self.sock.as_raw_fd(), host_events));
            fds.push(pollfd(self.wake.as_raw_fd(), libc::POLLIN));
            for t in tunnels.iter() {
                fds.push(pollfd(t.local.as_raw_fd(), t.flow.local_events()));
            }
            if let Err(e) = poll_fds(&mut fds, wait) {
                break Err(format!("poll: {e}"));
            }
            let host_revents = fds[0].revents;
            if host_revents & (libc::POLLERR | libc::POLLNVAL) != 0 {
                break Err("the socket failed".into());
            }
            // -- requests and stop --------------------------------------
            if fds[1].revents != 0 && self.drain_wake() {
                break Ok(());
            }
            while let Ok(open) = self.inbox.try_recv() {
                queue.push_back(open);
            }
            progress = false;
            // -- opens ----------------------------------------------------
            if opening.is_none() {
                while let Some(mut open) = queue.pop_front() {
                    if open.deadline <= Instant::now() {
                        open.answer(Err(OpenError::Timeout));
                        continue;
                    }
                    opening = Some(open);
                    break;
                }
            }
            if let Some(open) = opening.as_mut() {
                let guest = open.guest.to_string();
                match self.session.channel_direct_tcpip(&guest, open.port, None) {
                    Ok(channel) => {
                        progress = true;
                        if let Some(mut open) = opening.take() {
                            let name = SocketAddr::new(open.guest, open.port).to_string();
                            debug!(jump = %self.name, guest = %name, "channel opened");
                            open.answer(Ok(()));
                            // A caller that gave up dropped its end: the
                            // tunnel sees end of file and closes itself.
                            let local = open.local;
                            tunnels.push(Tunnel::new(name, channel, local));
                        }
                    }
                    Err(e) if would_block(&e) => {
                        if open.deadline <= Instant::now() {
                            // libssh2 must finish this open before another;
                            // the caller is told now, the channel is closed
                            // when it comes.
                            open.answer(Err(OpenError::Timeout));
                        }
                    }
                    Err(e) if is_fatal(&e) => {
                        if let Some(mut open) = opening.take() {
                            open.answer(Err(OpenError::Died(e.to_string())));
                        }
                        break Err(e.to_string());
                    }
                    Err(e) => {
                        progress = true;
                        if let Some(mut open) = opening.take() {
                            open.answer(Err(OpenError::Refused(e)));
                        }
                    }
                }
            }
            // -- channels -------------------------------------------------
            let mut fatal = None;
            tunnels.retain_mut(|t| {
                let step = t.step(&self.session, &mut buf);
                progress |= step.progress || step.closed;
                if let Some(e) = step.error.filter(is_fatal) {
                    fatal = Some(e);
                }
                !step.closed
            });
            if let Some(e) = fatal {
                break Err(e.to_string());
            }
            match self.session.keepalive_send() {
                Ok(_) => {}
                Err(e) if would_block(&e) => {}
                Err(e) => break Err(format!("keepalive: {e}")),
            }
            // -- the host socket --------------------------------------------
            if host_revents & libc::POLLHUP != 0 && !progress {
                break Err("the host closed the connection".into());
            }
            stalled = false;
            if !progress && host_revents & libc::POLLIN != 0 {
                // Readable, yet nothing consumed it: nobody wants to read
                // (no channel, or every one has a full buffer). End of file
                // means the host is gone; other data waits for a reader.
                match peek(self.sock.as_raw_fd()) {
                    Ok(0) => break Err("the host closed the connection".into()),
                    Ok(_) => stalled = true,
                    Err(e) if is_retry(&e) => {}
                    Err(e) => break Err(e.to_string()),
                }
            }
        };
        for mut open in opening.into_iter().chain(queue) {
            let msg = match &outcome {
                Ok(()) => "the jump host was closed".to_owned(),
                Err(msg) => msg.clone(),
            };
            open.answer(Err(OpenError::Died(msg)));
        }
        for t in tunnels.iter() {
            let _ = t.local.shutdown(Shutdown::Both);
        }
        outcome
    }

    /// Empties the wake-up socket; `true` if it was shut down (stop).
    fn drain_wake(&mut self) -> bool {
        let mut buf = [0u8; 64];
        loop {
            match self.wake.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(_) => return true,
            }
        }
    }
}

fn pollfd(fd: RawFd, events: i16) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

/// Whether an I/O error only means "not now".
fn is_retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// Whether a libssh2 error means the host connection itself is gone.
fn is_fatal(e: &ssh2::Error) -> bool {
    matches!(
        e.code(),
        ErrorCode::Session(
            LIBSSH2_ERROR_SOCKET_SEND | LIBSSH2_ERROR_SOCKET_DISCONNECT | LIBSSH2_ERROR_SOCKET_RECV
        )
    )
}

/// `send(2)` without `SIGPIPE` (a library must not kill its process when a
/// peer went away), non-blocking.
fn send_nosignal(fd: RawFd, data: &[u8]) -> io::Result<usize> {
    // SAFETY: `data` is a valid readable buffer of `data.len()` bytes for
    // the duration of the call; `fd` is a socket the caller owns.
    let rc = unsafe {
        libc::send(
            fd,
            data.as_ptr().cast(),
            data.len(),
            libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(usize::try_from(rc).unwrap_or(0))
}

/// Looks at whether a socket has data (`> 0`) or is at end of file (`0`),
/// without taking anything.
fn peek(fd: RawFd) -> io::Result<usize> {
    let mut byte = [0u8; 1];
    // SAFETY: `byte` is a valid writable buffer of 1 byte for the call.
    let rc = unsafe {
        libc::recv(
            fd,
            byte.as_mut_ptr().cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(usize::try_from(rc).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, TcpListener};

    use super::*;
    use crate::ErrorKind;

    #[test]
    fn jump_host_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<JumpHost>();
    }

    #[test]
    fn names_follow_ssh() {
        let t = JumpTarget::new("rh1.example", "/k", "/kh");
        assert_eq!(t.name(), "root@rh1.example");
        assert_eq!(t.known_hosts_name(), "rh1.example");
        let t = t.with_port(2222).with_user("lago");
        assert_eq!(t.name(), "lago@rh1.example:2222");
        assert_eq!(t.known_hosts_name(), "[rh1.example]:2222");
    }

    #[test]
    fn flow_moves_data_then_eof_both_ways() {
        let mut f = Flow::default();
        assert!(f.wants_local_read() && f.local_events() == libc::POLLIN);
        assert_eq!(f.channel_room(), CHUNK);
        // Local data waiting for the channel: no more local reads.
        f.to_guest.extend_from_slice(b"abc");
        assert!(!f.wants_local_read() && f.local_events() == 0);
        // Local end of file: EOF goes to the channel only after the data.
        f.local_eof = true;
        assert!(!f.eof_due());
        f.to_guest.clear();
        assert!(f.eof_due());
        f.eof_sent = true;
        assert!(f.lingering() && !f.finished());
        // The guest's data fills the local buffer: write interest, less room.
        f.to_local.extend_from_slice(&[0; 1000]);
        assert_eq!(f.local_events(), libc::POLLOUT);
        assert_eq!(f.channel_room(), CHUNK - 1000);
        f.remote_eof = true;
        assert_eq!(f.channel_room(), 0);
        // The local write side is shut down only once its data is out.
        assert!(!f.shut_due() && !f.finished());
        f.to_local.clear();
        assert!(f.shut_due() && f.finished() && !f.lingering());
    }

    #[test]
    fn flow_full_buffer_stops_channel_reads() {
        let mut f = Flow::default();
        f.to_local.resize(CHUNK, 0);
        assert_eq!(f.channel_room(), 0);
        assert!(f.local_events() & libc::POLLOUT != 0);
    }

    #[test]
    fn broken_local_end_closes_at_once() {
        let f = Flow {
            broken: true,
            to_local: b"unsent".to_vec(),
            ..Flow::default()
        };
        assert!(f.finished());
        assert_eq!(f.local_events(), 0);
        assert_eq!(f.channel_room(), 0);
        assert!(!f.eof_due() && !f.shut_due());
    }

    #[test]
    fn sending_to_a_closed_peer_is_an_error_not_a_signal() {
        let (a, b) = UnixStream::pair().unwrap();
        drop(b);
        let err = send_nosignal(a.as_raw_fd(), b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        assert_eq!(peek(a.as_raw_fd()).unwrap(), 0);
    }

    #[test]
    fn peek_leaves_the_data() {
        let (a, mut b) = UnixStream::pair().unwrap();
        b.write_all(b"hi").unwrap();
        assert_eq!(peek(a.as_raw_fd()).unwrap(), 1);
        let mut got = [0u8; 2];
        (&a).read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hi");
    }

    #[test]
    fn unreachable_jump_host_names_it() {
        // A port that was just free on loopback: connection refused.
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let jump = JumpHost::new(
            JumpTarget::new("127.0.0.1", "/nonexistent", "/nonexistent").with_port(port),
        );
        let err = jump
            .connect_to(Ipv4Addr::new(192, 168, 231, 10).into(), 22)
            .unwrap_err();
        assert!(matches!(err, SshError::Connect { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains(&format!("root@127.0.0.1:{port}")), "{text}");
        assert!(text.contains("jump host"), "{text}");
        assert!(!jump.is_connected());
    }

    #[test]
    fn a_jump_host_that_is_not_ssh_fails_the_handshake() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let _ = s.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\n");
        });
        let mut target =
            JumpTarget::new("127.0.0.1", "/nonexistent", "/nonexistent").with_port(port);
        target.connect_timeout = Duration::from_secs(5);
        let jump = JumpHost::new(target);
        let err = jump
            .connect_to(Ipv4Addr::new(192, 168, 231, 10).into(), 22)
            .unwrap_err();
        server.join().unwrap();
        let text = err.to_string();
        assert!(text.contains("handshake with the jump host"), "{text}");
        assert_eq!(crate::Error::from(err).kind(), ErrorKind::Ssh);
    }

    #[test]
    fn tunnel_errors_name_host_and_guest() {
        let err = SshError::Tunnel {
            jump: "root@10.231.1.2".into(),
            guest: "192.168.231.10:22".into(),
            msg: "the jump host could not open the channel: connect failed".into(),
            source: None,
        };
        assert_eq!(
            err.to_string(),
            "ssh jump host root@10.231.1.2: channel to 192.168.231.10:22: \
             the jump host could not open the channel: connect failed"
        );
        assert_eq!(crate::Error::from(err).kind(), ErrorKind::Ssh);
    }
}
