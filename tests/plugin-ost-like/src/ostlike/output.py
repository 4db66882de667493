"""Output format ``keyval``: one ``a.b.c=value`` line per leaf, keys sorted."""

from __future__ import annotations

from typing import Any

from lago.plugins.output import OutFormatPlugin


class KeyValueOutFormatPlugin(OutFormatPlugin):
    def format(self, info_dict: Any) -> str:
        lines: list[str] = []

        def walk(obj: Any, path: list[str]) -> None:
            if isinstance(obj, dict):
                for key in sorted(obj, key=str):
                    walk(obj[key], path + [str(key)])
            elif isinstance(obj, (list, tuple)):
                for i, item in enumerate(obj):
                    walk(item, path + [str(i)])
            else:
                lines.append(f"{'.'.join(path)}={obj}")

        walk(info_dict, [])
        return "\n".join(lines)
