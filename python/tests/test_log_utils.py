"""Lago's task tree on the console and in the file log (contract §1.3)."""

from __future__ import annotations

import io
import logging
import re
import threading
from typing import Iterator

import pytest

from lago.log_utils import FILE_FORMAT, LogTask, TaskHandler, end_log_task, log_task, start_log_task


@pytest.fixture
def console() -> Iterator[tuple[io.StringIO, TaskHandler, logging.Logger]]:
    stream = io.StringIO()
    handler = TaskHandler(task_tree_depth=3, level=logging.INFO, stream=stream)
    logger = logging.getLogger("lago.test.tasks")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        yield stream, handler, logger
    finally:
        logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[str]:
    return [re.sub(r"\(in \d+:\d\d:\d\d\)", "(in T)", line) for line in stream.getvalue().splitlines()]


def test_nested_tasks_exact_format(console: tuple[io.StringIO, TaskHandler, logging.Logger]) -> None:
    stream, _, logger = console
    with LogTask("Initialize and populate prefix", logger=logger):
        with LogTask("Initialize prefix", logger=logger):
            with LogTask("Create prefix dirs", logger=logger):
                logger.info("made it")
                logger.debug("hidden below the level")
        with LogTask("Save prefix", logger=logger):
            pass
    assert lines(stream) == [
        "@ Initialize and populate prefix: ",
        "  # Initialize prefix: ",
        "    * Create prefix dirs: ",
        "      made it",
        "    * Create prefix dirs: Success (in T)",
        "  # Initialize prefix: Success (in T)",
        "  # Save prefix: ",
        "  # Save prefix: Success (in T)",
        "@ Initialize and populate prefix: Success (in T)",
    ]


def test_duration_is_h_mm_ss(console: tuple[io.StringIO, TaskHandler, logging.Logger]) -> None:
    stream, _, logger = console
    start_log_task("Slow", logger=logger)
    record = logger.makeRecord(
        logger.name, logging.INFO, __file__, 1, "end task: %s: %s", ("Slow", "Success"), None,
        extra={"lago_task_op": "end", "lago_task_name": "Slow", "lago_task_status": "Success"},
    )
    record.created += 3725  # 1 h 2 min 5 s later
    logger.handle(record)
    assert stream.getvalue().splitlines()[-1] == "@ Slow: Success (in 1:02:05)"


def test_failure_and_depth_limit(console: tuple[io.StringIO, TaskHandler, logging.Logger]) -> None:
    stream, handler, logger = console
    handler.task_tree_depth = 2
    with pytest.raises(ValueError):
        with LogTask("Start Prefix", logger=logger):
            with LogTask("Start nets", logger=logger):
                with LogTask("too deep to show", logger=logger):
                    raise ValueError("boom")
    assert lines(stream) == [
        "@ Start Prefix: ",
        "  # Start nets: ",
        "  # Start nets: ERROR (in T)",
        "@ Start Prefix: ERROR (in T)",
    ]


def test_propagate_fail_false_swallows(console: tuple[io.StringIO, TaskHandler, logging.Logger]) -> None:
    stream, _, logger = console
    with LogTask("Try", logger=logger, propagate_fail=False):
        raise RuntimeError("ignored")
    out = lines(stream)
    assert out[0] == "@ Try: " and out[-1] == "@ Try: ERROR (in T)"
    assert any("ignored" in line for line in out)


def test_decorator_and_start_end_functions(console: tuple[io.StringIO, TaskHandler, logging.Logger]) -> None:
    stream, _, logger = console

    @log_task("Deploy", logger=logger)
    def deploy() -> int:
        start_log_task("Run script", logger=logger)
        end_log_task("Run script", logger=logger)
        return 7

    assert deploy() == 7
    assert lines(stream) == [
        "@ Deploy: ",
        "  # Run script: ",
        "  # Run script: Success (in T)",
        "@ Deploy: Success (in T)",
    ]


def test_thread_tasks_nest_under_main_with_thread_name(console: tuple[io.StringIO, TaskHandler, logging.Logger]) -> None:
    stream, _, logger = console

    def work() -> None:
        with LogTask("Bootstrapping vm0", logger=logger):
            pass

    with LogTask("Initialize and populate prefix", logger=logger):
        t = threading.Thread(target=work, name="Thread-1")
        t.start()
        t.join()
    assert lines(stream) == [
        "@ Initialize and populate prefix: ",
        "  # [Thread-1] Bootstrapping vm0: ",
        "  # [Thread-1] Bootstrapping vm0: Success (in T)",
        "@ Initialize and populate prefix: Success (in T)",
    ]


def test_colors_only_when_asked(console: tuple[io.StringIO, TaskHandler, logging.Logger]) -> None:
    stream, handler, logger = console
    handler._color = True
    with LogTask("Ok", logger=logger):
        pass
    assert stream.getvalue().splitlines()[-1].startswith("@ Ok: \x1b[32mSuccess (in 0:00:00)\x1b[0m")


def test_file_log_gets_task_lines(tmp_path, console) -> None:  # type: ignore[no-untyped-def]
    _, _, logger = console
    path = tmp_path / "lago.log"
    fh = logging.FileHandler(path)
    fh.setFormatter(logging.Formatter(FILE_FORMAT))
    logger.addHandler(fh)
    try:
        with LogTask("Stop prefix", logger=logger):
            pass
    finally:
        logger.removeHandler(fh)
        fh.close()
    text = path.read_text().splitlines()
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}::log_utils\.py::start_log_task::\d+::lago\.test\.tasks::INFO::start task: Stop prefix",
        text[0],
    ), text
    assert text[1].endswith("::lago.test.tasks::INFO::end task: Stop prefix: Success"), text


def test_cli_prints_task_lines(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A failing verb shows its task's ERROR line on stderr (exit 2)."""
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-c", "from lago.cmd import run; run()", "init", str(tmp_path / "w"), str(tmp_path / "nope.yaml")],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )
    assert r.returncode == 2
    (tmp_path / "bad.yaml").write_text("domains: {vm0: {memory: lots}}\n")
    r = subprocess.run(
        [sys.executable, "-c", "from lago.cmd import run; run()", "init", str(tmp_path / "w"), str(tmp_path / "bad.yaml")],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )
    assert r.returncode == 2, r.stderr
    err = r.stderr.splitlines()
    assert err[0] == "@ Initialize and populate prefix: ", r.stderr
    assert re.fullmatch(r"@ Initialize and populate prefix: ERROR \(in 0:00:0\d\)", err[-2]), r.stderr
    assert err[-1].startswith("lago: error:"), r.stderr
