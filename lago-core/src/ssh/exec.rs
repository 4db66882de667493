//! Running one command on a channel: non-blocking, reading standard output
//! and standard error as they come (a command that fills one of them never
//! blocks on the other), feeding standard input alongside, all within one
//! deadline.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use ssh2::{Channel, Session};
use tracing::trace;

use super::ExecResult;
use super::SshError;
use super::session::{Conn, Ctx, would_block};

/// Read buffer per call; libssh2 hands out at most one packet's worth
/// anyway, larger only saves calls.
const READ_CHUNK: usize = 64 * 1024;
/// Standard input is written in pieces of this size at most.
const WRITE_CHUNK: usize = 32 * 1024;

/// A failed operation on a connection, with what the client must do about
/// the connection.
pub(crate) struct Failure {
    pub(crate) err: Box<SshError>,
    /// The remote command or transfer had started: never retry.
    pub(crate) started: bool,
    /// The connection is still usable.
    pub(crate) conn_ok: bool,
}

impl Failure {
    /// A failure before anything started, on a connection now suspect.
    pub(crate) fn before(err: SshError) -> Self {
        Self {
            err: Box::new(err),
            started: false,
            conn_ok: false,
        }
    }

    /// A failure after the command started; the connection is dropped.
    pub(crate) fn after(err: SshError) -> Self {
        Self {
            err: Box::new(err),
            started: true,
            conn_ok: false,
        }
    }

    /// A failure that says nothing about the connection (e.g. a missing
    /// remote file): keep it.
    pub(crate) fn harmless(err: SshError) -> Self {
        Self {
            err: Box::new(err),
            started: true,
            conn_ok: true,
        }
    }
}

/// Terminal size and type for a PTY request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PtyRequest {
    pub(crate) cols: u32,
    pub(crate) rows: u32,
}

/// What to run.
pub(crate) struct ExecSpec<'a> {
    /// The command line, as the remote shell gets it.
    pub(crate) command: &'a str,
    /// Bytes for standard input, then EOF. `None`: EOF at once.
    pub(crate) stdin: Option<&'a [u8]>,
    /// Allocate a PTY of this size.
    pub(crate) pty: Option<PtyRequest>,
    /// The whole call must end by then.
    pub(crate) deadline: Instant,
    /// The timeout the deadline came from, for messages.
    pub(crate) timeout: Duration,
}

/// The operation name used in messages: the command, shortened.
pub(crate) fn op_name(command: &str) -> String {
    const MAX: usize = 200;
    if command.len() <= MAX {
        return format!("exec `{command}`");
    }
    let mut end = MAX;
    while !command.is_char_boundary(end) {
        end -= 1;
    }
    format!("exec `{}…`", &command[..end])
}

/// Repeats a non-blocking libssh2 call until it stops saying "would
/// block", waiting on the socket in between, until the deadline.
pub(crate) fn nb<T>(
    conn: &Conn,
    deadline: Option<Instant>,
    mut f: impl FnMut() -> Result<T, ssh2::Error>,
) -> Result<T, NbError> {
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(e) if would_block(&e) => {
                if !conn.wait(deadline).map_err(NbError::Io)? {
                    return Err(NbError::Timeout);
                }
            }
            Err(e) => return Err(NbError::Ssh(e)),
        }
    }
}

/// Why a non-blocking step ended without a result.
pub(crate) enum NbError {
    Timeout,
    Ssh(ssh2::Error),
    Io(io::Error),
}

impl NbError {
    pub(crate) fn into_ssh(self, ctx: &Ctx, op: &str, timeout: Duration) -> SshError {
        match self {
            NbError::Timeout => ctx.timeout(op, timeout, ""),
            NbError::Ssh(e) => ctx.session_err(op, e),
            NbError::Io(e) => ctx.io_err(op, e),
        }
    }
}

/// Opens a session channel (and a PTY if asked), with the session in
/// non-blocking mode. Nothing has run remotely yet when this fails.
pub(crate) fn open_channel(
    conn: &Conn,
    ctx: &Ctx,
    op: &str,
    pty: Option<PtyRequest>,
    deadline: Option<Instant>,
    timeout: Duration,
) -> Result<Channel, Failure> {
    let session: &Session = &conn.session;
    session.set_blocking(false);
    let mut channel = nb(conn, deadline, || session.channel_session())
        .map_err(|e| Failure::before(e.into_ssh(ctx, op, timeout)))?;
    if let Some(p) = pty {
        nb(conn, deadline, || {
            channel.request_pty("xterm", None, Some((p.cols, p.rows, 0, 0)))
        })
        .map_err(|e| Failure::before(e.into_ssh(ctx, op, timeout)))?;
    }
    Ok(channel)
}

/// Runs `spec` on `conn`.
pub(crate) fn run(conn: &Conn, ctx: &Ctx, spec: &ExecSpec<'_>) -> Result<ExecResult, Failure> {
    let op = op_name(spec.command);
    let deadline = Some(spec.deadline);
    let mut channel = open_channel(conn, ctx, &op, spec.pty, deadline, spec.timeout)?;
    trace!(host = %ctx.host, command = spec.command, "exec");
    nb(conn, deadline, || channel.exec(spec.command)).map_err(|e| match e {
        // The request may or may not have reached the server.
        NbError::Timeout => Failure::after(ctx.timeout(&op, spec.timeout, "")),
        e => Failure::before(e.into_ssh(ctx, &op, spec.timeout)),
    })?;
    pump(
        conn,
        ctx,
        &op,
        &mut channel,
        spec.stdin,
        deadline,
        spec.timeout,
    )
    .map_err(Failure::after)
}

