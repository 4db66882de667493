"""The fault suite (issue 17): lago killed at each named phase of every
verb that changes a prefix, on real guests through the CLI, and what the
next command makes of it.

Each case runs ``lago VERB`` in its own session (process group) with the
test-only hook ``LAGO_TEST_PAUSE=<phase>`` (lago-core's ``owner::phase``):
lago prints ``LAGO_TEST_PAUSED <phase> <pid>`` on stderr there and blocks
until its stdin closes. The case then either

- sends SIGKILL (``KILL``): the next lago command on the workdir succeeds,
  repairing what was left with exactly one ``lago: ... of a killed lago
  VERB`` line (none where nothing is left to repair: at ``VERB:locked``,
  and after a killed start or stop, whose libvirt objects the next command
  finds as they are), or fails saying which command to run, which then
  works; or
- sends SIGINT to the whole process group, as Ctrl-C does, then closes
  lago's stdin once lago reports the interrupt seen
  (``LAGO_TEST_INTERRUPT_SEEN``) (``INT``): lago stops at its next check,
  undoes the verb's partial work (or, where docs/crash-consistency.md says
  so, stops at a consistent point or finishes), prints one ``lago:
  interrupted`` line and exits 130; the next command repairs nothing.

After ``lago destroy -y`` no libvirt domain or network of the prefix, no
subnet lease, no staging/trash folder in the workdir and no file outside
it (export outputs of killed exports included) may remain. What the cases
saw is counted in ``conftest.FAULTS`` and printed at the end of the run.

To keep it cheap, each verb has one environment (a tiny guest, one VM)
reused across its phases and both signals, driven back to a known state
with lago commands between cases; only ``init:sysprep``'s init file asks
for virt-sysprep (paused before it runs, and the workdir then re-initialized
from a tiny init file without it).
Also here: the disk filling during an export, 20 environments initialized
and started at once from separate processes, and the writer-lock checks.
Run one case: ``tests/host/run python3 -m pytest python/tests_guest/test_faults.py
-k start-nets-KILL``."""

from __future__ import annotations

import json
import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator, NamedTuple

import pytest

from conftest import FAULTS, leases_under

LAGO = [sys.executable, "-c", "from lago.cmd import run; run()"]

# one tiny VM: a NoCloud seed, no first boot to wait for (128 MiB is plenty
# for busybox, so that 20 of them fit easily)
TINY = """\
domains:
  vm0:
    memory: 128
    vcpu: 1
    nics: [{net: lan}]
    disks: [{template_name: tiny, type: template, name: root, dev: vda, format: qcow2}]
nets:
  lan: {type: nat, management: true}
"""
# the same guest as a plain Lago template: bootstrapped over SSH at its first start
PLAIN = TINY.replace("template_name: tiny,", "template_name: tiny-plain,")
# virt-sysprep at init, so that init passes every phase it has (slow: only init:sysprep)
SYSPREP = "bootstrap_mode: sysprep\n" + PLAIN
# a second init file, beside the first in an environment's folder
INIT_AGAIN = "TinyInitFile"

PHASES: dict[str, list[str]] = {
    "init": ["reserve", "materialize", "sysprep", "persist", "current"],
    "start": ["locked", "nets", "domains", "bootstrap"],
    "stop": ["locked", "domains"],
    # snapshot:paused: `lago snapshot --memory` (its VMs paused together)
    "snapshot": ["locked", "overlays", "paused", "taken"],
    "revert": ["locked", "stopped", "disks"],
    "export": ["locked", "disk", "spec"],
    "destroy": ["locked", "stopped", "released"],
}

SIGNALS = {"KILL": signal.SIGKILL, "INT": signal.SIGINT}

# the safety bound on a command; never reached when lago works
LIMIT = 900.0
# the bound on lago's taking an interrupt (its Python binding looks at
# signals every 50 ms); never reached when lago works
INTERRUPT_LIMIT = 30.0


class Case(NamedTuple):
    verb: str
    phase: str  # "verb:name"
    sig: str  # a key of SIGNALS

    @property
    def id(self) -> str:
        # no ':' in ids (and so in folder names): virt-sysprep's
        # `root:file:PATH` selector splits on it
        return f"{self.phase.replace(':', '-')}-{self.sig}"


