"""lago.config: ConfigLoad's sources and their order, the environment
mapping, INI rendering, and the `generate-config` text."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lago import config as cfg
from lago._exc import LagoConfigError


@pytest.fixture
def files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Points the loader at config files written by the test."""
    paths: list[str] = []
    monkeypatch.setattr(cfg, "_get_configs_path", lambda: list(paths))

    def add(text: str) -> str:
        path = tmp_path / f"conf{len(paths)}.ini"
        path.write_text(text)
        paths.append(str(path))
        return str(path)

    return add


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("LAGO"):
            monkeypatch.delenv(name)


def test_env_names_map_to_sections(monkeypatch: pytest.MonkeyPatch, clean_env: None) -> None:
    monkeypatch.setenv("LAGO_SSH_USER", "alice")
    monkeypatch.setenv("LAGO__INIT__TEMPLATE_STORE", "/st")
    monkeypatch.setenv("LAGO__MY_TOOL__SOME_KEY", "v")
    monkeypatch.setenv("LAGO__BROKEN", "x")  # no key part: not a setting
    monkeypatch.setenv("LAGO_EMPTY", "")  # empty: ignored
    monkeypatch.setenv("LAGOX", "y")
    assert cfg.get_env_dict("lago") == {
        "lago": {"ssh_user": "alice"},
        "init": {"template_store": "/st"},
        "my_tool": {"some_key": "v"},
    }


def test_other_root_section_reads_its_own_prefix(monkeypatch: pytest.MonkeyPatch, clean_env: None) -> None:
    monkeypatch.setenv("OVIRT_X", "1")
    monkeypatch.setenv("LAGO_Y", "2")
    assert cfg.get_env_dict("ovirt") == {"ovirt": {"x": "1"}}


def test_defaults_then_files_then_env(files, monkeypatch: pytest.MonkeyPatch, clean_env: None) -> None:
    files("[lago]\na = file1\nb = file1\n[extra]\nk = v\n")
    files("[lago]\nb = file2\nc = file2\n")
    monkeypatch.setenv("LAGO_C", "env")
    loaded = cfg.ConfigLoad(defaults={"lago": {"a": "default", "d": "default"}})
    assert loaded.get_section("lago") == {"a": "file1", "b": "file2", "c": "env", "d": "default"}
    assert loaded.get_section("extra") == {"k": "v"}
    assert loaded["c"] == "env" and loaded.get("missing", "x") == "x"


def test_default_section_of_a_file_fills_every_section(files, clean_env: None) -> None:
    files("[DEFAULT]\nshared = yes\n[one]\nown = 1\n[two]\nshared = no\n")
    loaded = cfg.ConfigLoad()
    assert loaded.get_section("one") == {"shared": "yes", "own": "1"}
    assert loaded.get_section("two") == {"shared": "no"}


def test_bad_file_is_one_error_naming_file_and_line(files, clean_env: None) -> None:
    path = files("[lago]\nok = 1\nthis line has no delimiter\n")
    with pytest.raises(LagoConfigError) as err:
        cfg.ConfigLoad()
    assert f"{path}:3" in str(err.value)


def test_lazy_load_defers_errors_to_first_use(files, clean_env: None) -> None:
    files("no section\n")
    loaded = cfg.ConfigLoad(lazy=True)
    with pytest.raises(LagoConfigError):
        loaded.get("x")


def test_parser_defaults_then_given_args(files, clean_env: None) -> None:
    files("[lago]\nlevel = from-file\n")
    loaded = cfg.ConfigLoad()
    parser = argparse.ArgumentParser()
    parser.add_argument("--level", default="parser")
    parser.add_argument("--unset")
    sub = parser.add_subparsers()
    sub.add_parser("verb").add_argument("--opt", default="o")
    parser.set_defaults(**loaded.get_section("lago"))
    loaded.update_parser(parser)
    assert loaded["level"] == "from-file"
    assert loaded.get_section("verb") == {"opt": "o"}
    assert "unset" not in loaded.get_section("lago")
    loaded.update_args(parser.parse_args(["--level", "cli", "--unset", "u"]))
    assert loaded["level"] == "cli"
    # only keys that already have a value are taken from the arguments
    assert loaded.get("unset") is None


