"""Service plugins (Lago's ``lago.plugins.service``): a service in a VM,
its state, start and stop. Implementations are registered in entry-point
group ``lago.plugins.vm_service`` (``lago.service``: systemd, sysvinit)."""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from lago.plugins import Plugin

if TYPE_CHECKING:
    from lago.plugins.vm import VMPlugin


class ServiceState(enum.Enum):
    """The state of a service, as Lago's (same values)."""

    MISSING = 0
    INACTIVE = 1
    ACTIVE = 2


class ServicePlugin(Plugin, ABC):
    """Service ``name`` of VM ``vm``.

    Subclasses say how to ask (:meth:`state`), how to start and stop
    (:meth:`_request_start`, :meth:`_request_stop`, whose result is truthy
    on failure, like a CommandStatus) and which file in the guest shows the
    provider is there (:attr:`BIN_PATH`).
    """

    def __init__(self, vm: "VMPlugin", name: str) -> None:
        self._vm = vm
        self._name = name

    @property
    def vm(self) -> "VMPlugin":
        """The VM the service runs in."""
        return self._vm

    @property
    def name(self) -> str:
        """The service's name in the guest."""
        return self._name

    @abstractmethod
    def state(self) -> ServiceState:
        """The service's current state."""

    @abstractmethod
    def _request_start(self) -> Any:
        """Asks the guest to start the service; truthy on failure."""

    @abstractmethod
    def _request_stop(self) -> Any:
        """Asks the guest to stop the service; truthy on failure."""

    @property
    @abstractmethod
    def BIN_PATH(self) -> str:  # noqa: N802 - Lago's name
        """A path that exists in guests this provider supports."""

    def exists(self) -> bool:
        """True unless the service is missing."""
        return self.state() != ServiceState.MISSING

    def alive(self) -> bool:
        """True if the service is running."""
        return self.state() == ServiceState.ACTIVE

    def start(self) -> None:
        """Starts the service (nothing to do if it runs)."""
        state = self.state()
        if state == ServiceState.MISSING:
            raise RuntimeError("Service %s not present" % self._name)
        if state == ServiceState.ACTIVE:
            return
        if self._request_start():
            raise RuntimeError("Failed to start service")

    def stop(self) -> None:
        """Stops the service (nothing to do if it is not running)."""
        state = self.state()
        if state == ServiceState.MISSING:
            raise RuntimeError("Service %s not present" % self._name)
        if state != ServiceState.ACTIVE:
            return
        if self._request_stop():
            raise RuntimeError("Failed to stop service")

    @classmethod
    def is_supported(cls, vm: "VMPlugin") -> bool:
        """True if :attr:`BIN_PATH` exists in ``vm`` (``test -e``)."""
        return not vm.ssh(["test", "-e", str(cls.BIN_PATH)])
