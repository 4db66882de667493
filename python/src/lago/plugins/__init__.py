"""Lago's plugin machinery over the entry points of the installed
distributions (read by ``lago.plugins._entrypoints``)."""

from __future__ import annotations

import logging
from typing import Any


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


#: (sys.path when scanned, group → entry points) — see _entry_points.
_SCANNED: Any = None


def _entry_points(namespace: str) -> "list[Any]":
    global _SCANNED
    import sys

    from lago.plugins import _entrypoints

    # One scan of the installed distributions while sys.path stays the same
    # (the CLI asks for several groups).
    key = tuple(sys.path)
    if _SCANNED is None or _SCANNED[0] != key:
        _SCANNED = (key, _entrypoints.scan())
    return list(_SCANNED[1].get(namespace, []))


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
