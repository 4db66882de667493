"""Exception classes for lago-core's error kinds.

Which class is raised for which kind is decided in one place, the Rust
side (``bindings/python/src/errors.rs``); ``BY_KIND`` is that table, read
from ``lago._native.error_classes()``.

Every class is a ``lago.utils.LagoException``. An exception raised by
``lago._native`` carries the error's structured fields as attributes (``None``
when absent) and its causes as ``causes`` and as ``__cause__``.
"""

from __future__ import annotations

from typing import Optional

from lago.utils import LagoException, LagoUserException


class LagoErrorCause(Exception):
    """One cause in the chain of a lago-core error (``__cause__``); its
    message is the cause's, its own ``__cause__`` the next cause."""


class LagoNativeError(LagoException):
    """An error reported by lago-core.

    Attributes: ``kind`` (its class of failure: ``"config"``,
    ``"not_found"``, ...), ``vm`` (the VM's name), ``path`` (the file or
    folder), ``key_path`` (where in a LagoInitFile or configuration file:
    ``domains.vm0.nics[1].net``), ``line`` (1-based, in ``path``),
    ``libvirt_code`` (libvirt's ``virErrorNumber``) and ``causes`` (the
    messages of the cause chain, outermost first).
    """

    kind: str = "other"
    vm: Optional[str] = None
    path: Optional[str] = None
    key_path: Optional[str] = None
    line: Optional[int] = None
    libvirt_code: Optional[int] = None
    causes: tuple[str, ...] = ()


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


class LagoCancelledError(LagoNativeError):
    """The operation was interrupted (Ctrl-C) and undid what it had done."""


_TABLE: dict[str, type[LagoNativeError]] = {}


def __getattr__(name: str) -> dict[str, type[LagoNativeError]]:
    # ``BY_KIND`` is read on first use, so that lago.ssh and lago.workdir
    # (which import this module, and hold two of the classes) may be imported
    # in any order.
    if name == "BY_KIND":
        if not _TABLE:
            from lago import _native

            _TABLE.update(_native.error_classes())
        return _TABLE
    raise AttributeError(name)
