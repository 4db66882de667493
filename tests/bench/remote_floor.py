#!/usr/bin/env python3
"""The raw floor on a remote libvirt host: plain libvirt boots N copies of
the tiny test template *on that host* and a first SSH command reaches each
guest through the host -- what lago's start on a remote host is compared
with (`lago-core/benches/remote.rs`), measured in the same run.

Like tests/bench/floor.py (same network and domain XML), but every object
lives on the host: qcow2 overlay volumes of a copy of the template in the
host's pool (uploaded once, untimed), a transient NAT net and transient
domains there. The wait for a guest's SSH port runs on the host (bash's
/dev/tcp, every 50 ms, as floor.py polls locally), over one multiplexed
OpenSSH connection to the host opened before the clock starts; the first
SSH command goes to the guest through that connection (`-W`, as `ssh -J`).

Run in the remote lab's client namespace:

    tests/host/remote-run python3 tests/bench/remote_floor.py --uri qemu+ssh://root@10.231.1.2/system --guests 3
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import floor  # noqa: E402  (the floor's XML and boot loop)

POOL = os.environ.get("LAGO_TEST_REMOTE_POOL", "default")
TEMPLATE_VOLUME = "floor-template-tiny.raw"


def host_of(uri: str) -> str:
    """`user@host` of a `qemu+ssh://user@host/system` URI."""
    return uri.split("://", 1)[1].split("/", 1)[0]


def vsh(uri: str, *args: str) -> str:
    p = subprocess.run(["virsh", "-q", "-c", uri, *args], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"virsh {' '.join(args)} failed: {p.stderr.strip()}")
    return p.stdout


class RemoteFloor(floor.Floor):
    """floor.Floor with every object on the host at `uri`."""

    def __init__(self, uri: str, guests: int) -> None:
        self.uri = uri
        self.host = host_of(uri)
        self.control = Path(tempfile.mkdtemp(prefix="rfloor-")) / "cm"
        super().__init__(guests)
        pool_dir = Path(self.pool_path())
        for g in self.vms:
            g.disk = pool_dir / f"{g.name}.qcow2"
            g.console = pool_dir / f"{g.name}.console.log"

    def pool_path(self) -> str:
        xml = vsh(self.uri, "pool-dumpxml", POOL)
        return xml.split("<target>", 1)[1].split("<path>", 1)[1].split("</path>", 1)[0].strip()

    def host_ssh(self, *argv: str, timeout: float = 150) -> subprocess.CompletedProcess:
        return subprocess.run(["ssh", "-S", str(self.control), self.host, "--", *argv],
                              capture_output=True, text=True, timeout=timeout)

    def template(self) -> str:
        """The template copy on the host (uploaded on first use)."""
        vols = vsh(self.uri, "vol-list", POOL).split()
        if TEMPLATE_VOLUME not in vols:
            size = str(self.image.stat().st_size)
            vsh(self.uri, "vol-create-as", POOL, TEMPLATE_VOLUME, size, "--format", "raw")
            vsh(self.uri, "vol-upload", "--pool", POOL, TEMPLATE_VOLUME, str(self.image))
        return vsh(self.uri, "vol-path", "--pool", POOL, TEMPLATE_VOLUME).strip()

    def setup(self) -> None:
        subprocess.run(["ssh", "-M", "-N", "-f", "-S", str(self.control), self.host], check=True, timeout=30)
        backing = self.template()
        size = str(self.image.stat().st_size)
        for g in self.vms:
            vsh(self.uri, "vol-create-as", POOL, g.disk.name, size, "--format", "qcow2",
                "--backing-vol", backing, "--backing-vol-format", "raw")
        for k in range(self.networks):
            path = self.workdir / f"net{k}.xml"
            path.write_text(self.network_xml(k))
            vsh(self.uri, "net-create", str(path))

    def teardown(self) -> None:
        for g in self.vms:
            subprocess.run(["virsh", "-q", "-c", self.uri, "destroy", g.name], capture_output=True)
        for net in self.nets:
            subprocess.run(["virsh", "-q", "-c", self.uri, "net-destroy", net], capture_output=True)
        subprocess.run(["virsh", "-q", "-c", self.uri, "pool-refresh", POOL], capture_output=True)
        for g in self.vms:
            for f in (g.disk, g.console):
                subprocess.run(["virsh", "-q", "-c", self.uri, "vol-delete", "--pool", POOL, f.name],
                               capture_output=True)
        subprocess.run(["ssh", "-S", str(self.control), "-O", "exit", self.host], capture_output=True)
        super().teardown()

    def ssh(self, g: floor.Guest, *argv: str, timeout: float = 30,
            stdin: bytes | None = None) -> subprocess.CompletedProcess:
        env = dict(os.environ, SSH_ASKPASS=str(self.askpass), SSH_ASKPASS_REQUIRE="force", DISPLAY=":0")
        proxy = f"ssh -S {self.control} -W %h:%p {self.host}"
        return subprocess.run(
            ["ssh", "-q", "-o", "StrictHostKeyChecking=no", "-o", "BatchMode=no",
             "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5",
             "-o", f"ProxyCommand={proxy}",
             "-o", "PreferredAuthentications=password", "-o", "PubkeyAuthentication=no",
             "-o", "NumberOfPasswordPrompts=1", f"root@{g.ip}", "--", *argv],
            env=env, capture_output=True, timeout=timeout,
            input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
        )

    def _wait_port(self, g: floor.Guest, deadline: float) -> None:
        left = max(1, int(deadline - time.monotonic()))
        script = (f"for i in $(seq {left * 20}); do "
                  f"timeout 1 bash -c 'exec 3<>/dev/tcp/{g.ip}/22 && head -c 4 <&3' 2>/dev/null "
                  f"| grep -q SSH- && exit 0; sleep 0.05; done; exit 1")
        # ssh joins its arguments into one command line for the host's shell
        if self.host_ssh(f"bash -c {shlex.quote(script)}", timeout=left + 30).returncode != 0:
            raise TimeoutError(f"{g.name}: no SSH banner within {floor.BOOT_TIMEOUT:.0f} s")

    def boot_all(self) -> float:
        floor.URI = self.uri  # boot_one's `virsh create` goes to the host
        return super().boot_all()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--uri", required=True)
    ap.add_argument("--guests", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    times = []
    for _ in range(args.rounds):
        with RemoteFloor(args.uri, args.guests) as f:
            times.append(f.boot_all())
    print(json.dumps({**floor.summary(args.guests, times), "bench": "remote-floor", "uri": args.uri}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
