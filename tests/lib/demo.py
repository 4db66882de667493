#!/usr/bin/env python3
"""The main job through the lago CLI: init the example environment
(examples/tiny/LagoInitFile), start it, run a command in each guest over SSH,
show the status, destroy it.

Run by tests/demo inside the test namespace.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEST_ROOT = Path(os.environ.get("LAGO_TEST_ROOT", "/var/lib/lago-tests"))
NETNS = os.environ.get("LAGO_TEST_NETNS", "lago-test")


def _lago_cmd() -> list[str]:
    exe = shutil.which("lago")
    return [exe] if exe else [sys.executable, "-m", "lago"]


def lago(*args: str, cwd: Path) -> None:
    """Runs one lago command, shown as typed; stops the demo if it fails."""
    print(f"$ lago {shlex.join(args)}", flush=True)
    r = subprocess.run([*_lago_cmd(), *args], cwd=cwd, check=False)
    if r.returncode != 0:
        raise SystemExit(f"lago {args[0]} failed with exit code {r.returncode}")


def main() -> int:
    ns = subprocess.run(
        ["ip", "netns", "identify", str(os.getpid())], capture_output=True, text=True, check=False
    ).stdout.strip()
    if ns != NETNS:
        print(f"run inside namespace {NETNS} (tests/host/run)", file=sys.stderr)
        return 1
    # qemu (user libvirt-qemu) must reach the images: a 0755 scratch folder.
    work = Path(tempfile.mkdtemp(prefix="lago-demo-"))
    work.chmod(0o755)
    shutil.copy(ROOT / "examples" / "tiny" / "LagoInitFile", work / "LagoInitFile")
    print(f"workdir: {work}/.lago\n")
    try:
        lago(
            "init",
            "--template-repo-path", str(TEST_ROOT / "repo" / "repo.metadata"),
            "--template-store", str(TEST_ROOT / "store"),
            "LagoInitFile",
            cwd=work,
        )
        lago("start", cwd=work)
        for vm in ("vm0", "vm1"):
            lago("shell", vm, "-c", "echo $(hostname): $(uname -sr), up $(cut -d' ' -f1 /proc/uptime) s", cwd=work)
        lago("status", cwd=work)
    finally:
        # Also after a failure (or a closed stdout): never leave guests behind.
        if (work / ".lago").exists():
            try:
                lago("destroy", "-y", cwd=work)
            except (OSError, SystemExit):
                subprocess.run([*_lago_cmd(), "destroy", "-y"], cwd=work, check=False)
        shutil.rmtree(work, ignore_errors=True)
    print("\ntorn down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
