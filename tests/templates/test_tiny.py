"""The tiny template as a Lago `file` repository: format, hash, rebuilds,
and libguestfs (virt-customize) working on it."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import floor

HERE = Path(__file__).parent
BUILD = HERE / "build-tiny"


def sha1_of(path: Path) -> str:
    h = hashlib.sha1()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def test_repo_metadata_is_lago_file_repo(template_repo):
    repo = json.loads((template_repo / "repo.metadata").read_text())
    assert isinstance(repo["name"], str) and repo["name"]
    assert repo["sources"]["local"]["type"] == "file"
    root = Path(os.path.expandvars(repo["sources"]["local"]["args"]["root"]))
    assert root == template_repo
    versions = repo["templates"]["tiny"]["versions"]
    assert versions, "no versions"
    for ver in versions.values():
        assert ver["source"] in repo["sources"]
        assert isinstance(ver["timestamp"], int)
        assert (root / ver["handle"]).is_file()


def test_image_sha1_equals_hash_file(template_repo):
    image = template_repo / "tiny.img"
    assert sha1_of(image) == (template_repo / "tiny.img.hash").read_text().strip()


def test_template_metadata_declares_nocloud(template_metadata):
    assert template_metadata["distro"] == "tiny"
    assert template_metadata["nocloud"] is True
    assert "nocloud" in template_metadata["bootstrap"]
    assert template_metadata["kernel"]


def test_build_skipped_when_inputs_unchanged(template_repo):
    image = template_repo / "tiny.img"
    before = image.stat().st_mtime_ns
    out = subprocess.run([str(BUILD)], capture_output=True, text=True, check=True)
    assert "up to date" in out.stderr
    assert image.stat().st_mtime_ns == before


def test_build_is_reproducible(template_repo, tmp_path):
    # a second build from scratch into another root, from the same packages
    env = dict(os.environ, LAGO_TEST_ROOT=str(tmp_path),
               LAGO_TEST_DEBS=str(template_repo.parent / "cache" / "debs"))
    subprocess.run([str(BUILD)], env=env, check=True, capture_output=True)
    rebuilt = tmp_path / "repo" / "tiny.img"
    assert sha1_of(rebuilt) == (template_repo / "tiny.img.hash").read_text().strip()
    assert (tmp_path / "repo" / "tiny.img.hash").read_text() == \
        (template_repo / "tiny.img.hash").read_text()


def test_virt_customize_ssh_inject_then_key_login(test_namespace, tmp_path):
    """libguestfs recognises the guest, injects a key and sets the hostname;
    the guest then boots and accepts that key (no password, no seed)."""
    with floor.Floor(1) as f:
        g = f.vms[0]
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(f.key)],
                       check=True)
        out = subprocess.run(
            ["virt-customize", "-a", str(g.disk), "--hostname", "injected",
             "--ssh-inject", f"root:file:{f.key}.pub"],
            capture_output=True, text=True, timeout=600,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        f.nocloud = True  # log in with the key from now on
        f.boot_all()
        r = f.ssh(g, "hostname; cat /root/.ssh/authorized_keys")
        assert r.returncode == 0, r.stderr
        lines = r.stdout.decode().splitlines()
        assert lines[0] == "injected"
        assert Path(f"{f.key}.pub").read_text().strip() in lines[1:]
