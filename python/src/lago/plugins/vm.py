"""VM plugin base classes and VM errors at Lago's path ``lago.plugins.vm``."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Optional, Sequence, Union

from lago.plugins import Plugin
from lago.utils import LagoException, LagoUserException

if TYPE_CHECKING:
    from lago.plugins.service import ServicePlugin
    from lago.utils import CommandStatus
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
    """Runs a VM (Lago's provider layer). Lago's abstract members are
    declared here; a provider that lacks one raises NotImplementedError."""

    def __init__(self, vm: "VMPlugin") -> None:
        self.vm = vm

    def name(self) -> str:
        """The VM's name."""
        return self.vm.name()

    def _missing(self, what: str) -> NotImplementedError:
        return NotImplementedError(f"{type(self).__name__} does not implement {what}")

    def start(self, *args: Any, **kwargs: Any) -> None:
        """Starts the VM."""
        raise self._missing("start")

    def stop(self, *args: Any, **kwargs: Any) -> None:
        """Stops the VM at once."""
        raise self._missing("stop")

    def shutdown(self, *args: Any, **kwargs: Any) -> None:
        """Shuts the VM down cleanly."""
        raise self._missing("shutdown")

    def reboot(self, *args: Any, **kwargs: Any) -> None:
        """Reboots the VM."""
        raise self._missing("reboot")

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        """Prepares the VM's disks (lago-core does it at init)."""

    def state(self, *args: Any, **kwargs: Any) -> str:
        """Lago's state string of the VM."""
        raise self._missing("state")

    def running(self, *args: Any, **kwargs: Any) -> bool:
        """True if the VM runs."""
        raise self._missing("running")

    def create_snapshot(self, name: str, *args: Any, **kwargs: Any) -> None:
        """Takes snapshot ``name`` of the VM's disks."""
        raise self._missing("create_snapshot")

    def revert_snapshot(self, name: str, *args: Any, **kwargs: Any) -> None:
        """Reverts the VM's disks to snapshot ``name``."""
        raise self._missing("revert_snapshot")


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

    # -- Lago's VM interface: run by the VM type (``lago.vm.DefaultVM``) ------
    def _missing(self, what: str) -> NotImplementedError:
        return NotImplementedError(f"{type(self).__name__} does not implement {what}")

    def start(self) -> None:
        """Starts the VM (through its provider)."""
        self.provider.start()

    def stop(self) -> None:
        """Stops the VM at once (through its provider)."""
        self.provider.stop()

    def shutdown(self) -> None:
        """Shuts the VM down cleanly (through its provider)."""
        self.provider.shutdown()

    def reboot(self) -> None:
        """Reboots the VM (through its provider)."""
        self.provider.reboot()

    def bootstrap(self) -> None:
        """Prepares the VM's disks (through its provider)."""
        self.provider.bootstrap()

    def state(self) -> str:
        """Lago's state string (through its provider)."""
        return self.provider.state()

    def running(self) -> bool:
        """True if the VM runs (through its provider)."""
        return self.provider.running()

    def create_snapshot(self, name: str) -> None:
        """Takes snapshot ``name`` (through its provider)."""
        self.provider.create_snapshot(name)

    def revert_snapshot(self, name: str) -> None:
        """Reverts to snapshot ``name`` (through its provider)."""
        self.provider.revert_snapshot(name)

    @property
    def cpu_model(self) -> Optional[str]:
        """The VM's CPU model."""
        raise self._missing("cpu_model")

    @property
    def cpu_vendor(self) -> Optional[str]:
        """The VM's CPU vendor."""
        raise self._missing("cpu_vendor")

    def interactive_console(self) -> "CommandStatus":
        """Attaches this terminal to the VM's serial console."""
        raise self._missing("interactive_console")

    def export_disks(
        self,
        standalone: bool = True,
        dst_dir: Optional[str] = None,
        compress: bool = False,
        collect_only: bool = False,
        with_threads: bool = True,
        *args: Any,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Exports the VM's disks into ``dst_dir``; ``{name: [paths]}``."""
        raise self._missing("export_disks")

    def ssh(
        self,
        command: Sequence[str],
        data: Optional[Union[bytes, str]] = None,
        show_output: bool = True,
        propagate_fail: bool = True,
        tries: Optional[int] = None,
    ) -> "CommandStatus":
        """Runs ``command`` in the VM over SSH; truthy on failure."""
        raise self._missing("ssh")

    def interactive_ssh(self, command: Optional[Sequence[str]] = None) -> "CommandStatus":
        """Runs ``command`` (default: a shell) on this terminal over SSH."""
        raise self._missing("interactive_ssh")

    def ssh_script(self, path: str, show_output: bool = True) -> "CommandStatus":
        """Runs the local script ``path`` in the VM."""
        raise self._missing("ssh_script")

    def ssh_reachable(self, tries: Optional[int] = None, propagate_fail: bool = True) -> bool:
        """True if the VM answers SSH."""
        raise self._missing("ssh_reachable")

    def wait_for_ssh(self) -> bool:
        """Waits until the VM answers SSH."""
        raise self._missing("wait_for_ssh")

    def copy_to(self, local_path: str, remote_path: str, recursive: bool = True) -> None:
        """Copies ``local_path`` into the VM."""
        raise self._missing("copy_to")

    def copy_from(
        self,
        remote_path: str,
        local_path: str,
        recursive: bool = True,
        propagate_fail: bool = True,
    ) -> None:
        """Copies ``remote_path`` out of the VM."""
        raise self._missing("copy_from")

    def extract_paths(self, paths: Sequence[Any], ignore_nopath: bool = False) -> None:
        """Copies ``(guest path, host path)`` pairs out of the VM."""
        raise self._missing("extract_paths")

    def extract_paths_dead(self, paths: Sequence[Any], ignore_nopath: bool = False) -> None:
        """``extract_paths`` for a VM that does not run."""
        raise self._missing("extract_paths_dead")

    def collect_artifacts(self, host_path: str, ignore_nopath: bool) -> None:
        """Copies the VM's artifact paths into ``host_path``."""
        raise self._missing("collect_artifacts")

    def save(self, path: Optional[str] = None) -> None:
        """Writes the VM's spec back to the prefix."""
        raise self._missing("save")

    def service(self, name: str) -> "ServicePlugin":
        """Service ``name`` in the VM."""
        raise self._missing("service")

    def guest_agent(self) -> "ServicePlugin":
        """The VM's guest agent service."""
        raise self._missing("guest_agent")

    def has_guest_agent(self) -> bool:
        """True if the VM runs a guest agent."""
        raise self._missing("has_guest_agent")
