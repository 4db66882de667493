"""Helpers and base exceptions at Lago's import path ``lago.utils``."""

from __future__ import annotations

import shlex
from typing import Any, Callable, Iterable, Literal, Mapping, NamedTuple, Optional, Sequence, Union

from lago._argparse_ini import argparse_sections as argparse_sections
from lago._argparse_ini import argparse_to_ini as argparse_to_ini

#: ``subprocess.PIPE`` (subprocess itself is imported when a command runs).
PIPE = -1


class LagoException(Exception):
    """Base class of every error lago raises on purpose."""


class LagoInitException(LagoException):
    """Initializing a prefix failed."""


class LagoUserException(LagoException):
    """The user asked for something that cannot be done (bad input)."""


class TimerException(Exception):
    """A timed operation (lock, timer) ran out of time."""


class _CommandStatusBase(NamedTuple):
    code: int
    out: bytes
    err: bytes


class CommandStatus(_CommandStatusBase):
    """Result of a command: ``(code, out, err)``, ``out``/``err`` as bytes.

    As in Lago, the truth value is INVERTED: a CommandStatus is truthy when
    the command FAILED (non-zero code), so ``if not res:`` means success.
    """

    def __bool__(self) -> bool:
        return bool(self.code)


def run_command(
    command: Union[Sequence[str], str],
    input_data: Optional[bytes] = None,
    out_pipe: Any = PIPE,
    err_pipe: Any = PIPE,
    env: Optional[Mapping[str, str]] = None,
    **kwargs: Any,
) -> CommandStatus:
    """Runs a local command and returns its CommandStatus (bytes output).

    ``command`` is an argument list (run without a shell) or a string (run
    by ``/bin/sh -c``). A program that does not exist gives exit status
    127, as Lago's shell did.
    """
    import subprocess

    shell = isinstance(command, str)
    try:
        proc = subprocess.run(
            command,
            input=input_data,
            stdout=out_pipe,
            stderr=err_pipe,
            env=dict(env) if env is not None else None,
            shell=shell,
            check=False,
            **kwargs,
        )
    except FileNotFoundError as exc:
        # Lago ran commands through /bin/sh: a missing program was exit
        # status 127 with the shell's message, not an exception.
        return CommandStatus(127, b"", f"{command[0]}: not found: {exc}\n".encode())
    return CommandStatus(proc.returncode, proc.stdout or b"", proc.stderr or b"")


def invoke_in_parallel(func: Callable[..., Any], *arg_seqs: Iterable[Any]) -> list[Any]:
    """Calls ``func`` on zipped ``arg_seqs`` in threads; re-raises the first error."""
    import concurrent.futures

    args = list(zip(*arg_seqs))
    if not args:
        return []
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(args)) as pool:
        futures = [pool.submit(func, *a) for a in args]
        return [f.result() for f in futures]


# -- func_vector / VectorThread (Lago's thread helpers, used by OST) ----------


def func_vector(target: Callable[..., Any], args_sequence: Iterable[Sequence[Any]]) -> list[Callable[[], Any]]:
    """One zero-argument callable per argument tuple: ``target(*args)``
    bound with ``functools.partial``, in order."""
    import functools

    return [functools.partial(target, *args) for args in args_sequence]


class VectorThread:
    """Runs each of ``targets`` (zero-argument callables) in its own thread:
    ``start_all()``, then ``join_all()`` for their return values in order.

    ``join_all(raise_exceptions=True)`` re-raises the first target's
    exception, in target order, after every thread has ended; with
    ``raise_exceptions=False`` a failed target gives None. The raw outcome
    of each target (``{'return': value}`` or ``{'exception': exc_info}``)
    is kept in ``results``; as in Lago, a second ``join_all()`` returns
    that raw list.
    """

    def __init__(self, targets: Iterable[Callable[[], Any]]) -> None:
        self.targets = list(targets)
        self.results: Optional[list[dict[str, Any]]] = None
        self.thread_handles: list[tuple[Any, Any]] = []

    def start_all(self) -> None:
        """Starts one thread per target."""
        import queue
        import threading

        self.thread_handles = []
        for target in self.targets:
            out: "queue.Queue[dict[str, Any]]" = queue.Queue()
            thread = threading.Thread(target=_run_into_queue, args=(target, out))
            self.thread_handles.append((thread, out))
            thread.start()

    def join_all(self, raise_exceptions: bool = True) -> list[Any]:
        """Waits for every thread; see the class documentation."""
        if self.results:
            return self.results
        for thread, _ in self.thread_handles:
            thread.join()
        self.results = [out.get() for _, out in self.thread_handles]
        if raise_exceptions:
            for result in self.results:
                if "exception" in result:
                    raise result["exception"][1].with_traceback(result["exception"][2])
        return [r.get("return") for r in self.results]


