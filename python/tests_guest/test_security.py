"""Security facts through the CLI on a real guest: with the libvirt
password configured (the test host's SASL listener) and debug logging, the
password is in no CLI output, no log file and no file of the workdir; the
root password is in no file outside the prefix; and nothing is created in
``TMPDIR`` (pointed at an empty folder)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT_PASSWORD = "rootpw-py-h6-77"

ONE_VM = f"""\
domains:
  vm0:
    memory: 256
    vcpu: 1
    root-password: {ROOT_PASSWORD}
    nics: [{{net: mgmt}}]
    disks: [{{template_name: tiny, type: template, name: root, dev: vda, format: qcow2}}]
nets:
  mgmt: {{type: nat, management: true}}
"""


def files_holding(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and needle in p.read_bytes()]


def test_libvirt_password_never_shown_and_tmpdir_untouched(lago_test_env: dict[str, str], scratch: Path) -> None:
    try:
        uri = os.environ["LAGO_TEST_AUTH_URI"]
        user = os.environ["LAGO_TEST_AUTH_USER"]
        password = os.environ["LAGO_TEST_AUTH_PASSWORD"]
    except KeyError as e:
        pytest.fail(f"{e} is not set: run through tests/host/run on a test host with the SASL listener")
    tmpdir = scratch / "tmpdir"
    tmpdir.mkdir()
    work = scratch / "work"
    work.mkdir()
    (work / "LagoInitFile").write_text(ONE_VM)
    env = os.environ.copy()
    env.update(
        {
            "TMPDIR": str(tmpdir),
            "LAGO_LIBVIRT_URL": uri,
            "LAGO_LIBVIRT_USER": user,
            "LAGO_LIBVIRT_PASSWORD": password,
        }
    )
    outputs: list[str] = []

    def lago(*args: str) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(
            [sys.executable, "-c", "from lago.cmd import run; run()", "--loglevel", "debug", *args],
            cwd=work, capture_output=True, text=True, check=False, env=env,
        )
        outputs.append(r.stdout + r.stderr)
        return r

    r = lago("init", "LagoInitFile")
    assert r.returncode == 0, r.stderr
    prefix = work / ".lago" / "default"
    try:
        r = lago("start")
        assert r.returncode == 0, r.stderr
        r = lago("shell", "vm0", "true")
        assert r.returncode == 0, r.stderr
        r = lago("status")
        assert r.returncode == 0 and "running" in r.stdout, r.stdout + r.stderr
        r = lago("stop")
        assert r.returncode == 0, r.stderr
        log = prefix / "logs" / "lago.log"
        assert "::DEBUG::" in log.read_text(), "the prefix's log has lago-core's debug lines"
        secret = password.encode()
        assert not files_holding(work, secret), "a workdir file holds the libvirt password"
        # the root password: besides the user's init file, only in files of
        # the prefix, each private
        holding = [f for f in files_holding(work, ROOT_PASSWORD.encode()) if f.name != "LagoInitFile"]
        assert holding, "the VM record holds it"
        for f in holding:
            assert prefix in f.parents, f
            assert f.stat().st_mode & 0o777 == 0o600, f
    finally:
        r = lago("destroy", "--yes")
        assert r.returncode == 0, r.stderr
    for out in outputs:
        assert password not in out, "the libvirt password in CLI output"
    assert sum(len(o) for o in outputs) > 0
    assert list(tmpdir.iterdir()) == [], "created in TMPDIR"
