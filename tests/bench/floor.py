#!/usr/bin/env python3
"""The raw floor: how fast can plain libvirt boot the tiny template to SSH?

Boots N copies of the tiny test template with hand-written libvirt XML -- a
transient NAT network with DHCP, qcow2 overlays on the raw template image
(`-F raw`), domain type `qemu` -- and times `virsh create` until a first SSH
command succeeds in every guest. Nothing of lago is involved: this is the
floor every lago benchmark is compared with, measured in the same run.

    tests/bench/floor.py                  # N = 1 and 3, 3 rounds each
    tests/bench/floor.py --guests 3 --rounds 5
    tests/bench/floor.py --json           # one JSON object per N on stdout
    tests/bench/floor.py --template tiny-plain --guests 3   # another test template

Run it inside the test host's namespace (tests/host/run); it re-executes
itself there when started outside. Other benchmarks import `Floor`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

TEST_ROOT = Path(os.environ.get("LAGO_TEST_ROOT", "/var/lib/lago-tests"))
NETNS = os.environ.get("LAGO_TEST_NETNS", "lago-test")
REPO = TEST_ROOT / "repo"
IMAGE = REPO / "tiny.img"  # the default template's image


def template_image(name: str) -> Path:
    """The image of test template `name` in the repo (its `.img`)."""
    return REPO / f"{name}.img"
URI = "qemu:///system"
# Outside Lago's lease range (192.168.200-255), so a floor run and a lago run
# in the same namespace never compete for a subnet.
SUBNET = "192.168.150"


def subnet(k: int) -> str:
    """First three octets of the k-th floor network."""
    a, b, c = SUBNET.split(".")
    return f"{a}.{b}.{int(c) + k}"


def make_seed(path: Path, hostname: str, pubkey: str, tmpdir: Path) -> None:
    """A NoCloud seed as cloud-init reads it: vfat labelled cidata."""
    meta = tmpdir / "meta-data"
    user = tmpdir / "user-data"
    meta.write_text(f"instance-id: {hostname}\nlocal-hostname: {hostname}\n")
    user.write_text(f"#cloud-config\nhostname: {hostname}\n"
                    f"ssh_authorized_keys:\n  - {pubkey}\n")
    subprocess.run(["mkfs.vfat", "-C", "-n", "cidata", str(path), "1024"],
                   check=True, capture_output=True)
    subprocess.run(["mcopy", "-i", str(path), str(meta), str(user), "::/"], check=True,
                   env=dict(os.environ, MTOOLS_SKIP_CHECK="1"))
ROOT_PASSWORD = "123456"
BOOT_TIMEOUT = float(os.environ.get("LAGO_FLOOR_BOOT_TIMEOUT", "120"))


def in_test_namespace() -> bool:
    try:
        out = subprocess.run(
            ["ip", "netns", "identify", str(os.getpid())],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return False
    return out == NETNS


def ensure_namespace() -> None:
    """Re-execute this program inside the test namespace if not there yet."""
    if not in_test_namespace():
        os.execvp("ip", ["ip", "netns", "exec", NETNS, sys.executable, *sys.argv])


def virsh(*args: str, stdin: str | None = None) -> str:
    proc = subprocess.run(
        ["virsh", "-q", "-c", URI, *args],
        input=stdin, capture_output=True, text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"virsh {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


@dataclass
class Guest:
    name: str
    macs: list[str]  # one per network, in network order
    ips: list[str]
    disk: Path
    console: Path
    seed: Path | None = None

    @property
    def ip(self) -> str:
        """Address on the first network, the one SSH goes through."""
        return self.ips[0]


@dataclass
class Floor:
    """Transient networks plus N guests on overlays of the tiny image.

    With `networks=K` every guest gets one NIC on each of K networks. With
    `nocloud=True` every guest also gets a NoCloud seed disk (label cidata:
    its name as hostname, this run's SSH key) and SSH uses that key.
    """

    guests: int
    networks: int = 1
    nocloud: bool = False
    image: Path = IMAGE
    memory_mib: int = 256
    workdir: Path = field(init=False)
    nets: list[str] = field(init=False, default_factory=list)
    vms: list[Guest] = field(init=False, default_factory=list)
    askpass: Path = field(init=False)
    key: Path = field(init=False)

    def __post_init__(self) -> None:
        if not self.image.exists():
            raise SystemExit(f"floor: {self.image} missing: run tests/templates/build-*")
        TEST_ROOT.joinpath("floor").mkdir(parents=True, exist_ok=True)
        # qemu runs as libvirt-qemu: every folder above a disk must be searchable
        self.workdir = Path(tempfile.mkdtemp(prefix="run-", dir=TEST_ROOT / "floor"))
        self.workdir.chmod(0o755)
        tag = uuid.uuid4().hex[:8]
        self.nets = [f"floor-{tag}-n{k}" for k in range(self.networks)]
        for i in range(self.guests):
            name = f"floor-{tag}-vm{i}"
            ips = [f"{subnet(k)}.{10 + i}" for k in range(self.networks)]
            macs = ["54:52:" + ":".join(f"{int(o):02x}" for o in ip.split(".")) for ip in ips]
            self.vms.append(Guest(name, macs, ips, self.workdir / f"{name}.qcow2",
                                  self.workdir / f"{name}.console.log"))
        self.askpass = self.workdir / "askpass"
        self.askpass.write_text(f"#!/bin/sh\necho {ROOT_PASSWORD}\n")
        self.askpass.chmod(0o700)
        self.key = self.workdir / "id_ed25519"

    # -- libvirt objects -------------------------------------------------
    def network_xml(self, k: int) -> str:
        net = self.nets[k]
        hosts = "".join(
            f"<host mac='{g.macs[k]}' name='{g.name}' ip='{g.ips[k]}'/>" for g in self.vms
        )
        return (
            f"<network><name>{net}</name>"
            f"<bridge name='vbr{net[6:14]}{k}' stp='off' delay='0'/>"
            "<forward mode='nat'/>"
            f"<ip address='{subnet(k)}.1' netmask='255.255.255.0'>"
            f"<dhcp><range start='{subnet(k)}.100' end='{subnet(k)}.254'/>{hosts}</dhcp>"
            "</ip></network>"
        )

    def domain_xml(self, g: Guest) -> str:
        nics = "".join(
            f"""    <interface type='network'>
      <source network='{net}'/>
      <mac address='{mac}'/>
      <model type='virtio'/>
    </interface>
""" for net, mac in zip(self.nets, g.macs))
        seed = "" if g.seed is None else f"""    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{g.seed}'/>
      <target dev='vdb' bus='virtio'/>
      <readonly/>
    </disk>
"""
        return f"""<domain type='qemu'>
  <name>{g.name}</name>
  <memory unit='MiB'>{self.memory_mib}</memory>
  <vcpu>1</vcpu>
  <cpu mode='maximum'/>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <features><acpi/><apic/></features>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='unsafe'/>
      <source file='{g.disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
{nics}{seed}    <serial type='pty'><log file='{g.console}' append='off'/><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <memballoon model='none'/>
  </devices>
</domain>"""

    def setup(self) -> None:
        for g in self.vms:
            subprocess.run(
                ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw",
                 "-b", str(self.image), str(g.disk)],
                check=True,
            )
        if self.nocloud:
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "floor",
                            "-f", str(self.key)], check=True)
            pub = self.key.with_suffix(".pub").read_text().strip()
            for g in self.vms:
                g.seed = self.workdir / f"{g.name}.seed.img"
                make_seed(g.seed, g.name, pub, self.workdir)
        for k in range(self.networks):
            path = self.workdir / f"net{k}.xml"
            path.write_text(self.network_xml(k))
            virsh("net-create", str(path))

    def teardown(self) -> None:
        for g in self.vms:
            subprocess.run(["virsh", "-q", "-c", URI, "destroy", g.name],
                           capture_output=True)
        for net in self.nets:
            subprocess.run(["virsh", "-q", "-c", URI, "net-destroy", net],
                           capture_output=True)
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- guest access ----------------------------------------------------
    def ssh(self, g: Guest, *argv: str, timeout: float = 30,
            stdin: bytes | None = None) -> subprocess.CompletedProcess:
        """Run argv in the guest over OpenSSH: the seed's key with nocloud,
        else root's password."""
        env = dict(os.environ, SSH_ASKPASS=str(self.askpass),
                   SSH_ASKPASS_REQUIRE="force", DISPLAY=":0")
        if self.nocloud:
            auth = ["-i", str(self.key), "-o", "PreferredAuthentications=publickey",
                    "-o", "PasswordAuthentication=no"]
        else:
            auth = ["-o", "PreferredAuthentications=password",
                    "-o", "PubkeyAuthentication=no", "-o", "NumberOfPasswordPrompts=1"]
        return subprocess.run(
            ["ssh", "-q", "-o", "StrictHostKeyChecking=no", "-o", "BatchMode=no",
             "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5", *auth,
             f"root@{g.ip}", "--", *argv],
            env=env, capture_output=True, timeout=timeout,
            input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
        )

    def _wait_port(self, g: Guest, deadline: float) -> None:
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((g.ip, 22), timeout=0.5) as s:
                    s.settimeout(2)
                    if s.recv(4).startswith(b"SSH-"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"{g.name}: no SSH banner within {BOOT_TIMEOUT:.0f} s")

    def boot_one(self, g: Guest, results: dict, errors: dict) -> None:
        """virsh create, then wait for a first successful SSH command."""
        path = self.workdir / f"{g.name}.xml"
        t0 = time.monotonic()
        deadline = t0 + BOOT_TIMEOUT
        try:
            path.write_text(self.domain_xml(g))
            virsh("create", str(path))
            while True:
                self._wait_port(g, deadline)
                if self.ssh(g, "true").returncode == 0:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{g.name}: SSH never succeeded")
                time.sleep(0.1)
            results[g.name] = time.monotonic() - t0
        except Exception as e:  # reported by the caller with the console log
            errors[g.name] = e

    def boot_all(self) -> float:
        """Boot every guest in parallel; seconds until the last answers SSH."""
        results: dict[str, float] = {}
        errors: dict[str, Exception] = {}
        threads = [threading.Thread(target=self.boot_one, args=(g, results, errors))
                   for g in self.vms]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            detail = []
            for g in self.vms:
                if g.name in errors:
                    log = g.console.read_text(errors="replace")[-2000:] if g.console.exists() else ""
                    detail.append(f"{g.name}: {errors[g.name]}\n--- console tail ---\n{log}")
            raise RuntimeError("floor boot failed:\n" + "\n".join(detail))
        return max(results.values())

    def __enter__(self) -> "Floor":
        try:
            self.setup()
        except BaseException:
            self.teardown()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.teardown()


def measure(guests: int, rounds: int, image: Path = IMAGE, memory_mib: int = 256) -> list[float]:
    """Seconds from `virsh create` to SSH in all guests, one figure per round."""
    times = []
    for _ in range(rounds):
        with Floor(guests, image=image, memory_mib=memory_mib) as floor:
            times.append(floor.boot_all())
    return times


def summary(guests: int, times: list[float]) -> dict:
    return {
        "bench": "floor", "guests": guests, "rounds": len(times),
        "min_s": round(min(times), 3), "median_s": round(statistics.median(times), 3),
        "max_s": round(max(times), 3),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--guests", type=int, action="append",
                    help="guests booted together (repeatable; default 1 and 3)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true", help="print JSON lines")
    ap.add_argument("--template", default="tiny",
                    help="test template to boot as it is, logged in with its root password "
                         "(default tiny)")
    ap.add_argument("--memory", type=int, default=256, help="MiB per guest (default 256)")
    args = ap.parse_args()
    ensure_namespace()
    image = template_image(args.template)
    print(f"floor: template {image}, domain type qemu, cpu mode maximum, "
          f"virsh create -> first SSH command", file=sys.stderr)
    for n in args.guests or [1, 3]:
        s = summary(n, measure(n, args.rounds, image, args.memory))
        if args.json:
            print(json.dumps(s), flush=True)
        else:
            print(f"floor guests={n} rounds={s['rounds']}: min {s['min_s']:.2f} s  "
                  f"median {s['median_s']:.2f} s  max {s['max_s']:.2f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
