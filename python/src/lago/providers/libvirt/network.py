"""Network objects at Lago's path ``lago.providers.libvirt.network``."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Iterable, Optional

if TYPE_CHECKING:
    from lago.virt import VirtEnv


class Network:
    """A network of an environment."""

    def __init__(self, env: "VirtEnv", info: dict[str, Any]) -> None:
        self._env = env
        self._info = info

    def name(self) -> str:
        """The network's name."""
        return str(self._info["name"])

    @property
    def spec(self) -> dict[str, Any]:
        """A deep copy of the network's spec."""
        return copy.deepcopy(self._info.get("spec") or {})

    def gw(self) -> Optional[str]:
        """The gateway address, or None."""
        return self._info.get("gw")

    def mtu(self) -> int:
        """The MTU (1500 unless the spec says otherwise)."""
        return int(self._info.get("spec", {}).get("mtu", 1500))

    def is_management(self) -> bool:
        """True for the management network."""
        return bool(self._info.get("is_management"))

    def mapping(self) -> dict[str, str]:
        """Hostname → address of the VMs on this network."""
        out: dict[str, str] = {}
        for vm in self._env._vms_info:
            for i, nic in enumerate(vm.get("nics", [])):
                if nic.get("net") == self.name() and nic.get("ip"):
                    key = vm["name"] if i == 0 or vm["name"] not in out else f"{vm['name']}-eth{i}"
                    out[key] = nic["ip"]
        return out

    def resolve(self, hostname: str) -> str:
        """The address of ``hostname`` on this network."""
        return self.mapping()[hostname]

    def alive(self) -> bool:
        """True if the network is up."""
        status = self._env.prefix.status_info()
        nets = status.get("Prefix", {}).get("Networks", {})
        return bool(nets.get(self.name(), {}).get("status") == "up")

    def add_mapping(self, name: str, ip: str, save: bool = True) -> None:
        """Adds DNS name ``name`` → ``ip`` to the network's ``mapping`` (used
        the next time the network starts); saved unless ``save`` is False."""
        self.add_mappings([(name, ip, None)], save=save)

    def add_mappings(self, mappings: Iterable[Any], save: bool = True) -> None:
        """Adds every ``(name, ip, mac)`` of ``mappings`` (mac unused here)."""
        spec = self._info.setdefault("spec", {})
        table = spec.setdefault("mapping", {})
        for entry in mappings:
            table[str(entry[0])] = str(entry[1])
        if save:
            self.save()

    def save(self) -> None:
        """Writes the network's spec to ``virt/net-<name>`` (lago-core)."""
        self._env._native.save_net_spec(self.name(), self._info.get("spec") or {})

    def start(self, attempts: int = 5, timeout: int = 2) -> None:
        """Starts this network alone (nothing happens if it is up)."""
        self._env._native.start_net(self.name())

    def stop(self) -> None:
        """Stops this network (VMs still on it lose it: stop them first)."""
        self._env._native.stop_net(self.name())

    def _libvirt_name(self) -> str:
        return str(self._info.get("libvirt_name", ""))


class NATNetwork(Network):
    """A NAT network."""


class BridgeNetwork(Network):
    """A bridged network."""
