"""Ansible inventory of an environment (contract §8), built by lago-core
(``Env::ansible_inventory``); this module keeps Lago's ``LagoAnsible``."""

from __future__ import annotations

import collections
import contextlib
import logging
import tempfile
from typing import Any, Iterator, Optional, Sequence

LOGGER = logging.getLogger(__name__)

DEFAULT_KEYS = ["vm-type", "groups", "vm-provider"]


class LagoAnsible:
    """Builds the inventory of a prefix."""

    def __init__(self, prefix: Any) -> None:
        self.prefix = prefix

    def get_inventory_str(self, keys: Optional[Sequence[str]] = None) -> str:
        """The inventory as INI text (no trailing newline); empty or no
        ``keys`` means ``vm-type``, ``groups``, ``vm-provider``."""
        return str(self.prefix._native.ansible_inventory(list(keys or [])))

    def get_inventory(self, keys: Optional[Sequence[str]] = None) -> dict[str, list[str]]:
        """Group → host entries, in the inventory's order."""
        inventory: dict[str, list[str]] = collections.defaultdict(list)
        group: Optional[str] = None
        for line in self.get_inventory_str(keys).split("\n"):
            if line.startswith("[") and line.endswith("]"):
                group = line[1:-1]
                inventory.setdefault(group, [])
            elif group is not None and line:
                inventory[group].append(line)
        return inventory

    @contextlib.contextmanager
    def get_inventory_temp_file(
        self, keys: Optional[Sequence[str]] = None
    ) -> Iterator["tempfile._TemporaryFileWrapper[str]"]:
        """A temporary file holding the inventory (flushed, rewound; use
        ``.name``), removed when the context ends."""
        with tempfile.NamedTemporaryFile(mode="r+t") as f:
            inventory = self.get_inventory_str(keys)
            LOGGER.debug("Writing inventory to temp file %s \n%s", f.name, inventory)
            f.write(inventory)
            f.flush()
            f.seek(0)
            yield f