/// Moves data until the command has closed both outputs, then collects its
/// exit status.
pub(crate) fn pump(
    conn: &Conn,
    ctx: &Ctx,
    op: &str,
    channel: &mut Channel,
    stdin: Option<&[u8]>,
    deadline: Option<Instant>,
    timeout: Duration,
) -> Result<ExecResult, SshError> {
    let mut stdout = Vec::new();
    let mut result = pump_into(
        conn,
        ctx,
        op,
        channel,
        stdin,
        deadline,
        timeout,
        &mut stdout,
    )?;
    result.stdout = stdout;
    Ok(result)
}

/// Like [`pump`], with standard output written to `out` as it comes
/// (the result's `stdout` stays empty). A failing `out` ends the call with
/// [`SshError::Local`].
#[allow(clippy::too_many_arguments, reason = "pump's arguments and the sink")]
pub(crate) fn pump_into(
    conn: &Conn,
    ctx: &Ctx,
    op: &str,
    channel: &mut Channel,
    stdin: Option<&[u8]>,
    deadline: Option<Instant>,
    timeout: Duration,
    out: &mut dyn Write,
) -> Result<ExecResult, SshError> {
    let io_err = |e: io::Error| ctx.io_err(op, e);
    let mut result = ExecResult::default();
    let mut stdout_sink = Vec::new();
    let mut buf = vec![0u8; READ_CHUNK];
    let input = stdin.unwrap_or(&[]);
    let mut written = 0;
    let mut eof_sent = false;
    let mut out_done = false;
    let mut err_done = false;

    while !(out_done && err_done) {
        let mut progress = false;

        if written < input.len() {
            let end = input.len().min(written + WRITE_CHUNK);
            match channel.write(&input[written..end]) {
                Ok(n) => {
                    written += n;
                    progress |= n > 0;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The command exited without reading all its input, like
                // a closed pipe: stop feeding it and keep its output.
                Err(e) => {
                    trace!(error = %e, "stdin not accepted any more");
                    written = input.len();
                    eof_sent = true;
                }
            }
        }
        if written >= input.len() && !eof_sent {
            match channel.send_eof() {
                Ok(()) => {
                    eof_sent = true;
                    progress = true;
                }
                Err(e) if would_block(&e) => {}
                Err(e) => {
                    trace!(error = %e, "eof not sent");
                    eof_sent = true;
                }
            }
        }

        for (done, stream, sink) in [
            (&mut out_done, 0, &mut stdout_sink),
            (&mut err_done, 1, &mut result.stderr),
        ] {
            // Drain what is there, a bounded amount per round so stdin
            // and the other stream get their turn.
            for _ in 0..16 {
                if *done {
                    break;
                }
                match channel.stream(stream).read(&mut buf) {
                    Ok(0) => *done = true,
                    Ok(n) => {
                        sink.extend_from_slice(&buf[..n]);
                        progress = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(io_err(e)),
                }
            }
        }
        if !stdout_sink.is_empty() {
            out.write_all(&stdout_sink)
                .map_err(|source| SshError::Local {
                    op: op.to_owned(),
                    path: "(local output of the command)".into(),
                    source,
                })?;
            stdout_sink.clear();
        }

        // What libssh2 already pulled off the socket (data, EOF, window
        // space) is not signalled by the socket any more: only wait for the
        // socket when nothing of it is left to act on.
        let pending = channel.read_window().available > 0
            || channel.eof()
            || (written < input.len() && channel.write_window().remaining > 0);
        // Both outputs just ended: nothing left to wait for (waiting here
        // cost each command a full slice).
        let finished = out_done && err_done;
        if !progress && !finished {
            let slice = if pending {
                Duration::from_millis(1)
            } else {
                Duration::from_secs(1)
            };
            if !conn.wait_at_most(deadline, slice).map_err(io_err)? {
                return Err(ctx.timeout(op, timeout, ""));
            }
        }
    }

    nb(conn, deadline, || channel.close()).map_err(|e| e.into_ssh(ctx, op, timeout))?;
    nb(conn, deadline, || channel.wait_close()).map_err(|e| e.into_ssh(ctx, op, timeout))?;
    result.code = exit_code(channel);
    Ok(result)
}

/// The exit status, or 128 + the signal number for a killed command, or -1.
pub(crate) fn exit_code(channel: &Channel) -> i32 {
    if let Ok(sig) = channel.exit_signal()
        && let Some(name) = sig.exit_signal
    {
        return signal_number(&name).map_or(-1, |n| 128 + n);
    }
    channel.exit_status().unwrap_or(-1)
}

/// The Linux number of a signal named as in SSH (`TERM`, not `SIGTERM`).
fn signal_number(name: &str) -> Option<i32> {
    let n = match name.trim_start_matches("SIG") {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "TRAP" => 5,
        "ABRT" => 6,
        "BUS" => 7,
        "FPE" => 8,
        "KILL" => 9,
        "USR1" => 10,
        "SEGV" => 11,
        "USR2" => 12,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        _ => return None,
    };
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_names_are_shortened_on_char_boundaries() {
        assert_eq!(op_name("true"), "exec `true`");
        let long = "é".repeat(150);
        let name = op_name(&long);
        assert!(name.ends_with("…`"));
        assert!(name.len() < 220);
    }

    #[test]
    fn signals_map_like_a_shell() {
        assert_eq!(signal_number("KILL"), Some(9));
        assert_eq!(signal_number("SIGTERM"), Some(15));
        assert_eq!(signal_number("WHATEVER"), None);
    }
}
