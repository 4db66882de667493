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

    # Straight to lago-core, not through ``self.vm`` (whose base methods
    # come back to the provider).
    def _native(self) -> Any:
        return self.vm.virt_env._native

    def start(self, *args: Any, **kwargs: Any) -> None:
        """Starts the VM."""
        self._native().start([self.vm.name()])

    def stop(self, *args: Any, **kwargs: Any) -> None:
        """Stops the VM at once."""
        self._native().stop([self.vm.name()])

    def shutdown(self, *args: Any, **kwargs: Any) -> None:
        """Shuts the VM down cleanly."""
        self._native().shutdown([self.vm.name()], False)

    def reboot(self, *args: Any, **kwargs: Any) -> None:
        """Reboots the VM."""
        self._native().shutdown([self.vm.name()], True)

    def state(self, *args: Any, **kwargs: Any) -> str:
        """Lago's state string."""
        return str(self._native().vm_state(self.vm.name()))

    def running(self, *args: Any, **kwargs: Any) -> bool:
        """True if the VM runs."""
        return self.state() == "running"

    def create_snapshot(self, name: str, *args: Any, **kwargs: Any) -> None:
        """Takes snapshot ``name`` of the VM's disks."""
        self._native().snapshot(name, [self.vm.name()])

    def revert_snapshot(self, name: str, *args: Any, **kwargs: Any) -> None:
        """Reverts the VM's disks to snapshot ``name``."""
        self._native().revert(name, [self.vm.name()])

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
