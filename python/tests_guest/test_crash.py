"""lago killed at named points, then driven on through the CLI on real
guests: the next command repairs what the killed one left (one ``lago:``
line) or says what to run, and after ``destroy`` no libvirt object, lease,
staging folder or workdir is left.

The points are found with the test-only hook ``LAGO_TEST_PAUSE=<phase>``
(lago-core's ``owner::test_pause``): lago prints ``LAGO_TEST_PAUSED <phase>
<pid>`` on stderr and blocks until its stdin closes, so the test signals it
at that exact point and, for SIGINT, lets it go on."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import leases_under

LAGO = [sys.executable, "-c", "from lago.cmd import run; run()"]

# virt-sysprep bootstrap, so that init passes every phase it has
ONE_VM = """\
bootstrap_mode: sysprep
domains:
  vm0:
    memory: 256
    vcpu: 1
    nics: [{net: lan}]
    disks: [{template_name: tiny-plain, type: template, name: root, dev: vda, format: qcow2}]
nets:
  lan: {type: nat, management: true}
"""

INIT_PHASES = ["init:reserve", "init:materialize", "init:sysprep", "init:persist", "init:current"]

# the safety bound on a run; never reached when lago works
LIMIT = 900.0


def lago(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LAGO, *args], cwd=cwd, capture_output=True, text=True, check=False,
        env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL, timeout=LIMIT,
    )


def ok(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    r = lago(cwd, *args)
    assert r.returncode == 0, f"lago {' '.join(args)}: {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def paused(cwd: Path, phase: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """`lago ARGS` started and run until it reports being paused at `phase`."""
    proc = subprocess.Popen(
        [*LAGO, *args], cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, env={**os.environ, "LAGO_TEST_PAUSE": phase, **(env or {})},
    )
    assert proc.stderr is not None
    fd = proc.stderr.fileno()
    seen = b""
    deadline = time.monotonic() + LIMIT
    marker = f"LAGO_TEST_PAUSED {phase} {proc.pid}".encode()
    while marker not in seen:
        ready, _, _ = select.select([fd], [], [], 5.0)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                proc.wait()
                raise AssertionError(f"lago ended ({proc.returncode}) before {phase}: {seen!r}")
            seen += chunk
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"lago never reached {phase}: {seen!r}")
    return proc


def finish(proc: subprocess.Popen[bytes]) -> int:
    """Lets a paused lago go on (its stdin closed), waits for it and closes
    its pipes; its exit code."""
    assert proc.stdin is not None and proc.stderr is not None
    proc.stdin.close()
    code = proc.wait(timeout=LIMIT)
    proc.stderr.close()
    return code


def objects_of(uuid: str) -> list[str]:
    """Libvirt domains and networks named after prefix `uuid`."""
    names: list[str] = []
    for what in ("list", "net-list"):
        out = subprocess.run(
            ["virsh", "-c", "qemu:///system", what, "--all", "--name"],
            capture_output=True, text=True, check=True,
        ).stdout.split()
        names += [n for n in out if n.startswith(uuid[:4] + "-") or n.startswith(uuid[:8] + "-")]
    return names


def assert_nothing_left(root: Path, uuids: list[str]) -> None:
    workdir = root / ".lago"
    assert not workdir.exists() or not any(workdir.iterdir()), list(workdir.iterdir())
    assert not leases_under(root)
    for uuid in uuids:
        assert not objects_of(uuid), uuid


def uuid_of(root: Path) -> str:
    return (root / ".lago" / "default" / "uuid").read_text()


@pytest.mark.parametrize(
    "phase,sig",
    [(p, signal.SIGKILL) for p in INIT_PHASES] + [("init:materialize", signal.SIGINT), ("init:persist", signal.SIGINT)],
    # no ':' in the test's folder name: virt-sysprep's `root:file:PATH` selector splits on it
    ids=lambda v: v.split(":")[-1] if isinstance(v, str) else signal.Signals(v).name,
)
def test_init_killed_at_a_phase_is_repaired_by_the_next_command(
    lago_env: dict[str, str], scratch: Path, phase: str, sig: signal.Signals
) -> None:
    (scratch / "LagoInitFile").write_text(ONE_VM)
    proc = paused(scratch, phase, "init")
    workdir = scratch / ".lago"
    if phase == "init:sysprep":
        # the command file holding the root password: in the staging prefix only, 0600
        secrets = list(workdir.glob(".staging-default-*/.sysprep-vm0"))
        assert len(secrets) == 1, list(workdir.rglob("*"))
        assert secrets[0].stat().st_mode & 0o777 == 0o600
    if phase != "init:reserve":
        assert leases_under(scratch), "the killed init held no lease"
    os.kill(proc.pid, sig)
    code = finish(proc)
    if sig == signal.SIGKILL:
        assert code == -signal.SIGKILL, code
    else:
        # SIGINT reaches Python only once the native init returns: init
        # finishes, and exits 130 (0 when SIGINT is ignored, as under nohup)
        assert code in (0, 130), code

    uuids: list[str] = []
    if code in (0, 130) or phase == "init:current":
        # the prefix was published: the next command adopts it if needed
        r = ok(scratch, "status")
        if sig == signal.SIGKILL:
            assert r.stderr.count("lago: adopted the prefix 'default' of a killed lago init") == 1, r.stderr
        r = lago(scratch, "init")
        assert r.returncode == 2 and "prefix 'default' already exists" in r.stderr, r.stderr
    else:
        # a staging folder of a dead owner: removed, with its lease, by the next command
        r = lago(scratch, "status")
        assert r.returncode == 2, r.stderr
        assert r.stderr.count("lago: removed the half-made prefix 'default' of a killed lago init") == 1, r.stderr
        assert "`lago init` makes one" in r.stderr, r.stderr
        assert not list(scratch.glob(".lago/.staging-*")) and not leases_under(scratch)
        r = lago(scratch, "cleanup")
        assert r.returncode == 2 and "`lago init` makes one" in r.stderr, r.stderr
        r = lago(scratch, "destroy", "-y")
        assert r.returncode == 2 and "`lago init` makes one" in r.stderr, r.stderr
        ok(scratch, "init")
        ok(scratch, "status")
    uuids.append(uuid_of(scratch))
    ok(scratch, "destroy", "-y")
    assert_nothing_left(scratch, uuids)


def test_half_made_prefix_of_an_older_lago_is_destroyed(lago_env: dict[str, str], scratch: Path) -> None:
    # what an init killed before staging existed left: a prefix folder with
    # its uuid and key, no `initialized`, no `current`
    (scratch / "LagoInitFile").write_text(ONE_VM)
    ok(scratch, "init")
    prefix = scratch / ".lago" / "default"
    uuid = uuid_of(scratch)
    (prefix / "initialized").unlink()
    (scratch / ".lago" / "current").unlink()
    r = lago(scratch, "status")
    assert r.returncode == 2 and "`lago destroy -y` removes it" in r.stderr, r.stderr
    r = lago(scratch, "-p", ".lago/default", "status")
    assert r.returncode == 2 and "`lago destroy -y` removes it" in r.stderr, r.stderr
    r = lago(scratch, "start")
    assert r.returncode == 2 and "`lago destroy -y` removes it" in r.stderr, r.stderr
    ok(scratch, "cleanup")
    ok(scratch, "-p", ".lago/default", "destroy", "-y")
    assert_nothing_left(scratch, [uuid])


def test_a_second_writer_waits_then_names_the_holder(lago_env: dict[str, str], scratch: Path) -> None:
    (scratch / "LagoInitFile").write_text(ONE_VM)
    ok(scratch, "init")
    uuid = uuid_of(scratch)
    try:
        first = paused(scratch, "start:locked", "start")
        # readers do not wait
        ok(scratch, "status")
        ok(scratch, "list")
        # a second writer waits the configured time, then names the holder
        t0 = time.monotonic()
        r = lago(scratch, "stop", env={"LAGO_PREFIX_LOCK_TIMEOUT": "2"})
        waited = time.monotonic() - t0
        assert r.returncode == 2, r.stderr
        assert f"is being changed by lago start (pid {first.pid})" in r.stderr, r.stderr
        assert "waited 2s" in r.stderr and waited >= 2, (waited, r.stderr)
        # the first goes on and starts the VM
        assert finish(first) == 0
        assert objects_of(uuid), "start made nothing"
        # kill -9 of a writer: its lock goes with it
        holder = paused(scratch, "stop:locked", "stop")
        holder.kill()
        assert finish(holder) == -signal.SIGKILL
    finally:
        ok(scratch, "destroy", "-y")
    assert_nothing_left(scratch, [uuid])


def test_start_killed_once_its_vm_exists_then_destroy(lago_env: dict[str, str], scratch: Path) -> None:
    (scratch / "LagoInitFile").write_text(ONE_VM)
    ok(scratch, "init")
    uuid = uuid_of(scratch)
    proc = subprocess.Popen(
        [*LAGO, "start"], cwd=scratch, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + LIMIT
        while f"{uuid[:8]}-vm0" not in objects_of(uuid) and proc.poll() is None:
            assert time.monotonic() < deadline, "the VM never appeared"
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()
    # the killed start's lock went with it: the next writer does not wait
    r = lago(scratch, "stop", env={"LAGO_PREFIX_LOCK_TIMEOUT": "0"})
    assert r.returncode == 0, r.stderr
    ok(scratch, "destroy", "-y")
    assert_nothing_left(scratch, [uuid])
