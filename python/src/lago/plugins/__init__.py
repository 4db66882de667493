"""Lago's plugin machinery over ``importlib.metadata`` entry points."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importlib import metadata

LOGGER = logging.getLogger(__name__)

#: Plugin kinds and their entry-point groups, as in Lago.
PLUGIN_ENTRY_POINTS = {
    "cli": "lago.plugins.cli",
    "out": "lago.plugins.output",
    "vm": "lago.plugins.vm",
    "vm-provider": "lago.plugins.vm_provider",
    "vm-service": "lago.plugins.vm_service",
}


class Plugin:
    """Base class of every plugin."""


class PluginError(Exception):
    """A plugin could not be used."""


class NoSuchPluginError(PluginError):
    """No plugin of that name."""


#: (sys.path when scanned, every entry point) — see _entry_points.
_SCANNED: Any = None


def _entry_points(namespace: str) -> "list[metadata.EntryPoint]":
    global _SCANNED
    import sys
    from importlib import metadata  # imported on use: keeps `import lago` fast

    # One scan of the installed distributions while sys.path stays the same
    # (a scan reads every dist-info folder; the CLI asks for several groups).
    key = tuple(sys.path)
    if _SCANNED is None or _SCANNED[0] != key:
        _SCANNED = (key, metadata.entry_points())
    eps = _SCANNED[1]
    if hasattr(eps, "select"):
        return list(eps.select(group=namespace))
    return list(eps.get(namespace, []))  # type: ignore[attr-defined]  # Python 3.9


def load_plugins(namespace: str, instantiate: bool = True) -> dict[str, Any]:
    """Loads the plugins of entry-point group ``namespace`` by name.

    Classes are instantiated when ``instantiate`` is true (objects that are
    already Plugin instances are kept as they are). A plugin that fails to
    load is logged as a warning and left out, as Lago does.
    """
    plugins: dict[str, Any] = {}
    for ep in _entry_points(namespace):
        if ep.name in plugins:
            continue
        try:
            obj = ep.load()
            if instantiate and isinstance(obj, type):
                obj = obj()
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not stop lago
            LOGGER.warning("Could not load plugin %s (%s): %s", ep.name, ep.value, exc)
            continue
        plugins[ep.name] = obj
    return plugins
