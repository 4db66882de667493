"""A configuration the CLI cannot use (a lago.conf that does not parse, a
value of the wrong type in a file or a ``LAGO_*`` variable) ends every verb,
``--help`` included, in one line naming where the value came from, the key
and what is valid, with exit code 2 — never a traceback. Runs the installed
``lago`` console script."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest

from lago.cmd import BUILTIN_VERBS


def _lago_script() -> str:
    beside = Path(sys.executable).parent / "lago"
    found = str(beside) if beside.exists() else shutil.which("lago")
    assert found, "the lago console script is not installed"
    return found


def run_lago(
    tmp_path: Path, args: list[str], env: dict[str, str], conf: Optional[str] = None
) -> subprocess.CompletedProcess[str]:
    xdg = tmp_path / "xdg"
    (xdg / "lago").mkdir(parents=True, exist_ok=True)
    if conf is not None:
        (xdg / "lago" / "lago.conf").write_text(conf)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LAGO")}
    clean.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(xdg), **env)
    return subprocess.run(
        [_lago_script(), *args], cwd=tmp_path, env=clean, capture_output=True, text=True, check=False
    )


def assert_one_line(r: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("lago: error: ")
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert "Traceback" not in r.stderr and r.stdout == ""


#: Every way of calling lago: each verb (with the arguments it requires) and
#: the top-level help.
CALLS = [["--help"], ["-h"]] + [
    [name, *extra]
    for name, extra in (
        (n, {"revert": ["s"], "set-current": ["p"], "shell": ["vm"], "copy-to-vm": ["vm", "a", "b"],
             "copy-from-vm": ["vm", "a", "b"], "collect": ["--output", "o"], "console": ["vm"], "graph": ["-o", "g.svg"]}.get(n, []))
        for n in BUILTIN_VERBS
    )
] + [["status", "--help"], ["init", "--help"]]


def test_every_builtin_verb_is_called() -> None:
    assert {c[0] for c in CALLS} >= set(BUILTIN_VERBS) and len(BUILTIN_VERBS) == 21


@pytest.mark.parametrize("call", CALLS, ids=" ".join)
def test_bad_int_variable(tmp_path: Path, call: list[str]) -> None:
    r = run_lago(tmp_path, call, {"LAGO_SSH_TRIES": "abc"})
    assert_one_line(r, "environment variable LAGO_SSH_TRIES", "`ssh_tries`", '"abc"', "a whole number")


@pytest.mark.parametrize("call", CALLS, ids=" ".join)
def test_bad_loglevel_variable(tmp_path: Path, call: list[str]) -> None:
    r = run_lago(tmp_path, call, {"LAGO__LAGO__LOGLEVEL": "verbose"})
    assert_one_line(
        r, "environment variable LAGO__LAGO__LOGLEVEL", "`loglevel`", '"verbose"', "one of info, debug, error, warning"
    )


@pytest.mark.parametrize("call", CALLS, ids=" ".join)
def test_file_that_does_not_parse(tmp_path: Path, call: list[str]) -> None:
    r = run_lago(tmp_path, call, {}, conf="ssh_user = root\n")
    assert_one_line(r, str(tmp_path / "xdg" / "lago" / "lago.conf") + ":1", "section")


@pytest.mark.parametrize("call", CALLS, ids=" ".join)
def test_bad_value_in_file(tmp_path: Path, call: list[str]) -> None:
    r = run_lago(tmp_path, call, {}, conf="[lago]\nlogdepth = 3\nssh_timeout = soon\n")
    assert_one_line(r, str(tmp_path / "xdg" / "lago" / "lago.conf") + ":3", "`ssh_timeout`", '"soon"')


def test_unterminated_section_header(tmp_path: Path) -> None:
    r = run_lago(tmp_path, ["list"], {}, conf="[lago\nssh_user = x\n")
    assert_one_line(r, "lago.conf:1")


def test_good_values_still_work(tmp_path: Path) -> None:
    r = run_lago(tmp_path, ["generate-config"], {"LAGO_SSH_TRIES": "7", "LAGO__LAGO__LOGLEVEL": "debug"})
    assert r.returncode == 0, r.stderr
    assert "ssh_tries = 7" in r.stdout and "loglevel = debug" in r.stdout

