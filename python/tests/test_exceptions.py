"""Exceptions at Lago's import paths, and core errors mapped onto them."""

from __future__ import annotations

from pathlib import Path

import pytest

from lago import _native
from lago._exc import (
    BY_KIND,
    LagoCancelledError,
    LagoConfigError,
    LagoErrorCause,
    LagoLibvirtError,
    LagoNativeError,
    LagoNotFoundError,
)
from lago.plugins import NoSuchPluginError, PluginError
from lago.plugins.vm import (
    ExtractPathError,
    ExtractPathNoPathError,
    LagoCopyFilesFromVMError,
    LagoCopyFilesToVMError,
    LagoVMNotRunningError,
    VMError,
)
from lago.ssh import LagoSSHTimeoutException
from lago.utils import LagoException, LagoUserException
from lago.virt import LagoUnknownVMTypeError
from lago.workdir import LagoPrefixAlreadyExistsError, PrefixAlreadyExists, WorkdirError


def test_hierarchy() -> None:
    assert issubclass(LagoUserException, LagoException)
    for cls in (LagoVMNotRunningError, LagoCopyFilesToVMError, LagoCopyFilesFromVMError, LagoUnknownVMTypeError):
        assert issubclass(cls, LagoUserException)
    assert issubclass(ExtractPathError, VMError) and issubclass(VMError, LagoException)
    assert issubclass(ExtractPathNoPathError, VMError)
    assert issubclass(LagoSSHTimeoutException, LagoException)
    assert issubclass(LagoPrefixAlreadyExistsError, LagoException)
    assert issubclass(NoSuchPluginError, PluginError)
    assert issubclass(PrefixAlreadyExists, WorkdirError) and issubclass(WorkdirError, RuntimeError)
    assert str(ExtractPathNoPathError("x")) == "Failed to extract files: x"


def test_every_kind_is_a_lago_exception() -> None:
    assert {"invalid_input", "config", "not_found", "already_exists", "io", "libvirt", "disk", "ssh", "timeout", "internal", "cancelled"} <= set(BY_KIND)
    assert all(issubclass(c, LagoException) for c in BY_KIND.values())


def test_core_error_is_raised_as_its_class(tmp_path: Path) -> None:
    with pytest.raises(LagoException) as info:
        _native.Env.load(tmp_path / "nothing", "current", config=_native.Config.defaults())
    assert info.value.kind in BY_KIND  # type: ignore[attr-defined]
    assert isinstance(info.value, BY_KIND[info.value.kind])  # type: ignore[attr-defined]


def test_bad_init_file_is_a_config_error(tmp_path: Path) -> None:
    f = tmp_path / "LagoInitFile"
    f.write_text("domains: [1, 2\n")
    with pytest.raises(LagoException) as info:
        _native.Env.init(tmp_path / "wd", f, config=_native.Config.defaults())
    assert info.value.kind == "config"  # type: ignore[attr-defined]
    assert not (tmp_path / "wd" / "default").exists()
    _ = LagoNotFoundError


def test_by_kind_is_the_native_table() -> None:
    table = _native.error_classes()
    assert table == dict(BY_KIND)
    assert table["timeout"] is LagoSSHTimeoutException
    assert table["already_exists"] is LagoPrefixAlreadyExistsError
    assert table["not_found"] is LagoNotFoundError
    assert all(issubclass(c, LagoNativeError) for c in table.values())
    # Each kind its own class.
    assert len(set(table.values())) == len(table) == 12
    assert table["cancelled"] is LagoCancelledError


def test_spec_error_carries_file_key_path_line_and_causes(tmp_path: Path) -> None:
    f = tmp_path / "LagoInitFile"
    f.write_text("domains:\n  vm0:\n    memory: lots\n    nics:\n      - net: n0\nnets:\n  n0:\n    type: nat\n")
    with pytest.raises(LagoConfigError) as info:
        _native.Env.init(tmp_path / "wd", f, config=_native.Config.defaults())
    exc = info.value
    assert exc.kind == "config"
    assert exc.path == str(f)
    assert exc.key_path == "domains.vm0.memory"
    assert exc.line == 3
    assert exc.vm is None and exc.libvirt_code is None
    # The message is the one users always saw; the chain is there too.
    assert str(exc).startswith(f"invalid init file: {f}:3:")
    assert len(exc.causes) == 1 and "domains.vm0.memory" in exc.causes[0]
    cause = exc.__cause__
    assert isinstance(cause, LagoErrorCause)
    assert str(cause) == exc.causes[0]
    assert cause.__cause__ is None


def test_missing_workdir_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nothing"
    with pytest.raises(LagoNotFoundError) as info:
        _native.Env.load(missing, "current", config=_native.Config.defaults())
    assert info.value.kind == "not_found"
    assert info.value.path == str(missing)
    assert info.value.key_path is None and info.value.line is None


def test_unreachable_libvirt_gives_its_code(tmp_path: Path) -> None:
    # A copy of the upstream fixture workdir, with a libvirt that cannot be
    # reached: the failure is libvirt's, with its code, naming the VM.
    import shutil

    fixture = Path(__file__).resolve().parents[2] / "lago-core" / "tests" / "fixtures" / "upstream-workdir"
    workdir = tmp_path / "workdir"
    shutil.copytree(fixture, workdir, symlinks=True)
    config = _native.Config.defaults()
    config.set("lago", "lease_dir", str(tmp_path / "leases"))
    config.set("lago", "libvirt_url", "qemu+unix:///system?socket=/nonexistent/lago-py-test")
    env = _native.Env.load(workdir, "current", config=config)
    with pytest.raises(LagoLibvirtError) as info:
        env.vm_state("vm0")
    exc = info.value
    assert exc.kind == "libvirt"
    assert isinstance(exc.libvirt_code, int) and exc.libvirt_code != 0
    assert exc.causes, "libvirt's own message is a cause"
    chain = []
    cause = exc.__cause__
    while cause is not None:
        chain.append(str(cause))
        cause = cause.__cause__
    assert tuple(chain) == exc.causes
