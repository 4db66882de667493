"""``lago.paths.Paths``: where a prefix keeps its files (Lago's layout).

The layout is lago-core's (``lago._native.prefix_layout``), so this class
and the core never disagree; plugins subclass it (ovirtlago's OvirtPaths)
and add their own files with :meth:`Paths.prefixed`.
"""

from __future__ import annotations

import os

from lago import _native

#: Name -> path relative to the prefix folder, from lago-core.
_LAYOUT: dict[str, str] = {name: os.fspath(rel) for name, rel in _native.prefix_layout()}


class Paths:
    """The files of the prefix at ``prefix_path``."""

    def __init__(self, prefix_path: str) -> None:
        self.prefix = prefix_path

    def prefixed(self, *args: str) -> str:
        """``prefix/args…``."""
        return os.path.join(self.prefix, *args)

    def prefix_path(self) -> str:
        """The prefix's path."""
        return self.prefix

    def uuid(self) -> str:
        """The uuid file."""
        return self.prefixed(_LAYOUT["uuid"])

    def ssh_id_rsa(self) -> str:
        """The SSH private key."""
        return self.prefixed(_LAYOUT["ssh_id_rsa"])

    def ssh_id_rsa_pub(self) -> str:
        """The SSH public key."""
        return self.prefixed(_LAYOUT["ssh_id_rsa_pub"])

    def images(self, *path: str) -> str:
        """The images folder."""
        return self.prefixed(_LAYOUT["images"], *path)

    def virt(self, *path: str) -> str:
        """The virt folder."""
        return self.prefixed(_LAYOUT["virt"], *path)

    def logs(self) -> str:
        """The logs folder."""
        return self.prefixed(_LAYOUT["logs"])

    def metadata(self) -> str:
        """The metadata file."""
        return self.prefixed(_LAYOUT["metadata"])

    def prefix_lagofile(self) -> str:
        """The prefix's marker file."""
        return self.prefixed(_LAYOUT["initialized"])

    def scripts(self, *args: str) -> str:
        """The scripts folder."""
        return self.prefixed(_LAYOUT["scripts"], *args)
