"""The SDK on real guests, in the spirit of Lago's functional SDK tests."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from conftest import TWO_VMS
from lago import sdk
from lago.plugins.vm import ExtractPathNoPathError
from lago.utils import CommandStatus


@pytest.fixture(scope="module")
def env(lago_test_env: dict[str, str], scratch_root: Path) -> Iterator[sdk.SDK]:
    root = scratch_root / "sdk"
    root.mkdir()
    initfile = root / "LagoInitFile"
    initfile.write_text(TWO_VMS)
    logfile = root / "sdk.log"
    e = sdk.init(str(initfile), workdir=str(root / "wd"), logfile=str(logfile), loglevel=logging.DEBUG)
    e.logfile = logfile  # type: ignore[attr-defined]
    yield e
    try:
        e.destroy()
    finally:
        for h in list(logging.root.handlers):
            if isinstance(h, logging.FileHandler):
                logging.root.removeHandler(h)
                h.close()


def test_vms_and_nets(env: sdk.SDK) -> None:
    vms = env.get_vms()
    nets = env.get_nets()
    assert list(vms) == ["vm0", "vm1"]
    assert list(nets) == ["mgmt", "data"]
    assert nets["data"].gw() == "192.168.234.254"
    assert nets["mgmt"].is_management() and not nets["data"].is_management()
    assert vms["vm0"].ip() in nets["mgmt"].mapping().values()
    assert vms["vm0"].distro() == "tiny"
    assert vms["vm0"].root_password() == "123456"
    assert vms["vm0"].name() == "vm0"
    assert [n["net"] for n in vms["vm0"].nics()] == ["mgmt", "data"]
    assert vms["vm0"].state() == "down" and not vms["vm0"].running()


def test_only_exposed_methods(env: sdk.SDK) -> None:
    with pytest.raises(AttributeError):
        env.create_snapshots  # noqa: B018
    assert "get_vms" in dir(env)
    assert Path(env._prefix._prefix).is_dir() and env._workdir.path


def test_start_and_ssh(env: sdk.SDK) -> None:
    env.start()
    for vm in env.get_vms().values():
        assert vm.running() and vm.state() == "running"
        vm.wait_for_ssh()
        assert vm.ssh_reachable()
        res = vm.ssh(["hostname"])
        assert isinstance(res, CommandStatus)
        assert not res and res.code == 0 and res.out == f"{vm.name()}\n".encode()
    res = env.get_vms()["vm1"].ssh(["echo", "err", ">&2;", "exit", "7"])  # one shell line, as in Lago
    assert res and res.code == 7 and res.err == b"err\n"


def test_load_env_from_fresh_process(env: sdk.SDK) -> None:
    code = (
        "import json, sys; from lago import sdk\n"
        "e = sdk.load_env(sys.argv[1])\n"
        "vms = e.get_vms()\n"
        "print(json.dumps({n: [v.state(), v.ssh(['hostname'], show_output=False).out.decode()] for n, v in vms.items()}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, env._workdir.path], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) == {"vm0": ["running", "vm0\n"], "vm1": ["running", "vm1\n"]}


def test_copy_and_collect(env: sdk.SDK, tmp_path: Path) -> None:
    vm = env.get_vms()["vm0"]
    src = tmp_path / "tree"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "data.txt").write_text("payload")
    vm.copy_to(str(src), "/root/tree")
    assert vm.ssh(["cat", "/root/tree/sub/data.txt"]).out == b"payload"
    vm.copy_from("/root/tree", str(tmp_path / "back"))
    assert (tmp_path / "back" / "sub" / "data.txt").read_text() == "payload"
    with pytest.raises(ExtractPathNoPathError):
        vm.copy_from("/nonexistent", str(tmp_path / "x"))
    with pytest.raises(ExtractPathNoPathError):
        env.collect_artifacts(str(tmp_path / "art"), ignore_nopath=False)
    env.collect_artifacts(str(tmp_path / "art2"), ignore_nopath=True)
    assert (tmp_path / "art2" / "vm0" / "_etc_hostname").read_text() == "vm0\n"


def test_logfile_and_inventory(env: sdk.SDK) -> None:
    logging.root.info("sdk-log-marker")
    text = env.logfile.read_text()  # type: ignore[attr-defined]
    assert "sdk-log-marker" in text and "lago_core" in text
    inv = env.ansible_inventory()
    assert inv.startswith("[vm-type=default]\nvm0 ansible_host=")
    with env.ansible_inventory_temp_file() as f:
        assert Path(f.name).read_text() == inv


def test_workdir_and_script(env: sdk.SDK, tmp_path: Path) -> None:
    from lago.workdir import Workdir

    wd = Workdir(env._workdir.path)
    assert wd.prefix_names() == ["default"]
    prefix = wd.get_prefix("current")
    assert list(prefix.get_vms()) == ["vm0", "vm1"]
    script = tmp_path / "s.sh"
    script.write_text("echo from-script; exit 4\n")
    res = prefix.get_vms()["vm1"].ssh_script(str(script))
    assert res.code == 4 and res.out == b"from-script\n"


def test_stop(env: sdk.SDK) -> None:
    env.stop()
    assert all(not v.running() for v in env.get_vms().values())
