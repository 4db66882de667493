//! Interactive sessions: a remote command or login shell wired to local
//! input and output, with a PTY when used from a terminal.
//!
//! [`SshClient::interactive`] uses the process's own standard input and
//! output. When standard input is a terminal it asks for a PTY of the
//! terminal's size and puts the local terminal in raw mode for the session
//! (restored afterwards, also on errors), so keys such as Ctrl-C and Tab
//! reach the remote side, like `ssh -t`. Size changes during the session
//! are not forwarded (no SIGWINCH handling).
//!
//! [`SshClient::interactive_with`] takes any readable descriptor and any
//! writers, which is how it is tested.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

use tracing::debug;

use super::client::SshClient;
use super::exec::{self, Failure, NbError, PtyRequest, nb, open_channel};
use super::quote::join_command;
use super::session::poll_fds;
use super::{Result, SshError};

/// The size of a pseudo-terminal, in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PtySize {
    /// Columns.
    pub cols: u32,
    /// Rows.
    pub rows: u32,
}

impl Default for PtySize {
    fn default() -> Self {
        Self { cols: 80, rows: 24 }
    }
}

/// The terminal's size, if `fd` is a terminal that knows it.
fn terminal_size(fd: RawFd) -> Option<PtySize> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, which
    // points to a live, exclusively borrowed `winsize`.
    let rc = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) };
    (rc == 0 && ws.ws_col > 0 && ws.ws_row > 0).then(|| PtySize {
        cols: u32::from(ws.ws_col),
        rows: u32::from(ws.ws_row),
    })
}

/// A terminal in raw mode; the previous mode comes back on drop.
struct RawMode {
    fd: RawFd,
    saved: libc::termios,
}

impl RawMode {
    fn enable(fd: RawFd) -> io::Result<Self> {
        // SAFETY: `termios` is plain old data; all-zero is a valid value
        // that tcgetattr overwrites.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: `saved` is a live termios that tcgetattr fills in.
        if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut raw = saved;
        // SAFETY: `raw` is a live termios; cfmakeraw only edits its fields.
        unsafe { libc::cfmakeraw(&mut raw) };
        // SAFETY: `raw` is a valid termios read by tcsetattr.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &raw) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: `saved` is the valid termios tcgetattr returned for
        // this descriptor.
        unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved) };
    }
}

impl SshClient {
    /// Runs `argv` (or, if it is empty, the user's login shell)
    /// interactively on this process's standard input, output and error;
    /// returns the remote exit code. From a terminal: with a PTY of the
    /// terminal's size and the local terminal in raw mode for the session.
    pub fn interactive<S: AsRef<OsStr>>(&self, argv: &[S]) -> Result<i32> {
        let stdin = io::stdin();
        let fd = stdin.as_fd();
        let tty = stdin.is_terminal();
        let pty = tty.then(|| terminal_size(fd.as_raw_fd()).unwrap_or_default());
        let _raw = if tty {
            match RawMode::enable(fd.as_raw_fd()) {
                Ok(raw) => Some(raw),
                Err(e) => {
                    debug!(error = %e, "terminal left in its mode");
                    None
                }
            }
        } else {
            None
        };
        let mut out = io::stdout().lock();
        let mut err = io::stderr().lock();
        self.interactive_with(argv, fd, &mut out, &mut err, pty)
    }

