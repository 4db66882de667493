"""``lago snapshot`` (disk-only and ``--memory``) / ``lago snapshot --list``
/ ``lago revert`` on one real tiny guest, through the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

from test_cli_e2e import lago

#: One tiny VM on its own subnet (no deploy scripts: nothing to copy).
ONE_VM = """\
domains:
  vm0:
    memory: 256
    vcpu: 1
    nics: [{net: lan}]
    disks: [{template_name: tiny, type: template, name: root, dev: vda, format: qcow2}]
nets:
  lan:
    type: nat
    management: true
    gw: 192.168.245.1
"""


def test_cli_snapshot_list_revert(lago_test_env: dict[str, str], scratch: Path) -> None:
    (scratch / "LagoInitFile").write_text(ONE_VM)
    r = lago(scratch, "init", "LagoInitFile")
    assert r.returncode == 0, r.stderr
    try:
        assert lago(scratch, "start").returncode == 0
        r = lago(scratch, "shell", "vm0", "-c", "echo a > /root/f-a && sync")
        assert r.returncode == 0, r.stderr
        r = lago(scratch, "snapshot", "s1")
        assert r.returncode == 0, r.stderr

        r = lago(scratch, "-f", "json", "snapshot", "--list")
        assert r.returncode == 0, r.stderr
        snaps = json.loads(r.stdout)
        assert list(snaps) == ["vm0"] and list(snaps["vm0"]) == ["s1"]
        (disk,) = snaps["vm0"]["s1"]
        assert disk["path"] == "$LAGO_PREFIX_PATH/images/vm0_root.qcow2"
        assert (disk["dev"], disk["format"], disk["name"]) == ("vda", "qcow2", "root")
        status = json.loads(lago(scratch, "-f", "json", "status").stdout)
        assert status["Prefix"]["VMs"]["vm0"]["snapshots"] == "s1"

        r = lago(scratch, "snapshot", "s1")
        assert r.returncode == 2 and "has a snapshot 's1' already" in r.stderr, r.stderr
        r = lago(scratch, "snapshot")
        assert r.returncode == 2 and "No snapshot name provided" in r.stderr

        r = lago(scratch, "shell", "vm0", "-c", "echo b > /root/f-b && sync")
        assert r.returncode == 0, r.stderr
        r = lago(scratch, "revert", "s1")
        assert r.returncode == 0, r.stderr
        # the VM runs again and answers: a is there, b is gone
        r = lago(scratch, "shell", "vm0", "-c", "ls /root | grep '^f-'")
        assert r.returncode == 0 and r.stdout.split() == ["f-a"], (r.stdout, r.stderr)
        r = lago(scratch, "revert", "nope")
        assert r.returncode == 2 and "its snapshots: s1" in r.stderr, r.stderr

        # --memory: the revert resumes the guest (same boot, same process)
        r = lago(scratch, "shell", "vm0", "-c",
                 "cat /proc/sys/kernel/random/boot_id; sleep 100005 </dev/null >/dev/null 2>&1 & echo $!")
        assert r.returncode == 0, r.stderr
        boot_id, pid = r.stdout.split()
        # the save's progress lines (shown from the start under the test knob;
        # a real save shows them once it lasts 1 s): libvirt's job, in bytes
        r = lago(scratch, "snapshot", "m1", "--memory", env={"LAGO_TEST_PROGRESS_UNTHROTTLED": "1", "LAGO_QUIET": "0"})
        assert r.returncode == 0, r.stderr
        lines = [ln for ln in r.stderr.splitlines() if ln.startswith("lago: saving the memory of 1 VM:")]
        assert lines and lines[-1] == "lago: saving the memory of 1 VM: done", r.stderr
        assert re.fullmatch(r"lago: saving the memory of 1 VM: \d+% \(.+ of .+iB\)", lines[0]), lines
        assert (scratch / ".lago/default/images/vm0.m1.mem").is_file()
        snaps = json.loads(lago(scratch, "-f", "json", "snapshot", "--list").stdout)
        assert [d.get("snapshot-kind") for d in snaps["vm0"]["m1"]] == ["memory"]
        assert [d.get("snapshot-kind") for d in snaps["vm0"]["s1"]] == [None], "Lago's listing"
        r = lago(scratch, "shell", "vm0", "-c", f"kill {pid}; echo c > /root/f-c")
        assert r.returncode == 0, r.stderr
        r = lago(scratch, "revert", "m1")
        assert r.returncode == 0, r.stderr
        r = lago(scratch, "shell", "vm0", "-c",
                 f"cat /proc/sys/kernel/random/boot_id; ls /root | grep '^f-'; tr '\\0' ' ' < /proc/{pid}/cmdline")
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == [boot_id, "f-a", "sleep", "100005"], r.stdout
    finally:
        r = lago(scratch, "destroy", "-y")
    assert r.returncode == 0, r.stderr
    assert not (scratch / ".lago").exists()
