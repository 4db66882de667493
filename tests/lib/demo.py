#!/usr/bin/env python3
"""Two tiny guests up, a command in each over SSH, status, tear-down.

Run by tests/demo inside the test namespace.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import floor  # noqa: E402


def status(f: floor.Floor) -> None:
    running = set(floor.virsh("list", "--name").split())
    print(f"{'VM':<26} {'STATE':<10} {'IP':<16} NETWORK")
    for g in f.vms:
        state = "running" if g.name in running else "down"
        print(f"{g.name:<26} {state:<10} {g.ip:<16} {f.nets[0]}")


def main() -> int:
    floor.ensure_namespace()
    with floor.Floor(2, nocloud=True) as f:
        print(f"booting {len(f.vms)} guests of {floor.IMAGE} ...")
        print(f"all answered SSH after {f.boot_all():.1f} s\n")
        for g in f.vms:
            r = f.ssh(g, "echo $(hostname): $(uname -sr), up $(cut -d' ' -f1 /proc/uptime) s")
            print(f"[{g.name}] $ echo $(hostname): ...  -> exit {r.returncode}")
            print("   " + r.stdout.decode().strip())
            if r.returncode != 0:
                print(r.stderr.decode(), file=sys.stderr)
                return 1
        print()
        status(f)
    left = [n for n in floor.virsh("list", "--name").split() if n.startswith("floor-")]
    print(f"\ntorn down; guests left: {len(left)}")
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