def _cases() -> list[Case]:
    out: list[Case] = []
    for verb, names in PHASES.items():
        # start:bootstrap's INT leaves the first boot pending, so its KILL
        # reuses that environment: INT before KILL everywhere
        for sig in ("INT", "KILL"):
            out += [Case(verb, f"{verb}:{name}", sig) for name in names]
    return out


CASES = _cases()


# ---------------------------------------------------------------- commands


def lago(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LAGO, *args], cwd=cwd, capture_output=True, text=True, check=False,
        env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL, timeout=LIMIT,
    )


def ok(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    r = lago(cwd, *args)
    assert r.returncode == 0, f"lago {' '.join(args)}: {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def lago_lines(stderr: str) -> list[str]:
    """The lines lago itself prints to a user (not its log lines)."""
    return [line for line in stderr.splitlines() if line.startswith("lago: ")]


def repair_lines(stderr: str) -> list[str]:
    return [line for line in lago_lines(stderr) if not line.startswith("lago: error:")]


class Paused:
    """`lago ARGS` in its own session, run until it reports being paused at
    `phase`; killed with its group when left paused."""

    def __init__(self, cwd: Path, phase: str, *args: str, env: dict[str, str] | None = None) -> None:
        self.phase = phase
        self.proc = subprocess.Popen(
            [*LAGO, *args], cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, env={**os.environ, "LAGO_TEST_PAUSE": phase, **(env or {})},
            start_new_session=True,
        )
        self.seen = b""
        self.marker = f"LAGO_TEST_PAUSED {phase} {self.proc.pid}".encode()
        deadline = time.monotonic() + LIMIT
        try:
            while self.marker not in self.seen:
                if not self._read(5.0):
                    self.proc.wait()
                    raise AssertionError(
                        f"lago {' '.join(args)} ended ({self.proc.returncode}) before {phase}: "
                        f"{self.seen.decode(errors='replace')}"
                    )
                assert time.monotonic() < deadline, f"lago never reached {phase}: {self.seen!r}"
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Paused:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self, timeout: float) -> bool:
        """Reads what stderr has within `timeout`; False at its end."""
        assert self.proc.stderr is not None
        fd = self.proc.stderr.fileno()
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            return True
        chunk = os.read(fd, 65536)
        self.seen += chunk
        return bool(chunk)

    def signal(self, sig: str) -> None:
        if sig == "KILL":
            os.kill(self.pid, signal.SIGKILL)
            return
        # as Ctrl-C does: every process of the group; then wait until the
        # interrupt reached lago-core (the paused hook reports its cancel
        # request) before letting lago go on, so that it meets its next check
        os.killpg(self.pid, SIGNALS[sig])
        seen = f"LAGO_TEST_INTERRUPT_SEEN {self.phase} {self.pid}".encode()
        deadline = time.monotonic() + INTERRUPT_LIMIT
        while seen not in self.seen:
            assert time.monotonic() < deadline, (
                f"lago paused at {self.phase} did not take the interrupt within {INTERRUPT_LIMIT:.0f}s: "
                f"{self.seen.decode(errors='replace')}"
            )
            assert self._read(1.0), f"lago ended after the interrupt, still paused at {self.phase}"

    def finish(self) -> int:
        """Lets lago go on (its stdin closed), reads its stderr to the end,
        waits for it; its exit code."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        deadline = time.monotonic() + LIMIT
        while self._read(1.0):
            assert time.monotonic() < deadline, f"lago never ended after {self.phase}"
        code = self.proc.wait(timeout=LIMIT)
        self.close()
        return code

    @property
    def after(self) -> str:
        """What lago printed on stderr after it was let go."""
        return self.seen.split(self.marker, 1)[-1].decode(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stderr):
            if pipe is not None and not pipe.closed:
                pipe.close()


def killed(p: Paused) -> None:
    code = p.finish()
    assert code == -signal.SIGKILL, (code, p.after)


def interrupted(p: Paused) -> None:
    """A SIGINT ends lago at its next check: one line, exit 130."""
    code = p.finish()
    assert code == 130, (code, p.after)
    lines = lago_lines(p.after)
    assert len(lines) == 1 and lines[0].startswith("lago: interrupted"), p.after


# The phases whose SIGKILL leaves something the next command repairs (with
# one line): a staging folder or a published prefix without `current`, or
# a pending-operation record (snapshot, revert, export, destroy). A killed
# start or stop leaves none: the next command finds libvirt's objects as
# they are; at `VERB:locked` nothing was changed yet.
REPAIRED = {f"init:{name}" for name in PHASES["init"]} | {
    "snapshot:overlays", "snapshot:paused", "snapshot:taken", "revert:stopped", "revert:disks",
    "export:disk", "export:spec", "destroy:stopped", "destroy:released",
}


def next_after_kill(cwd: Path, case: Case, *args: str) -> subprocess.CompletedProcess[str]:
    """The next command after a SIGKILL at the case's phase: it succeeds,
    repairing with exactly one line naming the killed verb (none where
    nothing is left to repair), or it fails naming the command to run, and
    that command then succeeds. The command's result (or the named one's)."""
    r = lago(cwd, *args)
    lines = repair_lines(r.stderr)
    for line in lines:
        assert f"of a killed lago {case.verb}" in line, r.stderr
    assert len(lines) == (1 if case.phase in REPAIRED else 0), r.stderr
    if r.returncode == 0:
        return r
    named = re.search(r"`lago ([^`]+)`", r.stderr)
    assert named, f"lago {' '.join(args)} failed without naming a command to run: {r.stderr}"
    return ok(cwd, *shlex.split(named.group(1)))


def next_after_interrupt(cwd: Path) -> subprocess.CompletedProcess[str]:
    """After a SIGINT nothing is left to repair: `lago status` works (or, the
    prefix gone, says `lago init` makes one) without a repair line."""
    r = lago(cwd, "status")
    assert not repair_lines(r.stderr), r.stderr
    assert r.returncode == 0 or "`lago init` makes one" in r.stderr, r.stderr
    return r


# ------------------------------------------------------------------ state


def virsh(*args: str) -> list[str]:
    out = subprocess.run(
        ["virsh", "-c", "qemu:///system", *args], capture_output=True, text=True, check=True,
    ).stdout
    return out.split()


def objects_of(uuid: str) -> list[str]:
    """Libvirt domains and networks (defined or running) of prefix `uuid`."""
    return [n for n in virsh("list", "--all", "--name") if n.startswith(uuid[:8] + "-")] + [
        n for n in virsh("net-list", "--all", "--name") if n.startswith(uuid[:4] + "-")
    ]


def domain_states(uuid: str) -> list[str]:
    """The libvirt state (`running`, `paused`, ...) of each domain of the
    prefix with this uuid."""
    return [virsh("domstate", d)[0] for d in virsh("list", "--all", "--name") if d.startswith(uuid[:8] + "-")]


def running_domains(uuid: str) -> list[str]:
    return [n for n in virsh("list", "--name") if n.startswith(uuid[:8] + "-")]


def active_nets(uuid: str) -> list[str]:
    return [n for n in virsh("net-list", "--name") if n.startswith(uuid[:4] + "-")]


def files_under(path: Path) -> list[Path]:
    if path.is_file() or path.is_symlink():
        return [path]
    return [p for p in path.rglob("*") if not p.is_dir()] if path.is_dir() else []


def nothing_left(root: Path, uuids: list[str]) -> None:
    """After `lago destroy -y` in `root` (its workdir `root/.lago`): no
    libvirt object of prefixes `uuids`, no lease, nothing in the workdir, no
    file in `root` but the init file. Counted in FAULTS first."""
    workdir = root / ".lago"
    in_workdir = sorted(workdir.iterdir()) if workdir.is_dir() else []
    hidden = [p for p in in_workdir if p.name.startswith(".")]
    leases = leases_under(root)
    objects = sorted({o for uuid in uuids for o in objects_of(uuid)})
    outside = [
        f for p in root.iterdir() if p.name not in (".lago", "LagoInitFile", INIT_AGAIN) for f in files_under(p)
    ]
    FAULTS.libvirt_left += len(objects)
    FAULTS.leases_left += len(leases)
    FAULTS.staging_left += len(hidden)
    FAULTS.outside_left += len(outside)
    assert not objects, objects
    assert not leases, leases
    assert not in_workdir, in_workdir
    assert not outside, outside


def uuid_of(root: Path) -> str:
    return (root / ".lago" / "default" / "uuid").read_text()


class Env:
    """One workdir with the prefix `default` of `config`, reused by cases."""

    def __init__(self, root: Path, config: str) -> None:
        root.mkdir()
        root.chmod(0o755)
        (root / "LagoInitFile").write_text(config)
        self.root = root
        self.uuids: list[str] = []
        self.broken = False

    @property
    def uuid(self) -> str:
        return self.uuids[-1]

    def exists(self) -> bool:
        return (self.root / ".lago" / "default" / "initialized").exists()

    def init(self) -> None:
        ok(self.root, "init")
        self.uuids.append(uuid_of(self.root))

    def initialized(self) -> None:
        if not self.exists():
            self.init()

    def running(self) -> None:
        """Initialized, every VM and net up."""
        self.initialized()
        if not running_domains(self.uuid) or not active_nets(self.uuid):
            ok(self.root, "start")
        assert running_domains(self.uuid) and active_nets(self.uuid)

    def stopped(self) -> None:
        """Initialized, nothing up."""
        self.initialized()
        if running_domains(self.uuid) or active_nets(self.uuid):
            ok(self.root, "stop")
        assert not running_domains(self.uuid) and not active_nets(self.uuid)

    def destroy(self, check: bool = True) -> None:
        """`lago destroy -y` (when the workdir holds anything), then, if
        `check`, nothing left and the destroy succeeded."""
        workdir = self.root / ".lago"
        r = lago(self.root, "destroy", "-y") if workdir.is_dir() and any(workdir.iterdir()) else None
        if check:
            nothing_left(self.root, self.uuids)
            assert r is None or r.returncode == 0, r.stderr


class Envs:
    """The suite's environments by name; one that a failed case left broken
    is destroyed and replaced by a fresh one in a new folder."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.envs: dict[str, Env] = {}
        self.retired: list[Env] = []
        self.current: Env | None = None
        self.running: list[Paused] = []

    def paused(self, cwd: Path, phase: str, *args: str) -> Paused:
        """A `Paused` lago, killed at the end of the case if still there."""
        p = Paused(cwd, phase, *args)
        self.running.append(p)
        return p

    def end_case(self, failed: bool) -> None:
        while self.running:
            self.running.pop().close()
        if failed and self.current is not None:
            self.current.broken = True

    def get(self, name: str, config: str = TINY) -> Env:
        env = self.envs.get(name)
        if env is not None and env.broken:
            # checked at the end of the module, with the others
            self.retired.append(env)
            env.destroy(check=False)
            env = None
        if env is None:
            n = len([e for e in self.retired if e.root.name.startswith(name)])
            env = Env(self.base / (name if n == 0 else f"{name}-{n}"), config)
            self.envs[name] = env
        self.current = env
        return env

    def close(self) -> None:
        failures: list[str] = []
        for env in [*self.retired, *self.envs.values()]:
            try:
                env.destroy()
            except AssertionError as e:
                failures.append(f"{env.root.name}: {e}")
        assert not failures, failures


