"""Ansible inventory of an environment (contract §8), rendered by lago-core
(``Env::ansible_inventory`` for our prefixes; the same renderer over
``prefix.get_vms()`` for any other prefix object); this module keeps Lago's
``LagoAnsible``."""

from __future__ import annotations

import collections
import contextlib
import logging
import tempfile
from typing import Any, Iterator, Optional, Sequence

from lago import _native

LOGGER = logging.getLogger(__name__)

DEFAULT_KEYS = ["vm-type", "groups", "vm-provider"]


class LagoAnsible:
    """Builds the inventory of a prefix."""

    def __init__(self, prefix: Any) -> None:
        self.prefix = prefix

    def get_inventory_str(self, keys: Optional[Sequence[str]] = None) -> str:
        """The inventory as INI text (no trailing newline); empty or no
        ``keys`` means ``vm-type``, ``groups``, ``vm-provider``."""
        native = getattr(self.prefix, "_native", None)
        if native is not None and hasattr(native, "ansible_inventory"):
            return str(native.ansible_inventory(list(keys or [])))
        return self._inventory_from_vms(keys)

    def _inventory_from_vms(self, keys: Optional[Sequence[str]]) -> str:
        """The inventory of a prefix object that only offers ``get_vms()``
        (VMs with ``name()``, ``ip()``, ``spec``) and ``paths.ssh_id_rsa()``."""
        rows = [
            [vm.name(), str(vm.ip()), vm.spec]
            for vm in self.prefix.get_vms().values()
        ]
        key_file = str(self.prefix.paths.ssh_id_rsa())
        return str(_native.inventory_render(rows, list(keys or []), key_file))

    @staticmethod
    def get_key(key: str, data_structure: Any) -> Any:
        """The value at ``key`` in ``data_structure``: ``/`` is all of it,
        otherwise ``/``-separated parts, numbers indexing lists (negative
        from the end), names indexing mappings; None when the path is missing."""
        return _native.inventory_get_key(key, data_structure)

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
