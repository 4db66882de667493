"""lago.workdir / lago.prefix / lago.virt at Lago's API, on real folders
(no guests): the workdir's bookkeeping of prefixes and ``current``, finding
a workdir or a prefix from a folder, ``Prefix(path)``, Lago's network-spec
checks, and ``VirtEnv.from_prefix`` calling ``cls(prefix, vm_specs,
net_specs)`` as ovirtlago's VirtEnv needs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from lago import prefix as prefix_mod
from lago import workdir as workdir_mod
from lago.prefix import Prefix
from lago.utils import LagoInitException, LagoUserException
from lago.virt import VirtEnv
from lago.workdir import (
    LagoPrefixAlreadyExistsError,
    MalformedWorkdir,
    PrefixNotFound,
    Workdir,
    workdir_loaded,
)


def make_prefix(parent: Path, name: str) -> Path:
    """A folder that looks like an initialized prefix."""
    p = parent / name
    p.mkdir(parents=True)
    (p / "initialized").write_text("")
    (p / "uuid").write_text("0" * 32)
    return p


def make_workdir(root: Path, *names: str, current: str = "") -> Path:
    wd = root / ".lago"
    wd.mkdir()
    for n in names:
        make_prefix(wd, n)
    if current:
        os.symlink(current, wd / "current")
    return wd


def test_load_lists_prefixes_and_reads_current(tmp_path: Path) -> None:
    wd_path = make_workdir(tmp_path, "default", "other", current="other")
    wd = Workdir(str(wd_path))
    assert not wd.loaded and wd.prefixes == {} and wd.current is None
    wd.load()
    assert wd.loaded
    assert sorted(wd.prefixes) == ["default", "other"]
    assert wd.current == "other"
    assert all(isinstance(p, Prefix) for p in wd.prefixes.values())
    assert wd.prefixes["other"].paths.prefix_path() == str(wd_path / "other")
    assert wd.get_prefix("current") is wd.prefixes["other"]
    with pytest.raises(KeyError):
        wd.get_prefix("nope")


def test_load_moves_a_stray_current_to_default_else_the_last_name(tmp_path: Path) -> None:
    (tmp_path / "gone").mkdir()
    wd_path = make_workdir(tmp_path, "default", "zeta", current="../gone")
    wd = Workdir(str(wd_path))
    wd.load()
    assert wd.current == "default" and os.readlink(wd_path / "current") == "default"

    other = tmp_path / "b"
    other.mkdir()
    (other / "gone").mkdir()
    wd2_path = make_workdir(other, "alpha", "beta", current="../gone")
    wd2 = Workdir(str(wd2_path))
    wd2.load()
    assert wd2.current == "beta"


@pytest.mark.parametrize("layout", ["empty", "no current", "current is a folder", "dangling current"])
def test_malformed_workdirs_are_refused(tmp_path: Path, layout: str) -> None:
    wd_path = tmp_path / ".lago"
    wd_path.mkdir()
    if layout != "empty":
        make_prefix(wd_path, "default")
    if layout == "current is a folder":
        (wd_path / "current").mkdir()
    if layout == "dangling current":
        os.symlink("gone", wd_path / "current")
    with pytest.raises(MalformedWorkdir):
        Workdir(str(wd_path)).load()
    assert not Workdir.is_workdir(str(wd_path))


def test_set_current_and_unknown_prefix(tmp_path: Path) -> None:
    wd_path = make_workdir(tmp_path, "default", "other", current="default")
    wd = Workdir(str(wd_path))
    wd.set_current("other")
    assert os.readlink(wd_path / "current") == "other" and wd.current == "other"
    with pytest.raises(PrefixNotFound):
        wd.set_current("missing")
    assert os.readlink(wd_path / "current") == "other"


def test_module_set_current_needs_a_workdir(tmp_path: Path) -> None:
    wd_path = make_workdir(tmp_path, "a", "b", current="a")
    workdir_mod.set_current("b", Workdir(str(wd_path)))
    assert os.readlink(wd_path / "current") == "b"
    with pytest.raises(LagoUserException):
        workdir_mod.set_current("b", None)


def test_add_prefix_refuses_an_existing_name(tmp_path: Path) -> None:
    wd_path = make_workdir(tmp_path, "default", current="default")
    with pytest.raises(LagoPrefixAlreadyExistsError):
        Workdir(str(wd_path)).add_prefix("default")


def test_add_prefix_without_an_init_file_is_a_clear_error(tmp_path: Path) -> None:
    wd_path = make_workdir(tmp_path, "default", current="default")
    with pytest.raises(LagoUserException, match="lago init"):
        Workdir(str(wd_path)).add_prefix("new")


def test_workdir_loaded_loads_once(tmp_path: Path) -> None:
    calls: list[str] = []

    class Counting(Workdir):
        def load(self) -> None:
            calls.append("load")
            super().load()

    @workdir_loaded
    def names(wd: Workdir) -> list[str]:
        return sorted(wd.prefixes)

    wd = Counting(str(make_workdir(tmp_path, "x", current="x")))
    assert names(wd) == ["x"] and names(wd) == ["x"]
    assert calls == ["load"]  # loaded once, then left alone
    assert wd.loaded


def test_join_keeps_the_path_as_given() -> None:
    wd = Workdir("rel/wd")
    assert wd.path == "rel/wd"
    assert wd.join() == "rel/wd/" or wd.join() == os.path.join("rel/wd")
    assert wd.join("a", "b") == os.path.join("rel/wd", "a", "b")


def test_resolve_workdir_path_walks_up_to_a_dot_lago(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wd_path = make_workdir(tmp_path, "default", current="default")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert Workdir.resolve_workdir_path(str(deep)) == str(wd_path)
    assert Workdir.resolve_workdir_path(str(wd_path)) == str(wd_path)
    monkeypatch.chdir(deep)
    assert Workdir.resolve_workdir_path("auto") == str(wd_path)
    assert Workdir.resolve_workdir_path() == str(wd_path)


def test_resolve_workdir_path_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(LagoUserException, match="Unable to find workdir"):
        Workdir.resolve_workdir_path(str(tmp_path))


def test_is_possible_workdir_looks_at_current_files_only(tmp_path: Path) -> None:
    wd_path = make_workdir(tmp_path, "default", current="default")
    assert Workdir.is_possible_workdir(str(wd_path))
    (wd_path / "default" / "uuid").unlink()
    assert not Workdir.is_possible_workdir(str(wd_path))


# -- Prefix ------------------------------------------------------------------


def test_prefix_from_a_path_opens_nothing_until_used(tmp_path: Path) -> None:
    p = Prefix(str(tmp_path / "not-there"))
    assert p._prefix == str(tmp_path / "not-there")
    assert p.paths.prefix_lagofile() == str(tmp_path / "not-there" / "initialized")
    assert p.metadata == {}
    with pytest.raises(Exception, match="not-there"):
        p.virt_env  # opening it is what fails


def test_prefix_keyword_and_pathlike_constructor(tmp_path: Path) -> None:
    assert Prefix(prefix=str(tmp_path))._prefix == str(tmp_path)
    assert Prefix(tmp_path)._prefix == str(tmp_path)


def test_is_prefix_and_resolve_prefix_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    standalone = make_prefix(tmp_path, "env")
    assert Prefix.is_prefix(str(standalone))
    assert not Prefix.is_prefix(str(tmp_path))
    assert Prefix.resolve_prefix_path(str(standalone)) == str(standalone)

    dot = make_prefix(tmp_path / "proj", ".lago")
    sub = tmp_path / "proj" / "src" / "deep"
    sub.mkdir(parents=True)
    assert Prefix.resolve_prefix_path(str(sub)) == str(dot)
    monkeypatch.chdir(sub)
    assert Prefix.resolve_prefix_path() == str(dot)
    assert Prefix.resolve_prefix_path("auto") == str(dot)
    with pytest.raises(RuntimeError, match="Unable to find prefix"):
        Prefix.resolve_prefix_path(str(tmp_path))


def test_prefix_path_checks_use_the_patchable_paths_class(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class OtherPaths(prefix_mod._paths_mod.Paths):
        def prefix_lagofile(self) -> str:
            return self.prefixed("marker")

    (tmp_path / "marker").write_text("")
    monkeypatch.setattr(prefix_mod._paths_mod, "Paths", OtherPaths)
    assert Prefix.is_prefix(str(tmp_path))


def test_select_mgmt_networks() -> None:
    conf: dict[str, Any] = {"nets": {"b": {}, "a": {}, "c": {"management": True}}}
    assert Prefix("")._select_mgmt_networks(conf) == ["c"]
    assert conf["nets"]["c"] == {"management": True, "dns_domain_name": "lago.local"}
    assert conf["nets"]["a"] == {}
    conf = {"nets": {"b": {}, "a": {"dns_domain_name": "x"}}}
    assert Prefix("")._select_mgmt_networks(conf) == ["a"]
    assert conf["nets"]["a"] == {"management": True, "dns_domain_name": "x"}


@pytest.mark.parametrize(
    "conf,message",
    [
        ({"nets": {}}, "No networks configured."),
        (
            {"domains": {"vm": {"nics": [{"net": "nope"}]}}, "nets": {"m": {"management": True}}},
            "Unrecognized network in vm: nope,\navailable: m",
        ),
        (
            {"nets": {"m": {"management": True}, "d": {"main_dns": "1.1.1.1"}}},
            "Networks: d, misconfigured",
        ),
        (
            {"domains": {"vm": {"nics": [{"net": "d"}]}}, "nets": {"m": {"management": True}, "d": {}}},
            "VM vm has no management network, please connect it to one.",
        ),
        (
            {
                "domains": {"vm": {"nics": [{"net": "m1"}, {"net": "m2"}]}},
                "nets": {"m1": {"management": True}, "m2": {"management": True}},
            },
            "VM vm has more than one management network: m1,m2. It should have exactly one.",
        ),
    ],
)
def test_validate_netconfig_messages(conf: dict[str, Any], message: str) -> None:
    with pytest.raises(LagoInitException) as info:
        Prefix("")._validate_netconfig(conf)
    assert message in str(info.value)


def test_validate_netconfig_accepts_a_good_spec() -> None:
    conf = {
        "domains": {"vm": {"nics": [{"net": "m"}, {"net": "d"}]}},
        "nets": {"m": {"management": True, "dns_domain_name": "x"}, "d": {"management": False}},
    }
    Prefix("")._validate_netconfig(conf)


# -- VirtEnv.from_prefix -------------------------------------------------------


class _FakeNative:
    """The two calls VirtEnv makes on a prefix's native env."""

    def vms(self) -> list[dict[str, Any]]:
        return [{"name": "vm0", "spec": {"name": "vm0", "metadata": {"role": "x"}}}]

    def nets(self) -> list[dict[str, Any]]:
        return [{"name": "n0", "spec": {"type": "nat"}, "gw": "192.168.1.1", "is_management": True}]


