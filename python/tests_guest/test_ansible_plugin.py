"""The Ansible inventory plugin of ``ansible/`` (collection ``lago.lago``),
installed with the real ``ansible-galaxy`` and used by the real
``ansible-inventory`` and ``ansible`` against real guests: the groups of
``lago ansible_hosts``, the host variables, and a ``raw`` command run in
every VM over the prefix's key and pinned host keys."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

ENV = """\
domains:
  vm0:
    memory: 256
    vcpu: 1
    nics: [{net: lan}]
    disks: [{template_name: tiny, type: template, name: root, dev: vda, format: qcow2}]
    groups: [web]
  vm1:
    memory: 256
    vcpu: 1
    nics: [{net: lan}]
    disks: [{template_name: tiny, type: template, name: root, dev: vda, format: qcow2}]
    groups: [db, web]
nets:
  lan: {type: nat, management: true}
"""


def lago(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from lago.cmd import run; run()", *args],
        cwd=cwd, capture_output=True, text=True, check=False,
    )


def tool(name: str) -> str:
    """An Ansible command of this Python's installation (where lago is)."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, f"{name} not found (pip install ansible-core)"
    return found


def ansible(cwd: Path, collections: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": str(collections),
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true",
        "ANSIBLE_LOCAL_TEMP": str(cwd / "ansible-tmp"),
        "ANSIBLE_NOCOLOR": "1",
    }
    return subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True, check=False, env=env)


def groups_of_ini(text: str) -> dict[str, list[str]]:
    """The groups of `lago ansible_hosts` output, named as Ansible allows
    group names (`vm-type=default` -> `vm_type_default`)."""
    groups: dict[str, list[str]] = {}
    group = ""
    for line in text.splitlines():
        if line.startswith("["):
            group = re.sub(r"[^A-Za-z0-9_]", "_", line[1:-1])
            groups[group] = []
        elif line.strip():
            groups[group].append(line.split()[0])
    return groups


def test_inventory_plugin_against_real_guests(lago_test_env: dict[str, str], scratch: Path) -> None:
    collections = scratch / "collections"
    r = subprocess.run(
        [tool("ansible-galaxy"), "collection", "install", str(REPO / "ansible"), "-p", str(collections)],
        capture_output=True, text=True, check=False, cwd=scratch,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert (collections / "ansible_collections" / "lago" / "lago" / "plugins" / "inventory" / "lago.py").exists()

    (scratch / "LagoInitFile").write_text(ENV)
    assert lago(scratch, "init").returncode == 0
    try:
        r = lago(scratch, "start")
        assert r.returncode == 0, r.stderr
        for vm in ("vm0", "vm1"):  # up and answering SSH (lago records its host keys)
            r = lago(scratch, "shell", vm, "true")
            assert r.returncode == 0, r.stderr
        (scratch / "env.lago.yml").write_text("plugin: lago.lago.lago\nworkdir: .lago\n")

        # the same groups as `lago ansible_hosts`
        expected = groups_of_ini(lago(scratch, "ansible_hosts").stdout)
        assert expected["web"] == ["vm0", "vm1"] and expected["db"] == ["vm1"], expected
        assert expected["vm_type_default"] == ["vm0", "vm1"] and expected["groups_db"] == ["vm1"], expected
        r = ansible(scratch, collections, tool("ansible-inventory"), "-i", "env.lago.yml", "--list")
        assert r.returncode == 0, r.stderr
        listed = json.loads(r.stdout)
        for group, hosts in expected.items():
            assert sorted(listed[group]["hosts"]) == sorted(hosts), (group, listed)
        r = ansible(scratch, collections, tool("ansible-inventory"), "-i", "env.lago.yml", "--graph")
        assert r.returncode == 0, r.stderr
        for group in expected:
            assert f"@{group}:" in r.stdout, r.stdout

        # host variables: the status' IPs, the prefix's key and pinned host keys
        status = json.loads(lago(scratch, "-f", "json", "status").stdout)["Prefix"]
        prefix = status["Base directory"]
        hostvars = listed["_meta"]["hostvars"]
        for vm in ("vm0", "vm1"):
            v = hostvars[vm]
            assert v["ansible_host"] == status["VMs"][vm]["NICs"]["eth0"]["ip"], v
            assert v["ansible_ssh_private_key_file"] == f"{prefix}/id_rsa", v
            assert v["ansible_user"] == "root" and v["lago_vm_name"] == vm and v["lago_prefix"] == prefix
            assert f"UserKnownHostsFile={prefix}/known_hosts" in v["ansible_ssh_common_args"], v

        # a real run in every guest
        r = ansible(
            scratch, collections, tool("ansible"), "-i", "env.lago.yml", "all", "-m", "raw", "-a", "hostname",
        )
        assert r.returncode == 0, r.stdout + r.stderr
        for vm in ("vm0", "vm1"):
            assert re.search(rf"^{vm} \| CHANGED \| rc=0 >>\n{vm}\s*$", r.stdout, re.M), r.stdout
        r = ansible(scratch, collections, tool("ansible"), "-i", "env.lago.yml", "db", "-m", "raw", "-a", "hostname")
        assert r.returncode == 0 and "vm1 | CHANGED" in r.stdout and "vm0" not in r.stdout, r.stdout

        # a source naming no workdir: Ansible reports lago's one line
        (scratch / "bad.lago.yml").write_text("plugin: lago.lago.lago\nworkdir: nowhere\n")
        r = ansible(scratch, collections, tool("ansible-inventory"), "-i", "bad.lago.yml", "--list")
        assert r.returncode != 0, r.stdout
        # Ansible wraps its warnings at spaces (made line breaks) and after hyphens
        said = r.stderr.replace("-\n", "-").replace("\n", " ")
        assert f"lago.lago.lago: {scratch}/bad.lago.yml: {scratch}/nowhere is not a lago workdir" in said, said
    finally:
        r = lago(scratch, "destroy", "-y")
    assert r.returncode == 0, r.stderr
