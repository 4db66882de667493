"""Ansible inventory of an environment (contract §8)."""

from __future__ import annotations

import collections
from typing import Any, Optional, Sequence

DEFAULT_KEYS = ["vm-type", "groups", "vm-provider"]


def _get_key(path: str, spec: Any) -> Any:
    node = spec
    for part in path.strip("/").split("/"):
        if isinstance(node, list):
            try:
                node = node[int(part)]
            except (ValueError, IndexError):
                return None
        elif isinstance(node, dict):
            if part not in node:
                return None
            node = node[part]
        else:
            return None
    return node


class LagoAnsible:
    """Builds the inventory of a prefix."""

    def __init__(self, prefix: Any) -> None:
        self.prefix = prefix

    def get_inventory(self, keys: Optional[Sequence[str]] = None) -> dict[str, list[str]]:
        """Group → host entries."""
        keys = list(keys) if keys is not None else DEFAULT_KEYS
        inventory: dict[str, list[str]] = collections.defaultdict(list)
        key_file = self.prefix.paths.ssh_id_rsa()
        for name, vm in self.prefix.get_vms().items():
            spec = vm.spec
            spec.setdefault("vm-provider", "local-libvirt")
            spec.setdefault("vm-type", "default")
            entry = f"{name} ansible_host={vm.ip()} ansible_ssh_private_key_file={key_file}"
            for key in keys:
                value = _get_key(key, spec)
                if value is None:
                    continue
                values = value if isinstance(value, list) else [value]
                for v in values:
                    inventory[f"{key}={v}"].append(entry)
            for group in spec.get("groups", []) or []:
                inventory[str(group)].append(entry)
        return inventory

    def get_inventory_str(self, keys: Optional[Sequence[str]] = None) -> str:
        """The inventory as INI text (no trailing newline)."""
        lines: list[str] = []
        for group, hosts in self.get_inventory(keys).items():
            lines.append(f"[{group}]")
            lines.extend(sorted(hosts))
        return "\n".join(lines)
