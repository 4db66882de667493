"""libvirt helpers at Lago's path ``lago.providers.libvirt.utils``: the
names of libvirt's domain states (lago-core talks to libvirt itself; this
module only keeps the table user code reads)."""

from __future__ import annotations

from typing import Any, Sequence

# libvirt's virDomainState numbers (stable ABI values of libvirt.h).
VIR_DOMAIN_NOSTATE = 0
VIR_DOMAIN_RUNNING = 1
VIR_DOMAIN_BLOCKED = 2
VIR_DOMAIN_PAUSED = 3
VIR_DOMAIN_SHUTDOWN = 4
VIR_DOMAIN_SHUTOFF = 5
VIR_DOMAIN_CRASHED = 6
VIR_DOMAIN_PMSUSPENDED = 7

#: State number -> the words Lago shows for it.
DOMAIN_STATES: dict[int, str] = {
    VIR_DOMAIN_NOSTATE: "no state",
    VIR_DOMAIN_RUNNING: "running",
    VIR_DOMAIN_BLOCKED: "blocked",
    VIR_DOMAIN_PAUSED: "paused",
    VIR_DOMAIN_SHUTDOWN: "begin shut down",
    VIR_DOMAIN_SHUTOFF: "shut off",
    VIR_DOMAIN_CRASHED: "crashed",
    VIR_DOMAIN_PMSUSPENDED: "suspended",
}

#: The states in which a domain counts as running.
DOMAIN_RUNNING_STATES = frozenset({VIR_DOMAIN_RUNNING})


class Domain:
    """Namespace of domain helpers."""

    @staticmethod
    def resolve_state(state_number: Sequence[Any]) -> str:
        """The words for a ``virDomain.state()`` result ``[state, reason]``;
        ``unknown`` for a state not in :data:`DOMAIN_STATES`."""
        return DOMAIN_STATES.get(state_number[0], "unknown")
