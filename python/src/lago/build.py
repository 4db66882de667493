"""Build errors at Lago's path ``lago.build`` (the ``build`` steps of disks,
virt-customize, run in lago-core)."""

from __future__ import annotations

from lago.utils import LagoException


class BuildException(LagoException):
    """A disk's build step failed."""
