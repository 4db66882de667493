"""What real clients (OST, lago-ost-plugin) rely on, on real tiny guests:
``vm.ssh`` joining its list for the remote shell and waiting for a guest
that is still booting; ``lago.ssh``'s functions; ``lago.utils.func_vector``
/ ``VectorThread`` over guests; and the CLI on a prefix used on its own
(``-p PATH``, or the current folder) driven by the ost-like plugin's verbs
(``start``, ``status``, ``prepare`` ending in ``Prefix.save()``, ``stop``).

Run: ``tests/host/run python -m pytest -q python/tests_guest -k compat``
(needs ``pip install ./tests/plugin-ost-like``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from lago import sdk
from lago import ssh as lago_ssh
from lago.utils import CommandStatus, VectorThread, func_vector

ONE_VM = """\
domains:
  vm0:
    vm-type: {vm_type}
    memory: 256
    vcpu: 1
    nics: [{{net: lan}}]
    disks: [{{template_name: tiny, type: template, name: root, dev: vda, format: qcow2}}]
nets:
  lan:
    type: nat
    management: true
"""

LAGO = [sys.executable, "-c", "from lago.cmd import run; run()"]


@pytest.fixture(scope="module")
def env(lago_test_env: dict[str, str], scratch_root: Path) -> Iterator[sdk.SDK]:
    root = scratch_root / "compat-sdk"
    root.mkdir()
    initfile = root / "LagoInitFile"
    initfile.write_text(ONE_VM.format(vm_type="default"))
    e = sdk.init(str(initfile), workdir=str(root / "wd"))
    try:
        e.start()
        yield e
    finally:
        e.destroy()


def vm0(env: sdk.SDK) -> Any:
    return env.get_vms()["vm0"]


def test_ssh_list_is_one_line_for_the_remote_shell(env: sdk.SDK) -> None:
    vm = vm0(env)
    res = vm.ssh(["echo", "a;", "exit", "3"], show_output=False)
    assert isinstance(res, CommandStatus)
    assert res.code == 3 and res.out == b"a\n"
    res = vm.ssh(["echo", "x", ">", "/tmp/f", "&&", "cat", "/tmp/f", "/tmp/f"], show_output=False)
    assert res.code == 0 and res.out == b"x\nx\n"
    assert vm.ssh(["ls", "/etc/host*"], show_output=False).out.split() == [b"/etc/hostname", b"/etc/hosts"]


def _power_cycle(env: sdk.SDK, scratch: Path) -> None:
    """Destroys and re-creates the (transient) domain of vm0 behind lago's
    back: when this returns the guest has only begun to boot."""
    from lago.config import config

    url = config.native.get("libvirt_url") or "qemu:///system"
    dom = env._prefix._native.vm_libvirt_name("vm0")
    xml = scratch / "dom.xml"
    xml.write_bytes(subprocess.run(["virsh", "-c", url, "dumpxml", dom], check=True, capture_output=True).stdout)
    subprocess.run(["virsh", "-c", url, "destroy", dom], check=True, capture_output=True)
    subprocess.run(["virsh", "-c", url, "create", str(xml)], check=True, capture_output=True)


def test_ssh_waits_for_a_guest_that_is_still_booting(env: sdk.SDK, scratch: Path) -> None:
    vm = vm0(env)
    assert vm.ssh(["true"], show_output=False).code == 0  # a connection is held
    # the held connection dies with the guest; the call waits for the new boot
    _power_cycle(env, scratch)
    res = vm.ssh(["cut", "-d.", "-f1", "/proc/uptime"], show_output=False)
    assert res.code == 0 and int(res.out) < 120, res
    # a new client (another process's view): its first connection waits too
    _power_cycle(env, scratch)
    fresh = sdk.load_env(env._workdir.path).get_vms()["vm0"]
    res = fresh.ssh(["cut", "-d.", "-f1", "/proc/uptime"], show_output=False)
    assert res.code == 0 and int(res.out) < 120, res
    assert fresh.ssh_reachable(tries=2) and vm.ssh_reachable(tries=1)


def test_lago_ssh_functions(env: sdk.SDK, scratch: Path) -> None:
    vm = vm0(env)
    key = env._prefix.paths.ssh_id_rsa()
    ip = vm.ip()
    res = lago_ssh.ssh(ip, ["echo", "a;", "exit", "3"], ssh_key=key, show_output=False)
    assert (res.code, res.out) == (3, b"a\n")
    res = lago_ssh.ssh(ip_addr=ip, command=["cat"], data=b"stdin!", ssh_key=[key], show_output=False)
    assert res.out == b"stdin!"
    assert lago_ssh.wait_for_ssh(ip, ssh_key=key, connect_timeout=60) is None
    script = scratch / "s.sh"
    script.write_text("echo from-script $((6 * 7))\n")
    assert lago_ssh.ssh_script(ip, str(script), ssh_key=key, show_output=False).out == b"from-script 42\n"
    client = lago_ssh.get_ssh_client(ip, ssh_key=key, ssh_tries=3)
    try:
        assert client.is_connected()
        assert client.exec_command("hostname") == (0, b"vm0\n", b"")
    finally:
        client.close()


def test_lago_ssh_gives_up_after_its_tries(env: sdk.SDK) -> None:
    # an address on the guest's own net that nobody has: no route to it
    ip = vm0(env).ip().rsplit(".", 1)[0] + ".250"
    with pytest.raises(lago_ssh.LagoSSHTimeoutException, match=f"trying to ssh to {ip}"):
        lago_ssh.get_ssh_client(ip, ssh_tries=2)


def test_func_vector_and_vector_thread_over_a_guest(env: sdk.SDK) -> None:
    vm = vm0(env)
    calls = func_vector(lambda n: vm.ssh(["echo", str(n), "$((", str(n), "* 2 ))"], show_output=False).out, [(i,) for i in range(4)])
    vt = VectorThread(calls)
    vt.start_all()
    assert vt.join_all() == [f"{i} {2 * i}\n".encode() for i in range(4)]
    failing = VectorThread(func_vector(lambda cmd: vm.ssh([cmd], show_output=False).code, [("true",), ("false",)]))
    failing.start_all()
    assert failing.join_all() == [0, 1]


# -- the CLI on a prefix on its own, driven by the ost-like plugin ---------------


class Cli:
    def __init__(self, root: Path) -> None:
        self.root = root

    def run(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*LAGO, *args], cwd=cwd or self.root, capture_output=True, text=True, check=False, timeout=1800
        )

    def ok(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        r = self.run(*args, cwd=cwd)
        assert r.returncode == 0, f"lago {' '.join(args)}: {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r


@pytest.fixture(scope="module")
def standalone(lago_test_env: dict[str, str], scratch_root: Path) -> Iterator[tuple[Cli, Path]]:
    """A prefix named ``.lago`` in folder ``root`` with no workdir around it
    (its ``current`` link removed): Lago's standalone prefix layout."""
    root = scratch_root / "compat-cli"
    root.mkdir()
    (root / "LagoInitFile").write_text(ONE_VM.format(vm_type="ostlike-node"))
    cli = Cli(root)
    cli.ok("--prefix-name", ".lago", "init", str(root), "LagoInitFile")
    os.unlink(root / "current")
    prefix = root / ".lago"
    try:
        yield cli, prefix
    finally:
        if prefix.exists():
            cli.run("-p", str(prefix), "destroy", "--yes")


