"""Every exception class of Lago's hierarchy (contract §2.5) at its import
path with its base class, the VM provider entry point, and the VM and
network members of §2.3 that need no running guest."""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path

import pytest

from lago.utils import LagoException

#: (path, base class path) of every exception class §2.5 lists.
HIERARCHY = [
    ("lago.utils.LagoInitException", "lago.utils.LagoException"),
    ("lago.utils.LagoUserException", "lago.utils.LagoException"),
    ("lago.plugins.vm.LagoVMNotRunningError", "lago.utils.LagoUserException"),
    ("lago.plugins.vm.LagoCopyFilesToVMError", "lago.utils.LagoUserException"),
    ("lago.plugins.vm.LagoCopyFilesFromVMError", "lago.utils.LagoUserException"),
    ("lago.virt.LagoUnknownVMTypeError", "lago.utils.LagoUserException"),
    ("lago.plugins.vm.ExtractPathError", "lago.plugins.vm.VMError"),
    ("lago.plugins.vm.ExtractPathNoPathError", "lago.plugins.vm.VMError"),
    ("lago.plugins.vm.LagoVMDoesNotExistError", "lago.utils.LagoException"),
    ("lago.plugins.vm.LagoFailedToGetVMStateError", "lago.utils.LagoException"),
    ("lago.ssh.LagoSSHTimeoutException", "lago.utils.LagoException"),
    ("lago.subnet_lease.LagoSubnetLeaseException", "lago.utils.LagoException"),
    ("lago.subnet_lease.LagoSubnetLeaseLockException", "lago.subnet_lease.LagoSubnetLeaseException"),
    ("lago.subnet_lease.LagoSubnetLeaseStoreFullException", "lago.subnet_lease.LagoSubnetLeaseException"),
    ("lago.subnet_lease.LagoSubnetLeaseTakenException", "lago.subnet_lease.LagoSubnetLeaseException"),
    ("lago.subnet_lease.LagoSubnetLeaseOutOfRangeException", "lago.subnet_lease.LagoSubnetLeaseException"),
    ("lago.subnet_lease.LagoSubnetLeaseMalformedAddrException", "lago.subnet_lease.LagoSubnetLeaseException"),
    ("lago.subnet_lease.LagoSubnetLeaseBadPermissionsException", "lago.subnet_lease.LagoSubnetLeaseException"),
    ("lago.templates.LagoMissingTemplateError", "lago.utils.LagoException"),
    ("lago.prefix.LagoDeployError", "lago.utils.LagoException"),
    ("lago.build.BuildException", "lago.utils.LagoException"),
    ("lago.guestfs_tools.GuestFSError", "lago.utils.LagoException"),
    ("lago.providers.libvirt.vm.LagoLocalLibvirtVMProviderException", "lago.utils.LagoException"),
    ("lago.workdir.LagoPrefixAlreadyExistsError", "lago.utils.LagoException"),
    ("lago.plugins.NoSuchPluginError", "lago.plugins.PluginError"),
    ("lago.utils.TimerException", "builtins.Exception"),
    ("lago.workdir.WorkdirError", "builtins.RuntimeError"),
    ("lago.workdir.PrefixNotFound", "lago.workdir.WorkdirError"),
    ("lago.workdir.MalformedWorkdir", "lago.workdir.WorkdirError"),
    ("lago.workdir.PrefixAlreadyExists", "lago.workdir.WorkdirError"),
]


def _get(path: str) -> type:
    mod, name = path.rsplit(".", 1)
    return getattr(importlib.import_module(mod), name)  # type: ignore[no-any-return]


@pytest.mark.parametrize("path,base", HIERARCHY)
def test_exception_at_its_path(path: str, base: str) -> None:
    assert issubclass(_get(path), _get(base)), f"{path} must subclass {base}"


def test_lago_messages() -> None:
    from lago.subnet_lease import LagoSubnetLeaseTakenException
    from lago.templates import LagoMissingTemplateError

    assert str(LagoMissingTemplateError("el7", "/repo")) == "Image el7 doesn't exist in repo /repo"
    err = LagoSubnetLeaseTakenException("192.168.200.1", "/w/.lago/default")
    assert isinstance(err, LagoException) and "192.168.200.1" in str(err)


FIXTURE = Path(__file__).resolve().parents[2] / "lago-core/tests/fixtures/upstream-workdir"


@pytest.fixture()
def prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from lago import _native
    from lago.prefix import Prefix

    shutil.copytree(FIXTURE, tmp_path / "w", symlinks=True)
    cfg = _native.Config.defaults()
    cfg.set("lago", "libvirt_url", "test:///default")
    return Prefix(_native.Env.load(str(tmp_path / "w"), "current", cfg))


def test_vm_members_without_a_guest(prefix, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from lago.plugins.vm import VMProviderPlugin
    from lago.providers.libvirt.vm import LocalLibvirtVMProvider

    vm = prefix.get_vms()["vm0"]
    assert "local-libvirt" in vm.vm_providers
    assert {"systemd", "sysvinit"} <= set(vm.service_providers)
    assert isinstance(vm.provider, LocalLibvirtVMProvider)
    assert isinstance(vm.provider, VMProviderPlugin) and vm.provider.name() == "vm0"
    # the test driver's host CPU names neither model nor vendor; a spec's
    # cpu_model wins over the host's
    assert vm.cpu_vendor is None and vm.cpu_model is None
    vm._spec["cpu_model"] = "Westmere"
    assert vm.cpu_model == "Westmere" and vm.provider.cpu_model == "Westmere"
    del vm._spec["cpu_model"]
    # save(): the spec a plugin changed reaches the prefix and is read back
    vm._spec["lago-plugin-key"] = "kept"
    vm.save()
    again = json.loads((Path(prefix.paths.prefix_path()) / "virt/vm-vm0").read_text())
    assert again["lago-plugin-key"] == "kept"
    vm.save(str(tmp_path / "copy.json"))
    assert json.loads((tmp_path / "copy.json").read_text())["name"] == "vm0"


def test_network_members_without_a_guest(prefix) -> None:  # type: ignore[no-untyped-def]
    net = prefix.get_nets()["n0"]
    assert net._libvirt_name().endswith("-n0")
    net.add_mapping("extra-host", "192.168.201.77")
    spec = json.loads((Path(prefix.paths.prefix_path()) / "virt/net-n0").read_text())
    assert spec["mapping"]["extra-host"] == "192.168.201.77"
    assert not net.alive()
    net.start()
    assert net.alive()
    net.stop()
    assert not net.alive()
