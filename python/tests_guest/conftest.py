"""Real-guest tests: they run only inside the test network namespace
(``tests/host/run python3 -m pytest python/tests_guest``) and FAIL outside
it, so that guest traffic never touches the host's own network."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

NETNS = os.environ.get("LAGO_TEST_NETNS", "lago-test")
TEST_ROOT = Path(os.environ.get("LAGO_TEST_ROOT", "/var/lib/lago-tests"))
LEASES = Path(os.environ.get("LAGO_TEST_LEASES", str(TEST_ROOT / "leases")))


def leases_under(root: Path) -> list[Path]:
    """Lease files of the shared folder held by prefixes under `root` (a
    lease names its owner's uuid file)."""
    needle = f"{root}/"
    return [p for p in LEASES.glob("*.lease") if needle in p.read_text(errors="replace")]

#: The lago CLI, as a subprocess of this Python.
LAGO = [sys.executable, "-c", "from lago.cmd import run; run()"]

#: One tiny VM on one NAT net.
ONE_VM = """\
domains:
  vm0:
    memory: 256
    vcpu: 1
    nics: [{net: lan}]
    disks: [{template_name: tiny, type: template, name: root, dev: vda, format: qcow2}]
nets:
  lan: {type: nat, management: true}
"""

#: The safety bound on one lago command; never reached when lago works.
CLI_LIMIT = 600.0


def lago_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`lago ARGS` run in `cwd`, stdin closed, output captured."""
    return subprocess.run(
        [*LAGO, *args], cwd=cwd, capture_output=True, text=True, check=False,
        stdin=subprocess.DEVNULL, timeout=CLI_LIMIT,
    )


def lago_ok(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`lago_cli`, asserted to succeed."""
    r = lago_cli(cwd, *args)
    assert r.returncode == 0, f"lago {' '.join(args)}: {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def virsh(*args: str) -> list[str]:
    """The words `virsh -c qemu:///system ARGS` prints."""
    out = subprocess.run(
        ["virsh", "-c", "qemu:///system", *args], capture_output=True, text=True, check=True, timeout=60
    )
    return out.stdout.split()


def libvirt_objects_of(uuid: str) -> list[str]:
    """Libvirt domains and networks (defined or running) of prefix `uuid`."""
    return [n for n in virsh("list", "--all", "--name") if n.startswith(uuid[:8] + "-")] + [
        n for n in virsh("net-list", "--all", "--name") if n.startswith(uuid[:4] + "-")
    ]


TWO_VMS = """\
domains:
  vm0:
    memory: 256
    vcpu: 1
    nics: [{net: mgmt}, {net: data}]
    disks: [{template_name: tiny, type: template, name: root, dev: vda, format: qcow2}]
    artifacts: [/etc/hostname, /nonexistent]
  vm1:
    memory: 256
    vcpu: 1
    nics: [{net: mgmt}]
    disks: [{template_name: tiny, type: template, name: root, dev: vda, format: qcow2}]
nets:
  mgmt:
    type: nat
    management: true
  data:
    type: nat
    gw: 192.168.234.254
"""


def in_namespace() -> bool:
    out = subprocess.run(
        ["ip", "netns", "identify", str(os.getpid())], capture_output=True, text=True, check=False
    )
    return out.stdout.strip() == NETNS


@pytest.fixture(scope="session", autouse=True)
def _require_namespace() -> None:
    if not in_namespace():
        pytest.fail(
            f"real-guest tests must run inside network namespace {NETNS}: "
            "tests/host/run python3 -m pytest python/tests_guest"
        )


@pytest.fixture(scope="session")
def lago_test_env(scratch_root: Path) -> dict[str, str]:
    """Environment variables pointing lago at the tiny template and the
    lease folder every real-guest test shares, so that concurrent tests and
    runs in the namespace never pick the same subnet (set in this process
    too, before config loads)."""
    leases = LEASES
    leases.mkdir(parents=True, exist_ok=True)
    env = {
        "LAGO_LEASE_DIR": str(leases),
        # no progress lines: the tests count the `lago: ` lines a command
        # prints (python/tests/test_progress.py tests progress)
        "LAGO_QUIET": "1",
        "LAGO__INIT__TEMPLATE_STORE": str(TEST_ROOT / "store"),
        "LAGO__INIT__TEMPLATE_REPO_PATH": str(TEST_ROOT / "repo" / "repo.metadata"),
    }
    os.environ.update(env)
    return env


@pytest.fixture(scope="session")
def scratch_root() -> Iterator[Path]:
    """A scratch folder qemu (user libvirt-qemu) can reach: pytest's own
    tmp_path lives under a 0700 folder."""
    root = Path(tempfile.mkdtemp(prefix="lago-py-tests-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def scratch(scratch_root: Path, request: pytest.FixtureRequest) -> Path:
    """A fresh reachable folder for one test."""
    path = scratch_root / request.node.name
    path.mkdir()
    return path


@dataclass
class FaultFigures:
    """What the fault suite (``test_faults.py``) saw, counted as it ran:
    printed at the end of the session."""

    cases: int = 0
    survived: int = 0
    libvirt_left: int = 0
    leases_left: int = 0
    staging_left: int = 0
    outside_left: int = 0

    def line(self) -> str:
        return (
            f"fault suite: {self.cases} cases (verb x phase x signal), {self.survived} faults survived, "
            f"libvirt objects left: {self.libvirt_left}, leases left: {self.leases_left}, "
            f"staging/trash folders left: {self.staging_left}, "
            f"files outside the workdir left: {self.outside_left}"
        )


FAULTS = FaultFigures()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FAULTS.cases:
        terminalreporter.write_line(FAULTS.line())