def test_cli_on_a_prefix_given_with_p(standalone: tuple[Cli, Path]) -> None:
    cli, prefix = standalone
    (cli.root / "sub" / "deeper").mkdir(parents=True)
    # -p PATH: the prefix itself, or a folder under the one holding .lago
    for where in (str(prefix), str(cli.root / "sub" / "deeper")):
        info = json.loads(cli.ok("-p", where, "-f", "json", "status").stdout)
        assert info["Prefix"]["Base directory"] == str(prefix)
    # the current folder is the prefix: no option needed
    info = json.loads(cli.ok("-f", "json", "status", cwd=prefix).stdout)
    assert info["Prefix"]["Base directory"] == str(prefix)
    # not a workdir: without -p, the CLI says so in one line
    r = cli.run("status", cwd=cli.root / "sub")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    # nothing to find from /: Lago's message
    r = cli.run("-p", "/", "status")
    assert r.returncode == 2 and "Unable to find prefix for /" in r.stderr, r.stderr


def test_ost_like_plugin_start_prepare_status_stop(standalone: tuple[Cli, Path]) -> None:
    cli, prefix = standalone
    p = ["-p", str(prefix)]
    r = cli.ok(*p, "ostlike", "start")
    assert "@ Starting lab: Success" in r.stderr, r.stderr
    status = cli.ok(*p, "-f", "keyval", "ostlike", "status").stdout.splitlines()
    assert "virt env class=OstLikeVirtEnv" in status
    assert "VMs.vm0.class=NodeVM" in status and "VMs.vm0.state=running" in status
    assert cli.ok(*p, "shell", "vm0", "echo", "up;", "hostname").stdout == "up\nvm0\n"
    # prepare ends with Prefix.save(): the metadata and the VM spec persist
    cli.ok(*p, "ostlike", "prepare", "lab-7")
    assert json.loads((prefix / "metadata").read_text())["ostlike-lab"] == "lab-7"
    assert json.loads((prefix / "virt" / "vm-vm0").read_text())["metadata"]["ostlike-lab"] == "lab-7"
    from ostlike.prefix import OstLikePrefix

    again = OstLikePrefix(str(prefix))
    assert again.metadata["ostlike-lab"] == "lab-7"
    assert again.virt_env.get_vm("vm0").metadata["ostlike-lab"] == "lab-7"
    r = cli.ok(*p, "ostlike", "stop")
    assert "@ Stopping lab: Success" in r.stderr, r.stderr
    assert "VMs.vm0.state=down" in cli.ok(*p, "-f", "keyval", "ostlike", "status").stdout.splitlines()
    # destroy through -p removes the prefix and leaves its folder
    cli.ok(*p, "destroy", "--yes")
    assert not prefix.exists() and (cli.root / "LagoInitFile").exists()
