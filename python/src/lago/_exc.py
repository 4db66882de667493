"""Exception classes for lago-core's error kinds, and the table ``BY_KIND``
through which ``lago._native`` raises them (its ``src/errors.rs``).

Every class is a ``lago.utils.LagoException``; each carries ``kind``.
"""

from __future__ import annotations

from lago.utils import LagoException, LagoUserException


class LagoNativeError(LagoException):
    """An error reported by lago-core; ``kind`` names its class of failure."""

    kind: str = "other"


class LagoInvalidInputError(LagoNativeError, LagoUserException):
    """An argument is not valid."""


class LagoConfigError(LagoNativeError, LagoUserException):
    """An init file, spec or configuration value is malformed."""


class LagoNotFoundError(LagoNativeError, LagoUserException):
    """A workdir, prefix, VM, network, template or file does not exist."""


class LagoAlreadyExistsError(LagoNativeError, LagoUserException):
    """A thing to be created already exists."""


class LagoIOError(LagoNativeError):
    """An operating-system I/O operation failed."""


class LagoLibvirtError(LagoNativeError):
    """A libvirt call failed."""


class LagoDiskError(LagoNativeError):
    """A disk image operation failed."""


class LagoSSHError(LagoNativeError):
    """An SSH connection, command or transfer failed."""


class LagoTimeoutError(LagoNativeError):
    """An operation did not finish in time."""


class LagoInternalError(LagoNativeError):
    """A bug in lago."""


def _by_kind() -> dict[str, type[LagoNativeError]]:
    # Classes defined at Lago's own paths take the kinds they stand for.
    from lago.ssh import LagoSSHTimeoutException
    from lago.workdir import LagoPrefixAlreadyExistsError

    return {
        "invalid_input": LagoInvalidInputError,
        "config": LagoConfigError,
        "not_found": LagoNotFoundError,
        "already_exists": LagoPrefixAlreadyExistsError,
        "io": LagoIOError,
        "libvirt": LagoLibvirtError,
        "disk": LagoDiskError,
        "ssh": LagoSSHError,
        "timeout": LagoSSHTimeoutException,
        "internal": LagoInternalError,
        "other": LagoNativeError,
    }


_TABLE: dict[str, type[LagoNativeError]] = {}


def __getattr__(name: str) -> dict[str, type[LagoNativeError]]:
    # ``BY_KIND`` is built on first use, so that lago.ssh and lago.workdir
    # (which import this module) may be imported in any order.
    if name == "BY_KIND":
        if not _TABLE:
            _TABLE.update(_by_kind())
        return _TABLE
    raise AttributeError(name)