def test_ini_without_parser_is_configparser_text(files, clean_env: None) -> None:
    loaded = cfg.ConfigLoad(defaults={"s1": {"k": "v"}, "s2": {"multi": "a\nb"}})
    assert loaded.get_ini() == "[s1]\nk = v\n\n[s2]\nmulti = a\n\tb\n\n"
    assert cfg.ConfigLoad(defaults={}).get_ini() == ""


def test_ini_from_parser_has_lowercased_help_and_unset_keys(files, clean_env: None) -> None:
    loaded = cfg.ConfigLoad(defaults={"lago": {"name": "n"}})
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", help="The Name Of It")
    parser.add_argument("--other", help="Other Thing")
    parser.add_argument("--flag", action="store_true", help="never shown")
    loaded.update_parser(parser)
    text = loaded.get_ini(incl_unset=True)
    body = text.split("\n", 1)[1]
    assert text.startswith("# Lago configuration file, generated: ")
    assert body == "[lago]\n# the name of it\nname = n\n# other thing\n#other = None\n\n"
    assert "#other" not in loaded.get_ini()


def test_native_config_gets_values_set_here(files, clean_env: None) -> None:
    loaded = cfg.ConfigLoad(defaults={"lago": {"ssh_user": "root"}})
    loaded.set("lago", "ssh_user", "carol")
    assert loaded.native.get("ssh_user") == "carol"
    loaded.set("init", "template_store", "/store")
    assert loaded.native.get("template_store", "init") == "/store"


def test_generate_config_prints_lagos_sections(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAGO")}
    env.update(HOME=str(tmp_path), XDG_CONFIG_DIRS=str(tmp_path / "none"))
    r = subprocess.run(
        [sys.executable, "-c", "from lago.cmd import run; run()", "generate-config"],
        capture_output=True, text=True, env=env, cwd=tmp_path, check=False,
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    sections = [line for line in lines if line.startswith("[")]
    assert sections == ["[lago]", "[ansible_hosts]", "[init]", "[export]"]
    assert "out_format = default" in lines
    assert lines[lines.index("ssh_tries = 100") - 1] == "# number of ssh time outs to wait before failing."
    assert "keys = ['vm-type', 'groups', 'vm-provider']" in lines
    export = lines[lines.index("[export]"):]
    assert export[:5] == [
        "[export]",
        "# the name of the exported init file",
        "init_file_name = LagoInitFile",
        "# dir to place the exported images in",
        "dst_dir = .",
    ]
    assert r.stdout.endswith("dst_dir = .\n\n\n")


def test_generate_config_verbose_has_every_verbs_section_in_lagos_order(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAGO")}
    env.update(HOME=str(tmp_path), XDG_CONFIG_DIRS=str(tmp_path / "none"))
    r = subprocess.run(
        [sys.executable, "-c", "from lago.cmd import run; run()", "generate-config", "--verbose"],
        capture_output=True, text=True, env=env, cwd=tmp_path, check=False,
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    builtin = [
        "[lago]", "[collect]", "[console]", "[copy-from-vm]", "[copy-to-vm]", "[ansible_hosts]",
        "[init]", "[list]", "[revert]", "[set-current]", "[shell]", "[snapshot]", "[start]",
        "[stop]", "[export]", "[shutdown]",
    ]
    # sections of installed CLI plugins (e.g. the ost-like test plugin) may
    # stand among them, as in Lago; the built-in ones keep Lago's order
    sections = [line for line in lines if line in builtin]
    assert sections == builtin
    # Keys are the dests Lago used; init's positionals follow its options.
    init = lines[lines.index("[init]"):lines.index("[list]")]
    keys = [line.split(" = ")[0].lstrip("#") for line in init if " = " in line]
    assert keys == ["template_repos", "template_store", "template_repo_name", "template_repo_path", "workdir", "virt_config"]
    assert lines[lines.index("[list]") + 1 : lines.index("[list]") + 4] == [
        "#  path to the workdir. if not provided lago will try to find a workdir",
        "# relative to the current directory.",
        "#workdir_path = None",
    ]
    assert lines[lines.index("[set-current]") + 2] == "#prefix_name = None"
    export = lines[lines.index("[export]"):lines.index("[shutdown]")]
    assert export[-3:] == [
        "# in this prefix.",
        "#vm_names = None",
        "",
    ]
