"""The default VM type ``lago.vm.DefaultVM`` (entry point ``lago.plugins.vm:
default``): every operation runs in lago-core through ``lago._native``."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shlex
from typing import Any, Optional, Sequence, Union

from lago import _native
from lago._exc import LagoNativeError, LagoNotFoundError, LagoSSHError
from lago.plugins.vm import (
    ExtractPathNoPathError,
    LagoCopyFilesFromVMError,
    LagoCopyFilesToVMError,
    LagoVMNotRunningError,
    VMPlugin,
)
from lago.utils import CommandStatus
from lago.providers.ssh import SSHVMProvider as SSHVMProvider  # Lago's path lago.vm.SSHVMProvider

#: How a script runs in the guest: Lago's ``bash -s``, ``sh -s`` without
#: bash (lago-core's command line, the one deploy scripts run with).
SCRIPT_SHELL = ("sh", "-c", _native.script_command())

#: The shell of ``lago shell VM`` / ``interactive_ssh()``: Lago's ``bash``,
#: ``sh`` where bash is missing.
INTERACTIVE_SHELL = "if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi"


def _write(stream: Any, data: bytes) -> None:
    if not data:
        return
    buf = getattr(stream, "buffer", None)
    if buf is not None:
        buf.write(data)
    else:
        stream.write(data.decode(errors="replace"))
    stream.flush()


def echo_output(out: bytes, err: bytes) -> None:
    """Writes a remote command's output to this process's stdout/stderr."""
    import sys

    _write(sys.stdout, out)
    _write(sys.stderr, err)


def flush_std_streams() -> None:
    """Flushes Python's stdout/stderr before native code writes to fds 1/2."""
    import sys

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, ValueError, OSError):
            pass

LOGGER = logging.getLogger(__name__)

#: How lago-core's SSH errors name a failure to (re)connect, before any
#: command ran: the operations ``connect``, ``handshake``, ``authentication``.
_CONNECT_FAILURE = re.compile(r"^ssh [^ ]+: (connect|handshake|authentication)\b")

#: Lago's default ``ssh_tries``: connection attempts before giving up.
DEFAULT_SSH_TRIES = 100