@pytest.fixture(scope="module")
def envs(lago_test_env: dict[str, str], scratch_root: Path) -> Iterator[Envs]:
    base = scratch_root / "faults"
    base.mkdir()
    pool = Envs(base)
    try:
        yield pool
    finally:
        pool.close()


# ------------------------------------------------------------------ cases


def case_init(envs: Envs, case: Case) -> None:
    sysprep = case.phase == "init:sysprep"
    env = envs.get("init-sysprep" if sysprep else "init", SYSPREP if sysprep else TINY)
    root, workdir = env.root, env.root / ".lago"
    # the workdir is then shown to work with an init that needs no virt-sysprep
    reinit = ["init", str(root / INIT_AGAIN)] if sysprep else ["init"]
    if sysprep:
        (root / INIT_AGAIN).write_text(TINY)
    p = envs.paused(root, case.phase, "init")
    if sysprep:
        # the command file holding the root password: in the staging prefix only, 0600
        secrets = list(workdir.glob(".staging-default-*/.sysprep-vm0"))
        assert len(secrets) == 1, list(workdir.rglob("*"))
        assert secrets[0].stat().st_mode & 0o777 == 0o600
    if case.phase != "init:reserve":
        assert leases_under(root), "the paused init holds no lease"
    p.signal(case.sig)
    if case.sig == "INT":
        interrupted(p)
        # init undone: no prefix, no staging folder, no lease
        assert not (workdir / "default").exists() and not list(workdir.glob(".staging-*"))
        assert not leases_under(root)
        r = next_after_interrupt(root)
        assert r.returncode == 2, r.stderr
        ok(root, *reinit)
        ok(root, "status")
    elif case.phase == "init:current":
        killed(p)
        # the prefix was published: the next command adopts it
        r = ok(root, "status")
        lines = repair_lines(r.stderr)
        assert len(lines) == 1, r.stderr
        assert lines[0].startswith("lago: adopted the prefix 'default' of a killed lago init"), r.stderr
        r = lago(root, "init")
        assert r.returncode == 2 and "prefix 'default' already exists" in r.stderr, r.stderr
    else:
        killed(p)
        # a staging folder of a dead owner: removed, with its lease, by the next command
        r = lago(root, "status")
        assert r.returncode == 2, r.stderr
        lines = repair_lines(r.stderr)
        assert len(lines) == 1, r.stderr
        assert lines[0].startswith("lago: removed the half-made prefix 'default' of a killed lago init"), r.stderr
        assert "`lago init` makes one" in r.stderr, r.stderr
        assert not list(workdir.glob(".staging-*")) and not leases_under(root)
        for verb in (["cleanup"], ["destroy", "-y"]):
            r = lago(root, *verb)
            assert r.returncode == 2 and "`lago init` makes one" in r.stderr, r.stderr
        ok(root, *reinit)
        ok(root, "status")
    env.uuids.append(uuid_of(root))
    env.destroy()


