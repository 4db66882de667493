"""``lago.prefix.Prefix``: one environment, over ``lago._native.Env``."""

from __future__ import annotations

import json
from typing import Any, Optional, Sequence

from lago.paths import Paths
from lago.utils import LagoException
from lago.virt import VirtEnv


class LagoDeployError(LagoException):
    """A deploy script failed."""


class Prefix:
    """An environment; ``VIRT_ENV_CLASS`` and ``_create_virt_env`` are the
    hooks plugins override."""

    VIRT_ENV_CLASS: type[VirtEnv] = VirtEnv

    def __init__(self, native: Any) -> None:
        self._native = native
        self._prefix = str(native.prefix_path)
        self._paths = Paths(self._prefix)
        self._virt_env: Optional[VirtEnv] = None

    @property
    def paths(self) -> Paths:
        """The prefix's paths (settable, as in Lago)."""
        return self._paths

    @paths.setter
    def paths(self, value: Paths) -> None:
        self._paths = value

    def _create_virt_env(self) -> VirtEnv:
        return self.VIRT_ENV_CLASS.from_prefix(self)

    @property
    def virt_env(self) -> VirtEnv:
        """The VMs and networks (built on first use)."""
        if self._virt_env is None:
            self._virt_env = self._create_virt_env()
        return self._virt_env

    def start(self, vm_names: Optional[Sequence[str]] = None) -> None:
        """Starts networks then VMs (all, or ``vm_names``)."""
        self._native.start(list(vm_names or []))

    def stop(self, vm_names: Optional[Sequence[str]] = None) -> None:
        """Stops VMs then unused networks (all, or ``vm_names``)."""
        self._native.stop(list(vm_names or []))

    def shutdown(self, vm_names: Optional[Sequence[str]] = None, reboot: bool = False) -> None:
        """Shuts the VMs (all, or ``vm_names``) down cleanly, or reboots
        them: ACPI, else ``poweroff``/``reboot`` over SSH; then stops the
        networks no running VM uses (not on reboot)."""
        from lago.log_utils import LogTask

        with LogTask("Reboot VMs" if reboot else "Shutdown VMs"):
            self._native.shutdown(list(vm_names or []), bool(reboot))

    def cleanup(self) -> None:
        """Stops the prefix and marks it uninitialized (Lago's cleanup)."""
        from lago.log_utils import LogTask

        with LogTask("Stop prefix"):
            self._native.stop([])
        with LogTask("Tag prefix as uninitialized"):
            self._native.cleanup()

    def get_vms(self) -> dict[str, Any]:
        """VM name → VM object, in init-file order."""
        return self.virt_env.get_vms()

    def get_nets(self) -> dict[str, Any]:
        """Network name → network object."""
        return self.virt_env.get_nets()

    def get_paths(self) -> Paths:
        """The prefix's paths."""
        return self.paths

    def status_info(self) -> dict[str, Any]:
        """The info mapping ``lago status`` prints."""
        return json.loads(self._native.status_json())  # type: ignore[no-any-return]

    def collect_artifacts(self, output_dir: str, ignore_nopath: bool) -> None:
        """Collects every VM's artifacts into ``output_dir/<vm>``."""
        import os

        for name, vm in self.get_vms().items():
            vm.collect_artifacts(os.path.join(output_dir, name), ignore_nopath)

    def destroy(self) -> None:
        """Stops everything and removes the prefix."""
        self._native.destroy()


