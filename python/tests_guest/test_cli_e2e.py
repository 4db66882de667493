"""The lago CLI end to end on one real guest."""

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
"""


def lago(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from lago.cmd import run; run()", *args],
        cwd=cwd, capture_output=True, text=True, check=False, env=os.environ.copy(),
    )


def test_cli_lifecycle(lago_env: dict[str, str], scratch: Path) -> None:
    tmp_path = scratch
    (tmp_path / "LagoInitFile").write_text(ONE_VM)
    r = lago(tmp_path, "init", "LagoInitFile")
    assert r.returncode == 0, r.stderr
    try:
        assert lago(tmp_path, "list").stdout == "default\n"
        r = lago(tmp_path, "--out-format", "json", "status")
        info = json.loads(r.stdout)
        assert info["Prefix"]["VMs"]["vm0"]["status"] == "down"
        assert lago(tmp_path, "start").returncode == 0
        r = lago(tmp_path, "shell", "vm0", "uname", "-r")
        assert r.returncode == 0 and r.stdout.strip()
        r = lago(tmp_path, "shell", "vm0", "-c", "exit 5")
        assert r.returncode == 5
        (tmp_path / "f.txt").write_text("hello")
        assert lago(tmp_path, "copy-to-vm", "vm0", str(tmp_path / "f.txt"), "/root/f.txt").returncode == 0
        assert lago(tmp_path, "copy-from-vm", "vm0", "/root/f.txt", str(tmp_path / "g.txt")).returncode == 0
        assert (tmp_path / "g.txt").read_text() == "hello"
        r = lago(tmp_path, "-f", "flat", "status")
        assert "VMs/vm0/status: running" in r.stdout.splitlines()
        # verbs work from inside the workdir too
        assert "vm0" in lago(tmp_path / ".lago", "-f", "yaml", "status").stdout
        assert lago(tmp_path, "stop").returncode == 0
        assert "status: down" in lago(tmp_path, "status").stdout
    finally:
        r = lago(tmp_path, "destroy", "-y")
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / ".lago").exists()
