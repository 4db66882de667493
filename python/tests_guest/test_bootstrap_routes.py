"""A plain Lago template through the SDK, as a Lago user drives it: the
first-boot bootstrap (route ``ssh``) runs on the first call that reaches the
guest, even when nobody waited for SSH first, and the guest ends with its
hostname, the prefix's key and the configured root password."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from lago import sdk

PLAIN = """\
domains:
  vm0:
    memory: 256
    root-password: first-boot-pw
    nics: [{net: lan}]
    disks: [{template_name: tiny-plain, type: template, name: root, dev: vda, format: qcow2}]
nets:
  lan: {type: nat, management: true}
"""


@pytest.fixture
def env(lago_test_env: dict[str, str], scratch: Path) -> Iterator[sdk.SDK]:
    initfile = scratch / "LagoInitFile"
    initfile.write_text(PLAIN)
    e = sdk.init(str(initfile), workdir=str(scratch / "wd"))
    try:
        yield e
    finally:
        e.destroy()


def bootstrap_route(workdir: Path, lago_test_env: dict[str, str]) -> str:
    """What `lago -f json status` says of vm0's bootstrap."""
    status = subprocess.run(
        [sys.executable, "-m", "lago", "-f", "json", "status"], cwd=workdir,
        env={**os.environ, **lago_test_env}, capture_output=True, text=True, check=True,
    )
    return str(json.loads(status.stdout)["Prefix"]["VMs"]["vm0"]["bootstrap"])


def test_plain_template_bootstraps_on_the_first_ssh(env: sdk.SDK, scratch: Path, lago_test_env: dict[str, str]) -> None:
    assert bootstrap_route(scratch / "wd", lago_test_env) == "ssh (at first boot)"
    env.start()
    vm = env.get_vms()["vm0"]
    # no wait_for_ssh: vm.ssh waits for the guest (ssh_tries) and the first
    # call bootstraps it
    res = vm.ssh(["hostname", "&&", "wc", "-l", "<", "/root/.ssh/authorized_keys"])
    assert res.code == 0, res.err
    assert res.out.decode().split() == ["vm0", "1"]
    # the prefix's key logs in on its own (OpenSSH, no password allowed)
    key = scratch / "wd" / "default" / "id_rsa"
    assert key.is_file()
    ip = vm.ip()
    out = subprocess.run(
        ["ssh", "-i", str(key), "-o", "BatchMode=yes", "-o", "PasswordAuthentication=no",
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         f"root@{ip}", "hostname"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert out.returncode == 0 and out.stdout.strip() == "vm0", out.stderr
    assert bootstrap_route(scratch / "wd", lago_test_env) == "ssh"
