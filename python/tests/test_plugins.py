"""load_plugins over importlib.metadata entry points."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

from lago.plugins import PLUGIN_ENTRY_POINTS, Plugin, load_plugins
from lago.plugins.output import OutFormatPlugin


@pytest.fixture
def fake_dist(tmp_path: Path) -> Iterator[Path]:
    """A distribution with plugins in groups lago.plugins.output/vm."""
    (tmp_path / "fakeplug.py").write_text(
        "from lago.plugins.output import OutFormatPlugin\n"
        "class Upper(OutFormatPlugin):\n"
        "    def format(self, info_dict):\n"
        "        return str(info_dict).upper()\n"
        "from lago.vm import DefaultVM\n"
        "class MyVM(DefaultVM):\n"
        "    def _artifact_paths(self):\n"
        "        return ['/var/log']\n"
    )
    info = tmp_path / "fakeplug-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeplug\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[lago.plugins.output]\nupper = fakeplug:Upper\nbroken = fakeplug:Missing\n\n"
        "[lago.plugins.vm]\nmy-vm = fakeplug:MyVM\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("fakeplug", None)


def test_groups_are_lagos() -> None:
    assert PLUGIN_ENTRY_POINTS["out"] == "lago.plugins.output"
    assert PLUGIN_ENTRY_POINTS["vm"] == "lago.plugins.vm"


def test_builtin_formats_are_registered() -> None:
    plugins = load_plugins("lago.plugins.output")
    assert {"default", "json", "yaml", "flat"} <= set(plugins)
    assert all(isinstance(p, OutFormatPlugin) for p in plugins.values())


def test_third_party_plugins_load(fake_dist: Path, caplog: pytest.LogCaptureFixture) -> None:
    outs = load_plugins("lago.plugins.output")
    assert outs["upper"].format({"a": 1}) == "{'A': 1}"
    assert "broken" not in outs  # a failing plugin is left out with a warning
    assert any("broken" in r.getMessage() for r in caplog.records)
    vms = load_plugins("lago.plugins.vm", instantiate=False)
    assert isinstance(vms["my-vm"], type) and vms["default"].__name__ == "DefaultVM"
    assert issubclass(vms["my-vm"], Plugin)


def test_entry_point_scan_matches_importlib_metadata(fake_dist: Path) -> None:
    from importlib import metadata

    from lago.plugins import _entrypoints

    mine = {(e.group, e.name, e.value) for eps in _entrypoints.scan().values() for e in eps}
    all_eps = metadata.entry_points()
    if hasattr(all_eps, "select"):
        theirs = {(e.group, e.name, e.value) for g in all_eps.groups for e in all_eps.select(group=g)}
    else:  # Python 3.9
        theirs = {(e.group, e.name, e.value) for eps in all_eps.values() for e in eps}
    assert mine == theirs
    assert ("lago.plugins.output", "upper", "fakeplug:Upper") in mine
