"""The ``ssh`` VM provider (Lago's ``lago.vm.SSHVMProvider``, entry point
``lago.plugins.vm_provider: ssh``): a machine that is already running and is
only reached over SSH; lifecycle requests do nothing."""

from __future__ import annotations

from typing import Any

from lago.plugins.vm import VMProviderPlugin


class SSHVMProvider(VMProviderPlugin):
    """A machine lago does not run: always ``running`` if it answers SSH."""

    def start(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to start."""

    def stop(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to stop."""

    def shutdown(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to shut down."""

    def reboot(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to reboot."""

    def defined(self, *args: Any, **kwargs: Any) -> bool:
        """Always true: the machine exists outside lago."""
        return True

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to prepare."""

    def state(self, *args: Any, **kwargs: Any) -> str:
        """Always ``running``."""
        return "running"

    def running(self, *args: Any, **kwargs: Any) -> bool:
        """True if the machine answers SSH at the first try."""
        return self.vm.ssh_reachable(tries=1, propagate_fail=False)

    def create_snapshot(self, name: str, *args: Any, **kwargs: Any) -> None:
        """Snapshots are not taken of such machines."""

    def revert_snapshot(self, name: str, *args: Any, **kwargs: Any) -> None:
        """Snapshots are not taken of such machines."""
