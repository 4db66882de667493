"""Exceptions at Lago's import paths, and core errors mapped onto them."""

from __future__ import annotations

from pathlib import Path

import pytest

from lago import _native
from lago._exc import BY_KIND, LagoNotFoundError
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
    assert {"invalid_input", "config", "not_found", "already_exists", "io", "libvirt", "disk", "ssh", "timeout", "internal"} <= set(BY_KIND)
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
