"""Helpers and base exceptions at Lago's import path ``lago.utils``."""

from __future__ import annotations

import shlex
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Optional, Sequence, Union

#: ``subprocess.PIPE`` (subprocess itself is imported when a command runs).
PIPE = -1


class LagoException(Exception):
    """Base class of every error lago raises on purpose."""


class LagoInitException(LagoException):
    """Initializing a prefix failed."""


class LagoUserException(LagoException):
    """The user asked for something that cannot be done (bad input)."""


class TimerException(Exception):
    """A timed operation (lock, timer) ran out of time."""


class _CommandStatusBase(NamedTuple):
    code: int
    out: bytes
    err: bytes


class CommandStatus(_CommandStatusBase):
    """Result of a command: ``(code, out, err)``, ``out``/``err`` as bytes.

    As in Lago, the truth value is INVERTED: a CommandStatus is truthy when
    the command FAILED (non-zero code), so ``if not res:`` means success.
    """

    def __bool__(self) -> bool:
        return bool(self.code)


def run_command(
    command: Union[Sequence[str], str],
    input_data: Optional[bytes] = None,
    out_pipe: Any = PIPE,
    err_pipe: Any = PIPE,
    env: Optional[Mapping[str, str]] = None,
    **kwargs: Any,
) -> CommandStatus:
    """Runs a local command and returns its CommandStatus (bytes output).

    ``command`` is an argument list (run without a shell) or a string (run
    by ``/bin/sh -c``).
    """
    import subprocess

    shell = isinstance(command, str)
    proc = subprocess.run(
        command,
        input=input_data,
        stdout=out_pipe,
        stderr=err_pipe,
        env=dict(env) if env is not None else None,
        shell=shell,
        check=False,
        **kwargs,
    )
    return CommandStatus(proc.returncode, proc.stdout or b"", proc.stderr or b"")


def invoke_in_parallel(func: Callable[..., Any], *arg_seqs: Iterable[Any]) -> list[Any]:
    """Calls ``func`` on zipped ``arg_seqs`` in threads; re-raises the first error."""
    import concurrent.futures

    args = list(zip(*arg_seqs))
    if not args:
        return []
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(args)) as pool:
        futures = [pool.submit(func, *a) for a in args]
        return [f.result() for f in futures]


def ipv4_to_mac(ip: str) -> str:
    """Lago's MAC for an IPv4 address: ``54:52:`` then the 4 octets in hex."""
    octets = [int(o) for o in ip.split(".")]
    if len(octets) != 4 or any(not 0 <= o <= 255 for o in octets):
        raise ValueError(f"not an IPv4 address: {ip!r}")
    return "54:52:" + ":".join(f"{o:02x}" for o in octets)


def shell_join(args: Sequence[str]) -> str:
    """Quotes ``args`` for a POSIX shell."""
    return " ".join(shlex.quote(a) for a in args)