def _run_into_queue(func: Callable[[], Any], out: Any) -> None:
    import logging
    import sys
    import threading

    try:
        out.put({"return": func()})
    except Exception:
        logging.getLogger(__name__).debug(
            "Error while running thread %s", threading.current_thread().name, exc_info=True
        )
        out.put({"exception": sys.exc_info()})


# -- end of func_vector / VectorThread ----------------------------------------


def ipv4_to_mac(ip: str) -> str:
    """Lago's MAC for an IPv4 address: ``54:52:`` then the 4 octets in hex
    (lago-core's, the one the domains get); ValueError for anything else."""
    from lago import _native

    return _native.ipv4_to_mac(ip)


def shell_join(args: Sequence[str]) -> str:
    """Quotes ``args`` for a POSIX shell."""
    return " ".join(shlex.quote(a) for a in args)


# -- Lago's plain utilities (contract §2.4) ----------------------------------
# Modules are imported inside the functions: `import lago.utils` stays cheap.


def run_command_with_validation(
    cmd: Union[Sequence[str], str],
    fail_on_error: bool = True,
    msg: str = "An error has occurred while executing command",
) -> CommandStatus:
    """Runs ``cmd``; on a non-zero exit raises LagoException(``msg`` with
    the command, its code and stderr) when ``fail_on_error``."""
    result = run_command(cmd)
    if result.code and fail_on_error:
        shown = cmd if isinstance(cmd, str) else " ".join(cmd)
        raise LagoException(
            f"{msg}\ncmd: {shown}\nreturn code: {result.code}\n"
            f"stdout: {result.out.decode(errors='replace')}\nstderr: {result.err.decode(errors='replace')}"
        )
    return result


def invoke_different_funcs_in_parallel(*funcs: Callable[[], Any]) -> list[Any]:
    """Calls each zero-argument function in its own thread; returns their
    results in order and re-raises the first error."""
    import concurrent.futures

    if not funcs:
        return []
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(funcs)) as pool:
        futures = [pool.submit(f) for f in funcs]
        return [f.result() for f in futures]


