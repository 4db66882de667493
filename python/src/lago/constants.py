"""Lago's constants at its path ``lago.constants``: where configuration
files are looked for first, and the built-in configuration defaults (the
values lago-core starts from; ``lago generate-config`` prints them)."""

from __future__ import annotations

from typing import Union

from lago import _native

#: Folder of helper programs.
LIBEXEC_DIR = "/usr/libexec/lago/"

#: Configuration files read before the user's.
CONFS_PATH = ["/etc/lago/lago.conf"]

#: The defaults Lago declares as numbers (the rest are text).
_NUMBERS = frozenset({"logdepth", "ssh_tries", "ssh_timeout"})


def _core_defaults() -> dict[str, dict[str, Union[str, int]]]:
    """lago-core's built-in defaults by section, with Lago's types."""
    defaults = _native.Config.defaults()
    out: dict[str, dict[str, Union[str, int]]] = {}
    for name in defaults.section_names():
        out[name] = {
            key: int(value) if key in _NUMBERS and value.isdigit() else value
            for key, value in defaults.section(name) or []
        }
    return out


#: The built-in defaults by section: Lago's ``CONFIG_DEFAULTS`` and lago's
#: own keys (``domain_type``, …), read from lago-core, which owns them.
CONFIG_DEFAULTS: dict[str, dict[str, Union[str, int]]] = _core_defaults()
