"""Lago's default VM provider at its path ``lago.providers.libvirt.vm``
(entry point ``lago.plugins.vm_provider: local-libvirt``). Every VM runs
in lago-core over libvirt; the provider object delegates to its VM."""

from __future__ import annotations

from typing import Any

from lago.plugins.vm import VMProviderPlugin
from lago.utils import LagoException


class LagoLocalLibvirtVMProviderException(LagoException):
    """The local libvirt provider failed."""


class LocalLibvirtVMProvider(VMProviderPlugin):
    """Runs a VM on the local libvirt daemon, through lago-core."""

    def start(self) -> None:
        """Starts the VM."""
        self.vm.start()

    def stop(self) -> None:
        """Stops the VM at once."""
        self.vm.stop()

    def shutdown(self, *args: Any, **kwargs: Any) -> None:
        """Shuts the VM down cleanly."""
        self.vm.shutdown(*args, **kwargs)

    def reboot(self, *args: Any, **kwargs: Any) -> None:
        """Reboots the VM."""
        self.vm.reboot(*args, **kwargs)

    def state(self) -> str:
        """Lago's state string."""
        return str(self.vm.state())

    def running(self) -> bool:
        """True if the VM runs."""
        return bool(self.vm.running())

    def create_snapshot(self, name: str) -> None:
        """Takes snapshot ``name`` of the VM's disks."""
        self.vm.create_snapshot(name)

    def revert_snapshot(self, name: str) -> None:
        """Reverts the VM's disks to snapshot ``name``."""
        self.vm.revert_snapshot(name)

    def _libvirt_name(self) -> str:
        return str(self.vm.virt_env._native.vm_libvirt_name(self.vm.name()))

    @property
    def cpu_model(self) -> Any:
        """The VM's CPU model (its spec's, else the host's)."""
        return self.vm.cpu_model

    @property
    def cpu_vendor(self) -> Any:
        """The host CPU's vendor."""
        return self.vm.cpu_vendor
