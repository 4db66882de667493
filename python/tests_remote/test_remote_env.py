"""An environment on a remote libvirt host, end to end through the CLI:
its images in the host's pool, its guests reached through the host only,
snapshots there, and nothing left on the host after `destroy`."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import LAGO, host_objects, lago, lago_ok, virsh

ONE_VM = """\
domains:
  vm0:
    memory: 256
    vcpu: 1
    nics: [{net: lan}]
    disks: [{template_name: tiny, type: template, name: root, dev: vda, format: qcow2}]
    artifacts: [/etc/hostname]
nets:
  lan: {type: nat, management: true}
"""


def test_an_environment_on_a_remote_host_end_to_end(tmp_path: Path, lago_env: dict[str, str], uris: list[str]) -> None:
    uri = uris[0]
    pool = lago_env["LAGO_LIBVIRT_POOL"]
    env = {**lago_env, "LAGO_LIBVIRT_URL": uri}
    (tmp_path / "LagoInitFile").write_text(
        ONE_VM.replace("    artifacts:", "    metadata: {deploy-scripts: [$LAGO_INITFILE_PATH/deploy.sh]}\n    artifacts:")
    )
    (tmp_path / "deploy.sh").write_text("#!/bin/sh\necho deployed > /root/deployed\n")
    lago_ok(tmp_path, env, "init", "LagoInitFile")
    prefix = tmp_path / ".lago" / "default"
    uuid = (prefix / "uuid").read_text()
    try:
        record = json.loads((prefix / "host").read_text())
        assert record["uri"] == uri and record["pool"] == pool
        # the images are volumes on the host, not files here
        assert not [p.name for p in (prefix / "images").iterdir()]
        vols = host_objects(uri, pool, uuid)
        assert f"lago-{uuid}-vm0_root.qcow2" in vols, vols
        assert any(v.startswith("lago-template-") for v in virsh(uri, "vol-list", pool))

        # a command run without the URI still goes to the prefix's host
        plain = {k: v for k, v in env.items() if k != "LAGO_LIBVIRT_URL"}
        lago_ok(tmp_path, plain, "start")
        assert any(n.startswith(uuid[:8] + "-vm0") for n in virsh(uri, "list", "--name"))
        status = json.loads(lago_ok(tmp_path, plain, "--out-format", "json", "status").stdout)
        assert status["Prefix"]["Host"] == {"libvirt": uri, "pool": pool}
        assert status["Prefix"]["VMs"]["vm0"]["status"] == "running"

        # the guest's address is on the host's private net: SSH goes through the host
        r = lago_ok(tmp_path, plain, "shell", "vm0", "cat", "/etc/hostname")
        assert r.stdout.strip() == "vm0"
        (tmp_path / "f.txt").write_text("through the host\n")
        lago_ok(tmp_path, plain, "copy-to-vm", "vm0", str(tmp_path / "f.txt"), "/root/f.txt")
        lago_ok(tmp_path, plain, "copy-from-vm", "vm0", "/root/f.txt", str(tmp_path / "g.txt"))
        assert (tmp_path / "g.txt").read_text() == "through the host\n"

        lago_ok(tmp_path, plain, "deploy")
        assert lago_ok(tmp_path, plain, "shell", "vm0", "cat", "/root/deployed").stdout == "deployed\n"

        # a snapshot's overlay is a volume on the host; a revert drops what came after
        lago_ok(tmp_path, plain, "snapshot", "s1")
        assert f"lago-{uuid}-vm0_root.s1.qcow2" in host_objects(uri, pool, uuid)
        lago_ok(tmp_path, plain, "shell", "vm0", "-c", "echo late > /root/after && sync")
        lago_ok(tmp_path, plain, "revert", "s1")
        r = lago(tmp_path, plain, "shell", "vm0", "-c", "test -e /root/after")
        assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
        assert lago_ok(tmp_path, plain, "shell", "vm0", "cat", "/root/f.txt").stdout == "through the host\n"

        # a memory snapshot: the image is written on the host; the revert resumes
        # the guest from it (its uptime goes on from the snapshot's)
        lago_ok(tmp_path, plain, "snapshot", "m1", "--memory")
        assert f"lago-{uuid}-vm0.m1.mem" in host_objects(uri, pool, uuid)
        lago_ok(tmp_path, plain, "shell", "vm0", "-c", "echo late > /root/after-m1 && sync")
        lago_ok(tmp_path, plain, "revert", "m1")
        r = lago(tmp_path, plain, "shell", "vm0", "-c", "test -e /root/after-m1")
        assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
        assert lago_ok(tmp_path, plain, "shell", "vm0", "cat", "/root/deployed").stdout == "deployed\n"

        # export reads local files: a clear error, nothing made
        r = lago(tmp_path, plain, "export", "-d", str(tmp_path / "exported"))
        assert r.returncode == 2 and "volumes on the libvirt host" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr and not (tmp_path / "exported").exists()

        # the console log is written on the host, and fetched into the prefix
        fetch = (
            "import sys; from lago import sdk; env = sdk.load_env(sys.argv[1]); "
            "print(env._prefix._native.console_logs())"
        )
        r = subprocess.run(
            [sys.executable, "-c", fetch, str(tmp_path / ".lago")], env=plain, capture_output=True,
            text=True, check=False, timeout=120,
        )
        assert r.returncode == 0, r.stderr
        log = prefix / "logs" / "vm0.console.log"
        assert r.stdout.strip() == str([("vm0", str(log))]), r.stdout
        assert log.stat().st_size > 0

        out = tmp_path / "collected"
        lago_ok(tmp_path, plain, "collect", "--output", str(out))
        assert (out / "vm0" / "_etc_hostname").read_text().strip() == "vm0"
    finally:
        r = lago(tmp_path, {k: v for k, v in env.items() if k != "LAGO_LIBVIRT_URL"}, "destroy", "-y")
    assert r.returncode == 0, r.stderr
    assert not prefix.exists()
    # nothing of it is left on the host; the template stays for the next environment
    assert host_objects(uri, pool, uuid) == []
    assert any(v.startswith("lago-template-") for v in virsh(uri, "vol-list", pool))
    leases = Path(env["LAGO_LEASE_DIR"])
    assert not list(leases.rglob("*.lease")), list(leases.rglob("*"))


def test_four_environments_spread_over_two_hosts_by_free_memory(
    tmp_path: Path, lago_env: dict[str, str], uris: list[str]
) -> None:
    """With a host pool, each new environment goes to the host with the
    most memory left once the running environments' claims are counted:
    the two lab hosts share one machine's free memory, so the claims of
    the environments started decide."""
    pool = lago_env["LAGO_LIBVIRT_POOL"]
    env = {**lago_env, "LAGO_LIBVIRT_HOSTS": " ".join(uris)}
    one = ONE_VM.replace("memory: 256", "memory: 512")
    placed: dict[str, str] = {}
    dirs = []
    try:
        for i in range(4):
            d = tmp_path / f"env{i}"
            d.mkdir()
            dirs.append(d)
            (d / "LagoInitFile").write_text(one)
            lago_ok(d, env, "init", "LagoInitFile")
            placed[d.name] = json.loads((d / ".lago" / "default" / "host").read_text())["uri"]
            lago_ok(d, env, "start")
            # `lago list --hosts` says where each prefix of the workdir runs
            listed = json.loads(lago_ok(d, env, "--out-format", "json", "list", "--hosts").stdout)
            assert listed == {"default": placed[d.name]}
        # the first on the first host (a tie), the second where nothing runs,
        # then one more on each
        assert placed["env0"] == uris[0] and placed["env1"] == uris[1], placed
        assert sorted(placed.values()) == sorted(uris * 2), placed

        # an environment that fits nowhere: one error naming every host, nothing made
        big = tmp_path / "big"
        big.mkdir()
        (big / "LagoInitFile").write_text(ONE_VM.replace("memory: 256", "memory: 4000000"))
        r = lago(big, env, "init", "LagoInitFile")
        assert r.returncode != 0
        assert "no libvirt host has room for environment 'default'" in r.stderr, r.stderr
        for uri in uris:
            assert uri in r.stderr
        assert not (big / ".lago").exists()
    finally:
        for d in dirs:
            uuid = (d / ".lago" / "default" / "uuid").read_text()
            lago_ok(d, env, "destroy", "-y")
            assert host_objects(placed[d.name], pool, uuid) == []


def test_a_host_that_goes_away_gives_a_clear_error_and_the_other_host_is_cleaned(
    tmp_path: Path, lago_env: dict[str, str], uris: list[str]
) -> None:
    """Host 2 drops off the network (its link in the client namespace goes
    down) while an environment runs on each host: every command on host 2's
    environment fails naming the host, its `destroy` removes nothing (it
    could not clean the host), host 1's environment is destroyed cleanly,
    and once host 2 is back its `destroy` finishes."""
    pool = lago_env["LAGO_LIBVIRT_POOL"]
    dirs = {}
    for i, uri in enumerate(uris[:2]):
        d = tmp_path / f"on{i + 1}"
        d.mkdir()
        (d / "LagoInitFile").write_text(ONE_VM)
        env = {**lago_env, "LAGO_LIBVIRT_URL": uri}
        lago_ok(d, env, "init", "LagoInitFile")
        lago_ok(d, env, "start")
        dirs[uri] = (d, (d / ".lago" / "default" / "uuid").read_text())
    link = "lc-rh2"
    subprocess.run(["ip", "link", "set", link, "down"], check=True)
    try:
        d2, uuid2 = dirs[uris[1]]
        for args in (["status"], ["shell", "vm0", "true"], ["destroy", "-y"]):
            r = lago(d2, lago_env, *args)
            assert r.returncode != 0, args
            assert "Traceback" not in r.stderr, r.stderr
            assert f"runs on the libvirt host {uris[1]}" in r.stderr or uris[1] in r.stderr, (args, r.stderr)
        assert (d2 / ".lago" / "default" / "host").is_file()

        d1, uuid1 = dirs[uris[0]]
        lago_ok(d1, lago_env, "destroy", "-y")
        assert host_objects(uris[0], pool, uuid1) == []
    finally:
        subprocess.run(["ip", "link", "set", link, "up"], check=True)
    # back: the destroy that failed finishes now
    deadline = time.monotonic() + 60
    while True:
        r = lago(d2, lago_env, "destroy", "-y")
        if r.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert r.returncode == 0, r.stderr
    assert host_objects(uris[1], pool, uuid2) == []


def test_a_template_goes_to_a_host_once_with_progress(tmp_path: Path, lago_env: dict[str, str], uris: list[str]) -> None:
    """The first environment on a host uploads the template (progress lines
    while it does); the next finds it there, named by its sha1, and uploads
    nothing."""
    uri = uris[1]
    pool = lago_env["LAGO_LIBVIRT_POOL"]
    for v in virsh(uri, "vol-list", pool):
        if v.startswith("lago-template-"):
            subprocess.run(["virsh", "-c", uri, "vol-delete", "--pool", pool, v], check=True, capture_output=True)
    env = {k: v for k, v in lago_env.items() if k != "LAGO_QUIET"}
    env.update({"LAGO_LIBVIRT_URL": uri, "LAGO_TEST_PROGRESS_UNTHROTTLED": "1"})
    host = uri.split("://", 1)[1].split("/", 1)[0]
    sha1 = (Path(lago_env["LAGO__INIT__TEMPLATE_REPO_PATH"]).parent / "tiny.img.hash").read_text().split()[0]
    for i, uploads in ((0, True), (1, False)):
        d = tmp_path / f"w{i}"
        d.mkdir()
        (d / "LagoInitFile").write_text(ONE_VM)
        r = lago_ok(d, env, "init", "LagoInitFile")
        lines = [ln for ln in r.stderr.splitlines() if ln.startswith("lago: uploading template ")]
        if uploads:
            assert lines, r.stderr
            assert all(f" to {host}: " in ln for ln in lines), lines
            assert re.search(r": 0% \(0 B of 256\.0 MiB\)$", lines[0]), lines
            assert lines[-1].endswith(": done"), lines
        else:
            assert lines == [], lines
        assert {f"lago-template-{sha1}.raw", f"lago-template-{sha1}.ok"} <= set(virsh(uri, "vol-list", pool))
    for i in range(2):
        lago_ok(tmp_path / f"w{i}", env, "destroy", "-y")


def _paused_init(cwd: Path, env: dict[str, str], phase: str) -> subprocess.Popen[bytes]:
    """`lago init` run until it says it is paused at `phase` (test knob
    LAGO_TEST_PAUSE); returned still paused."""
    proc = subprocess.Popen(
        [*LAGO, "init", "LagoInitFile"], cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, env={**env, "LAGO_TEST_PAUSE": phase}, start_new_session=True,
    )
    assert proc.stderr is not None
    marker = f"LAGO_TEST_PAUSED {phase} {proc.pid}".encode()
    seen = b""
    deadline = time.monotonic() + 300
    while marker not in seen:
        ready, _, _ = select.select([proc.stderr], [], [], 5)
        if ready:
            chunk = os.read(proc.stderr.fileno(), 65536)
            assert chunk, f"lago init ended before {phase}: {seen!r}"
            seen += chunk
        assert time.monotonic() < deadline, seen
    return proc


@pytest.mark.parametrize("how", ["KILL", "INT"])
def test_an_init_killed_after_its_uploads_leaves_nothing_on_the_host(
    tmp_path: Path, lago_env: dict[str, str], uris: list[str], how: str
) -> None:
    """Killed (or interrupted) once its images are volumes on the host:
    the next lago command in the workdir removes them with the half-made
    prefix (an interrupt undoes them itself)."""
    uri = uris[0]
    pool = lago_env["LAGO_LIBVIRT_POOL"]
    env = {**lago_env, "LAGO_LIBVIRT_URL": uri}
    (tmp_path / "LagoInitFile").write_text(ONE_VM)
    proc = _paused_init(tmp_path, env, "init:placed")
    try:
        staging = [p for p in (tmp_path / ".lago").iterdir() if p.name.startswith(".staging-")]
        assert len(staging) == 1, staging
        uuid = (staging[0] / "uuid").read_text()
        assert f"lago-{uuid}-vm0_root.qcow2" in host_objects(uri, pool, uuid)
        if how == "KILL":
            os.kill(proc.pid, signal.SIGKILL)
        else:
            # as Ctrl-C does; lago says when it saw it, then goes on
            os.killpg(proc.pid, signal.SIGINT)
            assert proc.stderr is not None and proc.stdin is not None
            seen = b""
            while b"LAGO_TEST_INTERRUPT_SEEN" not in seen:
                chunk = os.read(proc.stderr.fileno(), 65536)
                assert chunk, seen
                seen += chunk
            proc.stdin.close()
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdin, proc.stderr):
            if pipe is not None and not pipe.closed:
                pipe.close()
    assert proc.returncode != 0
    # the next command: a new init in the same workdir
    lago_ok(tmp_path, env, "init", "LagoInitFile")
    assert host_objects(uri, pool, uuid) == []
    assert not [p for p in (tmp_path / ".lago").iterdir() if p.name.startswith(".staging-")]
    lago_ok(tmp_path, env, "destroy", "-y")
