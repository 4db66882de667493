"""Every built-in verb works on a prefix object of the Prefix class, so a
plugin's subclass applies to ``lago start``/``stop``/``status``… too: a
plugin names it in the entry-point group ``lago.plugins.prefix`` (and a
Workdir subclass in ``lago.plugins.workdir``). Checked through the console
entry point on a copy of an upstream Lago workdir over libvirt's test
driver (no guests)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

FIXTURE = Path(__file__).resolve().parents[2] / "lago-core" / "tests" / "fixtures" / "upstream-workdir"
TEST_URL = "test:///default"

#: A plugin shaped like ovirtlago: OvirtPrefix(prefix.Prefix) with its own
#: VIRT_ENV_CLASS and an ``__init__(*args, **kwargs)``; OvirtWorkdir sets
#: ``prefix_class`` after Workdir's ``__init__``. Each recorded call goes
#: to the file named by RECORD.
PLUGIN = '''
import os

from lago import prefix, virt, workdir


def _record(what):
    with open(os.environ["RECORD"], "a") as f:
        f.write(what + "\\n")


class LabVirtEnv(virt.VirtEnv):
    pass


class LabPrefix(prefix.Prefix):
    VIRT_ENV_CLASS = LabVirtEnv

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _record("init")

    def start(self, vm_names=None):
        _record("start " + ",".join(vm_names or []))
        super().start(vm_names)

    def stop(self, vm_names=None):
        _record("stop " + ",".join(vm_names or []))
        super().stop(vm_names)

    def status_info(self):
        _record("status " + type(self.virt_env).__name__)
        info = super().status_info()
        info["lab"] = True
        return info


class LabWorkdir(workdir.Workdir):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.prefix_class = LabPrefix

    def prefix_names(self):
        _record("workdir prefix_names " + type(self).__name__)
        return super().prefix_names()
'''


@pytest.fixture
def plugin_path(tmp_path: Path) -> Path:
    """A folder holding the plugin module and its distribution metadata."""
    root = tmp_path / "site"
    root.mkdir()
    (root / "labplugin.py").write_text(PLUGIN)
    info = root / "labplugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: labplugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        textwrap.dedent(
            """\
            [lago.plugins.prefix]
            lab = labplugin:LabPrefix

            [lago.plugins.workdir]
            lab = labplugin:LabWorkdir
            """
        )
    )
    return root


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    dst = tmp_path / "wd"
    shutil.copytree(FIXTURE, dst, symlinks=True)
    return dst


def lago(cwd: Path, plugin: Path, record: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(plugin), env.get("PYTHONPATH", "")) if p)
    env["RECORD"] = str(record)
    return subprocess.run(
        [sys.executable, "-c", "from lago.cmd import run; run()", "--libvirt_url", TEST_URL, *args],
        cwd=cwd, env=env, capture_output=True, text=True, check=False,
    )


def calls(record: Path) -> list[str]:
    return record.read_text().splitlines() if record.exists() else []


def test_status_stop_start_use_the_plugins_prefix_class(workdir: Path, plugin_path: Path, tmp_path: Path) -> None:
    record = tmp_path / "calls"
    r = lago(workdir, plugin_path, record, "-f", "json", "status")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["lab"] is True and info["Prefix"]["VMs"]["vm1"]["status"] == "down"
    assert calls(record) == ["init", "status LabVirtEnv"]

    record.unlink()
    r = lago(workdir, plugin_path, record, "stop", "vm1")
    assert r.returncode == 0, r.stderr
    assert calls(record) == ["init", "stop vm1"]

    record.unlink()
    lago(workdir, plugin_path, record, "start", "vm1")
    # the test driver may refuse the guest; the subclass was asked either way
    assert calls(record) == ["init", "start vm1"]


def test_list_uses_the_plugins_workdir_class(workdir: Path, plugin_path: Path, tmp_path: Path) -> None:
    record = tmp_path / "calls"
    r = lago(workdir.parent, plugin_path, record, "-f", "json", "list", str(workdir))
    assert r.returncode == 0, r.stderr
    assert "workdir prefix_names LabWorkdir" in calls(record)


def test_keyword_form_runs_a_verb_on_the_given_prefix() -> None:
    """A plugin's verb may call a built-in one on its own prefix object
    (``do_start(prefix=…)``, as ovirtlago calls ``do_collect``)."""
    from lago import cmd

    seen: list[object] = []

    class Lab:
        def start(self, vm_names: list[str]) -> None:
            seen.append(("start", vm_names))

        def status_info(self) -> dict[str, str]:
            seen.append("status")
            return {"a": "b"}

    assert cmd.do_start(prefix=Lab(), vm_names=["vm0"]) == 0
    assert cmd.do_status(prefix=Lab()) == 0
    assert seen == [("start", ["vm0"]), "status"]


def test_without_a_plugin_the_verbs_use_lagos_classes() -> None:
    from lago import cmd
    from lago.prefix import Prefix
    from lago.workdir import Workdir

    assert cmd.prefix_classes() == (Prefix, Workdir)


def test_init_creates_the_prefix_through_the_plugins_prefix_class(plugin_path: Path, tmp_path: Path) -> None:
    """``lago init`` asks the registered Prefix class for the new prefix
    (``Prefix.from_init_file``), so a plugin's subclass is constructed."""
    from test_init_template_repos import INITFILE, make_repo

    repo = make_repo(tmp_path / "repos", "mine", {"v1": 1})
    (tmp_path / "LagoInitFile").write_text(INITFILE)
    record = tmp_path / "calls"
    r = lago(
        tmp_path, plugin_path, record, "--lease_dir", str(tmp_path / "leases"),
        "init", "--skip-bootstrap", "--template-repo-path", str(repo),
        "--template-store", str(tmp_path / "store"),
    )
    assert r.returncode == 0, r.stderr
    assert calls(record) == ["init"]
    assert (tmp_path / ".lago" / "default" / "initialized").is_file()
    r = lago(tmp_path, plugin_path, record, "--lease_dir", str(tmp_path / "leases"), "destroy", "--yes")
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / ".lago" / "default").exists()
