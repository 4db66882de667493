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
    groups: [web]
    artifacts: [/root/f.txt, /etc/hostname, /nonexistent]
    metadata:
      deploy-scripts: [$LAGO_INITFILE_PATH/deploy.sh]
nets:
  lan:
    type: nat
    management: true
    gw: 192.168.244.1
"""


def lago(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from lago.cmd import run; run()", *args],
        cwd=cwd, capture_output=True, text=True, check=False, env={**os.environ, **(env or {})},
    )


def test_cli_lifecycle(lago_test_env: dict[str, str], scratch: Path) -> None:
    tmp_path = scratch
    (tmp_path / "LagoInitFile").write_text(ONE_VM)
    (tmp_path / "deploy.sh").write_text(
        "echo deployed > /root/deployed\n[ -e /root/fail-now ] && { echo no >&2; exit 4; }\nexit 0\n"
    )
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
        # deploy, collect, ansible_hosts
        r = lago(tmp_path, "deploy")
        assert r.returncode == 0, r.stderr
        assert lago(tmp_path, "shell", "vm0", "cat", "/root/deployed").stdout == "deployed\n"
        lago(tmp_path, "shell", "vm0", "touch", "/root/fail-now")
        r = lago(tmp_path, "deploy")
        assert r.returncode == 2, r.stderr
        assert "_deploy.sh failed with status 4 on vm0" in r.stderr, r.stderr
        out = tmp_path / "collected"
        r = lago(tmp_path, "collect", "--output", str(out), "--no-skip")
        assert r.returncode == 2 and "Failed to extract files" in r.stderr, r.stderr
        assert not out.exists()
        assert lago(tmp_path, "collect", "--output", str(out)).returncode == 0
        assert (out / "vm0" / "_root_f.txt").read_text() == "hello"
        assert (out / "vm0" / "_etc_hostname").read_text() == "vm0\n"
        assert lago(tmp_path, "collect", "--output", str(out)).returncode == 0
        assert len([p for p in tmp_path.iterdir() if p.name.startswith("collected.")]) == 1
        r = lago(tmp_path, "ansible_hosts")
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("[vm-type=default]\nvm0 ansible_host="), r.stdout
        assert r.stdout.endswith("\n[web]\n" + r.stdout.splitlines()[1] + "\n"), r.stdout
        r = lago(tmp_path, "ansible_hosts", "-k", "groups")
        assert r.stdout.splitlines()[0] == "[groups=web]", r.stdout
        r = lago(tmp_path, "-f", "flat", "status")
        assert "VMs/vm0/status: running" in r.stdout.splitlines()
        # the picture shows the live state: VM running, net up
        dot = lago(tmp_path, "status", "--format", "dot").stdout
        assert '\\nrunning" fillcolor=palegreen];' in dot and '"vm:vm0" [shape=box' in dot, dot
        assert '\\nmanagement\\nup" fillcolor=palegreen penwidth=2];' in dot, dot
        # verbs work from inside the workdir too
        assert "vm0" in lago(tmp_path / ".lago", "-f", "yaml", "status").stdout
        assert lago(tmp_path, "stop").returncode == 0
        assert "status: down" in lago(tmp_path, "status").stdout
    finally:
        r = lago(tmp_path, "destroy", "-y")
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / ".lago").exists()
