"""The tiny guest on plain libvirt: the floor path once (password login), and
what the template promises lago: NoCloud, DHCP on every NIC, SFTP, tar/gzip,
ACPI shutdown."""

from __future__ import annotations

import hashlib
import subprocess
import time

import pytest

import floor


def test_floor_smoke_uname(test_namespace, template_metadata):
    """virsh create -> SSH with root's password -> `uname -r` is the template's kernel."""
    with floor.Floor(1) as f:
        seconds = f.boot_all()
        r = f.ssh(f.vms[0], "uname", "-r")
        assert r.returncode == 0, r.stderr
        assert r.stdout.decode().strip() == template_metadata["kernel"]
        print(f"floor smoke: booted and answered SSH in {seconds:.2f} s; "
              f"uname -r = {r.stdout.decode().strip()}")


@pytest.fixture(scope="module")
def seeded(test_namespace):
    """One guest on two networks with a NoCloud seed (its name, our key)."""
    with floor.Floor(1, networks=2, nocloud=True) as f:
        f.boot_all()
        yield f


def run(f: floor.Floor, *argv: str, stdin: bytes | None = None) -> bytes:
    r = f.ssh(f.vms[0], *argv, stdin=stdin)
    assert r.returncode == 0, (argv, r.stderr)
    return r.stdout


def test_nocloud_hostname_and_key(seeded):
    # seeded.ssh logs in with the seed's key only (password auth disabled)
    assert run(seeded, "hostname").decode().strip() == seeded.vms[0].name
    keys = run(seeded, "cat", "/root/.ssh/authorized_keys").decode()
    assert seeded.key.with_suffix(".pub").read_text().strip() in keys


def test_dhcp_on_every_nic(seeded):
    out = run(seeded, "ip", "-4", "-o", "addr").decode()
    for ip in seeded.vms[0].ips:
        assert f" {ip}/24 " in out, out


def test_tar_gzip_at_lago_paths(seeded):
    # ssh joins argv with spaces: a shell command goes as one string
    run(seeded, "mkdir -p /tmp/t/a && echo hello > /tmp/t/a/f")
    archive = run(seeded, "/usr/bin/tar", "-czf", "-", "-C", "/tmp", "t")
    listing = subprocess.run(["tar", "-tzf", "-"], input=archive, capture_output=True,
                             check=True).stdout.decode().split()
    assert "t/a/f" in listing


def test_sftp_round_trip(seeded, tmp_path):
    g = seeded.vms[0]
    src = tmp_path / "blob"
    src.write_bytes(bytes(range(256)) * 4096)
    back = tmp_path / "back"
    batch = tmp_path / "batch"
    batch.write_text(f"put {src} /tmp/blob\nget /tmp/blob {back}\n")
    r = subprocess.run(
        ["sftp", "-q", "-b", str(batch), "-i", str(seeded.key),
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         f"root@{g.ip}"],
        capture_output=True, timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert hashlib.sha1(back.read_bytes()).digest() == hashlib.sha1(src.read_bytes()).digest()


def test_acpi_shutdown_powers_off(seeded):
    """Runs last in this module: `virsh shutdown` (ACPI) ends the guest."""
    g = seeded.vms[0]
    floor.virsh("shutdown", g.name)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        names = floor.virsh("list", "--name").split()
        if g.name not in names:
            return
        time.sleep(0.5)
    pytest.fail(f"{g.name} still running 60 s after an ACPI shutdown")