class _FakePrefix:
    _native = _FakeNative()


class StrictVirtEnv(VirtEnv):
    """Shaped like ovirtlago's OvirtVirtEnv: all three arguments required."""

    def __init__(self, prefix: Any, vm_specs: Any, net_spec: Any) -> None:
        self.got = (vm_specs, net_spec)
        super().__init__(prefix, vm_specs, net_spec)


def test_from_prefix_passes_vm_and_net_specs() -> None:
    env = StrictVirtEnv.from_prefix(_FakePrefix())  # type: ignore[arg-type]
    assert isinstance(env, StrictVirtEnv)
    vm_specs, net_specs = env.got
    assert vm_specs == {"vm0": {"name": "vm0", "metadata": {"role": "x"}}}
    assert net_specs == {"n0": {"type": "nat"}}
    assert list(env.get_vms()) == ["vm0"]


def test_virt_env_builds_the_vms_it_is_given() -> None:
    env = VirtEnv(_FakePrefix(), {"only": {"name": "only"}}, {})  # type: ignore[arg-type]
    assert list(env.get_vms()) == ["only"]


def test_save_keeps_metadata_never_read_before(tmp_path: Path) -> None:
    p = make_prefix(tmp_path, "env")
    (p / "metadata").write_text('{"lago_version": "x"}')

    class NoVirtEnv(Prefix):
        saved = 0

        @property
        def virt_env(self) -> Any:
            outer = self

            class _Env:
                def save(self) -> None:
                    outer.saved += 1

            return _Env()

    prefix = NoVirtEnv(str(p))
    prefix.save()
    assert json.loads((p / "metadata").read_text()) == {"lago_version": "x"}
    assert prefix.saved == 1
    prefix.metadata["added"] = 1
    prefix.save()
    assert json.loads((p / "metadata").read_text()) == {"lago_version": "x", "added": 1}


