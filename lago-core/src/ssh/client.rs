//! [`SshClient`]: one reused connection per guest, reconnecting when it
//! broke, and the command-running calls built on it.

use std::ffi::OsStr;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tracing::{debug, info};

use super::exec::{self, ExecSpec, Failure, PtyRequest};
use super::known_hosts::{KnownHosts, host_name};
use super::quote::join_command;
use super::session::{Conn, Ctx, Stream, remaining};
use super::tunnel::JumpHost;
use super::{ExecResult, Result, SshError, SshTarget};

/// Pause between two TCP probes of a guest that is not answering yet.
const PROBE_PAUSE: Duration = Duration::from_millis(75);
/// Limit on one TCP connect attempt of a probe.
const PROBE_CONNECT: Duration = Duration::from_millis(500);
/// Limit on waiting for the server's banner once connected.
const PROBE_BANNER: Duration = Duration::from_secs(3);
/// Limit on the first `true` once a probe got a banner.
const PROBE_COMMAND: Duration = Duration::from_secs(20);
/// Limit on `true` over a connection held from before: a live one answers
/// at once, and a stale one (its guest was stopped behind our back) is
/// dropped for a fresh probe instead of waiting for TCP to give up on it.
const HELD_COMMAND: Duration = Duration::from_secs(3);

struct State {
    host: IpAddr,
    conn: Option<Conn>,
}

/// SSH access to one guest over one reused connection.
///
/// The connection is made on first use and kept; calls from several
/// threads take turns on it (the client is `Send + Sync`). If a reused
/// connection fails before a command has started — the guest rebooted, the
/// server restarted — the client drops it, connects again and retries once.
/// A command that failed or timed out after it started is not retried, and
/// its connection is dropped, so the next call starts on a fresh one.
pub struct SshClient {
    target: SshTarget,
    /// The host whose SSH connection carries ours, for a guest on a remote
    /// libvirt host's private network; `None` connects directly.
    jump: Option<Arc<JumpHost>>,
    state: Mutex<State>,
}

impl std::fmt::Debug for SshClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.lock();
        f.debug_struct("SshClient")
            .field("target", &self.target)
            .field("host", &state.host)
            .field("jump", &self.jump.as_ref().map(|j| j.name()))
            .field("connected", &state.conn.is_some())
            .finish()
    }
}

impl SshClient {
    /// A client for `target`. Nothing is connected until the first call.
    pub fn new(target: SshTarget) -> Self {
        let host = target.host;
        Self {
            target,
            jump: None,
            state: Mutex::new(State { host, conn: None }),
        }
    }

    /// A client for `target` reached through `jump`: every connection is a
    /// `direct-tcpip` channel on the jump host's one SSH connection (see
    /// [`JumpHost`]), which the jump host may share with other clients.
    /// The target's address is the guest's address as the jump host sees
    /// it. Nothing is connected until the first call.
    pub fn via(target: SshTarget, jump: Arc<JumpHost>) -> Self {
        let mut client = Self::new(target);
        client.jump = Some(jump);
        client
    }

    /// The jump host connections go through, if any.
    pub fn jump(&self) -> Option<&Arc<JumpHost>> {
        self.jump.as_ref()
    }

    /// The target, with the address currently in use.
    pub fn target(&self) -> SshTarget {
        let mut t = self.target.clone();
        t.host = self.host();
        t
    }

    /// The address currently in use.
    pub fn host(&self) -> IpAddr {
        self.state.lock().host
    }

    /// Uses `host` from now on; a connection to another address is dropped.
    pub fn set_host(&self, host: IpAddr) {
        let mut state = self.state.lock();
        if state.host != host {
            debug!(from = %state.host, to = %host, "ssh target address changed");
            state.host = host;
            state.conn = None;
        }
    }

    /// Whether a connection is currently held (it may still turn out dead).
    pub fn is_connected(&self) -> bool {
        self.state.lock().conn.is_some()
    }

    /// Connects now (if not connected yet), to fail early or to measure.
    pub fn connect(&self) -> Result<()> {
        let mut state = self.state.lock();
        if state.conn.is_none() {
            let ctx = self.ctx(state.host);
            state.conn = Some(Conn::connect(
                &self.target,
                state.host,
                self.jump.as_deref(),
                &ctx,
                None,
            )?);
        }
        Ok(())
    }

    /// Drops the connection; the next call connects again.
    pub fn disconnect(&self) {
        self.state.lock().conn = None;
    }

