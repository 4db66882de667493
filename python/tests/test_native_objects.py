"""lago._native hands Python objects, not JSON text: the env's views (one
shape, lago-core's ``env::view``), status, snapshots; and takes them (specs,
inventory rows, build options). Also the core pieces lago.utils/lago.paths/
lago.vm stand on (MAC, prefix layout, qemu-img, file lock, deploy shell),
and the destroyed lifecycle of an Env (lago-core's ``EnvHandle``). On a copy
of an upstream Lago workdir over libvirt's test driver (no guests)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from lago import _native
from lago.utils import LagoException

FIXTURE = Path(__file__).resolve().parents[2] / "lago-core" / "tests" / "fixtures" / "upstream-workdir"


@pytest.fixture
def env(tmp_path: Path) -> Any:
    wd = tmp_path / "wd"
    shutil.copytree(FIXTURE, wd, symlinks=True)
    config = _native.Config.defaults()
    config.set("lago", "libvirt_url", "test:///default")
    config.set("lago", "lease_dir", str(tmp_path / "leases"))
    return _native.Env.load(wd, "current", config=config)


def test_views_are_lists_of_dicts_in_init_file_order(env: Any) -> None:
    vms = env.vms()
    assert isinstance(vms, list) and [v["name"] for v in vms] == env.vm_names()
    vm = vms[0]
    assert set(vm) == {
        "name", "spec", "ip", "mgmt_net", "distro", "root_password", "metadata", "nics", "snapshots",
    }
    assert isinstance(vm["spec"], dict) and isinstance(vm["nics"], list)
    nets = env.nets()
    assert [n["name"] for n in nets] == env.net_names()
    assert set(nets[0]) == {"name", "spec", "gw", "is_management", "kind", "libvirt_name"}
    spec = env.spec()
    assert list(spec) == ["uuid", "vms", "nets"] and spec["uuid"] == env.uuid
    assert list(spec["vms"]) == env.vm_names()
    assert spec["vms"][vm["name"]] == vm["spec"]


def test_status_and_snapshots_are_dicts(env: Any) -> None:
    status = env.status()
    assert isinstance(status, dict) and "Prefix" in status
    assert isinstance(env.snapshots(), dict)


def test_a_spec_given_as_a_dict_is_saved_in_order(env: Any) -> None:
    name = env.vm_names()[0]
    spec = dict(env.vms()[0]["spec"])
    spec["metadata"] = {**spec.get("metadata", {}), "zz": [1, 2.5, None, True, ("t", 3)]}
    env.save_vm_spec(name, spec)
    env.reload()
    saved = env.vms()[0]["spec"]
    assert list(saved) == list(spec)
    assert saved["metadata"]["zz"] == [1, 2.5, None, True, ["t", 3]]
    with pytest.raises(LagoException, match="must be a dict"):
        env.save_vm_spec(name, ["not", "a", "dict"])


def test_destroyed_lifecycle(env: Any) -> None:
    path = Path(env.prefix_path)
    assert not env.destroyed
    env.destroy()
    assert env.destroyed and not path.exists()
    with pytest.raises(LagoException, match="this environment was destroyed"):
        env.vms()
    with pytest.raises(LagoException, match="already destroyed"):
        env.destroy()


def test_inventory_and_build_options_take_objects() -> None:
    assert _native.inventory_get_key("a/1/b", {"a": [0, {"b": {"c": 1}}]}) == {"c": 1}
    assert _native.inventory_get_key("a/5", {"a": []}) is None
    text = _native.inventory_render([["vm0", "192.0.2.1", {"vm-type": "x"}]], [], "/k")
    assert "vm0" in text and "192.0.2.1" in text
    assert _native.build_args({"a": "", "run": ["x", "y"], "n": 3}, "/k.pub") == [
        "-a", "--run", "x", "--run", "y", "-n", "3",
    ]


def test_core_pieces_of_utils_and_paths(tmp_path: Path) -> None:
    from lago.paths import Paths
    from lago.utils import ipv4_to_mac
    from lago.vm import SCRIPT_SHELL

    assert ipv4_to_mac("192.168.200.10") == "54:52:c0:a8:c8:0a"
    with pytest.raises(ValueError):
        ipv4_to_mac("192.168.200")
    p = Paths("/p")
    assert (p.uuid(), p.ssh_id_rsa(), p.prefix_lagofile(), p.virt("x"), p.scripts("s")) == (
        "/p/uuid", "/p/id_rsa", "/p/initialized", "/p/virt/x", "/p/scripts/s",
    )
    assert SCRIPT_SHELL[:2] == ("sh", "-c") and "bash -s" in SCRIPT_SHELL[2]


@pytest.mark.skipif(shutil.which("qemu-img") is None, reason="needs qemu-img")
def test_qemu_img_info_and_rebase(tmp_path: Path) -> None:
    from lago.utils import get_qemu_info, qemu_rebase

    base, other, top = (str(tmp_path / n) for n in ("base.qcow2", "other.raw", "top.qcow2"))
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", base, "1M"], check=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", other, "1M"], check=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, top], check=True)
    info = get_qemu_info(top)
    assert info["format"] == "qcow2" and info["virtual-size"] == 1 << 20
    chain = get_qemu_info(top, backing_chain=True)
    assert [os.path.basename(i["filename"]) for i in chain] == ["top.qcow2", "base.qcow2"]
    assert not qemu_rebase(top, other, safe=False)  # CommandStatus: falsy on success
    assert get_qemu_info(top)["backing-filename-format"] == "raw"
    with pytest.raises(LagoException, match="Failed to get info"):
        get_qemu_info(str(tmp_path / "missing"))
    assert get_qemu_info(str(tmp_path / "missing"), fail_on_error=False) == {}
    status = qemu_rebase(str(tmp_path / "missing"), base, fail_on_error=False)
    assert status.code == 1 and status.err


def test_file_lock_is_exclusive(tmp_path: Path) -> None:
    path = str(tmp_path / "lock")
    first, second = _native.FileLock(path), _native.FileLock(path)
    assert first.acquire(0.0) and first.held
    assert not second.acquire(0.0) and not second.held
    first.release()
    assert second.acquire(0.0)
    second.release()


def test_shared_flocks_exclude_only_the_exclusive_one(tmp_path: Path) -> None:
    from lago.utils import Flock

    path = str(tmp_path / "lock")
    with Flock(path, readonly=True), Flock(path, readonly=True, blocking=False):
        with pytest.raises(BlockingIOError):
            Flock(path, blocking=False).acquire()
    with Flock(path, blocking=False):
        with pytest.raises(BlockingIOError):
            Flock(path, readonly=True, blocking=False).acquire()
