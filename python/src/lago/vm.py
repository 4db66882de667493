"""The default VM type ``lago.vm.DefaultVM`` (entry point ``lago.plugins.vm:
default``): every operation runs in lago-core through ``lago._native``."""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Optional, Sequence

from lago._exc import LagoNotFoundError, LagoSSHError
from lago.plugins.vm import (
    ExtractPathNoPathError,
    LagoCopyFilesFromVMError,
    LagoCopyFilesToVMError,
    LagoVMNotRunningError,
    VMPlugin,
)
from lago.utils import CommandStatus

LOGGER = logging.getLogger(__name__)


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
        out = json.loads(
            self._native.export(
                [self.name()],
                dst_dir=os.fspath(dst_dir if dst_dir is not None else "."),
                standalone=bool(standalone),
                compress=bool(compress),
                init_file_name=None,
                collect_only=bool(collect_only),
                parallel=bool(with_threads),
            )
        )
        return {self.name(): out.get(self.name(), [])}

    def _check_running(self) -> None:
        if not self.running():
            raise LagoVMNotRunningError(self.name())

    def ssh(
        self,
        command: Sequence[str],
        data: Optional[bytes] = None,
        show_output: bool = True,
        propagate_fail: bool = True,
        tries: Optional[int] = None,
    ) -> CommandStatus:
        """Runs ``command`` (an argument list) in the VM over SSH.

        Returns a CommandStatus (truthy on failure). ``data`` (stdin) is not
        supported yet.
        """
        if data is not None:
            raise NotImplementedError("ssh(data=...) is not implemented yet")
        if isinstance(command, str):
            command = [command]
        code, out, err = self._native.ssh(self.name(), list(command))
        return CommandStatus(code, out, err)

    def interactive_ssh(self, command: Optional[Sequence[str]] = None) -> CommandStatus:
        """Runs ``command`` (joined into one shell line, as Lago does) and
        copies its output to this process's stdout/stderr. Without a command
        (an interactive shell) it is not implemented yet."""
        import sys

        if not command:
            raise NotImplementedError("an interactive SSH session is not implemented yet")
        res = self.ssh(["sh", "-c", " ".join(command)])
        sys.stdout.buffer.write(res.out)
        sys.stdout.flush()
        sys.stderr.buffer.write(res.err)
        sys.stderr.flush()
        return res

    def ssh_script(self, path: str, show_output: bool = True) -> CommandStatus:
        """Copies the local script ``path`` into the VM and runs it with sh."""
        remote = f"/tmp/lago-script-{os.getpid()}-{os.path.basename(path)}"
        self.copy_to(path, remote)
        return self.ssh(["sh", "-c", 'sh "$0"; rc=$?; rm -f "$0"; exit $rc', remote])

    def ssh_reachable(self, tries: Optional[int] = None, propagate_fail: bool = True) -> bool:
        """True if the VM answers SSH now."""
        try:
            return not self.ssh(["true"])
        except LagoSSHError:
            return False

    def wait_for_ssh(self) -> bool:
        """Waits until the VM answers SSH (timeout from configuration)."""
        self._native.wait_for_ssh(self.name())
        return True

    def copy_to(self, local_path: str, remote_path: str, recursive: bool = True) -> None:
        """Copies a local file or tree into the VM."""
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

        A missing remote path raises ExtractPathNoPathError.
        """
        try:
            self._native.copy_from(self.name(), os.fspath(remote_path), os.fspath(local_path))
        except LagoNotFoundError as exc:
            if propagate_fail:
                raise ExtractPathNoPathError(str(exc)) from exc
        except LagoSSHError as exc:
            if "No such file" in str(exc):
                if propagate_fail:
                    raise ExtractPathNoPathError(str(exc)) from exc
                return
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
        try:
            name = self._native.guest_agent(self.name())
        except LagoNotFoundError as exc:
            raise RuntimeError(str(exc)) from exc
        self._spec["guest-agent"] = name
        return self.service(name)

    def has_guest_agent(self) -> bool:
        """True if the VM has a guest agent service."""
        self._check_running()
        found = bool(self._native.has_guest_agent(self.name()))
        if found:
            self._spec["guest-agent"] = self._native.guest_agent(self.name())
        return found
