"""lago.utils: CommandStatus, run_command, ipv4_to_mac, invoke_in_parallel."""

from __future__ import annotations

import pytest

from lago.utils import CommandStatus, invoke_in_parallel, ipv4_to_mac, run_command


def test_command_status_truthiness_is_inverted() -> None:
    ok = CommandStatus(0, b"out", b"")
    bad = CommandStatus(3, b"", b"err")
    assert not ok
    assert bad
    code, out, err = bad
    assert (code, out, err) == (3, b"", b"err")
    assert ok.out == b"out" and bad.code == 3


def test_run_command_bytes_and_code() -> None:
    res = run_command(["sh", "-c", "echo hi; echo oops >&2; exit 4"])
    assert res.code == 4 and res.out == b"hi\n" and res.err == b"oops\n"
    assert res
    assert not run_command(["true"])
    assert run_command(["cat"], input_data=b"abc").out == b"abc"


def test_ipv4_to_mac() -> None:
    assert ipv4_to_mac("192.168.200.10") == "54:52:c0:a8:c8:0a"
    with pytest.raises(ValueError):
        ipv4_to_mac("1.2.3")


def test_invoke_in_parallel() -> None:
    assert invoke_in_parallel(lambda a, b: a + b, [1, 2], [10, 20]) == [11, 22]

    def boom(x: int) -> int:
        raise RuntimeError(str(x))

    with pytest.raises(RuntimeError):
        invoke_in_parallel(boom, [1])
