"""VM plugin base classes and VM errors at Lago's path ``lago.plugins.vm``."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Optional

from lago.plugins import Plugin
from lago.utils import LagoException, LagoUserException

if TYPE_CHECKING:
    from lago.virt import VirtEnv


class VMError(LagoException):
    """A VM operation failed."""


class ExtractPathError(VMError):
    """Copying paths out of a VM failed."""


class ExtractPathNoPathError(VMError):
    """A path to copy out of a VM does not exist."""

    def __init__(self, err: str) -> None:
        super().__init__(f"Failed to extract files: {err}")


class LagoVMNotRunningError(LagoUserException):
    """The VM must be running for this."""

    def __init__(self, vm_name: str) -> None:
        super().__init__(f"The VM {vm_name} is not running")


class LagoCopyFilesToVMError(LagoUserException):
    """Copying files into a VM failed."""

    def __init__(self, local_files: Any, err: str) -> None:
        super().__init__(f"Failed to copy files {local_files} to the VM: {err}")


class LagoCopyFilesFromVMError(LagoUserException):
    """Copying files out of a VM failed."""

    def __init__(self, remote_files: Any, local_files: Any, err: str = "") -> None:
        super().__init__(
            f"Failed to copy files {remote_files} from the VM to {local_files}: {err}"
        )


class LagoVMDoesNotExistError(LagoException):
    """No such VM."""


class LagoFailedToGetVMStateError(LagoException):
    """The VM's state could not be read."""


class VMProviderPlugin(Plugin):
    """Runs a VM (Lago's provider layer); the default runs it through lago-core."""

    def __init__(self, vm: "VMPlugin") -> None:
        self.vm = vm

    def name(self) -> str:
        """The VM's name."""
        return self.vm.name()


class VMPlugin(Plugin):
    """A VM of an environment; subclasses override hooks (``_artifact_paths``,
    ``wait_for_ssh``, ``stop``…) as Lago's plugins do."""

    def __init__(self, env: "VirtEnv", spec: dict[str, Any]) -> None:
        self.virt_env = env
        self._spec = copy.deepcopy(spec)

    # -- spec ---------------------------------------------------------------
    def name(self) -> str:
        """The VM's name."""
        return str(self._spec["name"])

    @property
    def spec(self) -> dict[str, Any]:
        """A deep copy of the VM's spec."""
        return copy.deepcopy(self._spec)

    @property
    def metadata(self) -> dict[str, Any]:
        """A copy of ``spec['metadata']``."""
        return dict(self._spec.get("metadata") or {})

    @property
    def disks(self) -> list[dict[str, Any]]:
        """A shallow copy of ``spec['disks']``."""
        return list(self._spec.get("disks") or [])

    @property
    def vm_type(self) -> str:
        """``spec['vm-type']``."""
        return str(self._spec.get("vm-type", "default"))

    @property
    def groups(self) -> Any:
        """``spec['groups']`` (a list, or a string as Lago allowed)."""
        g = self._spec.get("groups", [])
        return copy.copy(g)

    @property
    def mgmt_name(self) -> Optional[str]:
        """The management network's name."""
        return self._info.get("mgmt_net")

    @property
    def mgmt_net(self) -> Any:
        """The management network object."""
        return self.virt_env.get_net(self.mgmt_name)

    @property
    def _info(self) -> dict[str, Any]:
        return self.virt_env._vm_info(self.name())

    def nics(self) -> list[dict[str, Any]]:
        """A copy of ``spec['nics']``."""
        return copy.deepcopy(self._spec.get("nics") or [])

    def nets(self) -> list[str]:
        """Names of the VM's networks."""
        return [n["net"] for n in self.nics()]

    def ip(self) -> str:
        """The VM's address on its management network."""
        ip = self._info.get("ip")
        if ip is None:
            raise KeyError(self.name())
        return str(ip)

    def all_ips(self) -> list[str]:
        """All the VM's addresses."""
        return [n["ip"] for n in self._info.get("nics", []) if n.get("ip")]

    def ips_in_net(self, net_name: str) -> list[str]:
        """The VM's addresses in network ``net_name``."""
        return [
            n["ip"] for n in self._info.get("nics", []) if n.get("ip") and n["net"] == net_name
        ]

    def distro(self) -> Optional[str]:
        """The VM's distribution (spec or template metadata)."""
        return self._info.get("distro")

    def root_password(self) -> str:
        """The VM's root password ('' if none)."""
        return str(self._info.get("root_password") or "")

    def iscsi_name(self) -> str:
        """The VM's iSCSI initiator name."""
        return f"iqn.2014-07.org.lago:{self.name()}"

    def _artifact_paths(self) -> list[str]:
        """Paths collected by ``collect_artifacts`` (plugins override this)."""
        return list(self._spec.get("artifacts", []))

    # -- plugin registries (Lago loads them per VM) -------------------------
    @property
    def vm_providers(self) -> dict[str, Any]:
        """The VM provider classes (entry points ``lago.plugins.vm_provider``)."""
        from lago.plugins import load_plugins

        return load_plugins("lago.plugins.vm_provider", instantiate=False)

    @property
    def service_providers(self) -> dict[str, Any]:
        """The service classes (entry points ``lago.plugins.vm_service``)."""
        from lago.plugins import load_plugins

        return load_plugins("lago.plugins.vm_service", instantiate=False)

    @property
    def provider(self) -> VMProviderPlugin:
        """The VM's provider object (``spec['vm-provider']``, default
        ``local-libvirt``); lago-core runs every VM, so the provider only
        names it for plugins that look."""
        if getattr(self, "_provider", None) is None:
            name = str(self._spec.get("vm-provider", "local-libvirt"))
            cls = self.vm_providers.get(name, VMProviderPlugin)
            self._provider = cls(vm=self)
        return self._provider  # type: ignore[no-any-return]

    @provider.setter
    def provider(self, value: VMProviderPlugin) -> None:
        self._provider = value
