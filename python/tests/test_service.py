"""The service plugin classes (§2.3) without a guest: the hierarchy, the
entry points, and the concrete methods over a fake provider."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from lago.plugins import load_plugins
from lago.plugins.service import ServicePlugin, ServiceState
from lago.service import SystemdService, SysVInitService
from lago.utils import CommandStatus


def test_state_values() -> None:
    assert [(s.name, s.value) for s in ServiceState] == [
        ("MISSING", 0),
        ("INACTIVE", 1),
        ("ACTIVE", 2),
    ]


def test_abstract_base_cannot_be_instantiated() -> None:
    assert inspect.isabstract(ServicePlugin)
    with pytest.raises(TypeError):
        ServicePlugin(None, "x")  # type: ignore[abstract]
    assert {"state", "_request_start", "_request_stop", "BIN_PATH"} <= ServicePlugin.__abstractmethods__


def test_entry_points() -> None:
    classes = load_plugins("lago.plugins.vm_service", instantiate=False)
    assert classes["systemd"] is SystemdService
    assert classes["sysvinit"] is SysVInitService
    assert SystemdService.BIN_PATH == "/usr/bin/systemctl"
    assert SysVInitService.BIN_PATH == "/sbin/service"
    assert not inspect.isabstract(SystemdService)


class FakeNative:
    """Records what the service classes ask lago-core."""

    def __init__(self, state: int, fail: bool = False) -> None:
        self.state = state
        self.fail = fail
        self.calls: list[tuple[str, ...]] = []

    def service_state(self, vm: str, name: str, provider: str) -> int:
        self.calls.append(("state", vm, name, provider))
        return self.state

    def _control(self, what: str, vm: str, name: str, provider: str) -> None:
        from lago._exc import BY_KIND

        self.calls.append((what, vm, name, provider))
        if self.fail:
            raise BY_KIND["ssh"]("systemctl failed")
        self.state = 2 if what == "start" else 1

    def service_start(self, vm: str, name: str, provider: str) -> None:
        self._control("start", vm, name, provider)

    def service_stop(self, vm: str, name: str, provider: str) -> None:
        self._control("stop", vm, name, provider)


class FakeVM:
    def __init__(self, native: FakeNative, test_e: int = 0) -> None:
        self.virt_env = type("E", (), {"_native": native})()
        self.test_e = test_e
        self.argv: list[Any] = []

    def name(self) -> str:
        return "vm0"

    def ssh(self, argv: list[str]) -> CommandStatus:
        self.argv.append(argv)
        return CommandStatus(self.test_e, b"", b"")


def test_start_stop_through_the_core() -> None:
    native = FakeNative(state=1)
    svc = SystemdService(FakeVM(native), "sshd")  # type: ignore[arg-type]
    assert svc.exists() and not svc.alive()
    svc.start()
    assert svc.alive() and svc.state() == ServiceState.ACTIVE
    svc.start()  # already running: no second request
    svc.stop()
    assert svc.state() == ServiceState.INACTIVE
    assert [c[0] for c in native.calls if c[0] != "state"] == ["start", "stop"]
    assert all(c[1:] == ("vm0", "sshd", "systemd") for c in native.calls)


def test_missing_and_failing() -> None:
    svc = SysVInitService(FakeVM(FakeNative(state=0)), "nope")  # type: ignore[arg-type]
    assert not svc.exists()
    with pytest.raises(RuntimeError, match="Service nope not present"):
        svc.start()
    with pytest.raises(RuntimeError, match="Service nope not present"):
        svc.stop()
    failing = SystemdService(FakeVM(FakeNative(state=1, fail=True)), "x")  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="Failed to start service"):
        failing.start()
    failing2 = SystemdService(FakeVM(FakeNative(state=2, fail=True)), "x")  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="Failed to stop service"):
        failing2.stop()


def test_is_supported_tests_bin_path() -> None:
    vm = FakeVM(FakeNative(state=0), test_e=0)
    assert SystemdService.is_supported(vm)  # type: ignore[arg-type]
    assert vm.argv == [["test", "-e", "/usr/bin/systemctl"]]
    assert not SysVInitService.is_supported(FakeVM(FakeNative(state=0), test_e=1))  # type: ignore[arg-type]
