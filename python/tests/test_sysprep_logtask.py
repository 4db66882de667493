"""lago.sysprep template rendering, and LogTask with a logger object that
has only info/debug."""

from __future__ import annotations

from pathlib import Path

import pytest

from lago import sysprep
from lago.log_utils import LogTask


def test_distro_template_else_base(tmp_path: Path) -> None:
    import jinja2  # run-all installs it; lago.sysprep needs it only for templates
    (tmp_path / "sysprep-base.j2").write_text("hostname {{ hostname }}\n")
    (tmp_path / "sysprep-el7.j2").write_text("{{ text|dedent }}")
    loader = jinja2.FileSystemLoader(str(tmp_path))
    for distro, want in (("el7", "# sysprep-el7.j2\nindented\n"), ("fc30", "# sysprep-base.j2\nhostname vm0")):
        path = sysprep._render_template(distro, loader, hostname="vm0", text="    indented\n")
        try:
            assert Path(path).read_text() == want
        finally:
            Path(path).unlink()


def test_sysprep_commands_never_go_to_the_temp_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile
    import types

    import jinja2

    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    (tmp_path / "sysprep-base.j2").write_text("root-password password:{{ root_password }}\n")
    disk = tmp_path / "images" / "vm0_root.qcow2"
    disk.parent.mkdir()
    seen: list[tuple[str, str]] = []

    def fake_sysprep(disk_path: str, fmt: str, commands: str, work_file: str) -> None:
        seen.append((commands, work_file))
        assert list(temp.iterdir()) == [], "nothing in the temp folder while it runs"

    monkeypatch.setattr(sysprep, "_native", types.SimpleNamespace(sysprep=fake_sysprep))
    sysprep.sysprep(str(disk), "el7", jinja2.FileSystemLoader(str(tmp_path)), root_password="s3cret")
    [(commands, work_file)] = seen
    assert commands == "# sysprep-base.j2\nroot-password password:s3cret"
    assert Path(work_file).parent == disk.parent
    assert list(temp.iterdir()) == []


def test_sysprep_without_loader_needs_the_core_arguments() -> None:
    with pytest.raises(TypeError, match="hostname, public_key"):
        sysprep.sysprep("/d.qcow2", "el7", root_password="x")


class MinimalLogger:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, msg: str) -> None:
        self.lines.append(msg)

    def debug(self, msg: str) -> None:
        self.lines.append(msg)


def test_logtask_with_info_debug_only_logger() -> None:
    logger = MinimalLogger()
    with LogTask("fine", logger=logger):
        pass
    assert logger.lines == ["start task: fine", "end task: fine: Success"]
    with pytest.raises(ValueError):
        with LogTask("boom", logger=logger):
            raise ValueError("x")
    with LogTask("swallowed", logger=logger, propagate_fail=False):
        raise ValueError("y")
