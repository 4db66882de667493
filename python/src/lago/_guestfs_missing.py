"""What ``lago.guestfs_tools.guestfs`` is when libguestfs' Python bindings
(the ``guestfs`` module) cannot be imported.

It stands where the real module would, so that ``import lago.guestfs_tools``
always works (Lago's own collect and export read disks in lago-core and never
need it) and so that code patching ``lago.guestfs_tools.guestfs.GuestFS`` in
tests finds an attribute to patch. Opening a handle is the one use it has: it
fails with a single :exc:`~lago.guestfs_tools.GuestFSError` line that names
the package to install.
"""

from __future__ import annotations

from typing import NoReturn

#: Why ``import guestfs`` failed, set by :mod:`lago.guestfs_tools`.
import_error = "No module named 'guestfs'"

#: The message a handle gives; ``{reason}`` is :data:`import_error`.
MISSING = (
    "lago.guestfs_tools needs libguestfs' Python bindings, which are not "
    "importable ({reason}): install the python3-guestfs package "
    "(Debian/Ubuntu; python3-libguestfs on Fedora/RHEL) for the Python "
    "that runs lago"
)


class GuestFS:
    """Stand-in for ``guestfs.GuestFS``: creating one raises GuestFSError."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        _missing()


def _missing() -> NoReturn:
    # imported here: lago.guestfs_tools imports this module while it loads
    from lago.guestfs_tools import GuestFSError

    raise GuestFSError(MISSING.format(reason=import_error))
