"""Tests of environments on remote libvirt hosts (issue 19). They run only
in the client namespace of the remote test hosts, where the hosts answer
and their guests are reachable only through them:

    tests/host/remote-up
    tests/host/remote-run python3 -m pytest python/tests_remote
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

TEST_ROOT = Path(os.environ.get("LAGO_TEST_ROOT", "/var/lib/lago-tests"))

#: The lago CLI, as a subprocess of this Python.
LAGO = [sys.executable, "-c", "from lago.cmd import run; run()"]

#: The safety bound on one lago command; never reached when lago works.
CLI_LIMIT = 600.0


def env_var(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run these tests with tests/host/remote-run (after tests/host/remote-up)")
    return value


@pytest.fixture(scope="session")
def uris() -> list[str]:
    """The remote hosts' libvirt URIs (host 1 first)."""
    return env_var("LAGO_TEST_REMOTE_URIS").split()


@pytest.fixture(scope="session")
def scratch_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="lago-remote-", dir="/var/tmp"))
    root.chmod(0o755)
    yield root
    subprocess.run(["rm", "-rf", str(root)], check=False)


@pytest.fixture(scope="session")
def hashed_known_hosts(scratch_root: Path) -> Path:
    """The hosts' keys as a user's ~/.ssh/known_hosts keeps them where
    `HashKnownHosts yes` is the default (Debian, Ubuntu): hashed names."""
    copy = scratch_root / "known_hosts"
    copy.write_text(Path(env_var("LAGO_TEST_REMOTE_KNOWN_HOSTS")).read_text())
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(copy)], check=True, capture_output=True)
    assert copy.read_text().startswith("|1|"), copy.read_text()
    return copy


@pytest.fixture()
def lago_env(scratch_root: Path, tmp_path: Path, hashed_known_hosts: Path) -> dict[str, str]:
    """What every lago command of a test gets: the remote hosts' login, a
    lease folder of its own, the test templates."""
    leases = scratch_root / f"leases-{tmp_path.name}"
    leases.mkdir()
    return {
        **os.environ,
        "LAGO_LEASE_DIR": str(leases),
        "LAGO_QUIET": "1",
        "LAGO_HOST_SSH_KEY": env_var("LAGO_TEST_REMOTE_KEY"),
        "LAGO_HOST_KNOWN_HOSTS": str(hashed_known_hosts),
        "LAGO_LIBVIRT_POOL": env_var("LAGO_TEST_REMOTE_POOL"),
        # KVM does not run guests on these machines, and the KVM probe of a
        # remote host boots no disk, which such a KVM still runs
        "LAGO_DOMAIN_TYPE": "qemu",
        "LAGO__INIT__TEMPLATE_STORE": str(TEST_ROOT / "store"),
        "LAGO__INIT__TEMPLATE_REPO_PATH": str(TEST_ROOT / "repo" / "repo.metadata"),
    }


def lago(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`lago ARGS` in `cwd` with `env`, output captured."""
    return subprocess.run(
        [*LAGO, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False,
        stdin=subprocess.DEVNULL, timeout=CLI_LIMIT,
    )


def lago_ok(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    r = lago(cwd, env, *args)
    assert r.returncode == 0, f"lago {' '.join(args)}: {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def virsh(uri: str, *args: str) -> list[str]:
    """The words `virsh -c URI ARGS` prints."""
    out = subprocess.run(["virsh", "-c", uri, *args], capture_output=True, text=True, check=True, timeout=60)
    return out.stdout.split()


def host_objects(uri: str, pool: str, uuid: str) -> list[str]:
    """What prefix `uuid` has on the host at `uri`: domains, nets, volumes."""
    subprocess.run(["virsh", "-c", uri, "pool-refresh", pool], capture_output=True, check=False, timeout=60)
    vols = virsh(uri, "vol-list", pool)
    return (
        [n for n in virsh(uri, "list", "--all", "--name") if n.startswith(uuid[:8] + "-")]
        + [n for n in virsh(uri, "net-list", "--all", "--name") if n.startswith(uuid[:4] + "-")]
        + [v for v in vols if v.startswith(f"lago-{uuid}-")]
    )
