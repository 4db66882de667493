"""``lago.virt.VirtEnv``: the VMs and networks of a prefix, as Python objects."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, cast

from lago.plugins import load_plugins
from lago.providers.libvirt.network import BridgeNetwork, NATNetwork, Network
from lago.utils import LagoUserException

if TYPE_CHECKING:
    from lago.plugins.vm import VMPlugin
    from lago.prefix import Prefix


class LagoUnknownVMTypeError(LagoUserException):
    """A VM's ``vm-type`` names no installed VM plugin."""

    def __init__(self, name: str, types: Any) -> None:
        super().__init__(f"Unknown VM type: {name}, available types: {', '.join(types)}")


class VirtEnv:
    """The VMs and networks of a prefix; ``_create_vm`` is the hook plugins
    override to pick their own VM classes."""

    def __init__(self, prefix: "Prefix", vm_specs: Any = None, net_specs: Any = None) -> None:
        """The VMs of ``vm_specs`` and the nets of ``net_specs`` (name →
        spec, as :meth:`from_prefix` passes them; read from the prefix
        when None)."""
        self.prefix = prefix
        self._native = prefix._native
        self._vms_info: list[dict[str, Any]] = list(self._native.vms())
        self._nets_info: list[dict[str, Any]] = list(self._native.nets())
        if vm_specs is None:
            vm_specs = {v["name"]: v["spec"] for v in self._vms_info}
        self._vm_types: Optional[dict[str, Any]] = None
        self._nets = {n["name"]: self._create_net(n) for n in self._nets_info}
        self._vms = {name: self._create_vm(spec) for name, spec in vm_specs.items()}

    @classmethod
    def from_prefix(cls, prefix: "Prefix") -> "VirtEnv":
        """The VirtEnv of ``prefix``: ``cls(prefix, vm_specs, net_specs)``,
        each a dict name → spec in init-file order, as Lago calls it."""
        native = prefix._native
        vm_specs = {v["name"]: v["spec"] for v in native.vms()}
        net_specs = {n["name"]: n.get("spec") or {} for n in native.nets()}
        return cls(prefix, vm_specs, net_specs)

    def save(self) -> None:
        """Writes every VM's and network's spec back to the prefix."""
        for vm in self._vms.values():
            cast(Any, vm).save()  # every VM type saves its spec (DefaultVM.save)
        for net in self._nets.values():
            net.save()

    @property
    def virt_path(self) -> str:
        """The prefix's ``virt`` folder."""
        return str(self.prefix.paths.virt())

    def _vm_info(self, name: str) -> dict[str, Any]:
        for v in self._vms_info:
            if v["name"] == name:
                return v
        raise KeyError(name)

    def _create_net(self, info: dict[str, Any]) -> Network:
        cls = BridgeNetwork if info.get("kind") == "bridge" else NATNetwork
        return cls(self, info)

    def _create_vm(self, vm_spec: dict[str, Any]) -> "VMPlugin":
        """Builds the VM object of ``vm_spec`` from its ``vm-type`` plugin."""
        from lago.vm import DefaultVM

        vm_type = vm_spec.get("vm-type", "default")
        if vm_type == "default":
            return DefaultVM(self, vm_spec)
        if self._vm_types is None:
            self._vm_types = load_plugins("lago.plugins.vm", instantiate=False)
        if vm_type not in self._vm_types:
            raise LagoUnknownVMTypeError(vm_type, ["default", *self._vm_types])
        cls = self._vm_types[vm_type]
        return cls(self, vm_spec)  # type: ignore[no-any-return]

    @property
    def uuid(self) -> str:
        """The prefix's UUID."""
        return str(self._native.uuid)

    def get_vms(self) -> dict[str, "VMPlugin"]:
        """VM name → VM object, in init-file order."""
        return dict(self._vms)

    def get_vm(self, name: str) -> "VMPlugin":
        """The VM named ``name``."""
        return self._vms[name]

    def get_nets(self) -> dict[str, Network]:
        """Network name → network object, in init-file order."""
        return dict(self._nets)

    def get_net(self, name: Optional[str] = None) -> Network:
        """The network ``name``, or the management network."""
        if name is not None:
            return self._nets[name]
        for net in self._nets.values():
            if net.is_management():
                return net
        return next(iter(self._nets.values()))
