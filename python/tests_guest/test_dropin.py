"""The drop-in gaps of issue 5 on one real guest (one env for every test,
in file order): task-tree progress lines, CLI options reaching the core,
ssh with stdin, ssh_script over ``bash -s``/``sh -s``, the interactive shell
on a pseudo-terminal, ``console``, the third-party plugin of
``tests/plugin-ost-like`` (VM type, Prefix/Workdir subclasses, nested verb,
output format, collect through ``_artifact_paths``), shutdown/reboot and
cleanup.

Run: ``tests/host/run python -m pytest -q python/tests_guest -k dropin``
(needs ``pip install ./tests/plugin-ost-like``)."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, Optional

import pytest

ONE_VM = """\
domains:
  vm0:
    vm-type: ostlike-node
    memory: 256
    vcpu: 1
    nics: [{net: lan}]
    disks: [{template_name: tiny, type: template, name: root, dev: vda, format: qcow2}]
    metadata: {ostlike-role: engine}
    artifacts: [/etc/inittab]
nets:
  lan:
    type: nat
    management: true
    gw: 192.168.229.1
"""

LAGO = [sys.executable, "-c", "from lago.cmd import run; run()"]


class Lab:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.leases = root / "own-leases"
        self.leases.mkdir()
        self.globals = ["--lease_dir", str(self.leases)]

    def lago(self, *args: str, stdin: Optional[str] = None, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*LAGO, *self.globals, *args], cwd=self.root, capture_output=True, text=True,
            check=False, input=stdin if stdin is not None else "", timeout=timeout,
        )

    def ok(self, *args: str) -> subprocess.CompletedProcess[str]:
        r = self.lago(*args)
        assert r.returncode == 0, f"lago {' '.join(args)}: {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r

    def status(self, *globals: str) -> dict:  # type: ignore[type-arg]
        r = subprocess.run(
            [*LAGO, *self.globals, *globals, "-f", "json", "status"], cwd=self.root,
            capture_output=True, text=True, check=True,
        )
        return json.loads(r.stdout)["Prefix"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def lab(lago_test_env: dict[str, str], scratch_root: Path) -> Iterator[Lab]:
    root = scratch_root / "dropin"
    root.mkdir()
    (root / "LagoInitFile").write_text(ONE_VM)
    lab = Lab(root)
    lab.init = lab.lago("--ssh-password", "dropin-pw", "init", "LagoInitFile")  # type: ignore[attr-defined]
    assert lab.init.returncode == 0, lab.init.stderr  # type: ignore[attr-defined]
    try:
        yield lab
    finally:
        prefix = root / ".lago" / "default"
        if prefix.is_dir() and not (prefix / "initialized").exists():
            (prefix / "initialized").write_text("")  # after `cleanup`, so that destroy can load it
        r = lab.lago("destroy", "-y")
        assert r.returncode == 0, r.stderr
        assert not (root / ".lago").exists()
        assert not [p for p in lab.leases.iterdir() if p.suffix == ".lease"]  # released


def _task_lines(text: str, task: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(f"@ {task}: ")]


def test_dropin_progress_and_options(lab: Lab) -> None:
    # init's task tree on the console (stderr), Lago's format
    init_err = lab.init.stderr  # type: ignore[attr-defined]
    lines = _task_lines(init_err, "Initialize and populate prefix")
    assert lines[0] == "@ Initialize and populate prefix: ", init_err
    assert re.fullmatch(r"@ Initialize and populate prefix: Success \(in \d+:\d\d:\d\d\)", lines[-1]), init_err
    # --lease_dir and --ssh-password reached the core at init
    assert any(p.suffix == ".lease" for p in lab.leases.iterdir()), list(lab.leases.iterdir())
    info = lab.status()
    assert info["VMs"]["vm0"]["root password"] == "dropin-pw"
    r = lab.lago("start")
    if r.returncode and "already in use" in r.stderr:  # another helper's net on that subnet: retry once
        time.sleep(30)
        r = lab.lago("start")
    assert r.returncode == 0, r.stderr
    lines = _task_lines(r.stderr, "Start Prefix")
    assert lines[0] == "@ Start Prefix: " and re.fullmatch(r"@ Start Prefix: Success \(in \d:\d\d:\d\d\)", lines[-1]), r.stderr
    log = (lab.root / ".lago" / "default" / "logs" / "lago.log").read_text()
    assert "::INFO::start task: Start Prefix" in log and "::INFO::end task: Start Prefix: Success" in log
    assert lab.status()["VMs"]["vm0"]["status"] == "running"
    # --libvirt_url reaches the core at run time: libvirt's test driver knows no such domain
    assert lab.status("--libvirt_url", "test:///default")["VMs"]["vm0"]["status"] == "down"
    # a bad URL is the core's libvirt error, exit 2
    r = lab.lago("--libvirt_url", "nosuchdriver:///x", "start")
    assert r.returncode == 2 and "nosuchdriver" in r.stderr, r.stderr
    assert "@ Start Prefix: ERROR (in 0:00:0" in r.stderr, r.stderr


def test_dropin_ssh_stdin_and_script(lab: Lab, capfd: pytest.CaptureFixture[str]) -> None:
    from lago import sdk
    from lago.utils import CommandStatus

    env = sdk.load_env(str(lab.root / ".lago"))
    vm = env.get_vms()["vm0"]
    vm.wait_for_ssh()
    capfd.readouterr()
    res = vm.ssh(["tr a-z A-Z; echo to-err >&2; exit 6"], data=b"some input\n")
    assert isinstance(res, CommandStatus) and res.code == 6
    assert res.out == b"SOME INPUT\n" and res.err == b"to-err\n"
    echoed = capfd.readouterr()
    assert echoed.out == "SOME INPUT\n" and echoed.err == "to-err\n"  # shown as Lago does
    assert vm.ssh(["cat"], data="text too", show_output=False).out == b"text too"
    assert capfd.readouterr().out == ""
    # ssh_script: the file goes to `bash -s` (`sh -s` here: no bash in the tiny guest) on stdin
    script = lab.root / "script.sh"
    script.write_text('echo "argv0=$0"\nexit 4\n')
    res = vm.ssh_script(str(script))
    assert res.code == 4, res
    assert res.out == b"argv0=sh\n", res.out  # `sh -s`: $0 is the shell, not a script file
    assert b"lago-script" not in vm.ssh(["ls", "-a", "/tmp"], show_output=False).out
    # the CLI: `lago shell VM FILE` the same way, stdin otherwise forwarded
    r = lab.lago("shell", "vm0", str(script))
    assert r.returncode == 4 and r.stdout == "argv0=sh\n", r
    r = lab.lago("shell", "vm0", "tr", "a-z", "A-Z", stdin="piped\n")
    assert r.returncode == 0 and r.stdout == "PIPED\n", r


def _pty_run(
    argv: list[str], cwd: Path, steps: list[tuple[str, str]], timeout: float = 180,
    nudge: Optional[str] = None,
) -> tuple[int, str]:
    """Runs ``argv`` on a new pseudo-terminal; for each (wait_for, send)
    waits until ``wait_for`` (a regex) appeared in the output, then types
    ``send``. With ``nudge``, once the first step was typed, ``nudge`` is
    typed again whenever 3 s pass without output while steps remain (as a
    user presses Enter again on a silent console). Returns (exit code, all
    output)."""
    pid, fd = pty.fork()
    if pid == 0:  # child
        try:
            os.chdir(cwd)
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    out = b""
    deadline = time.monotonic() + timeout
    pending = list(steps)
    last_output = time.monotonic()
    try:
        while time.monotonic() < deadline:
            if pending and re.search(pending[0][0], out.decode(errors="replace")):
                os.write(fd, pending.pop(0)[1].encode())
                continue
            ready, _, _ = select.select([fd], [], [], 1.0)
            if not ready:
                if nudge and pending and len(pending) < len(steps) and time.monotonic() - last_output > 3:
                    os.write(fd, nudge.encode())
                    last_output = time.monotonic()
                continue
            last_output = time.monotonic()
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child side closed
                break
            if not chunk:
                break
            out += chunk
        else:
            os.kill(pid, 9)
            raise AssertionError(f"timed out; output so far: {out!r}")
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


def test_dropin_interactive_shell_on_a_pty(lab: Lab) -> None:
    # the tiny guest's busybox prompt is "~ # " (then a cursor query); typed keys reach it raw
    code, out = _pty_run(
        [*LAGO, *lab.globals, "shell", "vm0"], lab.root, [(r"~ # ", "echo $((6*7)); exit 3\r")]
    )
    assert code == 3, out
    assert re.search(r"^42\r?$", out, re.M), out
    # interactive_ssh() from the SDK, same terminal handling, given a command
    code2, out2 = _pty_run(
        [sys.executable, "-c",
         "import sys; from lago import sdk; vm = sdk.load_env('.lago').get_vms()['vm0'];"
         "r = vm.interactive_ssh(['read', 'x;', 'echo', 'got-$x;', '[ -t 0 ] && echo tty;', 'exit', '9']);"
         "sys.exit(r.code)"],
        lab.root, [(r"", "hello\r")],
    )
    assert code2 == 9, out2
    assert "got-hello" in out2 and re.search(r"^tty\r?$", out2, re.M), out2


def test_dropin_console(lab: Lab) -> None:
    # virsh console on the VM's serial line (a getty runs on ttyS0); Ctrl-] leaves it.
    # Enter again while the console stays silent: qemu drops what the guest
    # writes until it notices (on a timer) that the pty has a reader.
    code, out = _pty_run(
        [*LAGO, *lab.globals, "console", "vm0"], lab.root,
        [(r"Escape character", "\r"), (r"login:", "\x1d")], nudge="\r",
    )
    assert code == 0, out
    assert "Connected to domain" in out and "login:" in out, out
    # its exit code is virsh's
    r = lab.lago("--libvirt_url", "test:///default", "console", "vm0", timeout=60)
    assert r.returncode == 1 and "error" in r.stderr.lower(), r


def test_dropin_plugin_end_to_end(lab: Lab) -> None:
    # output format plugin
    r = lab.ok("-f", "keyval", "status")
    assert "Prefix.VMs.vm0.status=running" in r.stdout.splitlines(), r.stdout
    # nested verb, through the plugin's Prefix/Workdir subclasses and VM type
    r = lab.ok("-f", "json", "ostlike", "status")
    info = json.loads(r.stdout)
    assert info["prefix class"] == "OstLikePrefix" and info["paths class"] == "OstLikePaths"
    assert info["virt env class"] == "OstLikeVirtEnv"
    assert info["lab dir"] == str(lab.root / ".lago" / "default" / "ostlike")
    assert info["VMs"] == {"vm0": {"class": "NodeVM", "role": "engine", "state": "running"}}
    r = lab.ok("ostlike", "run", "hostname")
    assert r.stdout == "vm0\n", r
    # collect through the overridden _artifact_paths (a set: node paths + spec artifacts)
    r = lab.ok("ostlike", "collect", "--output", str(lab.root / "art"))
    got = sorted(p.name for p in (lab.root / "art" / "vm0").iterdir())
    assert got == ["_etc_hostname", "_etc_inittab", "_etc_os-release"], got
    assert (lab.root / "art" / "vm0" / "_etc_hostname").read_text() == "vm0\n"
    assert "ttyS0" in (lab.root / "art" / "vm0" / "_etc_inittab").read_text()
    assert "@ Collect lab artifacts: Success" in r.stderr, r.stderr
    # the SDK and Workdir subclass see the same types
    from ostlike.prefix import OstLikeWorkdir
    from ostlike.virt import NodeVM

    prefix = OstLikeWorkdir(str(lab.root / ".lago")).get_prefix("current")
    assert isinstance(prefix.get_vms()["vm0"], NodeVM)


def _boot_id(lab: Lab) -> str:
    r = lab.lago("shell", "vm0", "cat", "/proc/sys/kernel/random/boot_id")
    assert r.returncode == 0, r
    return r.stdout.strip()


def test_dropin_reboot_shutdown_cleanup(lab: Lab) -> None:
    before = _boot_id(lab)
    r = lab.ok("shutdown", "--reboot", "vm0")
    assert "@ Reboot VMs: Success" in r.stderr
    deadline = time.monotonic() + 600
    after = before
    while time.monotonic() < deadline:
        r = lab.lago("shell", "vm0", "cat", "/proc/sys/kernel/random/boot_id", timeout=700)
        if r.returncode == 0 and r.stdout.strip():
            after = r.stdout.strip()
            if after != before:
                break
        time.sleep(2)
    assert after != before, "the VM did not reboot"
    r = lab.ok("shutdown")
    assert "@ Shutdown VMs: Success" in r.stderr
    info = lab.status()
    assert info["VMs"]["vm0"]["status"] == "down" and info["Networks"]["lan"]["status"] == "down"
    # SDK shutdown of a VM that is down is a no-op; VM.shutdown() too
    from lago import sdk

    env = sdk.load_env(str(lab.root / ".lago"))
    env.shutdown(vm_names=None, reboot=False)
    env.get_vms()["vm0"].shutdown()
    # cleanup: stops and marks the prefix uninitialized
    lab.ok("start")
    r = lab.ok("cleanup")
    assert "@ Stop prefix: Success" in r.stderr and "@ Tag prefix as uninitialized: Success" in r.stderr
    prefix = lab.root / ".lago" / "default"
    assert prefix.is_dir() and not (prefix / "initialized").exists()
    r = lab.lago("status")
    assert r.returncode == 2 and "initialized" in r.stderr, r
