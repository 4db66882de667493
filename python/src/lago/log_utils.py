"""Logging helpers at Lago's path ``lago.log_utils``: the file log format,
SDK logging, and Lago's task tree (contract §1.3 "Console progress format").

A *task* is a named step (``LogTask('Start Prefix')``). Its start and end are
ordinary log records carrying the task name, so a file log gets them as
lines too (``start task: <name>`` / ``end task: <name>: Success (in …)``),
while a :class:`TaskHandler` on the console renders them as Lago did::

    @ Start Prefix: 
      # Start nets: 
      # Start nets: Success (in 0:00:05)
    @ Start Prefix: Success (in 0:00:07)

Indicators by depth are ``@ # * - ~``, two spaces of indent per level; a task
of a thread other than the main one shows ``[<thread name>] `` before its
name; end lines say ``Success`` (green on a terminal) or ``ERROR`` (red).
"""

from __future__ import annotations

import datetime
import functools
import logging
import sys
import threading
from typing import Any, Callable, Optional, TypeVar, Union

#: Lago's file log format.
FILE_FORMAT = "%(asctime)s::%(filename)s::%(funcName)s::%(lineno)s::%(name)s::%(levelname)s::%(message)s"

#: Task indicators by depth (deeper tasks reuse the last one).
TASK_INDICATORS = ["@", "#", "*", "-", "~"]

#: Status words of a task's end line.
SUCCESS = "Success"
FAILURE = "ERROR"

_F = TypeVar("_F", bound=Callable[..., Any])


class ColorFormatter(logging.Formatter):
    """A formatter with Lago's ANSI colours (as class attributes)."""

    DEFAULT = "\x1b[0m"
    RED = "\x1b[31m"
    GREEN = "\x1b[32m"
    YELLOW = "\x1b[33m"
    CYAN = "\x1b[36m"
    NONE = ""

    @classmethod
    def colored(cls, color: str, message: str) -> str:
        """``message`` in ``color`` (then back to the default colour)."""
        return f"{color}{message}{cls.DEFAULT}" if color else message


def _level(level: Union[int, str]) -> int:
    if isinstance(level, int):
        return level
    value = logging.getLevelName(level.upper())
    return value if isinstance(value, int) else logging.INFO


def _logger(logger: Any) -> Any:
    return logging if logger is None else logger


def _emit(logger: Any, level: Union[int, str], text: str, extra: dict[str, str]) -> None:
    """Logs ``text`` through ``logger``: with the task fields when it is a
    real logger, else through its method named after ``level`` (a logger
    object may have only ``info`` and ``debug``, as Lago allowed)."""
    log = getattr(logger, "log", None)
    if callable(log):
        log(_level(level), "%s", text, extra=extra, stacklevel=2)
        return
    name = level.lower() if isinstance(level, str) else logging.getLevelName(level).lower()
    method = getattr(logger, name, None)
    if callable(method):
        method(text)
    else:
        logging.log(_level(level), "%s", text, extra=extra)


def start_log_task(task: str, logger: Any = logging, level: Union[int, str] = "info") -> None:
    """Logs the start of task ``task`` (ended by :func:`end_log_task`)."""
    _emit(
        _logger(logger),
        level,
        f"start task: {task}",
        {"lago_task_op": "start", "lago_task_name": task},
    )


def end_log_task(
    task: str, logger: Any = logging, level: Union[int, str] = "info", status: str = SUCCESS
) -> None:
    """Logs the end of task ``task`` with ``status`` (``Success``/``ERROR``)."""
    _emit(
        _logger(logger),
        level,
        f"end task: {task}: {status}",
        {"lago_task_op": "end", "lago_task_name": task, "lago_task_status": status},
    )


class LogTask:
    """Context manager: one task of the tree. On an exception the task ends
    with ``ERROR`` and the exception propagates (unless ``propagate_fail``
    is false, when it is logged and swallowed)."""

    def __init__(
        self,
        task: str,
        logger: Any = logging,
        level: Union[int, str] = "info",
        propagate_fail: bool = True,
        uuid: Any = None,
    ) -> None:
        self.task = task
        self.logger = _logger(logger)
        self.level = level
        self.propagate_fail = propagate_fail
        self.uuid = uuid

    def __enter__(self) -> "LogTask":
        start_log_task(self.task, self.logger, self.level)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        if exc_type is None:
            end_log_task(self.task, self.logger, self.level)
            return False
        if not self.propagate_fail:
            if callable(getattr(self.logger, "error", None)):
                self.logger.error("%s", exc, exc_info=(exc_type, exc, tb))
            else:
                logging.error("%s", exc, exc_info=(exc_type, exc, tb))
        end_log_task(self.task, self.logger, "error", status=FAILURE)
        return not self.propagate_fail


def log_task(
    task: str,
    logger: Any = logging,
    level: Union[int, str] = "info",
    propagate_fail: bool = True,
    uuid: Any = None,
) -> Callable[[_F], _F]:
    """Decorator: runs the function as task ``task``."""

    def wrap(func: _F) -> _F:
        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            with LogTask(task, logger, level, propagate_fail, uuid):
                return func(*args, **kwargs)

        return run  # type: ignore[return-value]

    return wrap


def format_duration(seconds: float) -> str:
    """Lago's duration: ``H:MM:SS`` (whole seconds)."""
    return str(datetime.timedelta(seconds=int(max(seconds, 0))))


class TaskHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Console handler drawing the task tree (contract §1.3).

    ``task_tree_depth``: tasks deeper than this are not drawn (their
    messages still are); negative means no limit. ``level``: messages below
    it are not shown (task lines always are). ``dump_level``: when a task
    fails, the messages of at least this level it logged are shown again,
    even if below ``level``. ``color``: colour end lines (default: when the
    stream is a terminal).
    """

    def __init__(
        self,
        initial_depth: int = 0,
        task_tree_depth: int = -1,
        buffer_size: int = 2000,
        dump_level: int = logging.ERROR,
        level: Union[int, str] = logging.NOTSET,
        formatter: Optional[logging.Formatter] = None,
        stream: Any = None,
        color: Optional[bool] = None,
    ) -> None:
        super().__init__(stream if stream is not None else sys.stdout)
        self.show_level = logging.NOTSET
        self.setLevel(_level(level))
        self.setFormatter(formatter or logging.Formatter("%(message)s"))
        self.initial_depth = initial_depth
        self.task_tree_depth = task_tree_depth
        self.buffer_size = buffer_size
        self.dump_level = dump_level
        self._color = color
        self._tasks: dict[str, list[tuple[str, float, list[logging.LogRecord]]]] = {}
        self._main = threading.main_thread().name

    # -- state ---------------------------------------------------------------
    def _stack(self, thread: str) -> list[tuple[str, float, list[logging.LogRecord]]]:
        return self._tasks.setdefault(thread, [])

    def _depth(self, thread: str) -> int:
        """Depth a new task of ``thread`` would have."""
        depth = self.initial_depth + len(self._stack(thread))
        if thread != self._main:
            depth += len(self._stack(self._main))
        return depth

    def _colored(self, color: str, text: str) -> str:
        use = self._color
        if use is None:
            isatty = getattr(self.stream, "isatty", None)
            use = bool(isatty and isatty())
        return ColorFormatter.colored(color, text) if use else text

    def _shown(self, depth: int) -> bool:
        return self.task_tree_depth < 0 or depth < self.task_tree_depth

    def _header(self, depth: int, thread: str, name: str) -> str:
        indicator = TASK_INDICATORS[min(depth, len(TASK_INDICATORS) - 1)]
        who = "" if thread == self._main else f"[{thread}] "
        return f"{'  ' * depth}{indicator} {who}{name}: "

    def _write(self, line: str) -> None:
        self.stream.write(line + self.terminator)
        self.flush()

    # -- logging.Handler -------------------------------------------------------
    def setLevel(self, level: Union[int, str]) -> None:
        """Messages below ``level`` are not shown; task lines always are
        (the handler itself takes every record)."""
        self.show_level = _level(level)
        self.level = logging.NOTSET

    def emit(self, record: logging.LogRecord) -> None:
        try:
            op = getattr(record, "lago_task_op", None)
            thread = record.threadName or self._main
            if op == "start":
                self._start(thread, record)
            elif op == "end":
                self._end(thread, record)
            else:
                self._message(thread, record)
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)

    def _start(self, thread: str, record: logging.LogRecord) -> None:
        name = str(getattr(record, "lago_task_name", ""))
        depth = self._depth(thread)
        self._stack(thread).append((name, record.created, []))
        if self._shown(depth):
            self._write(self._header(depth, thread, name))

    def _end(self, thread: str, record: logging.LogRecord) -> None:
        name = str(getattr(record, "lago_task_name", ""))
        status = str(getattr(record, "lago_task_status", SUCCESS))
        stack = self._stack(thread)
        names = [t[0] for t in stack]
        if name not in names:
            return
        while stack and stack[-1][0] != name:
            stack.pop()
        _, started, buffered = stack.pop()
        depth = self._depth(thread)
        if status != SUCCESS:
            for old in buffered:
                if self.dump_level <= old.levelno < self.show_level:
                    self._write(f"{'  ' * (depth + 1)}{self.format(old)}")
        if self._shown(depth):
            color = ColorFormatter.GREEN if status == SUCCESS else ColorFormatter.RED
            took = format_duration(max(record.created - started, 0.0))
            self._write(self._header(depth, thread, name) + self._colored(color, f"{status} (in {took})"))

    def _message(self, thread: str, record: logging.LogRecord) -> None:
        stack = self._stack(thread)
        if stack:
            buffered = stack[-1][2]
            buffered.append(record)
            del buffered[: -self.buffer_size]
        if record.levelno < self.show_level:
            return
        depth = self._depth(thread)
        text = self.format(record)
        if record.levelno >= logging.ERROR:
            text = self._colored(ColorFormatter.RED, text)
        elif record.levelno >= logging.WARNING:
            text = self._colored(ColorFormatter.YELLOW, text)
        indent = "  " * depth
        self._write("\n".join(indent + line for line in text.splitlines() or [""]))


def setup_sdk_logging(logfile: "str | None" = None, loglevel: int = logging.INFO) -> None:
    """Root logger at DEBUG with a NullHandler; ``logfile`` gets records at
    ``loglevel`` and above (core records included, through lago._native)."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    root.addHandler(logging.NullHandler())
    if logfile:
        handler = logging.FileHandler(logfile)
        handler.setLevel(loglevel)
        handler.setFormatter(logging.Formatter(FILE_FORMAT))
        root.addHandler(handler)
