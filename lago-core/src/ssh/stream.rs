//! Commands whose standard output is streamed to a local writer as it
//! arrives instead of being collected in memory: archives of guest files
//! (`collect`) piped straight into a local unpacker.

use std::io::Write;
use std::time::{Duration, Instant};

use tracing::trace;

use super::client::SshClient;
use super::exec::{self, Failure, NbError};
use super::{ExecResult, Result, SshError};

impl SshClient {
    /// Runs a ready command line (unquoted, with the user's shell) and
    /// writes its standard output to `out` as it comes; the result holds
    /// the exit code and standard error (its `stdout` is empty). Standard
    /// input is empty. The whole call is bounded by `timeout`; a failing
    /// `out` ends it with [`SshError::Local`].
    pub fn exec_to(
        &self,
        command: &str,
        out: &mut dyn Write,
        timeout: Duration,
    ) -> Result<ExecResult> {
        if command.contains('\0') {
            return Err(SshError::InvalidInput {
                what: "command",
                msg: "contains a NUL byte".into(),
            });
        }
        let deadline = Instant::now() + timeout;
        self.with_conn(Some(deadline), |conn, ctx| {
            let op = exec::op_name(command);
            let mut channel = exec::open_channel(conn, ctx, &op, None, Some(deadline), timeout)?;
            trace!(host = %ctx.host, command, "exec (streamed)");
            exec::nb(conn, Some(deadline), || channel.exec(command)).map_err(|e| match e {
                NbError::Timeout => Failure::after(ctx.timeout(&op, timeout, "")),
                e => Failure::before(e.into_ssh(ctx, &op, timeout)),
            })?;
            exec::pump_into(
                conn,
                ctx,
                &op,
                &mut channel,
                None,
                Some(deadline),
                timeout,
                &mut *out,
            )
            .map_err(Failure::after)
        })
    }
}
