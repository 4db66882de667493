"""``lago.prefix.Prefix``: one environment, over ``lago._native.Env``."""

from __future__ import annotations

import json
import os
from typing import Any, Optional, Sequence

from lago import paths as _paths_mod
from lago.paths import Paths
from lago.utils import LagoException, LagoUserException
from lago.virt import VirtEnv


class LagoDeployError(LagoException):
    """A deploy script failed."""


class Prefix:
    """An environment; ``VIRT_ENV_CLASS`` and ``_create_virt_env`` are the
    hooks plugins override.

    ``Prefix(path)`` (Lago's constructor) names the prefix folder; it is
    opened through ``lago._native`` on first use. ``Prefix(env)`` wraps an
    already open ``lago._native.Env``.
    """

    VIRT_ENV_CLASS: type[VirtEnv] = VirtEnv

    def __init__(self, prefix: Any) -> None:
        from lago import _native

        native: Any = None
        if isinstance(prefix, _native.Env):
            native, prefix = prefix, str(prefix.prefix_path)
        elif isinstance(prefix, os.PathLike):
            prefix = os.fspath(prefix)
        self._native_env = native
        self._prefix = prefix
        self._paths = _paths_mod.Paths(prefix)
        self._virt_env: Optional[VirtEnv] = None
        self._metadata: Optional[dict[str, Any]] = None

    @property
    def _native(self) -> Any:
        """The open ``lago._native.Env`` (opened on first use)."""
        if self._native_env is None:
            from lago import _native
            from lago.config import config

            self._native_env = _native.Env.load_prefix(
                os.path.realpath(self._prefix), config=config.native
            )
        return self._native_env

    @property
    def metadata(self) -> dict[str, Any]:
        """The prefix's metadata (``metadata.json``; ``{}`` if absent)."""
        if self._metadata is None:
            try:
                with open(self.paths.metadata()) as f:
                    self._metadata = json.load(f)
            except (OSError, ValueError):
                self._metadata = {}
        return self._metadata

    def save(self) -> None:
        """Writes the prefix's metadata and every VM and network spec back
        to the prefix (a plugin calls it after changing them)."""
        os.makedirs(self.paths.virt(), exist_ok=True)
        metadata = self.metadata  # read before the file is truncated
        with open(self.paths.metadata(), "w") as f:
            json.dump(metadata, f, indent=4)
        self.virt_env.save()

    def initialize(self) -> None:
        """Lago created an empty prefix here; lago-core creates a prefix
        whole from an init file (``lago init``, ``lago.sdk.init``), so this
        only accepts a prefix that exists already."""
        if not self.is_prefix(self._prefix):
            raise LagoUserException(
                f"Cannot initialize an empty prefix at {self._prefix}: "
                "create it from an init file with 'lago init' or lago.sdk.init()"
            )

    @classmethod
    def from_init_file(
        cls,
        workdir: str,
        initfile: str,
        prefix_name: str = "default",
        *,
        template_repo: Optional[str] = None,
        template_store: Optional[str] = None,
        set_current: bool = True,
        bootstrap: str = "auto",
        skip_build: bool = False,
    ) -> "Prefix":
        """Creates prefix ``prefix_name`` in ``workdir`` from the init file
        ``initfile`` (lago-core's init: one transaction that leaves nothing
        behind if it fails or is killed) and returns it as an object of this
        class; ``lago init`` calls it on the Prefix class a plugin
        registers."""
        from lago import _native
        from lago.config import config

        env = _native.Env.init(
            workdir,
            initfile,
            prefix_name=prefix_name,
            template_repo=template_repo,
            template_store=template_store,
            set_current=set_current,
            bootstrap=bootstrap,
            skip_build=skip_build,
            config=config.native,
        )
        return cls(env)

    @classmethod
    def is_prefix(cls, path: str) -> bool:
        """True if ``path`` holds an initialized prefix (its ``initialized``
        file)."""
        return os.path.isfile(_paths_mod.Paths(path).prefix_lagofile())

    @classmethod
    def resolve_prefix_path(cls, start_path: Optional[str] = None) -> str:
        """The prefix for ``start_path`` (none or ``auto``: the current
        folder): ``start_path`` itself if it is a prefix, else the first
        ``.lago`` prefix in it or one of its parents. RuntimeError when
        there is none."""
        if not start_path or start_path == "auto":
            start_path = os.curdir
        if cls.is_prefix(start_path):
            return os.path.abspath(start_path)
        cur_path = os.path.join(start_path, ".lago")
        while not cls.is_prefix(cur_path):
            if os.path.realpath(os.path.join(cur_path, "..")) == "/":
                raise RuntimeError(f"Unable to find prefix for {os.path.abspath(start_path)}")
            cur_path = os.path.normpath(os.path.join(cur_path, "..", "..", ".lago"))
        return os.path.abspath(cur_path)

    def _select_mgmt_networks(self, conf: dict[str, Any]) -> list[str]:
        """See :func:`lago._netconf.select_mgmt_networks`."""
        from lago._netconf import select_mgmt_networks

        return select_mgmt_networks(conf)

    def _get_net(self, conf: dict[str, Any], dom_name: str, nic: dict[str, Any]) -> dict[str, Any]:
        """See :func:`lago._netconf.nic_net`."""
        from lago._netconf import nic_net

        return nic_net(conf, dom_name, nic)

    def _validate_netconfig(self, conf: dict[str, Any]) -> None:
        """See :func:`lago._netconf.validate_netconfig`."""
        from lago._netconf import validate_netconfig

        validate_netconfig(conf)

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
        info: dict[str, Any] = self._native.status()
        return info

    def status_dot(self) -> str:
        """The environment as a Graphviz DOT graph: nets, VMs, their NICs
        with IPs, and the state of each (``lago status --format dot``)."""
        source: str = self._native.status_dot()
        return source

    def collect_artifacts(self, output_dir: str, ignore_nopath: bool) -> None:
        """Collects every VM's artifacts (each VM's ``_artifact_paths()``)
        into ``output_dir/<vm>``, the VMs in parallel; an existing
        ``output_dir`` is renamed ``output_dir.YYYY-MM-DD_HH:MM:SS`` first.
        A missing path raises ExtractPathNoPathError unless ``ignore_nopath``."""
        from lago._exc import LagoNotFoundError
        from lago.plugins.vm import ExtractPathNoPathError

        per_vm = [(name, list(vm._artifact_paths())) for name, vm in self.get_vms().items()]
        try:
            self._native.collect_paths(output_dir, ignore_nopath, per_vm)
        except LagoNotFoundError as exc:
            raise ExtractPathNoPathError(str(exc)) from exc

    def deploy(self) -> None:
        """Runs every VM's ``deploy-scripts``; a failing script raises
        LagoDeployError ``<script> failed with status N on <vm>``."""
        from lago._exc import LagoSSHError

        try:
            self._native.deploy()
        except LagoSSHError as exc:
            raise LagoDeployError(str(exc)) from exc

    # Snapshots: not SDK-exposed (contract §2.2), as in Lago.

    def create_snapshots(self, name: str, memory: bool = False) -> None:
        """Takes snapshot ``name`` of every VM (running ones live, stopped
        ones too); a name a VM has already is an error and changes nothing.
        With ``memory`` (lago's own), the running VMs are paused together
        and their memory is saved too, so that a revert resumes them."""
        self._native.snapshot(name, [], memory=memory)
        self._virt_env = None  # the VMs' disk paths changed

    def revert_snapshots(self, name: str) -> None:
        """Reverts every VM to snapshot ``name``; the VMs that ran run again
        and answer SSH (a memory snapshot's VMs resume where they were,
        with no boot)."""
        self._native.revert(name, [])
        self._virt_env = None

    def get_snapshots(self) -> dict[str, Any]:
        """``{vm: {snapshot: [disk dicts]}}``, as ``lago snapshot --list``
        prints it."""
        snapshots: dict[str, Any] = self._native.snapshots()
        return snapshots

    def export_vms(
        self,
        vms_names: Optional[Sequence[str]] = None,
        standalone: bool = False,
        export_dir: str = ".",
        compress: bool = False,
        init_file_name: str = "LagoInitFile",
        out_format: Any = None,
        collect_only: bool = False,
        with_threads: bool = True,
    ) -> dict[str, Any]:
        """Exports the (stopped) VMs' disks into ``export_dir`` with an init
        file re-creating them (YAML, or JSON if ``out_format`` is the JSON
        output plugin); returns ``{vm: [paths], 'init-file': path}``, or with
        ``collect_only`` ``{vm: [source paths]}`` and nothing written."""
        from lago.plugins.output import JSONOutFormatPlugin

        return self._native.export(  # type: ignore[no-any-return]
            list(vms_names or []),
            dst_dir=os.fspath(export_dir),
            standalone=bool(standalone),
            compress=bool(compress),
            init_file_name=init_file_name,
            init_file_json=isinstance(out_format, JSONOutFormatPlugin),
            collect_only=bool(collect_only),
            parallel=bool(with_threads),
        )

    def destroy(self) -> None:
        """Stops everything and removes the prefix."""
        self._native.destroy()


