"""``lago.paths.Paths``: where a prefix keeps its files (Lago's layout)."""

from __future__ import annotations

import os


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
        return self.prefixed("uuid")

    def ssh_id_rsa(self) -> str:
        """The SSH private key."""
        return self.prefixed("id_rsa")

    def ssh_id_rsa_pub(self) -> str:
        """The SSH public key."""
        return self.prefixed("id_rsa.pub")

    def images(self, *path: str) -> str:
        """The images folder."""
        return self.prefixed("images", *path)

    def virt(self, *path: str) -> str:
        """The virt folder."""
        return self.prefixed("virt", *path)

    def logs(self) -> str:
        """The logs folder."""
        return self.prefixed("logs")

    def metadata(self) -> str:
        """The metadata file."""
        return self.prefixed("metadata")

    def prefix_lagofile(self) -> str:
        """The prefix's marker file."""
        return self.prefixed("initialized")

    def scripts(self, *args: str) -> str:
        """The scripts folder."""
        return self.prefixed("scripts", *args)