def case_start(envs: Envs, case: Case) -> None:
    if case.phase == "start:bootstrap":
        case_start_bootstrap(envs, case)
        return
    env = envs.get("start")
    env.stopped()
    p = envs.paused(env.root, case.phase, "start")
    if case.phase == "start:nets":
        assert active_nets(env.uuid) and not running_domains(env.uuid)
    if case.phase == "start:domains":
        assert active_nets(env.uuid) and running_domains(env.uuid)
    p.signal(case.sig)
    if case.sig == "INT":
        interrupted(p)
        # what it started is stopped again
        assert not running_domains(env.uuid) and not active_nets(env.uuid)
        next_after_interrupt(env.root)
    else:
        killed(p)
        next_after_kill(env.root, case, "start")
        assert running_domains(env.uuid) and active_nets(env.uuid)


def bootstrap_route(root: Path) -> str:
    status = json.loads(ok(root, "-f", "json", "status").stdout)
    return str(status["Prefix"]["VMs"]["vm0"]["bootstrap"])


def case_start_bootstrap(envs: Envs, case: Case) -> None:
    # a plain template, bootstrapped at its first boot by the first command
    # that reaches the guest (`lago start` does not wait for it; `lago
    # shell` does): logged in, the pending entry not yet removed
    env = envs.get("bootstrap", PLAIN)
    if env.exists() and bootstrap_route(env.root) != "ssh (at first boot)":
        env.destroy()
    env.running()
    p = envs.paused(env.root, case.phase, "shell", "vm0", "-c", "true")
    p.signal(case.sig)
    if case.sig == "INT":
        interrupted(p)
        next_after_interrupt(env.root)
        # the first boot is still to come
        assert bootstrap_route(env.root) == "ssh (at first boot)"
    else:
        killed(p)
        # run again by the next use of the VM
        next_after_kill(env.root, case, "shell", "vm0", "-c", "true")
        assert bootstrap_route(env.root) == "ssh"
    assert running_domains(env.uuid)


