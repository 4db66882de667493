"""Lago's configuration at Lago's path ``lago.config``.

Sources, later wins: the defaults a :class:`ConfigLoad` is given (for the
module's :data:`config`, lago-core's built-in defaults), the files of
:func:`_get_configs_path` (``/etc/lago/lago.conf``, then ``lago/lago.conf``
in the XDG config directories), ``LAGO_*`` environment variables
(:func:`get_env_dict`), then the command line (:meth:`ConfigLoad.update_parser`,
:meth:`ConfigLoad.update_args`). Files are parsed by lago-core (an error
names the file and line); values are strings, as in Lago.

lago-core reads the same files and variables itself: :attr:`ConfigLoad.native`
is its configuration, with every value set through this object on top.
"""

from __future__ import annotations

import argparse
import collections
import logging
import os
import re
from typing import Any, Optional

from lago import _native
from lago.utils import argparse_sections, argparse_to_ini

LOGGER = logging.getLogger(__name__)

#: The system-wide configuration file.
CONFS_PATH = ["/etc/lago/lago.conf"]

Sections = dict[str, dict[str, Any]]


def _xdg_config_dirs() -> list[str]:
    """XDG configuration directories, most important first."""
    dirs = []
    home = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    dirs.append(home)
    for entry in (os.environ.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(":"):
        if entry and os.path.isabs(entry):
            dirs.append(entry)
    return dirs


def _get_configs_path() -> list[str]:
    """The configuration files that exist, in the order they are read
    (later wins): ``/etc/lago/lago.conf``, then ``lago/lago.conf`` of each
    XDG directory from the least important to ``$XDG_CONFIG_HOME``."""
    paths = [p for p in CONFS_PATH if os.path.exists(p)]
    xdg = [os.path.join(d, "lago", "lago.conf") for d in _xdg_config_dirs()]
    paths.extend(p for p in reversed(xdg) if os.path.exists(p))
    return paths


def _env_pattern(root_section: str) -> re.Pattern[str]:
    root = re.escape(root_section.upper())
    # ROOT_KEY -> [root] key; ROOT__SECTION__KEY -> [section] key (the
    # section is the shortest run before the next "__").
    return re.compile(rf"^{root}(?:_(?!_)(?P<key>.+)|__(?P<section>.+?)__(?P<skey>.+))$", re.S)


def get_env_dict(root_section: str) -> Sections:
    """The configuration in the environment: ``<ROOT>_KEY`` lands in section
    ``root_section``, ``<ROOT>__SECTION__KEY`` in ``section`` (both
    lower-cased). Variables with an empty value are ignored (with a warning)."""
    pattern = _env_pattern(root_section)
    found: dict[str, dict[str, str]] = collections.defaultdict(dict)
    for name, value in os.environ.items():
        match = pattern.match(name)
        if not match:
            continue
        if not value:
            LOGGER.warning("empty environment variable definition: %s, ignoring", name)
            continue
        if match.group("key") is not None:
            section, key = root_section, match.group("key")
        else:
            section, key = match.group("section"), match.group("skey")
        found[section.lower()][key.lower()] = value
    return dict(found)


def _merge(target: Sections, source: dict[str, Any]) -> None:
    for section, values in source.items():
        into = target.setdefault(str(section), {})
        for key, value in values.items():
            into[str(key).lower()] = value if value is None else str(value)


def _ini_text(sections: Sections) -> str:
    """``sections`` written as Python's configparser writes them."""
    out = []
    for name, values in sections.items():
        out.append(f"[{name}]\n")
        for key, value in values.items():
            if value is None:
                out.append(f"{key}\n")
            else:
                text = str(value).replace("\n", "\n\t")
                out.append(f"{key} = {text}\n")
        out.append("\n")
    return "".join(out)


class ConfigLoad:
    """Lago's configuration, section -> key -> value, merged from
    ``defaults`` (a dict of section dicts), the configuration files, the
    environment and, once given, an argparse parser and its parsed
    arguments. ``root_section`` is the section plain keys live in.

    The files and environment are read at construction (``lazy=True``
    defers that to the first use, which is how :data:`config` is made, so
    that importing the module never fails on a bad file)."""

    def __init__(
        self,
        root_section: str = "lago",
        defaults: Optional[dict[str, dict[str, Any]]] = None,
        *,
        lazy: bool = False,
    ) -> None:
        self.root_section = root_section
        self._defaults: dict[str, dict[str, Any]] = dict(defaults or {})
        self._config: collections.defaultdict[str, dict[str, Any]] = collections.defaultdict(dict)
        self._parser: Optional[argparse.ArgumentParser] = None
        self._native: Optional[_native.Config] = None
        self._loaded = False
        if not lazy:
            self._ensure_loaded()

    def _ensure_loaded(self) -> None:
        if not self._loaded:
            self._loaded = True
            try:
                self._config.update(self.load())
            except BaseException:
                self._loaded = False
                raise

    def load(self) -> Sections:
        """Reads the defaults, the files and the environment; returns the
        merged sections (without applying them)."""
        merged: Sections = {}
        _merge(merged, self._defaults)
        file_defaults: dict[str, Any] = {}
        for path in _get_configs_path():
            try:
                with open(path, "r") as f:
                    text = f.read()
            except OSError as e:
                LOGGER.warning("cannot read configuration file %s, skipping it: %s", path, e)
                continue
            for section, key, value in _native.parse_ini(text, path):
                if section == "DEFAULT":
                    file_defaults[key] = value
                else:
                    merged.setdefault(section, {})[key] = value
        _merge(merged, get_env_dict(self.root_section))
        if file_defaults:
            for section, values in merged.items():
                merged[section] = {**file_defaults, **values}
        return merged

    # -- the command line ---------------------------------------------------
    def update_parser(self, parser: argparse.ArgumentParser) -> None:
        """Takes the options of ``parser`` (and of its sub-commands, each
        in a section of its name) that have a default: their defaults become
        values, replacing those already there."""
        self._ensure_loaded()
        self._parser = parser
        for section, values in _parser_defaults(parser, self.root_section).items():
            into = self._config[section]
            for key, value in values.items():
                into[key] = None if value is None else str(value)
                self._push(section, key)

    def update_args(self, args: argparse.Namespace) -> None:
        """Takes the parsed ``args`` whose key already has a value in the
        root section and that are not None."""
        self._ensure_loaded()
        for name, value in vars(args).items():
            if self.get(name) and value is not None:
                self._config[self.root_section][name] = value
                self._push(self.root_section, name)

    # -- reading --------------------------------------------------------------
    def get(self, *args: Any) -> Any:
        """``dict.get`` on the root section."""
        self._ensure_loaded()
        return self._config[self.root_section].get(*args)

    def __getitem__(self, key: str) -> Any:
        self._ensure_loaded()
        return self._config[self.root_section][key]

    def get_section(self, *args: Any) -> Any:
        """``dict.get`` on the sections: the dict of a section, or the default."""
        self._ensure_loaded()
        return self._config.get(*args)

    def set(self, section: str, key: str, value: str) -> None:
        """Sets ``key`` of ``section`` (this process only)."""
        self._ensure_loaded()
        self._config[section][key] = value
        self._push(section, key)

    def get_ini(self, incl_unset: bool = False) -> str:
        """The configuration as INI text. After :meth:`update_parser` it is
        what ``lago generate-config`` prints (the parser's options with the
        current values, their help as comments; unset ones as ``#key =
        None`` when ``incl_unset``); before, every section's values."""
        self._ensure_loaded()
        if self._parser is not None:
            self._parser.set_defaults(**(self.get_section(self.root_section) or {}))
            return argparse_to_ini(self._parser, root_section=self.root_section, incl_unset=incl_unset)
        return _ini_text(dict(self._config))

    # -- lago-core -------------------------------------------------------------
    @property
    def native(self) -> _native.Config:
        """lago-core's configuration with this object's values on top."""
        if self._native is None:
            self._ensure_loaded()
            native = _native.Config.load()
            for section, values in self._config.items():
                for key, value in values.items():
                    if value is not None and native.get(key, section) != str(value):
                        native.set(section, key, str(value))
            self._native = native
        return self._native

    def _push(self, section: str, key: str) -> None:
        if self._native is None:
            return
        value = self._config[section].get(key)
        if value is not None and self._native.get(key, section) != str(value):
            self._native.set(section, key, str(value))

    def __repr__(self) -> str:
        self._ensure_loaded()
        return repr(self._config)

    def __str__(self) -> str:
        self._ensure_loaded()
        return str(self._config)


def _parser_defaults(parser: argparse.ArgumentParser, root_section: str) -> Sections:
    """The options of ``parser`` that have a default, per section."""
    return {
        section: {dest: default for dest, default, _help in options}
        for section, options in argparse_sections(parser, root_section, False).items()
    }


def _core_defaults() -> dict[str, dict[str, Any]]:
    defaults = _native.Config.defaults()
    return {name: dict(defaults.section(name) or []) for name in defaults.section_names()}


#: The process's configuration (Lago's ``lago.config.config``).
config = ConfigLoad(defaults=_core_defaults(), lazy=True)
