"""Five tests that each change the VM in a different way, and each first
check that they see the VM as it was after start: none of the others'
changes (pytest may run them in any order, or one alone with -k).

``@pytest.mark.lago_clean`` reverts the environment to the memory snapshot
the plugin took once the VM answered SSH, when an earlier test may have
changed it: the VM resumes where it was then, with no boot (acpid runs
again with the PID it had then)."""

from __future__ import annotations

import pytest

from lago.plugins.vm import VMPlugin
from lago.sdk import SDK

#: One SSH round trip that shows every change the tests below make.
OBSERVE = (
    "echo hostname=$(hostname);"
    " echo domainname=$(cat /proc/sys/kernel/domainname);"
    " echo acpid=$(pidof acpid);"
    " echo root=$(ls -A /root | grep -v '^.ssh$' | tr '\\n' ' ');"
    " echo tmp=$(ls -A /tmp | tr '\\n' ' ')"
)


def observe(vm: VMPlugin) -> dict[str, str]:
    """What the tests change, as the VM shows it now."""
    res = vm.ssh([OBSERVE], show_output=False)
    assert res.code == 0, res.err.decode()
    return dict(line.split("=", 1) for line in res.out.decode().splitlines())


@pytest.fixture(scope="session")
def clean_state(lago_env: SDK) -> dict[str, str]:
    """The VM as the first test sees it: right after the snapshot, nothing
    has run in it yet."""
    state = observe(lago_env.get_vms()["vm0"])
    assert state["hostname"] == "vm0" and state["acpid"], state
    return state


def check_clean(vm: VMPlugin, clean: dict[str, str]) -> None:
    assert observe(vm) == clean


pytestmark = pytest.mark.lago_clean


def test_write_file(lago_vms: dict[str, VMPlugin], clean_state: dict[str, str]) -> None:
    vm = lago_vms["vm0"]
    check_clean(vm, clean_state)
    assert vm.ssh(["echo dirty > /root/dirty-file"], show_output=False).code == 0
    assert observe(vm)["root"].split() == [*clean_state["root"].split(), "dirty-file"]


def test_kill_process(lago_vms: dict[str, VMPlugin], clean_state: dict[str, str]) -> None:
    vm = lago_vms["vm0"]
    check_clean(vm, clean_state)
    assert vm.ssh(["kill -9 $(pidof acpid)"], show_output=False).code == 0
    assert observe(vm)["acpid"] == ""


def test_change_hostname(lago_vms: dict[str, VMPlugin], clean_state: dict[str, str]) -> None:
    vm = lago_vms["vm0"]
    check_clean(vm, clean_state)
    assert vm.ssh(["hostname dirty-host"], show_output=False).code == 0
    assert observe(vm)["hostname"] == "dirty-host"


def test_change_sysctl(lago_vms: dict[str, VMPlugin], clean_state: dict[str, str]) -> None:
    vm = lago_vms["vm0"]
    check_clean(vm, clean_state)
    assert vm.ssh(["sysctl -w kernel.domainname=dirty.example"], show_output=False).code == 0
    assert observe(vm)["domainname"] == "dirty.example"


def test_fill_tmp(lago_vms: dict[str, VMPlugin], clean_state: dict[str, str]) -> None:
    vm = lago_vms["vm0"]
    check_clean(vm, clean_state)
    res = vm.ssh(["dd if=/dev/zero of=/tmp/fill bs=1M count=32 2>/dev/null && du -m /tmp/fill"], show_output=False)
    assert res.code == 0 and res.out.split()[0] == b"32", res
    assert "fill" in observe(vm)["tmp"].split()


@pytest.mark.lago_expected_failure
def test_expected_failure(lago_vms: dict[str, VMPlugin]) -> None:
    """Fails on purpose (run it with -m lago_expected_failure): the plugin
    then copies the VM's artifacts (/etc/hostname, /root) and console log
    into lago-artifacts/<test>/ and attaches them to the JUnit report."""
    vm = lago_vms["vm0"]
    assert vm.ssh(["echo 'written before the failure' > /root/failure-note"], show_output=False).code == 0
    assert vm.ssh(["cat /nonexistent"], show_output=False).code == 0, "fails on purpose"
