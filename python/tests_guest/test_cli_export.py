"""``lago export`` end to end on one real guest: a marker written in the VM,
the VM stopped, exported (layered), and a new workdir initialized from the
exported init file with ``lago init``, started, and the marker read back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ONE_VM = """\
domains:
  vm0:
    memory: 256
    vcpu: 1
    nics: [{net: lan}]
    disks: [{template_name: tiny, type: template, name: root, dev: vda, format: qcow2}]
nets:
  lan:
    type: nat
    management: true
    gw: 192.168.OCTET.1
"""


def free_octet() -> int:
    """A third octet no bridge in the namespace uses, from 224-239 (other
    tests take the lowest free subnets of the shared lease folder)."""
    used = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, check=True).stdout
    start = os.getpid() % 16
    for i in range(16):
        octet = 224 + (start + i) % 16
        if f"192.168.{octet}." not in used:
            return octet
    raise AssertionError("no free subnet in 192.168.224-239")


def lago(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from lago.cmd import run; run()", *args],
        cwd=cwd, capture_output=True, text=True, check=False, env=os.environ.copy(),
    )


def test_cli_export_and_init_again(lago_test_env: dict[str, str], scratch: Path) -> None:
    first = scratch / "first"
    second = scratch / "second"
    first.mkdir()
    second.mkdir()
    exported = scratch / "exported"
    (first / "LagoInitFile").write_text(ONE_VM.replace("OCTET", str(free_octet())))
    assert lago(first, "init", "LagoInitFile").returncode == 0
    try:
        assert lago(first, "start").returncode == 0
        r = lago(first, "shell", "vm0", "-c", "echo exported > /root/marker && sync")
        assert r.returncode == 0, r.stderr
        r = lago(first, "export", "-d", str(exported))
        assert r.returncode != 0
        assert "The following vms must be off:" in r.stderr + r.stdout
        assert not exported.exists()
        assert lago(first, "stop").returncode == 0
        r = lago(first, "-f", "json", "export", "--collect-only", "-d", str(exported))
        assert r.returncode == 0, r.stderr
        assert list(json.loads(r.stdout)) == ["vm0"]
        assert not exported.exists()
        r = lago(first, "export", "-n", "vm0", "-d", str(exported))
        assert r.returncode == 0, r.stderr
    finally:
        assert lago(first, "destroy", "-y").returncode == 0
    image = exported / "vm0_root.qcow2"
    assert image.is_file() and (exported / "LagoInitFile").is_file()
    assert len((exported / "vm0_root.qcow2.hash").read_text()) == 40
    r = lago(second, "init", str(exported / "LagoInitFile"))
    assert r.returncode == 0, r.stderr
    try:
        assert lago(second, "start").returncode == 0
        r = lago(second, "shell", "vm0", "true")
        assert r.returncode == 0, r.stderr
        r = lago(second, "shell", "vm0", "cat", "/root/marker")
        assert r.stdout.strip() == "exported", r.stderr
    finally:
        assert lago(second, "destroy", "-y").returncode == 0
    assert not (second / ".lago").exists()
