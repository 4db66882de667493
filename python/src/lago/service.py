"""The service providers (Lago's ``lago.service``), registered in group
``lago.plugins.vm_service``: ``systemd`` and ``sysvinit``. The probing runs
in lago-core (``lago._native.Env.service_*``) over the VM's SSH client."""

from __future__ import annotations

from typing import Any

from lago.plugins.service import ServicePlugin, ServiceState
from lago.utils import CommandStatus, LagoException


class _NativeService(ServicePlugin):
    """A service driven by lago-core through provider :attr:`PROVIDER`."""

    #: lago-core's name of the provider
    PROVIDER = ""

    def _native(self) -> Any:
        return self._vm.virt_env._native

    def state(self) -> ServiceState:
        code = self._native().service_state(self._vm.name(), self._name, self.PROVIDER)
        return ServiceState(code)

    def _request(self, what: str) -> CommandStatus:
        call = getattr(self._native(), "service_" + what)
        try:
            call(self._vm.name(), self._name, self.PROVIDER)
        except LagoException as exc:
            return CommandStatus(1, b"", str(exc).encode())
        return CommandStatus(0, b"", b"")

    def _request_start(self) -> CommandStatus:
        return self._request("start")

    def _request_stop(self) -> CommandStatus:
        return self._request("stop")


class SystemdService(_NativeService):
    """Services managed by systemd (``systemctl``)."""

    BIN_PATH = "/usr/bin/systemctl"
    PROVIDER = "systemd"


class SysVInitService(_NativeService):
    """SysV init scripts (``/etc/init.d``, ``service``)."""

    BIN_PATH = "/sbin/service"
    PROVIDER = "sysvinit"
