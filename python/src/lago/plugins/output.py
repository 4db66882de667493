"""Output formats of ``lago status`` and friends (entry-point group
``lago.plugins.output``), rendered as contract §1.3 describes."""

from __future__ import annotations

import abc
import json
from typing import Any

from lago.plugins import Plugin

_INDENT = "    "


class OutFormatPlugin(Plugin, metaclass=abc.ABCMeta):
    """Renders a (nested) info mapping as text."""

    @abc.abstractmethod
    def format(self, info_dict: Any) -> str:
        """The text of ``info_dict``."""


def _omitted(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value == "") or (
        isinstance(value, dict) and not value
    )


def _default_lines(obj: Any, indent: str) -> list[str]:
    if isinstance(obj, dict):
        lines: list[str] = []
        for key in sorted(obj, key=str):
            value = obj[key]
            if _omitted(value):
                continue
            if isinstance(value, dict):
                lines.append(f"{indent}[{key}]:")
                lines.extend(_default_lines(value, indent + _INDENT))
            elif isinstance(value, (list, tuple)):
                lines.append(f"{indent}{key}:")
                lines.extend(_default_lines(value, indent + _INDENT))
            else:
                lines.append(f"{indent}{key}: {value}")
        return lines
    if isinstance(obj, (list, tuple)):
        lines = []
        for item in obj:
            if isinstance(item, (dict, list, tuple)):
                lines.extend(_default_lines(item, indent))
            else:
                lines.append(f"{indent}{item}")
        return lines
    return [f"{indent}{obj}"]


class DefaultOutFormatPlugin(OutFormatPlugin):
    """Keys sorted; a nested mapping as ``[key]:`` with its children indented
    by 4 spaces; empty mappings and None/'' values left out; scalars through
    ``str()``; list items one per line."""

    def format(self, info_dict: Any) -> str:
        return "\n".join(_default_lines(info_dict, ""))


class JSONOutFormatPlugin(OutFormatPlugin):
    """``json.dumps(obj, sort_keys=True, indent=4)``."""

    def format(self, info_dict: Any) -> str:
        return json.dumps(info_dict, sort_keys=True, indent=4)


class YAMLOutFormatPlugin(OutFormatPlugin):
    """``yaml.safe_dump(obj, default_flow_style=False, allow_unicode=True)``."""

    def format(self, info_dict: Any) -> str:
        import yaml  # only when needed: keeps `lago status` fast

        return str(yaml.safe_dump(info_dict, default_flow_style=False, allow_unicode=True))


def _flat(obj: Any, path: list[str], out: list[str]) -> None:
    if isinstance(obj, dict):
        for key in sorted(obj, key=str):
            _flat(obj[key], path + [str(key)], out)
    elif isinstance(obj, (list, tuple)):
        for i, item in enumerate(obj):
            _flat(item, path + [str(i)], out)
    else:
        out.append(f"{'/'.join(path)}: {obj}")


class FlatOutFormatPlugin(OutFormatPlugin):
    """Every leaf as ``k1/k2/.../kN: value`` (keys sorted); for status the
    root is ``info['Prefix']``."""

    def format(self, info_dict: Any) -> str:
        root = info_dict
        if isinstance(info_dict, dict) and set(info_dict) == {"Prefix"}:
            root = info_dict["Prefix"]
        out: list[str] = []
        _flat(root, [], out)
        return "\n".join(out)


#: The built-in formats by name.
BUILTIN_FORMATS: dict[str, type[OutFormatPlugin]] = {
    "default": DefaultOutFormatPlugin,
    "json": JSONOutFormatPlugin,
    "yaml": YAMLOutFormatPlugin,
    "flat": FlatOutFormatPlugin,
}
