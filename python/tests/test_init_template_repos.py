"""``lago init --template-repo-name NAME --template-repos DIR`` takes the
repository called NAME among the ``*.json`` files under DIR (Lago's
``find_repo_by_name``); ``--template-repo-path`` given on the command line
wins. A local ``file`` repository; no VM is started."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lago import templates

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


def make_repo(folder: Path, name: str, versions: dict[str, int]) -> Path:
    """A ``file`` repository ``name`` with template ``tiny`` (one raw image
    per version, with its hash and metadata); returns its JSON file."""
    images = folder / f"{name}-images"
    images.mkdir(parents=True)
    spec: dict[str, dict[str, object]] = {}
    for version, stamp in versions.items():
        img = images / f"tiny-{version}.img"
        subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(img), "1M"], check=True)
        (images / f"tiny-{version}.img.hash").write_text(hashlib.sha1(img.read_bytes()).hexdigest())
        (images / f"tiny-{version}.img.metadata").write_text(json.dumps({"distro": "tiny", "version": version}))
        spec[version] = {"source": "local", "handle": img.name, "timestamp": stamp}
    dom = {
        "name": name,
        "sources": {"local": {"type": "file", "args": {"root": str(images)}}},
        "templates": {"tiny": {"versions": spec}},
    }
    path = folder / f"{name}.json"
    path.write_text(json.dumps(dom))
    return path


@pytest.fixture
def repos(tmp_path: Path) -> Path:
    folder = tmp_path / "repos"
    make_repo(folder, "other", {"v9": 9})
    make_repo(folder / "nested", "mine", {"v1": 1, "v2": 2})
    return folder


def lago(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAGO")}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "xdg"), LAGO_LEASE_DIR=str(tmp_path / "leases"))
    script = Path(sys.executable).parent / "lago"
    return subprocess.run([str(script), *args], cwd=tmp_path, env=env, capture_output=True, text=True, check=False)


def test_find_repo_by_name_searches_the_folder(repos: Path) -> None:
    repo = templates.find_repo_by_name("mine", str(repos))
    assert repo.name == "mine" and repo.path == str(repos / "nested" / "mine.json")
    version = repo.get_by_name("tiny").get_version()
    assert version.name == "mine:tiny:v2"
    assert len(version.get_hash()) == 40
    with pytest.raises(RuntimeError, match="Could not find repo absent"):
        templates.find_repo_by_name("absent", str(repos))
    with pytest.raises(templates.LagoMissingTemplateError):
        repo.get_by_name("huge")


def test_store_fetches_a_version_through_the_core(repos: Path, tmp_path: Path) -> None:
    repo = templates.TemplateRepository.from_url(str(repos / "nested" / "mine.json"))
    store = templates.TemplateStore(str(tmp_path / "store"))
    version = repo.get_by_name("tiny").get_version("v1")
    assert version not in store
    store.download(version)
    assert version in store
    assert store.get_path(version) == str(tmp_path / "store" / "mine:tiny:v1")
    assert store.get_stored_hash(version) == version.get_hash()
    assert store.get_stored_metadata(version)["version"] == "v1"


def test_init_uses_the_named_repository(repos: Path, tmp_path: Path) -> None:
    (tmp_path / "LagoInitFile").write_text(INITFILE)
    store = tmp_path / "store"
    r = lago(
        tmp_path, "init", "--skip-bootstrap", "--template-repo-name", "mine",
        "--template-repos", str(repos), "--template-store", str(store),
    )
    assert r.returncode == 0, r.stderr
    assert (store / "mine:tiny:v2").exists()
    assert not (store / "other:tiny:v9").exists()
    r = lago(tmp_path, "--prefix-name", "default", "destroy", "--yes")
    assert r.returncode == 0, r.stderr


def test_init_with_an_unknown_repository_name(repos: Path, tmp_path: Path) -> None:
    (tmp_path / "LagoInitFile").write_text(INITFILE)
    r = lago(tmp_path, "init", "--skip-bootstrap", "--template-repo-name", "absent", "--template-repos", str(repos))
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == (
        f"lago: error: Could not find repo absent (searched 2 *.json files under {repos})"
    )
    assert "Traceback" not in r.stderr


def test_template_repo_path_on_the_command_line_wins(repos: Path, tmp_path: Path) -> None:
    (tmp_path / "LagoInitFile").write_text(INITFILE)
    store = tmp_path / "store"
    r = lago(
        tmp_path, "init", "--skip-bootstrap", "--template-repo-name", "mine", "--template-repos", str(repos),
        "--template-repo-path", str(repos / "other.json"), "--template-store", str(store),
    )
    assert r.returncode == 0, r.stderr
    assert (store / "other:tiny:v9").exists() and not (store / "mine:tiny:v2").exists()
    lago(tmp_path, "--prefix-name", "default", "destroy", "--yes")
