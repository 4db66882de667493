"""``lago.ssh``: Lago's SSH functions to any address (``ssh``,
``wait_for_ssh``, ``ssh_script``, ``interactive_ssh``, ``get_ssh_client``),
as OST and plugins call them. The SSH client is lago-core's
(``lago._native.SshClient``); as in Lago, a command list is joined with
spaces and the remote shell interprets it.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import Any, Optional, Sequence, Union

from lago._exc import LagoNativeError, LagoSSHError

LOGGER = logging.getLogger(__name__)

#: Lago's defaults when the configuration has none.
DEFAULT_SSH_TRIES = 10
DEFAULT_SSH_TIMEOUT = 10


class LagoSSHTimeoutException(LagoNativeError):
    """A guest did not answer SSH (or an operation timed out) in time."""

    kind = "timeout"


def _config_int(key: str, default: int) -> int:
    from lago.config import config

    value = config.native.get(key)
    return int(value) if value else default


def _address(ip_addr: str) -> str:
    """``ip_addr`` as an IP address (a host name is resolved)."""
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in ip_addr else socket.AF_INET, ip_addr)
        return ip_addr
    except OSError:
        return socket.gethostbyname(ip_addr)


def _first_key(ssh_key: Union[None, str, Sequence[str]]) -> Optional[str]:
    if ssh_key is None or isinstance(ssh_key, str):
        return ssh_key
    return next(iter(ssh_key), None)


def get_ssh_client(
    ip_addr: str,
    ssh_key: Union[None, str, Sequence[str]] = None,
    host_name: Optional[str] = None,
    ssh_tries: Optional[int] = None,
    propagate_fail: bool = True,
    username: str = "root",
    password: Optional[str] = "123456",
) -> Any:
    """A connected SSH client (``lago._native.SshClient``: ``exec_command``,
    ``interactive``, ``close``) to ``ip_addr`` as ``username``, with the
    private key file ``ssh_key`` (the first one if a list) and/or
    ``password``. Connecting is tried ``ssh_tries`` times (default: the
    ``ssh_tries`` setting), one second apart, each try limited by
    ``ssh_timeout``; LagoSSHTimeoutException when all fail."""
    from lago import _native

    host_name = host_name or ip_addr
    timeout = _config_int("ssh_timeout", DEFAULT_SSH_TIMEOUT)
    tries = ssh_tries if ssh_tries is not None else _config_int("ssh_tries", DEFAULT_SSH_TRIES)
    start = time.monotonic()
    client = None
    last: Optional[Exception] = None
    while tries > 0:
        try:
            if client is None:
                client = _native.SshClient(
                    _address(ip_addr),
                    user=username or "root",
                    password=password,
                    key=_first_key(ssh_key),
                    connect_timeout=float(timeout),
                )
            client.connect()
            return client
        except (LagoSSHError, LagoSSHTimeoutException, OSError) as exc:
            last = exc
            LOGGER.debug("Error connecting to %s: %s", host_name, exc)
        tries -= 1
        LOGGER.debug("Still got %d tries for %s", tries, host_name)
        if tries > 0:
            time.sleep(1)
    raise LagoSSHTimeoutException(
        "Timed out (in %d s) trying to ssh to %s%s"
        % (time.monotonic() - start, host_name, f": {last}" if last else "")
    )


def ssh(
    ip_addr: str,
    command: Union[str, Sequence[str]],
    host_name: Optional[str] = None,
    data: Optional[Union[bytes, str]] = None,
    show_output: bool = True,
    propagate_fail: bool = True,
    tries: Optional[int] = None,
    ssh_key: Union[None, str, Sequence[str]] = None,
    username: str = "root",
    password: Optional[str] = "123456",
) -> Any:
    """Runs ``command`` (a list joined with spaces, for the remote shell)
    on ``ip_addr`` with ``data`` as its standard input; returns
    ``CommandStatus(code, out, err)``. With ``show_output`` the remote
    output is also written to this process's stdout/stderr."""
    from lago.utils import CommandStatus
    from lago.vm import echo_output

    host_name = host_name or ip_addr
    client = get_ssh_client(
        ip_addr=ip_addr,
        host_name=host_name,
        propagate_fail=propagate_fail,
        ssh_tries=tries,
        ssh_key=ssh_key,
        username=username,
        password=password,
    )
    line = command if isinstance(command, str) else " ".join(command)
    if isinstance(data, str):
        data = data.encode()
    LOGGER.debug("Running on %s: %s", host_name, line)
    try:
        code, out, err = client.exec_command(line, data)
    finally:
        client.close()
    LOGGER.debug("Command on %s returned with %d", host_name, code)
    if show_output:
        echo_output(out, err)
    return CommandStatus(code, out, err)


