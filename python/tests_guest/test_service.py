"""Service plugins on a real Debian guest (the ``debian-bookworm`` test
template from tests/templates/build-debian): systemd detected and persisted,
a real unit stopped and started, the guest agent found."""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from lago import sdk
from lago.plugins.service import ServiceState
from lago.service import SystemdService

DEBIAN_VM = """\
domains:
  deb0:
    memory: 512
    vcpu: 1
    nics: [{net: mgmt}]
    disks: [{template_name: debian-bookworm, type: template, name: root, dev: vda, format: qcow2}]
nets:
  mgmt: {type: nat, management: true, gw: 192.168.218.1}
"""


@pytest.fixture(scope="module")
def env(lago_test_env: dict[str, str], scratch_root: Path) -> Iterator[sdk.SDK]:
    root = scratch_root / "svc"
    root.mkdir()
    initfile = root / "LagoInitFile"
    initfile.write_text(DEBIAN_VM)
    e = sdk.init(str(initfile), workdir=str(root / "wd"), logfile=str(root / "sdk.log"),
                 loglevel=logging.DEBUG)
    e.workdir_path = root / "wd"  # type: ignore[attr-defined]
    try:
        e.start()
        e.get_vms()["deb0"].wait_for_ssh()
        yield e
    finally:
        try:
            e.destroy()
        finally:
            for h in list(logging.root.handlers):
                if isinstance(h, logging.FileHandler):
                    logging.root.removeHandler(h)
                    h.close()


def _stored_spec(vm: object) -> dict:
    path = Path(vm.virt_env._native.prefix_path) / "virt" / ("vm-" + vm.name())  # type: ignore[attr-defined]
    return json.loads(path.read_text())


def test_systemd_service_round_trip(env: sdk.SDK) -> None:
    vm = env.get_vms()["deb0"]
    svc = vm.service("qemu-guest-agent")
    assert isinstance(svc, SystemdService)
    assert _stored_spec(vm)["service_provider"] == "systemd"
    assert SystemdService.is_supported(vm)
    assert svc.state() == ServiceState.ACTIVE
    assert svc.exists() and svc.alive()
    svc.stop()
    assert svc.state() == ServiceState.INACTIVE
    assert not svc.alive()
    res = vm.ssh(["systemctl", "is-active", "qemu-guest-agent"])
    assert res.out.strip() == b"inactive"
    svc.start()
    assert svc.alive()
    assert vm.ssh(["systemctl", "is-active", "qemu-guest-agent"]).out.strip() == b"active"


def test_missing_service(env: sdk.SDK) -> None:
    vm = env.get_vms()["deb0"]
    svc = vm.service("lago-no-such-service")
    assert svc.state() == ServiceState.MISSING
    assert not svc.exists()
    with pytest.raises(RuntimeError, match="Service lago-no-such-service not present"):
        svc.start()


def test_guest_agent(env: sdk.SDK) -> None:
    vm = env.get_vms()["deb0"]
    assert vm.has_guest_agent()
    assert vm.guest_agent().name == "qemu-guest-agent"
    assert _stored_spec(vm)["guest-agent"] == "qemu-guest-agent"
    dom = vm.virt_env._native.vm_libvirt_name("deb0")  # type: ignore[attr-defined]
    out = subprocess.run(
        ["virsh", "-c", "qemu:///system", "qemu-agent-command", dom, '{"execute":"guest-ping"}'],
        capture_output=True, text=True, check=False, timeout=60,
    )
    assert out.stdout.strip() == '{"return":{}}', out.stderr
