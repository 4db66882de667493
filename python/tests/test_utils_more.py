"""lago.utils: Lago's plain utilities (contract §2.4), on real files, real
locks and a real qemu-img."""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import os
import re
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

from lago import utils
from lago.utils import (
    EggTimer,
    ExceptionTimer,
    Flock,
    LagoException,
    LockFile,
    RollbackContext,
    TemporaryDirectory,
    TimerException,
)


def _hold_lock(path: str, ready: "multiprocessing.synchronize.Event", release: "multiprocessing.synchronize.Event") -> None:
    with LockFile(path):
        ready.set()
        release.wait(30)


def test_lockfile_times_out_while_another_process_holds_it(tmp_path: Path) -> None:
    path = str(tmp_path / "lock")
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(path, ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o660
        t0 = time.monotonic()
        with pytest.raises(TimerException):
            with LockFile(path, timeout=1):
                pass
        assert 0.9 < time.monotonic() - t0 < 5
    finally:
        release.set()
        holder.join(30)
    with LockFile(path, timeout=5):  # free again
        with pytest.raises(BlockingIOError):
            Flock(path, blocking=False).acquire()


def test_lockfile_custom_lock_class(tmp_path: Path) -> None:
    events: list[str] = []

    class Recorder:
        def __init__(self, path: str) -> None:
            self.path = path
            Path(path).touch()

        def acquire(self) -> None:
            events.append("acquire")

        def release(self) -> None:
            events.append("release")

    with LockFile(str(tmp_path / "l"), lock_cls=Recorder):
        events.append("body")
    assert events == ["acquire", "body", "release"]


def test_timers() -> None:
    t = EggTimer(0.2)
    assert not t.elapsed()
    time.sleep(0.3)
    assert t.elapsed()
    with pytest.raises(TimerException):
        with ExceptionTimer(timeout=1):
            time.sleep(3)
    with ExceptionTimer(timeout=2):
        pass
    time.sleep(2.2)  # disarmed: no late alarm
    assert issubclass(TimerException, Exception) and not issubclass(TimerException, LagoException)


def test_rollback_context() -> None:
    done: list[int] = []
    with RollbackContext() as rb:
        rb.prependDefer(done.append, 1)
        rb.defer(done.append, 2)
    assert done == [2, 1]
    done.clear()
    with RollbackContext() as rb:
        rb.prependDefer(done.append, 1)
        rb.clear()
    assert done == []
    with pytest.raises(ValueError):
        with RollbackContext(KeyError) as rb:
            rb.prependDefer(done.append, 3)
            raise ValueError
    assert done == []  # only on KeyError
    with pytest.raises(KeyError):
        with RollbackContext(KeyError) as rb:
            rb.prependDefer(done.append, 4)
            raise KeyError
    assert done == [4]

    def bad() -> None:
        raise OSError("undo failed")

    with pytest.raises(OSError, match="undo failed"):
        with RollbackContext() as rb:
            rb.prependDefer(bad)
            rb.prependDefer(done.append, 5)
    assert done == [4, 5]


def test_qemu_info_and_rebase(tmp_path: Path) -> None:
    base1, base2, top = (str(tmp_path / n) for n in ("base1.qcow2", "base2.raw", "top.qcow2"))
    subprocess.run(["qemu-img", "create", "-f", "qcow2", base1, "1M"], check=True, capture_output=True)
    subprocess.run(["qemu-img", "create", "-f", "raw", base2, "1M"], check=True, capture_output=True)
    subprocess.run(["qemu-img", "create", "-f", "qcow2", "-b", base1, "-F", "qcow2", top], check=True, capture_output=True)
    info = utils.get_qemu_info(top)
    assert info["format"] == "qcow2" and info["backing-filename"] == base1 and info["virtual-size"] == 1 << 20
    chain = utils.get_qemu_info(top, backing_chain=True)
    assert [i["filename"] for i in chain] == [top, base1]
    res = utils.qemu_rebase(top, base2, safe=False)
    assert not res
    info = utils.get_qemu_info(top)
    assert info["backing-filename"] == base2 and info["backing-filename-format"] == "raw"
    with pytest.raises(LagoException, match="Failed to get info"):
        utils.get_qemu_info(str(tmp_path / "missing"))
    assert utils.get_qemu_info(str(tmp_path / "missing"), fail_on_error=False) == {}


def test_hash_rotate_timestamp_json(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"lago" * 1000)
    assert utils.get_hash(str(f)) == hashlib.sha1(b"lago" * 1000).hexdigest()
    assert utils.get_hash(str(f), "sha256") == hashlib.sha256(b"lago" * 1000).hexdigest()
    assert re.fullmatch(r"x-\d{4}-\d\d-\d\d-\d\d:\d\d:\d\d", utils.add_timestamp_suffix("x"))
    d = tmp_path / "dir"
    d.mkdir()
    (d / "inner").write_text("1")
    utils.rotate_dir(str(d))
    assert not d.exists()
    (moved,) = [p for p in tmp_path.iterdir() if p.name.startswith("dir-")]
    assert (moved / "inner").read_text() == "1"
    buf = io.StringIO()
    utils.json_dump({"b": [1], "a": None}, buf)
    assert buf.getvalue() == json.dumps({"b": [1], "a": None}, indent=4)
    assert utils.load_virt_stream(io.StringIO('{"a": 1}')) == {"a": 1}
    assert utils.load_virt_stream(io.StringIO("a: [1, 2]\nb: x\n")) == {"a": [1, 2], "b": "x"}
    assert utils.load_virt_stream(io.BytesIO(b"k: v\n")) == {"k": "v"}


def test_run_command_with_validation() -> None:
    assert utils.run_command_with_validation(["true"]).code == 0
    with pytest.raises(LagoException, match=r"custom\ncmd: sh -c echo nope >&2; exit 3\nreturn code: 3"):
        utils.run_command_with_validation(["sh", "-c", "echo nope >&2; exit 3"], msg="custom")
    assert utils.run_command_with_validation(["false"], fail_on_error=False).code == 1


def test_invoke_different_funcs_in_parallel() -> None:
    names: list[str] = []
    # all three must be running at once to pass the barrier (run one after
    # another, the first would wait out the barrier's timeout and fail)
    together = threading.Barrier(3, timeout=30)

    def f(n: int) -> int:
        names.append(threading.current_thread().name)
        together.wait()
        return n

    assert utils.invoke_different_funcs_in_parallel(lambda: f(1), lambda: f(2), lambda: f(3)) == [1, 2, 3]
    assert len(set(names)) == 3
    with pytest.raises(ZeroDivisionError):
        utils.invoke_different_funcs_in_parallel(lambda: 1, lambda: 1 // 0)
    assert utils.invoke_different_funcs_in_parallel() == []


def test_ver_cmp() -> None:
    assert utils.ver_cmp("1.10", "1.9") > 0
    assert utils.ver_cmp("2.0.1", "2.0.1") == 0
    assert utils.ver_cmp("1.2", "1.2.1") < 0
    assert utils.ver_cmp("4.10.0-rc1", "4.9.9") > 0


def test_filter_spec_and_deepcopy() -> None:
    spec = {
        "domains": {
            "vm0": {"disks": [{"name": "root", "path": "/a"}, {"name": "b", "path": "/b"}], "x": 1},
            "vm1": {"disks": [{"name": "root", "path": "/c"}], "x": 2},
        },
        "nets": {"n": {"gw": "1"}},
    }
    copy = utils.deepcopy(spec)
    utils.filter_spec(spec, ["/domains/*/disks/*/path", "domains/vm0/x", "nets/n/missing", "nope/x"])
    assert spec == {
        "domains": {
            "vm0": {"disks": [{"name": "root"}, {"name": "b"}]},
            "vm1": {"disks": [{"name": "root"}], "x": 2},
        },
        "nets": {"n": {"gw": "1"}},
    }
    assert copy["domains"]["vm0"]["disks"][0]["path"] == "/a"  # a real deep copy
    utils.filter_spec(copy, ["domains/vm0/disks/0"])
    assert copy["domains"]["vm0"]["disks"] == [{"name": "b", "path": "/b"}]
    assert utils.deepcopy((1, [2])) == [1, [2]]


def test_temporary_directory() -> None:
    with TemporaryDirectory() as path:
        assert os.path.isdir(path)
        Path(path, "f").write_text("x")
    assert not os.path.exists(path)
