//! `lago._native.SshClient`: an SSH client to any host (not a VM of an
//! environment), for the module-level functions of `lago.ssh` (Lago's
//! `ssh(ip_addr, command, ...)`, `get_ssh_client`, ...). The command runs
//! as one ready line in the user's shell, as Lago's paramiko code did.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use lago_core::ErrorKind;
use lago_core::{SshClient as CoreClient, SshTarget};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::{self, msg};
use crate::{interrupt, logbridge};

/// One SSH client (it keeps one connection, made on first use).
#[pyclass(module = "lago._native", name = "SshClient", frozen)]
pub struct SshClient {
    inner: CoreClient,
}

impl SshClient {
    /// `f` of the client, interruptible by Ctrl-C (`interrupt`).
    fn run<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&CoreClient) -> std::result::Result<T, lago_core::SshError> + Send,
    ) -> PyResult<T> {
        interrupt::call(py, || f(&self.inner).map_err(lago_core::Error::from))
    }

    /// `f` of the client without the GIL, not interruptible: a session on
    /// this process's terminal, whose Ctrl-C is the remote side's.
    fn run_attached<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&CoreClient) -> std::result::Result<T, lago_core::SshError> + Send,
    ) -> PyResult<T> {
        let out = py.detach(|| f(&self.inner));
        logbridge::flush(py);
        out.map_err(|e| errors::to_py(&lago_core::Error::from(e)))
    }
}

#[pymethods]
impl SshClient {
    /// A client for `host` (an IP address) as `user`; the key file (if it
    /// exists) is tried first, then the password. Host keys are not
    /// checked, as Lago's `AutoAddPolicy` did not.
    #[new]
    #[pyo3(signature = (host, *, user="root".to_string(), password=None, key=None, port=22,
                        connect_timeout=None))]
    fn new(
        host: &str,
        user: String,
        password: Option<String>,
        key: Option<PathBuf>,
        port: u16,
        connect_timeout: Option<f64>,
    ) -> PyResult<Self> {
        let ip: IpAddr = host.parse().map_err(|_| {
            msg(
                ErrorKind::InvalidInput,
                format!("ssh: host {host:?} is not an IP address"),
            )
        })?;
        let mut target = SshTarget::new(ip)
            .with_user(user)
            .with_password(password.as_deref())
            .with_port(port);
        if let Some(key) = key {
            target = target.with_key(key);
        }
        if let Some(secs) = connect_timeout {
            target.connect_timeout =
                Duration::try_from_secs_f64(secs.max(0.1)).unwrap_or(Duration::MAX);
        }
        Ok(Self {
            inner: CoreClient::new(target),
        })
    }

    /// Connects now (if not connected yet).
    fn connect(&self, py: Python<'_>) -> PyResult<()> {
        self.run(py, |c| c.connect())
    }

    /// Whether a connection is held.
    fn is_connected(&self) -> bool {
        self.inner.is_connected()
    }

    /// Runs the command line `command` as it is (the remote shell
    /// interprets it), with `stdin` as its standard input when given;
    /// returns (code, stdout, stderr).
    #[pyo3(signature = (command, stdin=None, timeout=None))]
    fn exec_command<'py>(
        &self,
        py: Python<'py>,
        command: String,
        stdin: Option<Vec<u8>>,
        timeout: Option<f64>,
    ) -> PyResult<(i32, Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
        let t = timeout.map_or(lago_core::defaults::SSH_COMMAND_TIMEOUT, |s| {
            Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::MAX)
        });
        let r = self.run(py, |c| c.exec_command(&command, stdin.as_deref(), t))?;
        Ok((
            r.code,
            PyBytes::new(py, &r.stdout),
            PyBytes::new(py, &r.stderr),
        ))
    }

    /// Runs `argv` (the login shell when empty) on this process's standard
    /// input and output (a PTY when stdin is a terminal); returns the exit
    /// code.
    #[pyo3(signature = (argv=Vec::new()))]
    fn interactive(&self, py: Python<'_>, argv: Vec<String>) -> PyResult<i32> {
        self.run_attached(py, |c| c.interactive(&argv))
    }

    /// Drops the connection.
    fn close(&self) {
        self.inner.disconnect();
    }
}
