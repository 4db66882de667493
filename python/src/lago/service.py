"""The service providers (Lago's ``lago.service``), registered in group
``lago.plugins.vm_service``: ``systemd`` and ``sysvinit`` (probed in
lago-core, ``lago._native.Env.service_*``, over the VM's SSH client) and
``systemdcontainer`` (systemd inside the ``vdsmc`` container of a host, as
Lago's, through the VM's ``ssh``)."""

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


class SystemdContainerService(ServicePlugin):
    """A systemd unit in the VM's ``vdsmc`` docker container, or on the VM
    itself when the container does not have it."""

    BIN_PATH = "/usr/bin/docker"
    HOST_BIN_PATH = "/usr/bin/systemctl"

    def _in_container(self, *systemctl: str) -> CommandStatus:
        return self._vm.ssh([self.BIN_PATH, "exec", "vdsmc", "systemctl", *systemctl, self._name])

    def _request(self, what: str) -> CommandStatus:
        result = self._in_container(what)
        if result.code == 0:
            return result
        return self._vm.ssh([self.HOST_BIN_PATH, what, self._name])

    def _request_start(self) -> CommandStatus:
        return self._request("start")

    def _request_stop(self) -> CommandStatus:
        return self._request("stop")

    def state(self) -> ServiceState:
        result = self._in_container("status", "--lines=0")
        if result.code == 0:
            return ServiceState.ACTIVE
        for line in result.out.decode("utf-8", "replace").splitlines():
            words = line.split()
            if words[:1] == ["Loaded:"]:
                return ServiceState.INACTIVE if words[1:2] == ["loaded"] else ServiceState.MISSING
        return ServiceState.MISSING
