"""The verbs shutdown/cleanup/console and the global options reaching
lago-core, on a copy of an upstream Lago workdir over libvirt's test driver
(no guests; the real-guest side is python/tests_guest/test_dropin.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURE = Path(__file__).resolve().parents[2] / "lago-core" / "tests" / "fixtures" / "upstream-workdir"
TEST_URL = "test:///default"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    dst = tmp_path / "wd"
    shutil.copytree(FIXTURE, dst, symlinks=True)
    return dst


def lago(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from lago.cmd import run; run()", *args],
        cwd=cwd, capture_output=True, text=True, check=False,
    )


def test_libvirt_url_reaches_the_core(workdir: Path) -> None:
    r = lago(workdir, "--libvirt_url", TEST_URL, "-f", "json", "status")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["Prefix"]["VMs"]["vm1"]["status"] == "down"
    r = lago(workdir, "--libvirt_url", "nosuchdriver:///x", "start")
    assert r.returncode == 2 and "nosuchdriver:///x" in r.stderr, r.stderr
    assert "@ Start Prefix: ERROR (in 0:00:0" in r.stderr


def test_options_become_config_values(tmp_path: Path) -> None:
    r = lago(
        tmp_path, "--ssh-user", "bob", "--ssh-tries", "7", "--ssh-timeout", "3", "--libvirt-user", "lu",
        "--lease_dir", "/x/leases", "generate-config",
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    for want in ("ssh_user = bob", "ssh_tries = 7", "ssh_timeout = 3", "libvirt_user = lu", "lease_dir = /x/leases"):
        assert want in lines, (want, r.stdout)


def test_update_config_from_args_semantics() -> None:
    import argparse

    from lago import cmd
    from lago.config import config

    before = config.native.get("ssh_password")
    old_timeout = config.native.get("ssh_timeout") or "10"
    try:
        cmd.update_config_from_args(argparse.Namespace(ssh_password=None, ssh_timeout=42))
        assert config.native.get("ssh_password") == before  # None never overrides
        assert config.native.get("ssh_timeout") == "42"
    finally:
        config.native.set("lago", "ssh_timeout", old_timeout)


def test_shutdown_cleanup_console(workdir: Path) -> None:
    # nothing runs on the test driver: a clean shutdown is a no-op
    r = lago(workdir, "--libvirt_url", TEST_URL, "shutdown")
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines()[0] == "@ Shutdown VMs: "
    r = lago(workdir, "--libvirt_url", TEST_URL, "shutdown", "-r", "vm0")
    assert r.returncode == 0 and "@ Reboot VMs: Success (in 0:00:0" in r.stderr, r.stderr
    r = lago(workdir, "--libvirt_url", TEST_URL, "shutdown", "nope")
    assert r.returncode == 2 and "No VM named nope" in r.stderr
    # console: virsh's exit code (the test driver has no such domain)
    r = lago(workdir, "--libvirt_url", TEST_URL, "console", "vm0")
    assert r.returncode == 1 and "error" in r.stderr.lower(), r.stderr
    # cleanup: stop, then the prefix is no longer initialized (files stay)
    r = lago(workdir, "--libvirt_url", TEST_URL, "cleanup")
    assert r.returncode == 0, r.stderr
    assert "@ Tag prefix as uninitialized: Success" in r.stderr
    assert not (workdir / "default" / "initialized").exists() and (workdir / "default" / "uuid").exists()
    r = lago(workdir, "status")
    assert r.returncode == 2 and "initialized" in r.stderr