class RollbackContext:
    """Context manager collecting undo actions (``prependDefer`` or
    ``defer``); they run last-in first-out on exit, unless ``clear()`` was
    called. With ``*args`` exception types, the undo runs only when one of
    them (or a subclass) escaped the block. The first undo error is raised
    after all undos ran, unless the block raised itself."""

    def __init__(self, *args: type) -> None:
        self._finally: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []
        self._on = args

    def __enter__(self) -> "RollbackContext":
        return self

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> Literal[False]:
        if self._on and (exc_type is None or not issubclass(exc_type, self._on)):
            return False
        first: Optional[BaseException] = None
        while self._finally:
            func, args, kwargs = self._finally.pop()
            try:
                func(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - every undo must run
                if first is None:
                    first = exc
        if first is not None and exc_type is None:
            raise first
        return False

    def defer(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Adds an undo action (run first, as it is the latest)."""
        self._finally.append((func, args, kwargs))

    prependDefer = defer  # noqa: N815 - Lago's name

    def clear(self) -> None:
        """Drops every undo action (the work succeeded)."""
        self._finally = []


class EggTimer:
    """A deadline: ``elapsed()`` is true once ``timeout`` seconds passed
    since construction, or since entering it as a context manager (``with
    EggTimer(t) as timer:``, as Lago's callers such as ovirtlago's testlib
    use it)."""

    def __init__(self, timeout: float) -> None:
        import time

        self.timeout = timeout
        self.start_time = time.monotonic()

    def __enter__(self) -> "EggTimer":
        import time

        self.start_time = time.monotonic()
        return self

    def __exit__(self, *_: Any) -> None:
        pass

    def elapsed(self) -> bool:
        """True once the time is up."""
        import time

        return time.monotonic() - self.start_time > self.timeout


class ExceptionTimer:
    """Context manager raising TimerException in the main thread when the
    block runs longer than ``timeout`` seconds (SIGALRM; whole seconds,
    rounded up; main thread only). ``timeout=None`` or 0 means no limit."""

    def __init__(self, timeout: Optional[float]) -> None:
        self.timeout = timeout
        self._old: Any = None

    def _raise(self, signum: int, frame: Any) -> None:
        raise TimerException(f"Passed {self.timeout} seconds")

    def start(self) -> None:
        """Arms the alarm."""
        import math
        import signal

        if self.timeout:
            self._old = signal.signal(signal.SIGALRM, self._raise)
            signal.alarm(max(1, math.ceil(self.timeout)))

    def stop(self) -> None:
        """Disarms the alarm."""
        import signal

        if self.timeout:
            signal.alarm(0)
            if self._old is not None:
                signal.signal(signal.SIGALRM, self._old)
                self._old = None

    def __enter__(self) -> "ExceptionTimer":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class Flock:
    """An exclusive (or, ``readonly``, shared) ``flock`` on ``path``;
    ``blocking=False`` fails at once with BlockingIOError when the lock is
    held. The lock is lago-core's (``lago._native.FileLock``, the one its
    lease and template stores take)."""

    def __init__(self, path: str, readonly: bool = False, blocking: bool = True) -> None:
        self.path = path
        self.readonly = readonly
        self.blocking = blocking
        self._core: Any = None

    def acquire(self, timeout: Optional[float] = None) -> None:
        """Takes the lock (the file is created if missing), waiting at most
        ``timeout`` seconds (None: for ever; TimerException after it)."""
        from lago import _native

        lock = _native.FileLock(self.path, shared=self.readonly)
        if not lock.acquire(timeout if self.blocking else 0.0):
            if not self.blocking:
                raise BlockingIOError(f"{self.path} is locked")
            raise TimerException(f"Unable to acquire lock for {self.path} in {timeout} secs")
        self._core = lock

    def release(self) -> None:
        """Releases the lock."""
        if self._core is not None:
            self._core.release()
            self._core = None

    def __enter__(self) -> "Flock":
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


class LockFile:
    """Context manager: holds ``lock_cls(path)`` (a flock by default) for
    the block; the lock file gets mode 0660. Waiting longer than
    ``timeout`` seconds raises TimerException (None: wait forever)."""

    def __init__(self, path: str, timeout: Optional[float] = None, lock_cls: Optional[type] = None, **kwargs: Any) -> None:
        self.path = path
        self.timeout = timeout
        self.lock = (lock_cls or Flock)(path=path, **kwargs)

    def __enter__(self) -> "LockFile":
        import os

        if isinstance(self.lock, Flock):
            self.lock.acquire(self.timeout)
        else:
            with ExceptionTimer(timeout=self.timeout):
                try:
                    self.lock.acquire()
                except TimerException as exc:
                    raise TimerException(f"Unable to acquire lock for {self.path} in {self.timeout} secs") from exc
        try:
            os.chmod(self.path, 0o660)
        except OSError:
            pass  # someone else's lock file: the lock still holds
        return self

    def __exit__(self, *exc: Any) -> None:
        self.lock.release()


class TemporaryDirectory:
    """Context manager: a new temporary folder (its path), removed with
    everything in it on exit; ``ignore_errors`` as in shutil.rmtree."""

    def __init__(self, ignore_errors: bool = True) -> None:
        self.ignore_errors = ignore_errors
        self.path = ""

    def __enter__(self) -> str:
        import tempfile

        self.path = tempfile.mkdtemp()
        return self.path

    def __exit__(self, *exc: Any) -> None:
        import shutil

        shutil.rmtree(self.path, ignore_errors=self.ignore_errors)


def get_qemu_info(path: str, backing_chain: bool = False, fail_on_error: bool = True) -> Any:
    """``qemu-img info`` of ``path`` as a dict of qemu-img's keys (a list of
    dicts, one per image down the backing files, with ``backing_chain``),
    through lago-core (it also reads an image a running VM holds). Failure
    raises LagoException (or returns an empty dict when not
    ``fail_on_error``)."""
    import os

    from lago import _native

    try:
        info = _native.qemu_img_info(path)
        if not backing_chain:
            return info
        chain = [info]
        while chain[-1].get("full-backing-filename") and len(chain) < 64:
            backing = chain[-1]["full-backing-filename"]
            if not os.path.isabs(backing):
                backing = os.path.join(os.path.dirname(os.path.abspath(path)), backing)
            chain.append(_native.qemu_img_info(backing))
        return chain
    except LagoException as exc:
        if fail_on_error:
            raise LagoException(f"Failed to get info for {path}: {exc}") from exc
        return {}


def qemu_rebase(target: str, backing_file: str, safe: bool = True, fail_on_error: bool = True) -> CommandStatus:
    """Points the qcow2 image ``target`` at ``backing_file`` (its format
    detected), through lago-core; ``safe=False`` only rewrites the header
    (``-u``). Failure raises LagoException, or with ``fail_on_error`` false
    returns a CommandStatus with code 1 and the error as stderr."""
    from lago import _native

    try:
        _native.qemu_img_rebase(target, backing_file, not safe)
    except LagoException as exc:
        if fail_on_error:
            raise LagoException(f"Failed to rebase {target} onto {backing_file}: {exc}") from exc
        return CommandStatus(1, b"", str(exc).encode())
    return CommandStatus(0, b"", b"")


def get_hash(file_path: str, checksum: str = "sha1") -> str:
    """The hex digest of the file's contents (any hashlib algorithm)."""
    import hashlib

    digest = hashlib.new(checksum)
    with open(file_path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def add_timestamp_suffix(base_string: str) -> str:
    """``<base_string>-YYYY-MM-DD-HH:MM:SS`` (local time)."""
    import time

    return f"{base_string}-{time.strftime('%Y-%m-%d-%H:%M:%S')}"


def rotate_dir(base_dir: str) -> None:
    """Moves ``base_dir`` aside to ``add_timestamp_suffix(base_dir)``."""
    import shutil

    shutil.move(base_dir, add_timestamp_suffix(base_dir))


def json_dump(obj: Any, f: Any) -> None:
    """Writes ``obj`` as JSON (indent 4) to the open file ``f``."""
    import json

    json.dump(obj, f, indent=4)


def load_virt_stream(virt_fd: Any) -> Any:
    """Reads an init file/spec stream: JSON, else YAML."""
    import json

    text = virt_fd.read()
    if isinstance(text, bytes):
        text = text.decode()
    try:
        return json.loads(text)
    except ValueError:
        import yaml

        return yaml.safe_load(text)


def deepcopy(original_obj: Any) -> Any:
    """A deep copy in which mappings become dicts and lists/tuples lists
    (the only containers a spec holds)."""
    if isinstance(original_obj, Mapping):
        return {k: deepcopy(v) for k, v in original_obj.items()}
    if isinstance(original_obj, (list, tuple)):
        return [deepcopy(v) for v in original_obj]
    import copy

    return copy.deepcopy(original_obj)


def filter_spec(spec: Any, paths: Iterable[str], wildcard: str = "*", separator: str = "/") -> None:
    """Removes, in place, each path of ``paths`` from the nested spec: a
    path is keys/list indexes joined by ``separator``; ``wildcard`` matches
    every key or index at its level; missing paths are ignored."""

    def remove(obj: Any, parts: list[str]) -> None:
        if not parts:
            return
        head, rest = parts[0], parts[1:]
        if isinstance(obj, Mapping):
            keys = list(obj) if head == wildcard else [head] if head in obj else []
            for key in keys:
                if rest:
                    remove(obj[key], rest)
                else:
                    del obj[key]  # type: ignore[attr-defined]
        elif isinstance(obj, list):
            if head == wildcard:
                indexes = list(range(len(obj)))
            elif head.lstrip("-").isdigit() and -len(obj) <= int(head) < len(obj):
                indexes = [int(head) % len(obj)]
            else:
                indexes = []
            if rest:
                for i in indexes:
                    remove(obj[i], rest)
            else:
                for i in sorted(indexes, reverse=True):
                    del obj[i]

    for path in paths:
        remove(spec, [p for p in path.split(separator) if p != ""])


def ver_cmp(ver1: str, ver2: str) -> int:
    """Compares version strings part by part (numbers as numbers):
    negative, 0 or positive like ``cmp``."""
    import re

    def parts(v: str) -> list[tuple[int, Any]]:
        return [(0, int(p)) if p.isdigit() else (1, p) for p in re.findall(r"\d+|[A-Za-z]+", v)]

    a, b = parts(ver1), parts(ver2)
    return (a > b) - (a < b)


def in_prefix(prefix_class: Optional[type] = None, workdir_class: Optional[type] = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator of CLI verb functions (``func(**vars(args))``): finds the
    workdir (``workdir_path``, ``prefix_path`` or from the current folder)
    and opens prefix ``prefix_name`` as ``prefix_class`` (through
    ``workdir_class``); calls ``func(prefix=…, parent_workdir=…, **kwargs)``
    and sets ``LAGO_PREFIX_PATH``/``LAGO_WORKDIR_PATH``."""
    import functools

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            import os

            from lago import _native
            from lago.workdir import Workdir

            from lago.prefix import Prefix

            prefix_path = kwargs.get("prefix_path")
            workdir_path = kwargs.get("workdir_path")
            prefix_name = kwargs.get("prefix_name") or "current"
            p_cls: Any = prefix_class or Prefix
            explicit_name = kwargs.get("prefix_name") not in (None, "current")
            if prefix_path is not None or (
                workdir_path is None and not explicit_name and p_cls.is_prefix(os.curdir)
            ):
                # a prefix on its own (Lago's --prefix-path, or the current folder)
                try:
                    path = os.path.realpath(p_cls.resolve_prefix_path(prefix_path))
                except RuntimeError as exc:
                    raise LagoUserException(str(exc)) from exc
                prefix = p_cls(path)
                workdir = None
                os.environ["LAGO_WORKDIR_PATH"] = ""
            else:
                if workdir_path:
                    path = os.path.abspath(workdir_path)
                else:
                    try:
                        path = str(_native.resolve_workdir(os.getcwd()))
                    except LagoException as exc:
                        raise LagoUserException(
                            f"Unable to find workdir in {os.getcwd()}: {exc}"
                        ) from exc
                wd_cls = workdir_class or Workdir
                workdir = wd_cls(path)
                if prefix_class is not None:
                    workdir.prefix_class = prefix_class
                prefix = workdir if kwargs.get("all_envs") else workdir.get_prefix(prefix_name)
                kwargs["prefix_name"] = prefix_name
                os.environ["LAGO_WORKDIR_PATH"] = workdir.path
            if hasattr(prefix, "paths"):
                os.environ["LAGO_PREFIX_PATH"] = str(prefix.paths.prefix_path())
            kwargs["prefix"] = prefix
            kwargs["parent_workdir"] = workdir
            return func(*args, **kwargs)

        return run

    return decorator


def with_logging(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator (inside ``in_prefix``): also logs to ``<prefix>/logs/lago.log``."""
    import functools

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        import logging
        import os

        from lago.log_utils import FILE_FORMAT

        prefix = kwargs["prefix"]
        path = os.path.join(prefix.paths.logs(), "lago.log")
        handler = logging.FileHandler(path)
        handler.setLevel(logging.DEBUG)
        handler.setFormatter(logging.Formatter(FILE_FORMAT))
        logging.getLogger().addHandler(handler)
        try:
            return func(*args, **kwargs)
        finally:
            logging.getLogger().removeHandler(handler)
            handler.close()

    return run