    /// Runs `argv` (or the login shell if empty) with `input` as its
    /// standard input and its output written to `output` and `error` as it
    /// arrives; with `pty`, on a pseudo-terminal of that size (everything
    /// then arrives on `output`). End of file on `input` is passed on.
    /// Returns the remote exit code. There is no time limit.
    pub fn interactive_with<S: AsRef<OsStr>>(
        &self,
        argv: &[S],
        input: BorrowedFd<'_>,
        output: &mut dyn Write,
        error: &mut dyn Write,
        pty: Option<PtySize>,
    ) -> Result<i32> {
        let command = join_command(argv);
        let op = if argv.is_empty() {
            "interactive shell".to_owned()
        } else {
            format!("interactive `{command}`")
        };
        let local_err = |what: &str, source: io::Error| SshError::Local {
            op: format!("{op}: {what}"),
            path: "-".into(),
            source,
        };
        let input_fd = input.as_raw_fd();
        let mut input = File::from(
            input
                .try_clone_to_owned()
                .map_err(|e| local_err("input", e))?,
        );
        self.with_conn(None, |conn, ctx| {
            let req = pty.map(|p| PtyRequest {
                cols: p.cols,
                rows: p.rows,
            });
            let mut channel = open_channel(conn, ctx, &op, req, None, Duration::ZERO)?;
            let started = if argv.is_empty() {
                nb(conn, None, || channel.shell())
            } else {
                nb(conn, None, || channel.exec(&command))
            };
            started.map_err(|e| Failure::before(e.into_ssh(ctx, &op, Duration::ZERO)))?;

            let fail_io = |e: io::Error| Failure::after(ctx.io_err(&op, e));
            let mut buf = vec![0u8; 32 * 1024];
            let mut pending: Vec<u8> = Vec::new();
            let mut input_eof = false;
            let mut eof_sent = false;
            let (mut out_done, mut err_done) = (false, false);
            while !(out_done && err_done) {
                let mut progress = false;
                for (done, stream) in [(&mut out_done, 0), (&mut err_done, 1)] {
                    if *done {
                        continue;
                    }
                    match channel.stream(stream).read(&mut buf) {
                        Ok(0) => *done = true,
                        Ok(n) => {
                            let sink: &mut dyn Write = if stream == 0 { output } else { error };
                            sink.write_all(&buf[..n])
                                .and_then(|()| sink.flush())
                                .map_err(|e| Failure::after(local_err("output", e)))?;
                            progress = true;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(fail_io(e)),
                    }
                }
                if !pending.is_empty() {
                    match channel.write(&pending) {
                        Ok(n) => {
                            pending.drain(..n);
                            progress |= n > 0;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => {
                            debug!(error = %e, "remote stopped taking input");
                            pending.clear();
                            input_eof = true;
                            eof_sent = true;
                        }
                    }
                }
                if input_eof && pending.is_empty() && !eof_sent {
                    match channel.send_eof() {
                        Ok(()) => eof_sent = true,
                        Err(e) if super::session::would_block(&e) => {}
                        Err(_) => eof_sent = true,
                    }
                }
                if progress {
                    continue;
                }
                // Wait for the socket or local input, unless libssh2 holds
                // data or an EOF already.
                let queued = channel.read_window().available > 0 || channel.eof();
                let timeout = if queued {
                    Duration::ZERO
                } else {
                    Duration::from_secs(1)
                };
                let mut fds = vec![libc::pollfd {
                    fd: conn.fd(),
                    events: match conn.session.block_directions() {
                        ssh2::BlockDirections::Outbound => libc::POLLOUT,
                        ssh2::BlockDirections::Both => libc::POLLIN | libc::POLLOUT,
                        _ => libc::POLLIN,
                    },
                    revents: 0,
                }];
                let want_input = !input_eof && pending.is_empty();
                if want_input {
                    fds.push(libc::pollfd {
                        fd: input_fd,
                        events: libc::POLLIN,
                        revents: 0,
                    });
                }
                poll_fds(&mut fds, timeout).map_err(fail_io)?;
                if want_input && fds[1].revents != 0 {
                    match input.read(&mut buf) {
                        Ok(0) => input_eof = true,
                        Ok(n) => pending.extend_from_slice(&buf[..n]),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(Failure::after(local_err("input", e))),
                    }
                }
            }
            let end = |e: NbError| Failure::after(e.into_ssh(ctx, &op, Duration::ZERO));
            nb(conn, None, || channel.close()).map_err(end)?;
            nb(conn, None, || channel.wait_close()).map_err(end)?;
            Ok(exec::exit_code(&channel))
        })
    }
}
