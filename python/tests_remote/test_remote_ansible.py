"""Ansible against an environment on a remote libvirt host: the guests are
on the host's private net, so both the inventory plugin (``ansible/``,
collection ``lago.lago``) and the file ``lago ansible_hosts`` prints give
every host a ProxyCommand through the libvirt host, and the real
``ansible`` runs a ``raw`` command in the guest through it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import lago, lago_ok

REPO = Path(__file__).resolve().parents[2]

ENV = """\
domains:
  vm0:
    memory: 256
    vcpu: 1
    nics: [{net: lan}]
    disks: [{template_name: tiny, type: template, name: root, dev: vda, format: qcow2}]
    groups: [web]
nets:
  lan: {type: nat, management: true}
"""


def tool(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, f"{name} not found (pip install ansible-core)"
    return found


def ansible(cwd: Path, env: dict[str, str], collections: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    full = {
        **env,
        "ANSIBLE_COLLECTIONS_PATH": str(collections),
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true",
        "ANSIBLE_LOCAL_TEMP": str(cwd / "ansible-tmp"),
        "ANSIBLE_NOCOLOR": "1",
    }
    return subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True, check=False, env=full, timeout=300)


def test_ansible_reaches_guests_on_a_remote_host(tmp_path: Path, lago_env: dict[str, str], uris: list[str]) -> None:
    collections = tmp_path / "collections"
    r = subprocess.run(
        [tool("ansible-galaxy"), "collection", "install", str(REPO / "ansible"), "-p", str(collections)],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    env = dict(lago_env)
    (tmp_path / "LagoInitFile").write_text(ENV)
    # the host from the command line; later commands find it in the prefix
    lago_ok(tmp_path, env, "--libvirt_url", uris[0], "init", "LagoInitFile")
    try:
        lago_ok(tmp_path, env, "start")
        lago_ok(tmp_path, env, "shell", "vm0", "true")  # up; its host key pinned
        host = uris[0].split("://", 1)[1].split("/", 1)[0]

        # the plugin: the jump through the host among the host's variables
        (tmp_path / "env.lago.yml").write_text("plugin: lago.lago.lago\nworkdir: .lago\n")
        r = ansible(tmp_path, env, collections, tool("ansible-inventory"), "-i", "env.lago.yml", "--list")
        assert r.returncode == 0, r.stderr
        v = json.loads(r.stdout)["_meta"]["hostvars"]["vm0"]
        args = v["ansible_ssh_common_args"]
        assert "UserKnownHostsFile=" in args and "-o ProxyCommand=" in args, args
        assert f"-W %h:%p {host}" in args and env["LAGO_HOST_SSH_KEY"] in args, args
        r = ansible(tmp_path, env, collections, tool("ansible"), "-i", "env.lago.yml", "web", "-m", "raw", "-a", "hostname")
        assert r.returncode == 0, r.stdout + r.stderr
        assert re.search(r"^vm0 \| CHANGED \| rc=0 >>\nvm0\s*$", r.stdout, re.M), r.stdout

        # the file of `lago ansible_hosts`: the same jump, quoted for Ansible's INI
        text = lago_ok(tmp_path, env, "ansible_hosts").stdout
        assert "ansible_ssh_common_args='-o ProxyCommand=\"ssh " in text, text
        (tmp_path / "hosts").write_text(text)
        r = ansible(
            tmp_path, {**env, "ANSIBLE_HOST_KEY_CHECKING": "False"}, collections,
            tool("ansible"), "-i", "hosts", "all", "-u", "root", "-m", "raw", "-a", "hostname",
        )
        assert r.returncode == 0, r.stdout + r.stderr
        assert re.search(r"^vm0 \| CHANGED \| rc=0 >>\nvm0\s*$", r.stdout, re.M), r.stdout
    finally:
        r = lago(tmp_path, env, "destroy", "-y")
    assert r.returncode == 0, r.stderr
