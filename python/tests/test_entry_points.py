"""Lago's entry points and modules: the 20 built-in verbs in group
``lago.plugins.cli`` (found by ``load_plugins`` as Lago's are), the ``ssh``
VM provider, the ``systemdcontainer`` service; ``lago.brctl``,
``lago.export``, ``lago.validation``, ``lago.constants`` with Lago's names."""

from __future__ import annotations

import argparse
import inspect
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import lago.cmd
from lago import brctl, constants, export, validation
from lago.plugins import load_plugins
from lago.plugins.cli import CLIPlugin
from lago.plugins.service import ServiceState
from lago.utils import CommandStatus

#: Lago 0.46's ``lago.plugins.cli`` entry points: name → object in lago.cmd.
UPSTREAM_VERBS = {
    "cleanup": "do_cleanup", "collect": "do_collect", "console": "do_console",
    "copy-from-vm": "do_copy_from_vm", "copy-to-vm": "do_copy_to_vm", "deploy": "do_deploy",
    "destroy": "do_destroy", "ansible_hosts": "do_generate_ansible_hosts", "init": "do_init",
    "list": "do_list", "revert": "do_revert", "set-current": "do_set_current", "shell": "do_shell",
    "snapshot": "do_snapshot", "start": "do_start", "status": "do_status", "stop": "do_stop",
    "generate-config": "do_generate", "export": "do_export", "shutdown": "do_shutdown",
}


def test_load_plugins_finds_the_builtin_verbs() -> None:
    verbs = load_plugins("lago.plugins.cli")
    assert set(UPSTREAM_VERBS) <= set(verbs)
    for name, attr in UPSTREAM_VERBS.items():
        plugin = verbs[name]
        assert plugin is getattr(lago.cmd, attr)
        assert isinstance(plugin, CLIPlugin)
        assert plugin.init_args["help"]
        parser = argparse.ArgumentParser(**{k: v for k, v in plugin.init_args.items() if k != "help"})
        plugin.populate_parser(parser)


def test_a_loaded_verb_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lago.plugins.output import DefaultOutFormatPlugin

    verb = load_plugins("lago.plugins.cli")["generate-config"]
    assert verb.do_run(argparse.Namespace(verbose=False, out_format=DefaultOutFormatPlugin())) == 0
    assert "[lago]" in capsys.readouterr().out


def test_ssh_provider_and_container_service_are_registered() -> None:
    from lago.service import SystemdContainerService
    from lago.vm import SSHVMProvider

    assert load_plugins("lago.plugins.vm_provider", instantiate=False)["ssh"] is SSHVMProvider
    assert load_plugins("lago.plugins.vm_service", instantiate=False)["systemdcontainer"] is SystemdContainerService


class FakeVM:
    """Answers ``ssh`` from a table of argument lists."""

    def __init__(self, answers: dict[tuple[str, ...], CommandStatus]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, ...]] = []

    def ssh(self, command: list[str], **kw: Any) -> CommandStatus:
        self.calls.append(tuple(command))
        return self.answers.get(tuple(command), CommandStatus(1, b"", b""))

    def ssh_reachable(self, tries: Any = None, propagate_fail: bool = True) -> bool:
        return tries == 1 and not propagate_fail

    def name(self) -> str:
        return "vm0"


def test_systemdcontainer_state_and_requests() -> None:
    from lago.service import SystemdContainerService

    status = ("/usr/bin/docker", "exec", "vdsmc", "systemctl", "status", "--lines=0", "vdsmd")
    vm = FakeVM({status: CommandStatus(3, b"  Loaded: loaded (/usr/lib/systemd)\n  Active: inactive\n", b"")})
    svc = SystemdContainerService(vm, "vdsmd")  # type: ignore[arg-type]
    assert svc.state() == ServiceState.INACTIVE
    vm.answers[status] = CommandStatus(4, b"  Loaded: not-found (Reason: No such file)\n", b"")
    assert svc.state() == ServiceState.MISSING
    vm.answers[status] = CommandStatus(0, b"", b"")
    assert svc.state() == ServiceState.ACTIVE
    # start: the container's systemctl first, the host's when that fails
    vm.answers[("/usr/bin/systemctl", "start", "vdsmd")] = CommandStatus(0, b"", b"")
    assert svc._request_start().code == 0
    assert vm.calls[-2:] == [
        ("/usr/bin/docker", "exec", "vdsmc", "systemctl", "start", "vdsmd"),
        ("/usr/bin/systemctl", "start", "vdsmd"),
    ]