def case_stop(envs: Envs, case: Case) -> None:
    env = envs.get("stop")
    env.running()
    p = envs.paused(env.root, case.phase, "stop")
    if case.phase == "stop:domains":
        assert not running_domains(env.uuid) and active_nets(env.uuid)
    p.signal(case.sig)
    if case.sig == "INT":
        interrupted(p)
        # stopped at a consistent point, or finished: VMs down only with their nets
        domains, nets = running_domains(env.uuid), active_nets(env.uuid)
        assert nets or not domains, (domains, nets)
        next_after_interrupt(env.root)
    else:
        killed(p)
        next_after_kill(env.root, case, "stop")
        assert not running_domains(env.uuid) and not active_nets(env.uuid)


def snapshots_of(root: Path) -> set[str]:
    listed: dict[str, Any] = json.loads(ok(root, "-f", "json", "snapshot", "-l").stdout) or {}
    return {name for per_vm in listed.values() for name in (per_vm or {})}


def images(root: Path) -> set[str]:
    return {p.name for p in (root / ".lago" / "default" / "images").iterdir()}


def case_snapshot(envs: Envs, case: Case) -> None:
    # running: live snapshots, the VM switched to new overlays by libvirt
    env = envs.get("snapshot")
    env.running()
    name = case.id.lower()
    before = images(env.root)
    memory = ["--memory"] if case.phase == "snapshot:paused" else []
    p = envs.paused(env.root, case.phase, "snapshot", name, *memory)
    if case.phase in ("snapshot:overlays", "snapshot:paused", "snapshot:taken"):
        assert images(env.root) > before, "no overlay made"
    if memory:
        assert domain_states(env.uuid) == ["paused"], "a memory snapshot pauses its VMs"
    p.signal(case.sig)
    if case.sig == "INT":
        interrupted(p)
        if memory:
            assert domain_states(env.uuid) == ["running"], "the interrupted snapshot resumes its VMs"
        if case.phase == "snapshot:taken":
            # the running VM writes to its new overlays now: the snapshot is kept
            assert name in snapshots_of(env.root)
        else:
            # what it made is removed
            assert images(env.root) == before
            assert name not in snapshots_of(env.root)
        next_after_interrupt(env.root)
        assert running_domains(env.uuid)
        return
    killed(p)
    r = next_after_kill(env.root, case, "snapshot", "-l")
    if memory:
        # the killed snapshot left its VMs paused: the repair resumes them
        assert "resumed the paused VMs vm0" in r.stderr, r.stderr
        assert domain_states(env.uuid) == ["running"]
    if case.phase == "snapshot:taken":
        # libvirt took it: completed
        assert "lago: completed the snapshot" in r.stderr, r.stderr
        assert name in snapshots_of(env.root)
    else:
        if case.phase in ("snapshot:overlays", "snapshot:paused"):
            assert "lago: rolled back the snapshot" in r.stderr, r.stderr
        assert images(env.root) == before
        assert name not in snapshots_of(env.root)
        # the user takes it again
        ok(env.root, "snapshot", name)
        assert name in snapshots_of(env.root)


