"""The CLI over several prefixes of one workdir, in the spirit of Lago's
bats tests (basic.bats, status.bats): init of two prefixes, ``list``,
``set-current``, ``-P``, verbs run from inside the workdir, and ``status``
in the four formats compared with expected files (``@@WORKDIR@@`` and
``@@UUID@@`` substituted, trailing spaces ignored as bats' ``diff
--ignore-trailing-space`` does), on the real libvirt daemon with the VMs
down; then ``destroy -y`` of each prefix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import leases_under

FIXTURES = Path(__file__).parent / "fixtures" / "status"


def lago(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lago", *args],
        cwd=cwd, capture_output=True, text=True, check=False, env=os.environ.copy(),
    )


def expected(fmt: str, workdir: Path, uuid: str) -> list[str]:
    text = (FIXTURES / f"down.{fmt}").read_text()
    text = text.replace("@@WORKDIR@@", str(workdir)).replace("@@UUID@@", uuid)
    return [line.rstrip() for line in text.splitlines()]


def test_prefixes_list_set_current_and_status_formats(lago_test_env: dict[str, str], scratch: Path) -> None:
    initfile = (FIXTURES / "LagoInitFile").read_text()
    (scratch / "LagoInitFile").write_text(initfile)
    # the second prefix asks for other subnets
    (scratch / "Second").write_text(
        initfile.replace("192.168.235.", "192.168.237.").replace("192.168.236.", "192.168.238.")
    )
    r = lago(scratch, "init", "LagoInitFile")
    assert r.returncode == 0, r.stderr
    assert "@ Initialize and populate prefix: Success" in r.stderr
    r = lago(scratch, "--prefix-name", "second", "init", "--skip-bootstrap", "Second")
    assert r.returncode == 0, r.stderr
    # a third init of an existing name fails and changes nothing
    r = lago(scratch, "--prefix-name", "second", "init", "Second")
    assert r.returncode == 2 and "second" in r.stderr
    workdir = scratch / ".lago"
    assert lago(scratch, "list").stdout.split() == ["default", "second"]
    assert os.readlink(workdir / "current") == "default"

    uuid = (workdir / "default" / "uuid").read_text().strip()
    for fmt in ("default", "json", "yaml", "flat"):
        r = lago(scratch, "-f", fmt, "status")
        assert r.returncode == 0, r.stderr
        got = [line.rstrip() for line in r.stdout.splitlines()]
        assert got == expected(fmt, scratch, uuid), f"status -f {fmt}:\n{r.stdout}"

    # set-current from inside the workdir; status follows it; -P picks one
    assert lago(workdir, "set-current", "second").returncode == 0
    assert os.readlink(workdir / "current") == "second"
    r = lago(workdir, "status")
    assert f"Base directory: {workdir / 'second'}" in r.stdout
    assert "gateway: 192.168.237.1" in r.stdout
    r = lago(workdir / "second", "-P", "default", "-f", "json", "status")
    assert r.returncode == 0 and '"gateway": "192.168.235.1"' in r.stdout
    # an unknown prefix name is a user error, not a traceback
    r = lago(scratch, "-P", "nope", "status")
    assert r.returncode == 2 and "Traceback" not in r.stderr

    # destroy the current prefix, then the last one with the workdir
    r = lago(scratch, "destroy", "-y")
    assert r.returncode == 0, r.stderr
    assert lago(scratch, "list").stdout.split() == ["default"]
    assert lago(scratch, "-P", "default", "status").returncode == 0
    r = lago(scratch, "-P", "default", "destroy", "-y")
    assert r.returncode == 0, r.stderr
    assert not workdir.exists()
    assert not leases_under(scratch), leases_under(scratch)
