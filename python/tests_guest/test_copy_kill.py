"""The guest killed during a copy (issue 17 item 3): `lago copy-to-vm` of a
large file, the VM's domain destroyed (`virsh destroy`, a power cut) while
the transfer runs. The copy fails with one clear line naming the VM (no
traceback), `lago start` brings the VM back, and `lago destroy -y` leaves
nothing."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from conftest import CLI_LIMIT as LIMIT
from conftest import LAGO, ONE_VM, leases_under
from conftest import lago_cli as lago
from conftest import lago_ok as ok
from conftest import libvirt_objects_of as objects_of

# random, so that nothing on the way compresses it; more than the tiny
# guest's disk or memory holds, so it goes to /dev/null there
SIZE = 200 * 1024 * 1024

def test_guest_killed_during_a_copy(lago_test_env: dict[str, str], scratch: Path) -> None:
    (scratch / "LagoInitFile").write_text(ONE_VM)
    big = scratch / "big.bin"
    with big.open("wb") as f:
        for _ in range(SIZE // (4 << 20)):
            f.write(os.urandom(4 << 20))
    ok(scratch, "init")
    uuid = (scratch / ".lago" / "default" / "uuid").read_text()
    try:
        ok(scratch, "start")
        domain = f"{uuid[:8]}-vm0"
        assert domain in objects_of(uuid)
        copy = subprocess.Popen(
            [*LAGO, "copy-to-vm", "vm0", str(big), "/dev/null"], cwd=scratch,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            # the transfer runs: the guest's SFTP server is up for it
            deadline = time.monotonic() + LIMIT
            while lago(scratch, "shell", "vm0", "-c", "pidof sftp-server").returncode != 0:
                assert copy.poll() is None, f"the copy ended first: {copy.communicate()}"
                assert time.monotonic() < deadline, "the copy never started"
            subprocess.run(["virsh", "-c", "qemu:///system", "destroy", domain], check=True, capture_output=True)
            out, err = copy.communicate(timeout=LIMIT)
        finally:
            if copy.poll() is None:
                copy.kill()
                copy.communicate()
        assert copy.returncode == 2, (copy.returncode, out, err)
        errors = [line for line in err.splitlines() if line.startswith("lago: ")]
        assert len(errors) == 1 and errors[0].startswith("lago: error: "), err
        assert "VM 'vm0' is not running any more (down)" in errors[0], err
        assert "Traceback" not in err and "Error occured" not in err, err
        # the VM comes back
        r = ok(scratch, "--out-format", "json", "status")
        assert json.loads(r.stdout)["Prefix"]["VMs"]["vm0"]["status"] == "down", r.stdout
        ok(scratch, "start")
        r = ok(scratch, "shell", "vm0", "cat", "/etc/hostname")
        assert r.stdout == "vm0\n", r.stdout
    finally:
        ok(scratch, "destroy", "-y")
    workdir = scratch / ".lago"
    assert not workdir.exists() or not any(workdir.iterdir()), list(workdir.iterdir())
    assert not leases_under(scratch)
    assert not objects_of(uuid)