def case_revert(envs: Envs, case: Case) -> None:
    env = envs.get("revert")
    if not env.exists():
        env.running()
        ok(env.root, "snapshot", "base")
    env.running()
    p = envs.paused(env.root, case.phase, "revert", "base")
    if case.phase in ("revert:stopped", "revert:disks"):
        assert not running_domains(env.uuid)
    p.signal(case.sig)
    if case.sig == "INT":
        interrupted(p)
        # stopped at a consistent point or finished: the next case starts
        # what is down
        next_after_interrupt(env.root)
    else:
        killed(p)
        next_after_kill(env.root, case, "revert", "base")
        if case.phase != "revert:locked":
            # the killed revert had stopped the VMs: they stay down, as the
            # repair line says, until `lago start`
            assert not running_domains(env.uuid)
            ok(env.root, "start")
        assert running_domains(env.uuid)


def case_export(envs: Envs, case: Case) -> None:
    # never started: exported as it is (one layer above the template)
    env = envs.get("export")
    env.initialized()
    dst = env.root / f"out-{case.id}"
    p = envs.paused(env.root, case.phase, "export", "-d", str(dst))
    if case.phase == "export:disk":
        assert files_under(dst), "no disk written"
    if case.phase == "export:spec":
        assert files_under(dst) and not (dst / "LagoInitFile").exists()
    p.signal(case.sig)
    if case.sig == "INT":
        interrupted(p)
        assert not files_under(dst), files_under(dst)
        next_after_interrupt(env.root)
    else:
        killed(p)
        # exported again, elsewhere; what the killed one wrote is gone
        again = env.root / f"again-{case.id}"
        next_after_kill(env.root, case, "export", "-d", str(again))
        assert not files_under(dst), files_under(dst)
        assert (again / "LagoInitFile").is_file() and (again / "vm0_root.qcow2").is_file()
        shutil.rmtree(again)


