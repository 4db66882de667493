"""Ctrl-C during a native call (bindings/python/src/interrupt.rs): the call
runs on a worker thread while the calling thread runs Python's signal
handlers; a handler's exception asks lago-core to cancel, the call is
waited for, and the exception is raised. Shown on a lock wait
(``FileLock.acquire``, which blocks until the lock is free) and through the
CLI, paused with the test hook ``LAGO_TEST_PAUSE`` (no guests)."""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Iterator, Optional

import pytest

from lago import _native
from lago._exc import LagoCancelledError

FIXTURE = Path(__file__).resolve().parents[2] / "lago-core" / "tests" / "fixtures" / "upstream-workdir"
LAGO = [sys.executable, "-c", "from lago.cmd import run; run()"]

# Fail-safe of the blocked calls: the holder lets go after this long, so a
# call that the signal did not interrupt returns (and the test fails)
# instead of hanging the suite.
RELEASE_AFTER = 30.0


@pytest.fixture
def held_lock(tmp_path: Path) -> Iterator[Path]:
    """A lock file held by another handle (flock: handles exclude each other
    even in one process) for at most RELEASE_AFTER seconds."""
    path = tmp_path / "busy.lock"
    holder = _native.FileLock(path)
    assert holder.acquire(timeout=0)
    safety = threading.Timer(RELEASE_AFTER, holder.release)
    safety.start()
    try:
        yield path
    finally:
        safety.cancel()
        holder.release()


@pytest.fixture
def default_sigint() -> Iterator[None]:
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def signal_later(sig: signal.Signals, delay: float = 0.3) -> threading.Timer:
    timer = threading.Timer(delay, os.kill, (os.getpid(), sig))
    timer.start()
    return timer


def test_sigint_interrupts_a_blocked_call_and_clears_the_request(held_lock: Path, default_sigint: None) -> None:
    waiter = _native.FileLock(held_lock)
    signal_later(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt) as info:
        waiter.acquire()  # no timeout: only the interrupt (or the fail-safe) ends it
    # the core saw the request: the call ended Cancelled, kept as the cause
    cause = info.value.__cause__
    assert isinstance(cause, LagoCancelledError), repr(cause)
    assert cause.kind == "cancelled"
    assert str(cause) == f"interrupted while waiting for the lock {held_lock}"
    assert not waiter.held
    # the request was cleared: the next call is not cancelled
    assert not _native.cancel_requested()
    assert waiter.acquire(timeout=0.2) is False
    assert not _native.cancel_requested()


class Stop(Exception):
    pass


def test_any_signal_handler_exception_interrupts(held_lock: Path) -> None:
    def handler(signum: int, frame: Optional[FrameType]) -> None:
        raise Stop(signum)

    old = signal.signal(signal.SIGUSR1, handler)
    try:
        signal_later(signal.SIGUSR1)
        with pytest.raises(Stop) as info:
            _native.FileLock(held_lock).acquire()
    finally:
        signal.signal(signal.SIGUSR1, old)
    assert info.value.args == (signal.SIGUSR1,)
    assert isinstance(info.value.__cause__, LagoCancelledError)
    assert not _native.cancel_requested()


def test_a_call_from_another_thread_runs_on(held_lock: Path, default_sigint: None) -> None:
    # handlers run in the main thread only: the other thread's call is not
    # cancelled, and the main thread gets the KeyboardInterrupt
    results: list[object] = []

    def wait() -> None:
        try:
            results.append(_native.FileLock(held_lock).acquire(timeout=2.0))
        except BaseException as e:  # noqa: BLE001 - recorded for the assertion
            results.append(e)

    thread = threading.Thread(target=wait)
    thread.start()
    signal_later(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        time.sleep(RELEASE_AFTER)
    thread.join()
    assert results == [False]
    assert not _native.cancel_requested()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    dst = tmp_path / "wd"
    shutil.copytree(FIXTURE, dst, symlinks=True)
    return dst


def paused(cwd: Path, phase: str, *args: str) -> subprocess.Popen[bytes]:
    """`lago ARGS` in a session of its own (a terminal's process group),
    run until the test hook pauses it at `phase`."""
    proc = subprocess.Popen(
        [*LAGO, *args], cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "LAGO_TEST_PAUSE": phase}, start_new_session=True,
    )
    assert proc.stderr is not None
    seen = b""
    marker = f"LAGO_TEST_PAUSED {phase} {proc.pid}".encode()
    deadline = time.monotonic() + 60
    while marker not in seen:
        ready, _, _ = select.select([proc.stderr], [], [], 1.0)
        if ready:
            chunk = os.read(proc.stderr.fileno(), 4096)
            if not chunk:
                proc.wait()
                raise AssertionError(f"lago ended ({proc.returncode}) before {phase}: {seen!r}")
            seen += chunk
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"lago never reached {phase}: {seen!r}")
    return proc


def test_cli_ctrl_c_exits_130_with_one_line(workdir: Path) -> None:
    proc = paused(workdir, "stop:locked", "--libvirt_url", "test:///default", "stop")
    assert proc.stdin is not None and proc.stderr is not None
    os.killpg(proc.pid, signal.SIGINT)  # the whole group, as a terminal's Ctrl-C
    proc.stdin.close()  # the hook lets the paused call go on
    rest = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 130, rest
    lines = [line for line in rest.splitlines() if line.startswith("lago: ")]
    assert len(lines) == 1 and lines[0].startswith("lago: interrupted"), rest
    assert "Traceback" not in rest and "Error occured" not in rest, rest


def test_a_tool_killed_by_the_same_ctrl_c_surfaces_as_the_interrupt(tmp_path: Path) -> None:
    # `qemu-img info` of a FIFO blocks opening it; Ctrl-C reaches the whole
    # process group, qemu-img dies of it and its failure must not be what
    # the caller sees
    fifo = tmp_path / "disk.fifo"
    os.mkfifo(fifo)
    code = (
        "import sys; from lago import _native\n"
        "try:\n"
        f"    _native.qemu_img_info({str(fifo)!r})\n"
        "except KeyboardInterrupt as e:\n"
        "    print('interrupted', repr(e.__cause__)); sys.exit(130)\n"
        "except BaseException as e:\n"
        "    print('failed', type(e).__name__, e); sys.exit(1)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )
    try:
        # qemu-img runs (in the group) and waits on the FIFO
        deadline = time.monotonic() + 60
        while not any(
            Path(f"/proc/{pid}/comm").read_text().strip() == "qemu-img"
            for pid in os.listdir("/proc") if pid.isdigit() and _in_group(int(pid), proc.pid)
        ):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "qemu-img never ran"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, (out, err)
    assert out == "interrupted None\n", (out, err)


def _in_group(pid: int, pgid: int) -> bool:
    try:
        return os.getpgid(pid) == pgid
    except OSError:
        return False
