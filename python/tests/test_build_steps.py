"""lago.build: command lines of a disk's build steps (made by lago-core)."""

from __future__ import annotations

import pytest

from lago import build


class Paths:
    def ssh_id_rsa_pub(self) -> str:
        return "/prefix/id_rsa.pub"


def test_options_become_argv_in_order() -> None:
    options = {"x": "1", "run-command": ["a", "b"], "selinux-relabel": "", "empty": [], "none": None}
    assert build.Build.normalize_options(options) == [
        "-x", "1", "--run-command", "a", "--run-command", "b",
        "--selinux-relabel", "--empty", "--none",
    ]


def test_build_spec_to_commands() -> None:
    builder = build.Build.get_instance_from_build_spec(
        "vm0", "/d/root.qcow2", [{"virt-customize": {"ssh-inject": "", "touch": "/f"}}, {}], Paths()
    )
    assert builder.build_cmds == [
        build.Command(
            "virt-customize",
            ["virt-customize", "-a", "/d/root.qcow2",
             "--ssh-inject", "root:file:/prefix/id_rsa.pub", "--touch", "/f"],
        )
    ]


def test_unknown_tool_is_a_build_error() -> None:
    builder = build.Build("vm0", "/d", Paths())
    with pytest.raises(build.BuildException, match="virt-builder.*valid: virt-customize"):
        builder.normalize_build_spec([{"virt-builder": {}}])