def case_destroy(envs: Envs, case: Case) -> None:
    env = envs.get("destroy")
    env.running()
    p = envs.paused(env.root, case.phase, "destroy", "-y")
    if case.phase in ("destroy:stopped", "destroy:released"):
        assert not running_domains(env.uuid) and not active_nets(env.uuid)
    if case.phase == "destroy:stopped":
        assert leases_under(env.root)
    if case.phase == "destroy:released":
        assert not leases_under(env.root)
    p.signal(case.sig)
    if case.sig == "INT":
        interrupted(p)
        # stopped at a consistent point (the prefix works) or finished
        r = next_after_interrupt(env.root)
        if r.returncode == 0:
            ok(env.root, "destroy", "-y")
    else:
        killed(p)
        next_after_kill(env.root, case, "destroy", "-y")
        r = lago(env.root, "status")
        assert r.returncode == 2 and "`lago init` makes one" in r.stderr, r.stderr
    nothing_left(env.root, env.uuids)


DRIVERS = {
    "init": case_init,
    "start": case_start,
    "stop": case_stop,
    "snapshot": case_snapshot,
    "revert": case_revert,
    "export": case_export,
    "destroy": case_destroy,
}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fault(envs: Envs, case: Case) -> None:
    FAULTS.cases += 1
    failed = True
    try:
        DRIVERS[case.verb](envs, case)
        failed = False
    finally:
        envs.end_case(failed)
    FAULTS.survived += 1


# ------------------------------------------------- locks and other faults


def test_half_made_prefix_of_an_older_lago_is_destroyed(lago_test_env: dict[str, str], scratch: Path) -> None:
    # what an init killed before staging existed left: a prefix folder with
    # its uuid and key, no `initialized`, no `current`
    (scratch / "LagoInitFile").write_text(TINY)
    ok(scratch, "init")
    prefix = scratch / ".lago" / "default"
    uuid = uuid_of(scratch)
    (prefix / "initialized").unlink()
    (scratch / ".lago" / "current").unlink()
    for args in (["status"], ["-p", ".lago/default", "status"], ["start"]):
        r = lago(scratch, *args)
        assert r.returncode == 2 and "`lago destroy -y` removes it" in r.stderr, r.stderr
    ok(scratch, "cleanup")
    ok(scratch, "-p", ".lago/default", "destroy", "-y")
    nothing_left(scratch, [uuid])


def test_a_second_writer_waits_then_names_the_holder(lago_test_env: dict[str, str], scratch: Path) -> None:
    (scratch / "LagoInitFile").write_text(TINY)
    ok(scratch, "init")
    uuid = uuid_of(scratch)
    try:
        with Paused(scratch, "start:locked", "start") as first:
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
            assert first.finish() == 0, first.after
        assert running_domains(uuid), "start made nothing"
        # kill -9 of a writer: its lock goes with it
        with Paused(scratch, "stop:locked", "stop") as holder:
            holder.signal("KILL")
            killed(holder)
        r = lago(scratch, "stop", env={"LAGO_PREFIX_LOCK_TIMEOUT": "0"})
        assert r.returncode == 0, r.stderr
    finally:
        ok(scratch, "destroy", "-y")
    nothing_left(scratch, [uuid])