def test_ssh_provider_is_a_machine_lago_does_not_run() -> None:
    from lago.vm import SSHVMProvider

    provider = SSHVMProvider(FakeVM({}))  # type: ignore[arg-type]
    assert provider.state() == "running" and provider.defined()
    assert provider.running()  # asked once, without raising
    provider.start()
    provider.stop()


def test_constants_and_validation() -> None:
    assert constants.CONFS_PATH == ["/etc/lago/lago.conf"]
    assert constants.CONFIG_DEFAULTS["lago"]["ssh_tries"] == 100
    assert constants.CONFIG_DEFAULTS["init"]["template_repos"] == "/var/lib/lago/repos"
    assert validation.check_import("json") is True
    assert validation.check_import("no_such_module_here") is False


def test_brctl_runs_the_tools_through_sudo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # fake sudo/ip on PATH: record each call; `ip -o link show type bridge` lists br0
    log = tmp_path / "calls"
    for tool, out in (("sudo", ""), ("ip", "5: br0: <BROADCAST> mtu 1500\\n7: br1@x: <UP>\\n")):
        path = tmp_path / tool
        path.write_text(f'#!/bin/sh\necho "{tool} $*" >> {log}\nprintf "{out}"\n')
        path.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    brctl.create("lagobr")
    brctl.destroy("lagobr")
    assert log.read_text().splitlines() == [
        "sudo brctl addbr lagobr", "sudo ip link set dev lagobr up", "sudo brctl stp lagobr on",
        "sudo ip link set dev lagobr down", "sudo brctl delbr lagobr",
    ]
    assert brctl.exists("br0") and brctl.exists("br1") and not brctl.exists("br2")


def test_brctl_failure_removes_the_half_made_bridge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "calls"
    sudo = tmp_path / "sudo"
    sudo.write_text(f'#!/bin/sh\necho "$*" >> {log}\n[ "$1" = ip ] && exit 1\nexit 0\n')
    sudo.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(RuntimeError, match="Could not set lagobr to state up"):
        brctl.create("lagobr")
    assert log.read_text().splitlines()[-1] == "brctl delbr lagobr"


def test_export_managers_match_lagos() -> None:
    assert set(export.HANDLERS) == {"file", "empty", "template"}
    params = list(inspect.signature(export.VMExportManager).parameters)
    assert params[:4] == ["disks", "dst", "compress", "with_threads"]
    with pytest.raises(lago.utils.LagoUserException, match="Export is not supported for disk type weird"):
        export.DiskExportManager.get_instance_by_type("/x", {"type": "weird", "path": "/a"}, False)


def test_file_disk_export(tmp_path: Path) -> None:
    src = tmp_path / "disk.raw"
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(src), "1M"], check=True)
    out = tmp_path / "out"
    out.mkdir()
    disk = {"type": "file", "path": str(src), "format": "iso", "metadata": {"distro": "x"}}
    mgr = export.VMExportManager([disk, {**disk, "skip-export": True}], str(out), False, with_threads=False)
    assert mgr.collect_paths() == [str(src)]
    assert mgr.export() == [str(out / "disk.raw")]
    import json

    meta = json.loads((out / "disk.raw.metadata").read_text())
    assert meta["distro"] == "x" and meta["name"] == "disk.raw" and meta["size"] == 1 << 20
    assert (out / "disk.raw.hash").read_text() == meta["sha1"]


def test_list_prints_prefixes_in_directory_order(tmp_path: Path) -> None:
    import shutil

    fixture = Path(__file__).resolve().parents[2] / "lago-core/tests/fixtures/upstream-workdir"
    work = tmp_path / "w"
    shutil.copytree(fixture, work, symlinks=True)
    names = [e.name for e in os.scandir(work) if e.is_dir() and e.name != "current"]
    for extra in ("zz", "aa", "mm"):
        shutil.copytree(work / names[0], work / extra, symlinks=True)
    expected = [e.name for e in os.scandir(work) if e.is_dir(follow_symlinks=False) and e.name != "current"]
    r = subprocess.run(
        [sys.executable, "-m", "lago", "-f", "json", "list", str(work)], capture_output=True, text=True, check=False
    )
    assert r.returncode == 0, r.stderr
    import json

    assert json.loads(r.stdout) == expected