    /// Removes the host key recorded for this guest from the known-hosts
    /// file (a VM re-created from scratch has a new key) and drops the
    /// connection. Returns how many entries were removed; 0 without a
    /// known-hosts file.
    pub fn forget_host_key(&self) -> Result<usize> {
        let mut state = self.state.lock();
        state.conn = None;
        match &self.target.known_hosts {
            Some(path) => KnownHosts::new(path).forget(&host_name(state.host, self.target.port)),
            None => Ok(0),
        }
    }

    pub(crate) fn ctx(&self, host: IpAddr) -> Ctx {
        Ctx::new(host, self.target.port, &self.target.user)
    }

    /// Context for messages with the current address.
    pub(crate) fn current_ctx(&self) -> Ctx {
        self.ctx(self.host())
    }

    pub(crate) fn io_timeout(&self) -> Duration {
        self.target.io_timeout
    }

    /// Runs `f` on the connection, connecting first if needed. A failure
    /// before anything started on a reused connection reconnects once and
    /// retries.
    pub(crate) fn with_conn<T>(
        &self,
        deadline: Option<Instant>,
        mut f: impl FnMut(&mut Conn, &Ctx) -> std::result::Result<T, Failure>,
    ) -> Result<T> {
        let mut state = self.state.lock();
        let ctx = self.ctx(state.host);
        let mut retried = false;
        loop {
            let reused = state.conn.is_some();
            let mut conn = match state.conn.take() {
                Some(conn) => conn,
                None => Conn::connect(
                    &self.target,
                    state.host,
                    self.jump.as_deref(),
                    &ctx,
                    deadline,
                )?,
            };
            match f(&mut conn, &ctx) {
                Ok(v) => {
                    state.conn = Some(conn);
                    return Ok(v);
                }
                Err(fail) => {
                    if fail.conn_ok {
                        state.conn = Some(conn);
                    }
                    if !fail.started && reused && !retried && !fail.err.is_timeout() {
                        info!(
                            host = %ctx.host, error = %fail.err,
                            "ssh connection broke, reconnecting"
                        );
                        retried = true;
                        state.conn = None;
                        continue;
                    }
                    return Err(*fail.err);
                }
            }
        }
    }

    fn run(&self, spec: &ExecSpec<'_>) -> Result<ExecResult> {
        self.with_conn(Some(spec.deadline), |conn, ctx| exec::run(conn, ctx, spec))
    }

    /// Runs `argv` in the guest: the arguments are quoted for a POSIX shell
    /// and joined into one command line (see [`join_command`]), which the
    /// server runs with the user's shell. Standard input is empty. Fails
    /// with [`SshError::Timeout`] if the command has not finished within
    /// `timeout`.
    pub fn exec<S: AsRef<OsStr>>(&self, argv: &[S], timeout: Duration) -> Result<ExecResult> {
        self.exec_command(&join_command(argv), None, timeout)
    }

    /// Like [`exec`](SshClient::exec), with `stdin` as the command's
    /// standard input (then end of file).
    pub fn exec_stdin<S: AsRef<OsStr>>(
        &self,
        argv: &[S],
        stdin: &[u8],
        timeout: Duration,
    ) -> Result<ExecResult> {
        self.exec_command(&join_command(argv), Some(stdin), timeout)
    }