def test_cmd_do_collect_called_the_way_ovirtlago_calls_it(tmp_path: Path) -> None:
    from lago import cmd

    calls: list[tuple[str, bool]] = []

    class P:
        def collect_artifacts(self, output: str, ignore_nopath: bool) -> None:
            calls.append((output, ignore_nopath))

    assert cmd.do_collect(prefix=P(), output=str(tmp_path), no_skip=False) == 0
    assert calls == [(str(tmp_path), True)]
    with pytest.raises(LagoUserException):
        cmd.do_collect(prefix=P())


def test_cli_picks_a_prefix_on_its_own_as_lago_did(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from lago import cmd

    def ns(**kw: Any) -> argparse.Namespace:
        base = {"prefix_path": None, "workdir_path": None, "prefix_name": "current"}
        base.update(kw)
        return argparse.Namespace(**base)

    prefix = make_prefix(tmp_path, ".lago")
    (tmp_path / "sub").mkdir()
    # -p: the path, or a .lago prefix in it or a parent
    assert cmd._standalone_prefix(ns(prefix_path=str(tmp_path / "sub"))) == str(prefix)
    assert cmd._prefix_name(ns(prefix_path=str(prefix))) == ".lago"
    assert cmd._workdir(ns(prefix_path=str(prefix))) == str(tmp_path)
    with pytest.raises(LagoUserException, match="Unable to find prefix"):
        cmd._standalone_prefix(ns(prefix_path="/"))
    # the current folder is a prefix: used unless -w or a -P name says otherwise
    monkeypatch.chdir(prefix)
    assert cmd._standalone_prefix(ns()) == str(prefix)
    assert cmd._standalone_prefix(ns(workdir_path=str(tmp_path))) is None
    assert cmd._standalone_prefix(ns(prefix_name="other")) is None
    monkeypatch.chdir(tmp_path / "sub")
    assert cmd._standalone_prefix(ns()) is None
