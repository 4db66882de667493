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