def wait_for_ssh(
    ip_addr: str,
    host_name: Optional[str] = None,
    connect_timeout: float = 600,
    ssh_key: Union[None, str, Sequence[str]] = None,
    username: str = "root",
    password: Optional[str] = "123456",
) -> None:
    """Waits until ``true`` runs on ``ip_addr``: one try a second for
    ``connect_timeout`` seconds, then a last call with the default tries;
    RuntimeError if that fails too."""
    host_name = host_name or ip_addr
    start = time.monotonic()
    while time.monotonic() - start < connect_timeout:
        try:
            code = ssh(
                ip_addr=ip_addr,
                host_name=host_name,
                command=["true"],
                tries=1,
                propagate_fail=False,
                show_output=False,
                ssh_key=ssh_key,
                username=username,
                password=password,
            ).code
        except Exception as exc:  # anything means: not yet
            LOGGER.debug("Got exception while sshing to %s: %s", host_name, exc)
            code = -1
        if code == 0:
            break
        time.sleep(1)
    else:
        code = ssh(
            ip_addr=ip_addr,
            host_name=host_name,
            command=["true"],
            show_output=False,
            ssh_key=ssh_key,
            username=username,
            password=password,
        ).code
        if code != 0:
            raise RuntimeError("Failed to connect remote shell to %s" % host_name)
    LOGGER.debug("Wait succeeded for ssh to %s", host_name)


def ssh_script(
    ip_addr: str,
    path: str,
    host_name: Optional[str] = None,
    show_output: bool = True,
    ssh_key: Union[None, str, Sequence[str]] = None,
    username: str = "root",
    password: Optional[str] = "123456",
) -> Any:
    """Runs the local script ``path`` on ``ip_addr`` (``bash -s`` with the
    script on standard input; ``sh -s`` where there is no bash, as
    ``vm.ssh_script`` does); returns its CommandStatus."""
    import shlex

    from lago.vm import SCRIPT_SHELL

    with open(path, "rb") as f:
        script = f.read()
    return ssh(
        ip_addr=ip_addr,
        host_name=host_name or ip_addr,
        command=shlex.join(SCRIPT_SHELL),
        data=script,
        show_output=show_output,
        ssh_key=ssh_key,
        username=username,
        password=password,
    )


def interactive_ssh(
    ip_addr: str,
    command: Optional[Sequence[str]] = None,
    host_name: Optional[str] = None,
    ssh_key: Union[None, str, Sequence[str]] = None,
    username: str = "root",
    password: Optional[str] = "123456",
) -> Any:
    """Runs ``command`` (default ``bash``; joined with spaces for the
    remote shell) on this process's terminal; returns
    ``CommandStatus(code, b'', b'')``."""
    from lago.utils import CommandStatus
    from lago.vm import flush_std_streams

    line = " ".join(command) if command else "bash"
    client = get_ssh_client(
        ip_addr=ip_addr,
        host_name=host_name,
        ssh_key=ssh_key,
        username=username,
        password=password,
    )
    flush_std_streams()
    try:
        code = client.interactive(["sh", "-c", line])
    finally:
        client.close()
    return CommandStatus(code, b"", b"")