def test_start_killed_once_its_vm_exists_then_destroy(lago_test_env: dict[str, str], scratch: Path) -> None:
    # found by watching libvirt, not by the hook: the VM appears, lago dies
    (scratch / "LagoInitFile").write_text(TINY)
    ok(scratch, "init")
    uuid = uuid_of(scratch)
    proc = subprocess.Popen(
        [*LAGO, "start"], cwd=scratch, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
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
    nothing_left(scratch, [uuid])


def test_export_onto_a_full_disk(lago_test_env: dict[str, str], scratch: Path) -> None:
    """The destination fills up: a clear error naming the file and the
    space, nothing left in the destination, the environment still fine."""
    (scratch / "LagoInitFile").write_text(TINY)
    ok(scratch, "init")
    uuid = uuid_of(scratch)
    full = scratch / "full"
    full.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(full)], check=True)
    try:
        dst = full / "out"
        # standalone: the whole disk (tens of MiB), far over 2 MiB
        r = lago(scratch, "export", "-s", "-d", str(dst))
        assert r.returncode == 2, r.stderr
        errors = [line for line in r.stderr.splitlines() if line.startswith("lago: error:")]
        assert len(errors) == 1, r.stderr
        assert str(dst / "vm0_root.qcow2") in errors[0] and "No space left on device" in errors[0], r.stderr
        assert "Traceback" not in r.stderr, r.stderr
        assert not files_under(full), files_under(full)
    finally:
        subprocess.run(["umount", str(full)], check=True)
    full.rmdir()
    # the environment is untouched: it exports elsewhere and starts
    ok(scratch, "status")
    out = scratch / "elsewhere"
    ok(scratch, "export", "-d", str(out))
    assert (out / "LagoInitFile").is_file()
    shutil.rmtree(out)
    ok(scratch, "start")
    ok(scratch, "destroy", "-y")
    nothing_left(scratch, [uuid])


PARALLEL = 20


def test_twenty_environments_at_once(lago_test_env: dict[str, str], scratch: Path) -> None:
    """20 `lago init` + `lago start` from separate processes at once, each in
    its own workdir: no two share a subnet or a libvirt name, every guest
    answers over SSH, all are destroyed cleanly."""
    roots = [scratch / f"env{i:02}" for i in range(PARALLEL)]
    for root in roots:
        root.mkdir()
        (root / "LagoInitFile").write_text(TINY)
    cmd = f"{shlex.join(LAGO)} init && {shlex.join(LAGO)} start"
    uuids: dict[Path, str] = {}
    t0 = time.monotonic()
    try:
        runs = [
            (root, subprocess.Popen(
                ["sh", "-c", cmd], cwd=root, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, text=True,
            ))
            for root in roots
        ]
        failed = []
        for root, proc in runs:
            _, err = proc.communicate(timeout=LIMIT)
            if proc.returncode != 0:
                failed.append(f"{root.name}: {proc.returncode}: {err}")
        uuids = {root: uuid_of(root) for root in roots if (root / ".lago" / "default" / "uuid").exists()}
        assert not failed, failed
        print(f"{PARALLEL} init + start: {time.monotonic() - t0:.1f}s")
        # one lease each, no two alike; each prefix's net on its own subnet
        leases = [leases_under(root) for root in roots]
        assert all(len(held) == 1 for held in leases), leases
        assert len({held[0].name for held in leases}) == PARALLEL, leases
        gateways = [
            json.loads(ok(root, "-f", "json", "status").stdout)["Prefix"]["Networks"]["lan"]["gateway"]
            for root in roots
        ]
        assert len(set(gateways)) == PARALLEL, gateways
        # every libvirt domain and net its own, and up
        domains = [name for uuid in uuids.values() for name in running_domains(uuid)]
        nets = [name for uuid in uuids.values() for name in active_nets(uuid)]
        assert len(domains) == len(set(domains)) == PARALLEL, domains
        assert len(nets) == len(set(nets)) == PARALLEL, nets
        # every guest answers
        shells = [
            subprocess.Popen(
                [*LAGO, "shell", "vm0", "-c", "true"], cwd=root, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            )
            for root in roots
        ]
        answers = [(root.name, p.wait(timeout=LIMIT), p.communicate()[1]) for root, p in zip(roots, shells)]
        assert all(code == 0 for _, code, _ in answers), [a for a in answers if a[1] != 0]
        print(f"{PARALLEL} guests answering: {time.monotonic() - t0:.1f}s")
    finally:
        destroys = [
            subprocess.Popen(
                [*LAGO, "destroy", "-y"], cwd=root, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            )
            for root in roots if (root / ".lago").exists()
        ]
        for p in destroys:
            p.communicate(timeout=LIMIT)
    assert all(p.returncode == 0 for p in destroys), [p.stderr for p in destroys]
    print(f"{PARALLEL} destroyed: {time.monotonic() - t0:.1f}s")
    for root in roots:
        nothing_left(root, [uuids[root]] if root in uuids else [])