    /// Runs a ready command line, unquoted, with the user's shell (Lago's
    /// `ssh` joins its list with spaces this way), with optional standard
    /// input.
    pub fn exec_command(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<ExecResult> {
        if command.contains('\0') {
            return Err(SshError::InvalidInput {
                what: "command",
                msg: "contains a NUL byte".into(),
            });
        }
        self.run(&ExecSpec {
            command,
            stdin,
            pty: None,
            deadline: Instant::now() + timeout,
            timeout,
        })
    }

    /// Runs `argv` with a pseudo-terminal (80×24, `TERM=xterm`), as
    /// `ssh -t` does, and returns what the terminal showed in `stdout`
    /// (standard error is merged into it; line ends are `\r\n`).
    pub fn pty_exec<S: AsRef<OsStr>>(&self, argv: &[S], timeout: Duration) -> Result<ExecResult> {
        let command = join_command(argv);
        self.run(&ExecSpec {
            command: &command,
            stdin: None,
            pty: Some(PtyRequest { cols: 80, rows: 24 }),
            deadline: Instant::now() + timeout,
            timeout,
        })
    }

    /// Runs a script in the guest: its bytes go to `sh -s` on standard
    /// input (Lago uses `bash -s`; `sh` exists everywhere), so nothing is
    /// left behind in the guest. Exit code and output are the script's.
    pub fn ssh_script(&self, script: &[u8], timeout: Duration) -> Result<ExecResult> {
        self.exec_command("sh -s", Some(script), timeout)
    }

    /// [`ssh_script`](SshClient::ssh_script) with the script read from a
    /// local file.
    pub fn ssh_script_file(&self, path: &Path, timeout: Duration) -> Result<ExecResult> {
        let script = std::fs::read(path).map_err(|source| SshError::Local {
            op: "ssh_script: read script".into(),
            path: path.to_owned(),
            source,
        })?;
        self.ssh_script(&script, timeout)
    }

    /// Waits until the guest accepts SSH and runs `true`, for at most
    /// `timeout` (a VM's `boot_time_sec`). Returns how long it took.
    ///
    /// No blind sleeps: TCP probes with short connect timeouts, 75 ms apart
    /// while the port is closed or unreachable, until the server sends its
    /// `SSH-` banner; that same connection is then used to log in and run
    /// `true`, and kept for the next calls. Other calls on this client wait
    /// meanwhile. A host key mismatch fails at once; other failures (port
    /// closed, authentication refused while the guest is still applying
    /// its keys) are retried until the timeout, whose error names the last
    /// one. Through a jump host ([`SshClient::via`]) each probe is a channel
    /// opened by the host instead of a TCP connect (a closed port fails the
    /// open), and the jump host's own key or login failing ends the wait at
    /// once.
    pub fn wait_for_ssh(&self, timeout: Duration) -> Result<Duration> {
        let host = self.host();
        self.wait_for_ssh_from(timeout, &|| Some(host))
    }

    /// Like [`wait_for_ssh`](SshClient::wait_for_ssh), with the guest's
    /// address coming from `address` (e.g. a lookup of its DHCP lease): it
    /// is asked before each probe (not while a held connection is tried
    /// first), and an address other than the current one replaces it (see
    /// [`set_host`](SshClient::set_host)). `None`
    /// means no address is known yet: nothing is probed, and it is asked
    /// again 75 ms later.
    pub fn wait_for_ssh_from(
        &self,
        timeout: Duration,
        address: &dyn Fn() -> Option<IpAddr>,
    ) -> Result<Duration> {
        let start = Instant::now();
        let deadline = start + timeout;
        let mut state = self.state.lock();
        let mut last = String::new();
        let mut probes = 0u32;
        loop {
            // A held connection needs no address: it is tried as it is.
            let known = if state.conn.is_some() {
                Some(state.host)
            } else {
                address()
            };
            if let Some(ip) = known
                && ip != state.host
            {
                debug!(from = %state.host, to = %ip, "ssh target address changed");
                state.host = ip;
                state.conn = None;
            }
            let host = state.host;
            let ctx = self.ctx(host);
            let Some(left) = remaining(deadline) else {
                if known.is_none() && probes == 0 {
                    last = "no address known for the guest".into();
                }
                return Err(ctx.timeout(
                    "wait_for_ssh",
                    start.elapsed(),
                    &format!("{probes} probes, last: {last}"),
                ));
            };
            if known.is_none() {
                pause(deadline);
                continue;
            }
            // A connection still held is tried first: nothing to wait for.
            if state.conn.is_some() {
                let spec = true_spec(left.min(HELD_COMMAND));
                let held = state.conn.take();
                if let Some(conn) = held {
                    match exec::run(&conn, &ctx, &spec) {
                        Ok(r) if r.success() => {
                            state.conn = Some(conn);
                            return Ok(start.elapsed());
                        }
                        Ok(r) => last = format!("`true` exited with {}", r.code),
                        Err(fail) => last = fail.err.to_string(),
                    }
                }
                continue;
            }
            probes += 1;
            let probed = match &self.jump {
                Some(jump) => {
                    match jump.open(host, self.target.port, Some(Instant::now() + left)) {
                        Ok(stream) => Ok(Stream::Tunnel(stream)),
                        // The jump host's key or credentials will not fix themselves.
                        Err(
                            e @ (SshError::HostKeyMismatch { .. }
                            | SshError::Auth { .. }
                            | SshError::KnownHosts { .. }),
                        ) => return Err(e),
                        Err(e @ SshError::Timeout { .. }) => {
                            Err(io::Error::new(io::ErrorKind::TimedOut, e.to_string()))
                        }
                        Err(e) => Err(io::Error::other(e.to_string())),
                    }
                }
                None => probe(host, self.target.port, left).map(Stream::Tcp),
            };
            match probed {
                Ok(tcp) => {
                    let limit = deadline.min(Instant::now() + self.target.connect_timeout);
                    match Conn::establish(tcp, &self.target, host, &ctx, limit) {
                        Ok(conn) => {
                            let spec = true_spec(left.min(PROBE_COMMAND));
                            match exec::run(&conn, &ctx, &spec) {
                                Ok(r) if r.success() => {
                                    let took = start.elapsed();
                                    debug!(host = %ctx.host, probes, took_ms = took.as_millis() as u64, "ssh is up");
                                    state.conn = Some(conn);
                                    return Ok(took);
                                }
                                Ok(r) => last = format!("`true` exited with {}", r.code),
                                Err(fail) => last = fail.err.to_string(),
                            }
                        }
                        // A wrong host key will not fix itself.
                        Err(e @ SshError::HostKeyMismatch { .. }) => return Err(e),
                        Err(e) => {
                            debug!(host = %ctx.host, error = %e, "ssh not ready yet");
                            last = e.to_string();
                        }
                    }
                    pause(deadline);
                }
                Err(e) => {
                    last = e.to_string();
                    // A connect that timed out has waited already.
                    if e.kind() != io::ErrorKind::TimedOut {
                        pause(deadline);
                    }
                }
            }
        }
    }

    /// One attempt to reach the guest now, with a short limit, without
    /// waiting: like Lago's `ssh_reachable`.
    pub fn reachable(&self) -> bool {
        match self.exec(&["true"], Duration::from_secs(10)) {
            Ok(r) => r.success(),
            Err(e) => {
                debug!(error = %e, "guest not reachable over ssh");
                false
            }
        }
    }
}

fn true_spec(timeout: Duration) -> ExecSpec<'static> {
    ExecSpec {
        command: "true",
        stdin: None,
        pty: None,
        deadline: Instant::now() + timeout,
        timeout,
    }
}

