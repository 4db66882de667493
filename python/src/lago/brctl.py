"""``lago.brctl``: Linux bridges on the host, made and removed with
``brctl`` and ``ip`` through ``sudo`` as Lago does (lago-core's networks do
not use it; it is kept for scripts that do)."""

from __future__ import annotations

from lago.utils import CommandStatus, run_command

_BRCTL = ["sudo", "brctl"]
_IP = ["sudo", "ip"]


def _brctl(command: str, *args: str) -> CommandStatus:
    result = run_command(_BRCTL + [command, *args])
    if result.code:
        raise RuntimeError(
            f"brctl {command} failed\nrc: {result.code}\n\nout:\n{result.out!r}\n\nerr:\n{result.err!r}"
        )
    return result


def _set_link(name: str, state: str) -> None:
    if run_command(_IP + ["link", "set", "dev", name, state]).code:
        raise RuntimeError(f"Could not set {name} to state {state}")


def create(name: str, stp: bool = True) -> None:
    """Adds bridge ``name``, sets it up and (with ``stp``) turns STP on;
    the bridge is removed again if a later step fails."""
    _brctl("addbr", name)
    try:
        _set_link(name, "up")
        if stp:
            _brctl("stp", name, "on")
    except BaseException:
        _brctl("delbr", name)
        raise


def destroy(name: str) -> None:
    """Sets bridge ``name`` down and deletes it."""
    _set_link(name, "down")
    _brctl("delbr", name)


def exists(name: str) -> bool:
    """True if the host has a bridge called ``name``."""
    result = run_command(["ip", "-o", "link", "show", "type", "bridge"])
    if result.code:
        raise RuntimeError(f"Failed to check if bridge {name} exists")
    for line in result.out.decode("utf-8", "replace").splitlines():
        fields = line.split(":")
        if len(fields) > 1 and fields[1].strip().split("@")[0] == name:
            return True
    return False
