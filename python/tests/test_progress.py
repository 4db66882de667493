"""Progress of long operations on a stderr that is not a terminal: ``lago
init`` fetching a template from a local ``file`` repository prints plain
lines ``lago: downloading template NAME: P% (X of Y)`` with increasing
percentages and a final ``... done``; ``-q`` and ``LAGO_QUIET=1`` hide
them; the SDK shows nothing unless asked. The core's throttling is turned
off by its test variable so that a small image gives every line a slow
download would. No VM is started."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

INITFILE = """\
domains:
  vm0:
    memory: 256
    nics:
      - net: mgmt
    disks:
      - template_name: tiny
        type: template
        name: root
        dev: vda
        format: qcow2
nets:
  mgmt:
    type: nat
    management: true
"""

LINE = re.compile(r"^lago: downloading template (\S+): (\d+)% \(.* of 20\.0 MiB\)$")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A ``file`` repository with a 20 MiB raw image (20 copy chunks)."""
    images = tmp_path / "images"
    images.mkdir()
    img = images / "tiny.img"
    with img.open("wb") as f:
        for i in range(20):
            f.write(bytes([i + 1]) * (1 << 20))
    (images / "tiny.img.hash").write_text(hashlib.sha1(img.read_bytes()).hexdigest())
    (images / "tiny.img.metadata").write_text(json.dumps({"distro": "tiny"}))
    path = tmp_path / "repo.json"
    path.write_text(json.dumps({
        "name": "big",
        "sources": {"local": {"type": "file", "args": {"root": str(images)}}},
        "templates": {"tiny": {"versions": {"v1": {"source": "local", "handle": img.name, "timestamp": 1}}}},
    }))
    return path


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("LAGO")}
    e.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "xdg"), LAGO_LEASE_DIR=str(tmp_path / "leases"))
    e.update(LAGO_TEST_PROGRESS_UNTHROTTLED="1", **extra)
    return e


def init(tmp_path: Path, repo: Path, *flags: str, **extra: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "LagoInitFile").write_text(INITFILE)
    script = Path(sys.executable).parent / "lago"
    r = subprocess.run(
        [str(script), *flags, "init", "--skip-bootstrap", "--template-repo-path", str(repo),
         "--template-store", str(tmp_path / "store")],
        cwd=tmp_path, env=env(tmp_path, **extra), capture_output=True, text=True, check=False,
    )
    assert r.returncode == 0, r.stderr
    d = subprocess.run(
        [str(script), "--prefix-name", "default", "destroy", "--yes"],
        cwd=tmp_path, env=env(tmp_path), capture_output=True, text=True, check=False,
    )
    assert d.returncode == 0, d.stderr
    return r


def test_plain_progress_lines_when_not_on_a_terminal(repo: Path, tmp_path: Path) -> None:
    lines = [ln for ln in init(tmp_path, repo).stderr.splitlines() if ln.startswith("lago: downloading")]
    steps = [LINE.match(ln) for ln in lines[:-1]]
    assert all(steps), lines
    assert {m.group(1) for m in steps if m} == {"big:tiny:v1"}
    percents = [int(m.group(2)) for m in steps if m]
    # one line per 10 %: 0, 10, ..., 100 (each strictly above the last)
    assert percents == sorted(set(percents)) and len(percents) >= 10, percents
    assert percents[0] == 0 and percents[-1] == 100
    assert lines[-1] == "lago: downloading template big:tiny:v1: done"


@pytest.mark.parametrize("how", ["-q", "--quiet", "LAGO_QUIET=1"])
def test_quiet_hides_progress(repo: Path, tmp_path: Path, how: str) -> None:
    if how.startswith("LAGO_QUIET"):
        r = init(tmp_path, repo, LAGO_QUIET="1")
    else:
        r = init(tmp_path, repo, how)
    assert (tmp_path / "store" / "big:tiny:v1").exists()
    assert "lago: downloading" not in r.stderr


def test_sdk_shows_nothing_unless_enabled(repo: Path, tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from lago import templates, _native\n"
        "repo = templates.TemplateRepository.from_url(sys.argv[1])\n"
        "v = repo.get_by_name('tiny').get_version('v1')\n"
        "templates.TemplateStore(sys.argv[2]).download(v)\n"
        "_native.enable_progress()\n"
        "templates.TemplateStore(sys.argv[3]).download(v)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, str(repo), str(tmp_path / "s1"), str(tmp_path / "s2")],
        env=env(tmp_path), capture_output=True, text=True, check=False,
    )
    assert r.returncode == 0, r.stderr
    # only the second download, after enable_progress(), is shown
    assert r.stderr.count("lago: downloading template big:tiny:v1: done") == 1
    assert r.stderr.count("lago: downloading template big:tiny:v1: 0%") == 1


def test_export_shows_bytes_copied_hashed_and_compressed(repo: Path, tmp_path: Path) -> None:
    """``lago export --standalone --compress`` of a stopped VM: the flattened
    copy, the sha1 and the xz packing each print lines in bytes from 0 % to
    ``done``; the hash and compression totals are the copy's length."""
    (tmp_path / "LagoInitFile").write_text(INITFILE)
    script = Path(sys.executable).parent / "lago"

    def lago(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(script), *args], cwd=tmp_path, env=env(tmp_path),
                              capture_output=True, text=True, check=False)

    r = lago("init", "--skip-bootstrap", "--template-repo-path", str(repo), "--template-store", str(tmp_path / "store"))
    assert r.returncode == 0, r.stderr
    try:
        r = lago("export", "--standalone", "--compress", "--dst-dir", str(tmp_path / "out"))
        assert r.returncode == 0, r.stderr
        packed = tmp_path / "out" / "vm0_root.qcow2.xz"
        size = len(subprocess.run(["xz", "-dc", str(packed)], capture_output=True, check=True).stdout)
        lines = r.stderr.splitlines()
        for task, total in [("exporting VM 'vm0' disk vm0_root.qcow2", None),
                            ("hashing vm0_root.qcow2", size), ("compressing vm0_root.qcow2", size)]:
            mine = [ln[len(f"lago: {task}: "):] for ln in lines if ln.startswith(f"lago: {task}: ")]
            assert mine and mine[-1] == "done", (task, r.stderr)
            first = re.fullmatch(r"0% \(0 B of (.+)\)", mine[0])
            assert first, (task, mine)
            if total is not None:
                # sizes are shown in binary units with one decimal
                assert first.group(1) == f"{total / (1 << 20):.1f} MiB", (task, mine, total)
        assert lines.index("lago: exporting disks: done") > lines.index("lago: compressing vm0_root.qcow2: done")
    finally:
        d = lago("destroy", "--yes")
        assert d.returncode == 0, d.stderr