/// Sleeps the pause between probes, never past `deadline`.
fn pause(deadline: Instant) {
    if let Some(left) = remaining(deadline) {
        std::thread::sleep(left.min(PROBE_PAUSE));
    }
}

/// Connects to `host:port` and waits for the server's `SSH-` banner
/// without consuming it (`peek`), so the socket can go on to the SSH
/// handshake.
fn probe(host: IpAddr, port: u16, left: Duration) -> io::Result<TcpStream> {
    let addr = SocketAddr::new(host, port);
    let tcp = TcpStream::connect_timeout(&addr, left.min(PROBE_CONNECT))?;
    let banner_deadline = Instant::now() + left.min(PROBE_BANNER);
    let mut buf = [0u8; 4];
    loop {
        let Some(wait) = remaining(banner_deadline) else {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "no SSH banner"));
        };
        tcp.set_read_timeout(Some(wait))?;
        let n = tcp.peek(&mut buf)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "connection closed before the SSH banner",
            ));
        }
        if n == buf.len() {
            if &buf != b"SSH-" {
                // RFC 4253 allows text lines before the banner; libssh2
                // skips them, so any answer will do.
                debug!(%addr, "server sends text before its banner");
            }
            tcp.set_read_timeout(None)?;
            return Ok(tcp);
        }
        // Fewer than 4 bytes so far: peek returns at once while data is
        // pending, so give the rest a moment without spinning.
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::ErrorKind;

    #[test]
    fn client_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<SshClient>();
    }

    #[test]
    fn no_address_means_no_traffic() {
        let c = SshClient::new(SshTarget::new(Ipv4Addr::UNSPECIFIED.into()));
        let err = c.exec(&["true"], Duration::from_secs(5)).unwrap_err();
        assert!(matches!(err, SshError::InvalidInput { .. }), "{err}");
        assert_eq!(crate::Error::from(err).kind(), ErrorKind::InvalidInput);

        // A lease that never comes: a timeout saying so, nothing probed.
        let start = Instant::now();
        let err = c
            .wait_for_ssh_from(Duration::from_millis(300), &|| None)
            .unwrap_err();
        assert!(err.is_timeout(), "{err}");
        assert!(err.to_string().contains("no address known"), "{err}");
        assert!(start.elapsed() < Duration::from_secs(2));
        assert!(!c.is_connected());
    }

    #[test]
    fn set_host_replaces_the_address() {
        let c = SshClient::new(SshTarget::new(Ipv4Addr::new(192, 168, 160, 10).into()));
        c.set_host(Ipv4Addr::new(192, 168, 160, 11).into());
        assert_eq!(c.host(), IpAddr::from(Ipv4Addr::new(192, 168, 160, 11)));
        assert_eq!(c.target().host, c.host());
    }
}
