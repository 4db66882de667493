"""The lago CLI: parsing, help, version, exit codes (no guests needed)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import lago
from lago.cmd import create_parser, main

VERBS = [
    "init", "start", "stop", "status", "list", "set-current", "destroy", "copy-to-vm",
    "copy-from-vm", "collect", "export", "deploy", "ansible_hosts", "generate-config",
    "snapshot", "revert", "shutdown", "cleanup", "console", "graph",
]


def lago_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from lago.cmd import run; run()", *args],
        cwd=cwd, capture_output=True, text=True, check=False,
    )


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip().endswith(lago.__version__)


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_help(verb: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main([verb, "-h"])
    assert e.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_init_one_positional_is_the_init_file() -> None:
    parser = create_parser("lago", ["default"], {})
    args = parser.parse_args(["init", "LagoInitFile"])
    assert (args.workdir, args.virt_config) == ("LagoInitFile", None)


def test_prefix_abbreviation() -> None:
    parser = create_parser("lago", ["default", "json"], {})
    args = parser.parse_args(["--workdir", "/x", "--prefix-n", "p", "-f", "json", "status"])
    assert (args.workdir_path, args.prefix_name, args.out_format) == ("/x", "p", "json")


def test_shell_takes_dashes_as_arguments() -> None:
    parser = create_parser("lago", ["default"], {})
    args = parser.parse_args(["shell", "vm0", "-c", "uname -r"])
    assert (args.host, args.args) == ("vm0", ["-c", "uname -r"])


def test_no_verb_prints_help_exit_1(tmp_path: Path) -> None:
    r = lago_cli(cwd=tmp_path)
    assert r.returncode == 1 and "usage:" in r.stdout


def test_user_error_exit_2_no_traceback(tmp_path: Path) -> None:
    r = lago_cli("status", cwd=tmp_path)
    assert r.returncode == 2
    assert "Unable to find workdir" in r.stderr and "Traceback" not in r.stderr
    r = lago_cli("init", "nope", cwd=tmp_path)
    assert r.returncode == 2 and "Unable to find init file" in r.stderr


FIXTURE = Path(__file__).resolve().parents[2] / "lago-core/tests/fixtures/upstream-workdir"


def test_snapshot_list_and_user_errors(tmp_path: Path) -> None:
    import shutil

    workdir = tmp_path / "w"
    shutil.copytree(FIXTURE, workdir, symlinks=True)
    r = lago_cli("-w", str(workdir), "-f", "json", "snapshot", "--list", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {
        "vm0": {},
        "vm1": {"snap1": [{"path": "$LAGO_PREFIX_PATH/images/vm1_root.qcow2.snap1", "format": "qcow2", "dev": "vda"}]},
    }
    assert r.stdout.startswith('{\n    "vm0": {},')  # json.dumps(sort_keys=True, indent=4)
    r = lago_cli("-w", str(workdir), "snapshot", cwd=tmp_path)
    assert r.returncode == 2 and "No snapshot name provided" in r.stderr and "Traceback" not in r.stderr
    r = lago_cli("-w", str(workdir), "revert", "nope", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "no snapshot 'nope' for VM 'vm0' (its snapshots: none)" in r.stderr
    r = lago_cli("-w", str(workdir), "revert", cwd=tmp_path)
    assert r.returncode == 2 and "usage:" in r.stderr


def test_bad_format_is_a_usage_error(tmp_path: Path) -> None:
    r = lago_cli("-f", "xml", "status", cwd=tmp_path)
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_generate_config(tmp_path: Path) -> None:
    r = lago_cli("generate-config", cwd=tmp_path)
    assert r.returncode == 0 and "[lago]" in r.stdout


def test_export_flags_parse() -> None:
    parser = create_parser("lago", ["default", "json"], {})
    a = parser.parse_args(
        ["export", "-n", "vm0", "vm1", "-s", "-c", "-d", "out", "--init-file-name", "F",
         "--collect-only", "--without-threads"]
    )
    assert (a.vm_names, a.standalone, a.compress, a.dst_dir) == (["vm0", "vm1"], True, True, "out")
    assert (a.init_file_name, a.collect_only, a.without_threads) == ("F", True, True)
    a = parser.parse_args(["export"])
    assert (a.vm_names, a.standalone, a.compress, a.dst_dir) == (None, False, False, ".")
    assert (a.init_file_name, a.collect_only, a.without_threads) == ("LagoInitFile", False, False)


def test_verbs_are_listed_in_lagos_order() -> None:
    parser = create_parser("lago", ["default"], {})
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert list(sub.choices)[:9] == [
        "cleanup", "collect", "console", "copy-from-vm", "copy-to-vm", "deploy", "destroy",
        "ansible_hosts", "init",
    ]
    assert list(sub.choices)[-4:] == ["generate-config", "export", "shutdown", "graph"]


def test_list_positional_overrides_global_workdir_path_else_keeps_it() -> None:
    from lago.cmd import GLOBAL_WORKDIR_PATH

    parser = create_parser("lago", ["default"], {})
    a = parser.parse_args(["-w", "/g", "list", "/p"])
    assert (a.workdir_path, getattr(a, GLOBAL_WORKDIR_PATH)) == ("/p", "/g")
    a = parser.parse_args(["-w", "/g", "list"])
    assert (a.workdir_path, getattr(a, GLOBAL_WORKDIR_PATH)) == (None, "/g")


def test_list_uses_global_workdir_path_when_none_given(tmp_path: Path) -> None:
    # An empty folder is no workdir: the error names the -w path, not the cwd.
    r = lago_cli("-w", str(tmp_path / "nowhere"), "list", cwd=tmp_path)
    assert r.returncode != 0
    assert str(tmp_path / "nowhere") in r.stderr


def test_set_current_takes_lagos_dest() -> None:
    parser = create_parser("lago", ["default"], {})
    assert parser.parse_args(["-P", "a", "set-current", "b"]).prefix_name == "b"


def test_graph_checks_its_suffix_and_graphviz_before_opening_anything(tmp_path: Path) -> None:
    r = lago_cli("graph", "-o", "env.jpeg", cwd=tmp_path)
    assert r.returncode == 2 and "unknown suffix '.jpeg'; valid are .svg, .png, .pdf, .dot, .gv" in r.stderr, r.stderr
    # a PATH with python but no Graphviz
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python3").symlink_to(sys.executable)
    r = subprocess.run(
        [sys.executable, "-c", "from lago.cmd import run; run()", "graph", "-o", "env.svg"],
        cwd=tmp_path, capture_output=True, text=True, check=False, env={**os.environ, "PATH": str(bindir)},
    )
    assert r.returncode == 2, r.stderr
    assert "needs Graphviz's `dot` (Debian: apt install graphviz)" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "env.svg").exists()


def test_memory_snapshot_option_and_lagos_positional_call(tmp_path: Path) -> None:
    from lago.prefix import Prefix

    parser = create_parser("lago", ["default"], {})
    args = parser.parse_args(["snapshot", "s1", "--memory"])
    assert (args.snapshot_name, args.memory) == ("s1", True)
    assert parser.parse_args(["snapshot", "s1"]).memory is False
    # `memory` is keyword-only: a second positional argument (lago-ost-plugin's
    # `create_snapshots(name, no_restore)`) fails as it did on Lago's
    # one-argument method, instead of taking a memory snapshot
    with pytest.raises(TypeError):
        Prefix.create_snapshots(object(), "s1", True)  # type: ignore[arg-type, misc]
    # a memory snapshot of an env lago cannot reach fails with one line
    import shutil

    workdir = tmp_path / "w"
    shutil.copytree(FIXTURE, workdir, symlinks=True)
    r = lago_cli("-w", str(workdir), "--libvirt_url", "test:///nonexistent-lago", "snapshot", "m1", "--memory", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr


def test_memory_snapshot_of_a_plugin_prefix_without_it_is_one_line() -> None:
    from lago.cmd import _takes_keyword
    from lago.prefix import Prefix

    class OldPrefix(Prefix):
        # a plugin's override with Lago's one-argument signature
        def create_snapshots(self, name: str) -> None:  # type: ignore[override]
            raise AssertionError("not called")

    class Forwarding(Prefix):
        def create_snapshots(self, name: str, **kwargs: object) -> None:  # type: ignore[override]
            raise AssertionError("not called")

    assert _takes_keyword(Prefix.create_snapshots, "memory")
    assert not _takes_keyword(OldPrefix.create_snapshots, "memory")
    assert _takes_keyword(Forwarding.create_snapshots, "memory")
