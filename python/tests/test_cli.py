"""The lago CLI: parsing, help, version, exit codes (no guests needed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import lago
from lago.cmd import NOT_IMPLEMENTED, create_parser, main

VERBS = [
    "init", "start", "stop", "status", "list", "set-current", "destroy", "copy-to-vm",
    "copy-from-vm", "collect", "ansible_hosts", "generate-config", "shutdown", "cleanup",
    "console", *NOT_IMPLEMENTED,
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


@pytest.mark.parametrize("verb", sorted(NOT_IMPLEMENTED))
def test_unimplemented_verbs_fail_loudly(verb: str, tmp_path: Path) -> None:
    r = lago_cli(verb, cwd=tmp_path)
    assert r.returncode != 0 and "not implemented yet" in r.stderr


def test_bad_format_is_a_usage_error(tmp_path: Path) -> None:
    r = lago_cli("-f", "xml", "status", cwd=tmp_path)
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_generate_config(tmp_path: Path) -> None:
    r = lago_cli("generate-config", cwd=tmp_path)
    assert r.returncode == 0 and "[lago]" in r.stdout
