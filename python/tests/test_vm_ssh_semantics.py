"""DefaultVM.ssh as Lago's SDK has it (contract §VM methods), over a
stand-in for the native env (tests_guest/test_compat_clients.py checks the
same on real guests): the list is joined with spaces for the remote shell,
a guest that does not answer yet is retried per ``tries``/``ssh_tries``,
and ``ssh_reachable(tries=N)`` makes at most N attempts."""

from __future__ import annotations

from typing import Any, Optional

import pytest

from lago import vm as vm_mod
from lago._exc import LagoSSHError
from lago.ssh import LagoSSHTimeoutException
from lago.virt import VirtEnv


class FakeNative:
    def __init__(self, fail_connects: int, state: str = "running") -> None:
        self.fail_connects = fail_connects
        self.connects = 0
        self.state = state
        self.lines: list[tuple[str, Optional[bytes]]] = []

    def vms(self) -> list[dict[str, Any]]:
        return [{"name": "vm0", "spec": {"name": "vm0"}}]

    def nets(self) -> list[dict[str, Any]]:
        return []

    def vm_state(self, name: str) -> str:
        return self.state

    def ssh_connect(self, name: str) -> None:
        self.connects += 1
        if self.connects <= self.fail_connects:
            raise LagoSSHError("ssh 192.0.2.1:22: connect: cannot connect: No route to host")

    def ssh_command(self, name: str, line: str, stdin: Optional[bytes] = None, timeout: Optional[float] = None) -> Any:
        self.lines.append((line, stdin))
        return 3, b"a\n", b""


class FakePrefix:
    def __init__(self, native: FakeNative) -> None:
        self._native = native


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr("time.sleep", slept.append)
    return slept


def vm_of(native: FakeNative) -> Any:
    return VirtEnv(FakePrefix(native), None, None).get_vm("vm0")  # type: ignore[arg-type]


def test_ssh_joins_the_list_for_the_remote_shell(capsys: pytest.CaptureFixture[str]) -> None:
    native = FakeNative(0)
    res = vm_of(native).ssh(["echo", "a;", "exit", "3"])
    assert native.lines == [("echo a; exit 3", None)]
    assert res.code == 3 and res.out == b"a\n" and bool(res)
    assert capsys.readouterr().out == "a\n"
    vm_of(native).ssh(["cat"], data="in", show_output=False)
    assert native.lines[-1] == ("cat", b"in")
    assert capsys.readouterr().out == ""


def test_ssh_waits_for_a_guest_that_does_not_answer_yet(no_sleep: list[float]) -> None:
    native = FakeNative(fail_connects=5)
    assert vm_of(native).ssh(["true"], show_output=False).code == 3
    assert native.connects == 6 and no_sleep == [1] * 5


def test_ssh_gives_up_after_ssh_tries(monkeypatch: pytest.MonkeyPatch) -> None:
    native = FakeNative(fail_connects=1000)
    vm = vm_of(native)
    monkeypatch.setattr(vm, "_ssh_tries", lambda tries: 4 if tries is None else tries)
    with pytest.raises(LagoSSHTimeoutException, match="trying to ssh to vm0"):
        vm.ssh(["true"])
    assert native.connects == 4 and native.lines == []


def test_default_tries_come_from_ssh_tries() -> None:
    from lago.config import config

    before = config.get("ssh_tries")
    config.set("lago", "ssh_tries", "7")
    try:
        native = FakeNative(fail_connects=1000)
        with pytest.raises(LagoSSHTimeoutException):
            vm_of(native).ssh(["true"])
        assert native.connects == 7
    finally:
        config.set("lago", "ssh_tries", str(before if before is not None else 100))


def test_the_builtin_default_is_100_tries() -> None:
    assert vm_mod.DEFAULT_SSH_TRIES == 100


def test_ssh_to_a_stopped_vm_fails_at_once() -> None:
    native = FakeNative(fail_connects=1000, state="shut off")
    with pytest.raises(RuntimeError, match="not running"):
        vm_of(native).ssh(["true"])
    assert native.connects == 1


def test_ssh_reachable_honours_tries() -> None:
    native = FakeNative(fail_connects=1000)
    assert vm_of(native).ssh_reachable(tries=3) is False
    assert native.connects == 3
    native = FakeNative(fail_connects=2)
    assert vm_of(native).ssh_reachable(tries=3) is True
    native = FakeNative(fail_connects=0, state="shut off")
    assert vm_of(native).ssh_reachable(tries=3) is False and native.connects == 0


class BrokenOnce(FakeNative):
    """A held connection that broke: the command's own reconnect fails
    ``broken`` times, with the error ``message``."""

    def __init__(self, broken: int, message: str) -> None:
        super().__init__(0)
        self.broken = broken
        self.message = message

    def ssh_command(self, name: str, line: str, stdin: Optional[bytes] = None, timeout: Optional[float] = None) -> Any:
        if self.broken:
            self.broken -= 1
            raise LagoSSHError(self.message)
        return super().ssh_command(name, line, stdin, timeout)


def test_a_connection_lost_before_the_command_is_made_again() -> None:
    native = BrokenOnce(2, "ssh root@192.0.2.1: connect: cannot connect: Connection refused (os error 111)")
    assert vm_of(native).ssh(["echo", "x"], show_output=False).code == 3
    assert native.lines == [("echo x", None)] and native.connects == 3


def test_a_failure_after_the_command_started_is_not_retried() -> None:
    native = BrokenOnce(1, "ssh root@192.0.2.1: exec: read: Connection reset by peer")
    with pytest.raises(LagoSSHError, match="exec"):
        vm_of(native).ssh(["echo", "x"], show_output=False)
    assert native.lines == []


class Copying(FakeNative):
    def __init__(self, fail_connects: int) -> None:
        super().__init__(fail_connects)
        self.copies: list[tuple[str, str]] = []

    def copy_to(self, name: str, local: str, remote: str) -> None:
        assert self.connects > self.fail_connects, "copied before the guest answered"
        self.copies.append((local, remote))

    def service_provider(self, name: str) -> str:
        assert self.connects > self.fail_connects, "probed before the guest answered"
        return "systemd"


def test_copies_and_services_wait_for_a_booting_guest() -> None:
    native = Copying(fail_connects=3)
    vm = vm_of(native)
    vm.copy_to("/etc/hostname", "/tmp/x")
    assert native.copies == [("/etc/hostname", "/tmp/x")] and native.connects == 4
    native = Copying(fail_connects=2)
    assert vm_of(native).service("sshd") is not None and native.connects == 3
