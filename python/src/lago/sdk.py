"""The Lago SDK: ``lago.sdk.init``, ``load_env`` and the ``SDK`` object."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from typing import TYPE_CHECKING, Any, Iterator, Optional, Sequence

from lago import _native
from lago.config import config as lago_config
from lago.log_utils import setup_sdk_logging
from lago.prefix import Prefix
from lago.workdir import Workdir

if TYPE_CHECKING:
    from lago.paths import Paths
    from lago.plugins.vm import VMPlugin
    from lago.providers.libvirt.network import Network

#: Prefix methods reachable through the SDK object (Lago's ``@expose``).
EXPOSED = frozenset(
    {
        "start",
        "stop",
        "shutdown",
        "get_vms",
        "get_nets",
        "get_paths",
        "collect_artifacts",
        "deploy",
        "export_vms",
    }
)

DEFAULT_INVENTORY_KEYS = ["vm-type", "groups", "vm-provider"]


def add_stream_logger(level: int = logging.DEBUG, name: Optional[str] = None) -> None:
    """Adds a StreamHandler at ``level`` to logger ``name`` (root if None)."""
    logger = logging.getLogger(name)
    logger.setLevel(level)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter())
    logger.addHandler(handler)


class SDKWrapper:
    """Proxy exposing only the SDK methods of a prefix."""

    def __init__(self, prefix: Prefix) -> None:
        self._obj = prefix

    def __getattr__(self, name: str) -> Any:
        if name in EXPOSED and hasattr(self._obj, name):
            return getattr(self._obj, name)
        raise AttributeError(name)

    def __dir__(self) -> list[str]:
        return sorted(n for n in EXPOSED if hasattr(self._obj, n))


class SDK:
    """One environment. The prefix methods Lago's SDK exposes (``EXPOSED``)
    are typed members here, so a type checker sees wrong calls; other
    exposed methods a Prefix subclass adds are reached as attributes."""

    def __init__(self, workdir: Workdir, prefix: Prefix) -> None:
        self._workdir = workdir
        self._prefix = prefix
        self._pprefix = SDKWrapper(prefix)

    if not TYPE_CHECKING:
        # At run time only: for a type checker, an unknown name is an error.
        def __getattr__(self, name: str) -> Any:
            if name.startswith("_"):
                raise AttributeError(name)
            return getattr(self._pprefix, name)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(dir(self._pprefix)))

    def start(self, vm_names: Optional[Sequence[str]] = None) -> None:
        """Starts the networks, then the VMs (all, or ``vm_names``)."""
        self._prefix.start(vm_names)

    def stop(self, vm_names: Optional[Sequence[str]] = None) -> None:
        """Stops the VMs (all, or ``vm_names``), then unused networks."""
        self._prefix.stop(vm_names)

    def shutdown(self, vm_names: Optional[Sequence[str]] = None, reboot: bool = False) -> None:
        """Shuts the VMs (all, or ``vm_names``) down cleanly, or reboots them."""
        self._prefix.shutdown(vm_names, reboot)

    def get_vms(self) -> dict[str, "VMPlugin"]:
        """VM name → VM object, in init-file order."""
        vms: dict[str, "VMPlugin"] = self._prefix.get_vms()
        return vms

    def get_nets(self) -> dict[str, "Network"]:
        """Network name → network object."""
        nets: dict[str, "Network"] = self._prefix.get_nets()
        return nets

    def get_paths(self) -> "Paths":
        """The prefix's paths."""
        return self._prefix.get_paths()

    def collect_artifacts(self, output_dir: str, ignore_nopath: bool) -> None:
        """Collects every VM's artifacts into ``output_dir/<vm>``."""
        self._prefix.collect_artifacts(output_dir, ignore_nopath)

    def deploy(self) -> None:
        """Runs every VM's deploy scripts."""
        self._prefix.deploy()

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
        """Exports the (stopped) VMs' disks and an init file re-creating them."""
        result: dict[str, Any] = self._prefix.export_vms(
            vms_names, standalone, export_dir, compress, init_file_name, out_format, collect_only, with_threads
        )
        return result

    def snapshot(self, name: str, memory: bool = False) -> None:
        """Takes snapshot ``name`` of every VM (lago's own; Lago's SDK had
        none). With ``memory``, the running VMs' memory is saved too, so
        that :meth:`revert` resumes them where they were, with no boot."""
        self._prefix.create_snapshots(name, memory=memory)

    def revert(self, name: str) -> None:
        """Reverts every VM to snapshot ``name`` (lago's own); returns when
        the VMs that ran answer SSH again."""
        self._prefix.revert_snapshots(name)

    def snapshots(self) -> dict[str, Any]:
        """``{vm: {snapshot: [disk dicts]}}``, the disk dicts of memory
        snapshots marked ``"snapshot-kind": "memory"``."""
        return self._prefix.get_snapshots()

    def destroy(self) -> None:
        """Stops everything and removes the workdir (every prefix)."""
        names = [n for n in self._workdir.prefix_names() if n != self._prefix._native.prefix_name]
        if names:
            self._workdir.destroy(names)
        self._prefix.destroy()

    def ansible_inventory(self, keys: Optional[Sequence[str]] = None) -> str:
        """The Ansible inventory of the environment (contract §8)."""
        from lago.lago_ansible import LagoAnsible

        return LagoAnsible(self._prefix).get_inventory_str(keys)

    @contextlib.contextmanager
    def ansible_inventory_temp_file(
        self, keys: Optional[Sequence[str]] = None
    ) -> Iterator["tempfile._TemporaryFileWrapper[str]"]:
        """A temporary file holding the inventory (use ``.name``)."""
        from lago.lago_ansible import LagoAnsible

        with LagoAnsible(self._prefix).get_inventory_temp_file(keys) as f:
            yield f


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def init(
    config: Any,
    workdir: Optional[str] = None,
    logfile: Optional[str] = None,
    loglevel: int = logging.INFO,
    **kwargs: Any,
) -> SDK:
    """Initializes an environment from the init file ``config`` (a path, or
    an open file) in ``workdir`` (default ``./.lago``).

    Keyword arguments as ``lago init``: ``prefix_name`` (``default``),
    ``template_repo_path``, ``template_store``, ``set_current``,
    ``skip_bootstrap``, ``skip_build``.
    """
    setup_sdk_logging(logfile, loglevel)
    defaults: dict[str, Any] = dict(lago_config.get_section("init") or {})
    defaults.update(kwargs)
    workdir = os.path.abspath(workdir or ".lago")
    text: Optional[str] = None
    if hasattr(config, "read"):
        text = config.read()
        initfile = os.path.abspath(getattr(config, "name", "LagoInitFile"))
    else:
        initfile = os.path.abspath(os.fspath(config))
    prefix_name = defaults.get("prefix_name") or "default"
    if prefix_name == "current":
        prefix_name = "default"
    native = _native.Env.init(
        workdir,
        initfile,
        prefix_name=prefix_name,
        initfile_text=text,
        template_repo=defaults.get("template_repo_path"),
        template_store=defaults.get("template_store"),
        set_current=_as_bool(defaults.get("set_current", False)),
        bootstrap="skip" if _as_bool(defaults.get("skip_bootstrap", False)) else "auto",
        skip_build=_as_bool(defaults.get("skip_build", False)),
        config=lago_config.native,
    )
    wd = Workdir(workdir)
    prefix = wd.prefix_class(native)
    return SDK(wd, prefix)




def load_env(workdir: str, logfile: Optional[str] = None, loglevel: int = logging.INFO) -> SDK:
    """Opens the ``current`` prefix of the workdir at ``workdir``."""
    setup_sdk_logging(logfile, loglevel)
    path = os.path.abspath(workdir)
    native = _native.Env.load(path, "current", config=lago_config.native)
    wd = Workdir(path)
    prefix = wd.prefix_class(native)
    return SDK(wd, prefix)