class DefaultVM(VMPlugin):
    """A VM run by lago-core (libvirt + SSH)."""

    @property
    def _native(self) -> Any:
        return self.virt_env._native

    def state(self) -> str:
        """Lago's state string: ``running``, ``down``, ``shut off``, …"""
        return str(self._native.vm_state(self.name()))

    def running(self) -> bool:
        """True if the VM is running."""
        return self.state() == "running"

    def start(self) -> None:
        """Starts this VM (and its networks)."""
        self._native.start([self.name()])

    def stop(self) -> None:
        """Stops (destroys) this VM."""
        self._native.stop([self.name()])

    def create_snapshot(self, name: str) -> None:
        """Takes snapshot ``name`` of this VM's disks (running or not)."""
        self._native.snapshot(name, [self.name()])

    def revert_snapshot(self, name: str) -> None:
        """Reverts this VM's disks to snapshot ``name``; if it ran, it runs
        again and answers SSH."""
        self._native.revert(name, [self.name()])

    def export_disks(
        self,
        standalone: bool = True,
        dst_dir: Optional[str] = None,
        compress: bool = False,
        collect_only: bool = False,
        with_threads: bool = True,
        *args: Any,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Exports this (stopped) VM's disks into ``dst_dir`` (the current
        folder if None), without an init file; returns ``{name: [paths]}``
        (source paths with ``collect_only``)."""
        out = self._native.export(
            [self.name()],
            dst_dir=os.fspath(dst_dir if dst_dir is not None else "."),
            standalone=bool(standalone),
            compress=bool(compress),
            init_file_name=None,
            collect_only=bool(collect_only),
            parallel=bool(with_threads),
        )
        return {self.name(): out.get(self.name(), [])}

    def _check_running(self) -> None:
        if not self.running():
            raise LagoVMNotRunningError(self.name())

    def _ssh_tries(self, tries: Optional[int]) -> int:
        if tries is not None:
            return max(1, int(tries))
        from lago.config import config as lago_config

        value = lago_config.native.get("ssh_tries")
        return max(1, int(value)) if value else DEFAULT_SSH_TRIES

    def _connect(self, tries: Optional[int] = None) -> None:
        """Connects to the VM over SSH (if not connected yet), trying up to
        ``tries`` times (default: the ``ssh_tries`` setting, 100) one second
        apart, each attempt limited by ``ssh_timeout``: a guest that is
        still booting is waited for. RuntimeError at once if the VM is not
        running; LagoSSHTimeoutException when the tries are used up."""
        import time

        from lago.ssh import LagoSSHTimeoutException

        left = self._ssh_tries(tries)
        start = time.monotonic()
        while True:
            try:
                self._native.ssh_connect(self.name())
                return
            except LagoNativeError as exc:
                if not isinstance(exc, (LagoSSHError, LagoSSHTimeoutException)):
                    raise
                LOGGER.debug("ssh to %s: %s", self.name(), exc)
                if not self.running():
                    raise RuntimeError("Attempt to ssh into a not running host") from exc
                left -= 1
                if left <= 0:
                    raise LagoSSHTimeoutException(
                        "Timed out (in %d s) trying to ssh to %s: %s"
                        % (time.monotonic() - start, self.name(), exc)
                    ) from exc
                LOGGER.debug("Still got %d tries for %s", left, self.name())
                time.sleep(1)

    def _run_line(
        self, line: str, data: Optional[Union[bytes, str]], show_output: bool, tries: Optional[int]
    ) -> CommandStatus:
        """Runs the command line ``line`` as the guest's shell reads it. A
        held connection that broke (the guest rebooted) and cannot be made
        again is waited for like a first connection."""
        if isinstance(data, str):
            data = data.encode()
        stdin = None if data is None else bytes(data)
        for _ in range(self._ssh_tries(tries)):
            self._connect(tries)
            try:
                code, out, err = self._native.ssh_command(self.name(), line, stdin)
                break
            except LagoNativeError as exc:
                if not _CONNECT_FAILURE.search(str(exc)):
                    raise
                LOGGER.debug("ssh to %s: connection lost: %s", self.name(), exc)
        else:
            from lago.ssh import LagoSSHTimeoutException

            raise LagoSSHTimeoutException(f"Could not keep an ssh connection to {self.name()}")
        if show_output:
            echo_output(out, err)
        return CommandStatus(code, out, err)

    def ssh(
        self,
        command: Sequence[str],
        data: Optional[Union[bytes, str]] = None,
        show_output: bool = True,
        propagate_fail: bool = True,
        tries: Optional[int] = None,
    ) -> CommandStatus:
        """Runs ``command`` in the VM over SSH, with ``data`` (bytes or
        text) as its standard input when given.

        As in Lago, the list is joined with spaces and the guest's shell
        interprets the line (``['echo', 'a;', 'exit', '3']`` prints ``a``
        and exits 3; quote arguments yourself, e.g. with ``shlex.join``).
        A guest that does not answer yet is tried again per ``ssh_tries`` /
        ``ssh_timeout`` (``tries`` is ignored, as in Lago). Returns a
        CommandStatus (truthy on failure). With ``show_output`` (the
        default) the remote stdout/stderr are also written to this
        process's stdout/stderr. ``propagate_fail`` is accepted and ignored.
        """
        line = command if isinstance(command, str) else " ".join(command)
        return self._run_line(line, data, show_output, None)

    def interactive_ssh(self, command: Optional[Sequence[str]] = None) -> CommandStatus:
        """Runs ``command`` (joined into one shell line, as Lago does;
        default: ``bash``, or ``sh`` where bash is missing) on this
        process's terminal: stdin, stdout and stderr are the session's, with
        a PTY when stdin is a terminal. Returns CommandStatus(code, b'', b'').
        """
        self._check_running()
        self._connect()
        if command:
            argv = ["sh", "-c", " ".join(command)]
        else:
            argv = ["sh", "-c", INTERACTIVE_SHELL]
        flush_std_streams()
        code = self._native.interactive(self.name(), argv)
        return CommandStatus(code, b"", b"")

    def ssh_script(self, path: str, show_output: bool = True) -> CommandStatus:
        """Runs the local script ``path`` in the VM: its contents go to
        ``bash -s`` (``sh -s`` where bash is missing) on standard input."""
        with open(path, "rb") as f:
            script = f.read()
        return self._run_line(shlex.join(SCRIPT_SHELL), script, show_output, None)

    def shutdown(self) -> None:
        """Shuts this VM down cleanly (ACPI, else ``poweroff`` over SSH)."""
        self._native.shutdown([self.name()], False)

    def reboot(self) -> None:
        """Reboots this VM (ACPI, else ``reboot`` over SSH)."""
        self._native.shutdown([self.name()], True)

    # -- CPU, console, spec -------------------------------------------------
    @property
    def cpu_model(self) -> Optional[str]:
        """The VM's CPU model: its spec's ``cpu_model``, else the host's."""
        model = self._spec.get("cpu_model")
        return str(model) if model else self._native.host_cpu()[0]

    @property
    def cpu_vendor(self) -> Optional[str]:
        """The host CPU's vendor as libvirt names it (``Intel``, ``AMD``)."""
        return self._native.host_cpu()[1]  # type: ignore[no-any-return]

    def interactive_console(self) -> CommandStatus:
        """Attaches to the VM's serial console (``virsh console``; Ctrl-]
        leaves); returns its exit status."""
        import subprocess

        from lago.config import config as lago_config

        self._check_running()
        url = lago_config.native.get("libvirt_url") or _native.DEFAULT_LIBVIRT_URL
        argv = ["virsh", "-c", url, "console", self._native.vm_libvirt_name(self.name())]
        return CommandStatus(subprocess.call(argv), b"", b"")

    def save(self, path: Optional[str] = None) -> None:
        """Writes the VM's spec: to ``virt/vm-<name>`` (through lago-core,
        which reads it from then on), or to ``path`` (JSON, indent 4)."""
        if path is None:
            self._native.save_vm_spec(self.name(), self._spec)
            return
        with open(path, "w") as f:
            json.dump(self._spec, f, indent=4)

    def bootstrap(self) -> None:
        """Lago ran virt-sysprep here; lago-core bootstraps every VM at
        ``init`` (NoCloud seed or virt-sysprep), so nothing is left to do."""
        LOGGER.debug("%s: bootstrapped at init", self.name())

    # -- Lago's paramiko-shaped handles, for plugins that use them ----------
    def _ssh(self, propagate_fail: bool = True, tries: Optional[int] = None) -> Any:
        """A context manager yielding an object with paramiko's
        ``exec_command(cmd)`` (returns ``stdin, stdout, stderr``; the command
        runs to its end first, over lago-core's one connection)."""
        import contextlib

        vm = self

        class _Channel:
            def __init__(self, code: int) -> None:
                self._code = code

            def recv_exit_status(self) -> int:
                return self._code

        class _Out(io.BytesIO):
            def __init__(self, data: bytes, code: int) -> None:
                super().__init__(data)
                self.channel = _Channel(code)

        class _Client:
            def exec_command(self, command: str, *args: Any, **kwargs: Any) -> Any:
                vm._connect()
                code, out, err = vm._native.ssh_command(vm.name(), command)
                return io.BytesIO(), _Out(out, code), _Out(err, code)

            def close(self) -> None:
                pass

        return contextlib.nullcontext(_Client())

    def _scp(self, propagate_fail: bool = True) -> Any:
        """A context manager yielding an object with scp's ``put(local,
        remote, recursive=...)`` and ``get(remote, local, recursive=...)``
        over lago-core's copies."""
        import contextlib

        vm = self

        class _Scp:
            def put(self, files: Any, remote_path: str = ".", recursive: bool = False) -> None:
                for f in [files] if isinstance(files, (str, os.PathLike)) else files:
                    vm.copy_to(os.fspath(f), remote_path, recursive=recursive)

            def get(self, remote_path: str, local_path: str = "", recursive: bool = False) -> None:
                vm.copy_from(remote_path, local_path or os.path.basename(remote_path), recursive)

            def close(self) -> None:
                pass

        return contextlib.nullcontext(_Scp())

    def ssh_reachable(self, tries: Optional[int] = None, propagate_fail: bool = True) -> bool:
        """True if the VM runs and answers SSH within ``tries`` attempts
        (default: the ``ssh_tries`` setting), one second apart."""
        from lago.ssh import LagoSSHTimeoutException

        if not self.running():
            return False
        try:
            self._connect(tries)
        except (LagoSSHTimeoutException, RuntimeError):
            return False
        return True

    def wait_for_ssh(self) -> bool:
        """Waits until the VM answers SSH (timeout from configuration)."""
        self._native.wait_for_ssh(self.name())
        return True

    def copy_to(self, local_path: str, remote_path: str, recursive: bool = True) -> None:
        """Copies a local file or tree into the VM (a guest that does not
        answer yet is waited for, as ``ssh`` does)."""
        self._connect()
        try:
            self._native.copy_to(self.name(), os.fspath(local_path), os.fspath(remote_path))
        except (LagoSSHError, LagoNotFoundError) as exc:
            raise LagoCopyFilesToVMError(local_path, str(exc)) from exc

    def copy_from(
        self,
        remote_path: str,
        local_path: str,
        recursive: bool = True,
        propagate_fail: bool = True,
    ) -> None:
        """Copies a file or tree out of the VM.

        A missing remote path raises ExtractPathNoPathError. A guest that
        does not answer yet is waited for, as ``ssh`` does.
        """
        self._connect()
        try:
            self._native.copy_from(self.name(), os.fspath(remote_path), os.fspath(local_path))
        except LagoNotFoundError as exc:
            if propagate_fail:
                raise ExtractPathNoPathError(str(exc)) from exc
        except LagoSSHError as exc:
            if propagate_fail:
                raise LagoCopyFilesFromVMError(remote_path, local_path, str(exc)) from exc

    def extract_paths(self, paths: Sequence[Any], ignore_nopath: bool = False) -> None:
        """Copies each ``(remote, local)`` pair out of the VM: over SSH when
        it runs, else from its disk with libguestfs."""
        try:
            self._native.extract_paths(
                self.name(), [(str(r), os.fspath(l)) for r, l in paths], ignore_nopath
            )
        except LagoNotFoundError as exc:
            raise ExtractPathNoPathError(str(exc)) from exc

    def extract_paths_dead(self, paths: Sequence[Any], ignore_nopath: bool = False) -> None:
        """As ``extract_paths`` (a VM that is not running is read from its disk)."""
        self.extract_paths(paths, ignore_nopath)

    def collect_artifacts(self, host_path: str, ignore_nopath: bool) -> None:
        """Copies ``_artifact_paths()`` to ``host_path/<path with / → _>``."""
        try:
            self._native.collect_vm(
                self.name(), list(self._artifact_paths()), os.fspath(host_path), ignore_nopath
            )
        except LagoNotFoundError as exc:
            raise ExtractPathNoPathError(str(exc)) from exc

    # -- services (§2.3): detection and persistence run in lago-core ---------
    def _service_class(self, provider: str) -> Any:
        from lago.plugins import load_plugins

        classes = load_plugins("lago.plugins.vm_service", instantiate=False)
        if provider not in classes:
            raise RuntimeError(
                "No service provider %r for VM %s (known: %s)"
                % (provider, self.name(), ", ".join(sorted(classes)) or "none")
            )
        return classes[provider]

    def service(self, name: str) -> Any:
        """Service ``name`` of this running VM (a ServicePlugin). The guest's
        provider is detected once and kept as ``spec['service_provider']``."""
        self._check_running()
        self._connect()  # a guest still booting is waited for, as Lago's ssh did
        try:
            provider = self._native.service_provider(self.name())
        except LagoNotFoundError as exc:
            raise RuntimeError(
                "No service provider detected for %s: %s" % (self.name(), exc)
            ) from exc
        self._spec["service_provider"] = provider
        return self._service_class(provider)(self, name)

    def guest_agent(self) -> Any:
        """The guest agent's service (``qemu-guest-agent`` or ``qemu-ga``),
        kept as ``spec['guest-agent']``; RuntimeError if there is none."""
        self._check_running()
        self._connect()
        try:
            name = self._native.guest_agent(self.name())
        except LagoNotFoundError as exc:
            raise RuntimeError(str(exc)) from exc
        self._spec["guest-agent"] = name
        return self.service(name)

    def has_guest_agent(self) -> bool:
        """True if the VM has a guest agent service."""
        self._check_running()
        self._connect()
        found = bool(self._native.has_guest_agent(self.name()))
        if found:
            self._spec["guest-agent"] = self._native.guest_agent(self.name())
        return found
