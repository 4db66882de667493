"""lago.utils.func_vector / VectorThread, Lago's thread helpers that OST
calls (no guests here; tests_guest/test_compat_clients.py runs them over
real VMs)."""

from __future__ import annotations

import threading

import pytest

from lago.utils import VectorThread, func_vector


def test_func_vector_binds_each_argument_tuple() -> None:
    calls = func_vector(lambda a, b: a * b, [(2, 3), (4, 5)])
    assert [c() for c in calls] == [6, 20]
    assert func_vector(print, []) == []


def test_vector_thread_runs_every_target_in_its_own_thread() -> None:
    names: list[str] = []
    barrier = threading.Barrier(3, timeout=10)

    def job(i: int) -> int:
        barrier.wait()  # only passes if all three run at once
        names.append(threading.current_thread().name)
        return i * 10

    vt = VectorThread(func_vector(job, [(1,), (2,), (3,)]))
    vt.start_all()
    assert vt.join_all() == [10, 20, 30]
    assert len(set(names)) == 3 and threading.current_thread().name not in names


def test_join_all_reraises_the_first_failure_after_all_ended() -> None:
    done: list[int] = []

    def job(i: int) -> int:
        if i == 1:
            raise ValueError("first")
        if i == 2:
            raise KeyError("second")
        done.append(i)
        return i

    vt = VectorThread(func_vector(job, [(0,), (1,), (2,), (3,)]))
    vt.start_all()
    with pytest.raises(ValueError, match="first"):
        vt.join_all()
    assert sorted(done) == [0, 3]


def test_join_all_without_raising_gives_none_for_failures() -> None:
    def job(i: int) -> int:
        if i:
            raise RuntimeError("x")
        return 7

    vt = VectorThread(func_vector(job, [(0,), (1,)]))
    vt.start_all()
    assert vt.join_all(raise_exceptions=False) == [7, None]
    raw = vt.results
    assert raw is not None and raw[0] == {"return": 7} and "exception" in raw[1]
    # Lago's quirk: a second join_all returns the raw outcomes
    assert vt.join_all() is raw


def test_run_command_of_a_missing_program_is_status_127() -> None:
    # ovirtlago's reposetup checks the status of `repoman`; Lago's shell
    # gave 127 for a program that is not installed
    from lago.utils import run_command

    res = run_command(["lago-no-such-program-xyz", "--flag"])
    assert res.code == 127 and b"lago-no-such-program-xyz" in res.err


def test_egg_timer_as_a_context_manager_restarts_its_clock() -> None:
    # ovirtlago's testlib: `with utils.EggTimer(timeout) as timer: while not timer.elapsed()`
    from lago.utils import EggTimer

    timer = EggTimer(0)
    timer.start_time -= 5  # as if made long ago
    assert timer.elapsed()
    with EggTimer(3600) as t:
        assert isinstance(t, EggTimer) and not t.elapsed()
    with timer as t:
        assert t is timer
