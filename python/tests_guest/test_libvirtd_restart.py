"""libvirtd restarted under a running lago (issue 17 item 3): the guests
keep running (QEMU is not libvirtd), lago's connection breaks, and lago-core
reconnects and retries the failed call (provider/libvirt.rs), so a start
caught in the middle still finishes and later verbs on the same Env work.

The restart is tests/host/restart-libvirtd (the test host's libvirtd,
stopped and started again in the namespace). The CLI test freezes the
`lago start` process (SIGSTOP) as soon as its domain exists, while it waits
for SSH, restarts libvirtd, and lets it go on: from lago's side, libvirtd
restarted in the middle of its start."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import CLI_LIMIT as LIMIT
from conftest import LAGO, ONE_VM, leases_under
from conftest import lago_ok as ok
from conftest import libvirt_objects_of as objects_of
from conftest import virsh
from lago import _native

RESTART = Path(__file__).resolve().parents[2] / "tests" / "host" / "restart-libvirtd"

def restart_libvirtd() -> None:
    r = subprocess.run([str(RESTART)], capture_output=True, text=True, check=False, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "libvirtd restarted" in r.stderr, r.stderr


def assert_nothing_left(root: Path, uuid: str) -> None:
    workdir = root / ".lago"
    assert not workdir.exists() or not any(workdir.iterdir()), list(workdir.iterdir())
    assert not leases_under(root)
    assert not objects_of(uuid)


def test_cli_start_survives_a_libvirtd_restart(lago_test_env: dict[str, str], scratch: Path) -> None:
    (scratch / "LagoInitFile").write_text(ONE_VM)
    ok(scratch, "init")
    uuid = (scratch / ".lago" / "default" / "uuid").read_text()
    try:
        proc = subprocess.Popen(
            [*LAGO, "--loglevel", "debug", "start"], cwd=scratch, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        out: dict[str, str] = {}
        reader = threading.Thread(target=lambda: out.update(zip(("out", "err"), proc.communicate())))
        reader.start()
        # its domain exists: the start waits for the guest's SSH now
        deadline = time.monotonic() + LIMIT
        while not [n for n in virsh("list", "--name") if n.startswith(uuid[:8] + "-")]:
            assert proc.poll() is None, "lago start ended before its domain ran"
            assert time.monotonic() < deadline, "the domain never ran"
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            domains = objects_of(uuid)
            restart_libvirtd()
            # the guest and its network outlived libvirtd
            assert objects_of(uuid) == domains
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        reader.join(LIMIT)
        assert proc.returncode == 0, out
        # lago noticed, reconnected and went on
        assert "lost the connection to libvirt" in out["err"], out["err"]
        assert "reconnected to libvirt" in out["err"], out["err"]
        r = ok(scratch, "--out-format", "json", "status")
        assert json.loads(r.stdout)["Prefix"]["VMs"]["vm0"]["status"] == "running", r.stdout
        r = ok(scratch, "shell", "vm0", "cat", "/etc/hostname")
        assert r.stdout == "vm0\n", r.stdout
    finally:
        ok(scratch, "destroy", "-y")
    assert_nothing_left(scratch, uuid)


def test_an_env_goes_on_after_a_libvirtd_restart(
    lago_test_env: dict[str, str], scratch: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # one Env object, one connection, through the restart
    (scratch / "LagoInitFile").write_text(ONE_VM)
    env = _native.Env.init(scratch / ".lago", scratch / "LagoInitFile")
    uuid = env.uuid
    try:
        env.start()
        restart_libvirtd()
        with caplog.at_level(logging.INFO, logger="lago_core.provider.libvirt"):
            assert env.vm_state("vm0") == "running"
        messages = [r.getMessage() for r in caplog.records]
        assert any("lost the connection to libvirt" in m for m in messages), messages
        assert any("reconnected to libvirt" in m for m in messages), messages
        # the guest's network pauses for a few seconds while the new
        # libvirtd takes its tap device over (its bridge port relearns):
        # wait until it answers, as after any start
        env.wait_for_ssh("vm0")
        code, stdout, _ = env.ssh("vm0", ["cat", "/etc/hostname"])
        assert (code, stdout) == (0, b"vm0\n")
        # a stop and a start on the new connection
        env.stop()
        assert env.vm_state("vm0") == "down"
        assert env.start() == ["vm0"]
        assert env.vm_state("vm0") == "running"
    finally:
        env.destroy()
    assert_nothing_left(scratch, uuid)
