"""The Lago SDK: ``lago.sdk.init``, ``load_env`` and the ``SDK`` object."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from typing import Any, Iterator, Optional, Sequence

from lago import _native
from lago.config import config as lago_config
from lago.log_utils import setup_sdk_logging
from lago.prefix import Prefix
from lago.workdir import Workdir

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
    """One environment; prefix methods are reachable as attributes."""

    def __init__(self, workdir: Workdir, prefix: Prefix) -> None:
        self._workdir = workdir
        self._prefix = prefix
        self._pprefix = SDKWrapper(prefix)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._pprefix, name)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(dir(self._pprefix)))

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
