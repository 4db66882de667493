"""The plugin's VM type and VirtEnv (like ovirtlago.virt)."""

from __future__ import annotations

from typing import Any

import lago.vm
from lago.virt import VirtEnv

#: What every node collects besides its spec's artifacts.
NODE_ARTIFACTS = ("/etc/hostname", "/etc/os-release")


class NodeVM(lago.vm.DefaultVM):
    """A lab node: collects NODE_ARTIFACTS plus the spec's ``artifacts``."""

    def _artifact_paths(self) -> Any:
        return set(NODE_ARTIFACTS) | set(super()._artifact_paths())

    def role(self) -> str:
        """The node's ``metadata.ostlike-role`` (default ``node``)."""
        return str(self.metadata.get("ostlike-role", "node"))


class OstLikeVirtEnv(VirtEnv):
    """VirtEnv picking VM classes by role, as OvirtVirtEnv does; like it,
    its constructor takes all three arguments, without defaults (lago must
    pass them, as ``VirtEnv.from_prefix`` does in Lago)."""

    def __init__(self, prefix: Any, vm_specs: Any, net_spec: Any) -> None:
        self.created_roles: list[str] = []
        super().__init__(prefix, vm_specs, net_spec)

    def _create_vm(self, vm_spec: dict[str, Any]) -> Any:
        self.created_roles.append(str((vm_spec.get("metadata") or {}).get("ostlike-role", "node")))
        return super()._create_vm(vm_spec)

    def node_vms(self) -> list[NodeVM]:
        """The VMs of type ostlike-node."""
        return [vm for vm in self.get_vms().values() if isinstance(vm, NodeVM)]
