"""libguestfs errors at Lago's path ``lago.guestfs_tools`` (lago-core reads
stopped VMs' disks with the libguestfs tools)."""

from __future__ import annotations

from lago.utils import LagoException


class GuestFSError(LagoException):
    """A libguestfs operation failed."""
