"""Entry points of the installed distributions, read straight from their
``*.dist-info``/``*.egg-info/entry_points.txt`` files on ``sys.path``.

Same answer as ``importlib.metadata.entry_points()`` for installed folders
(first distribution of a name on the path wins), without importing
``importlib.metadata`` (and ``email``), which alone costs ~25 ms: the CLI
reads three groups on every run and ``lago status`` must stay fast.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any, Iterator

_NAME_SEP = re.compile(r"[-_.]+")


class EntryPoint:
    """One entry point: ``name = module:attr.attr`` of ``group``."""

    __slots__ = ("name", "value", "group", "dist")

    def __init__(self, name: str, value: str, group: str, dist: str) -> None:
        self.name = name
        self.value = value
        self.group = group
        self.dist = dist

    def load(self) -> Any:
        """Imports the module and returns the object the entry point names."""
        import importlib

        target = re.sub(r"\[.*\]\s*$", "", self.value).strip()
        module, _, attrs = target.partition(":")
        obj = importlib.import_module(module.strip())
        for attr in filter(None, attrs.strip().split(".")):
            obj = getattr(obj, attr)
        return obj

    def __repr__(self) -> str:
        return f"EntryPoint(name={self.name!r}, value={self.value!r}, group={self.group!r})"


def _parse(text: str, dist: str) -> Iterator[EntryPoint]:
    group = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1].strip()
        elif group is not None and "=" in line:
            name, _, value = line.partition("=")
            yield EntryPoint(name.strip(), value.strip(), group, dist)


def scan(path: "list[str] | None" = None) -> dict[str, list[EntryPoint]]:
    """Group → entry points of every distribution found on ``path``
    (default ``sys.path``)."""
    groups: dict[str, list[EntryPoint]] = {}
    seen: set[str] = set()
    for entry in sys.path if path is None else path:
        folder = entry or os.getcwd()
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for name in names:
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            dist = _NAME_SEP.sub("_", name.rsplit(".", 1)[0].split("-")[0]).lower()
            if dist in seen:
                continue
            seen.add(dist)
            try:
                with open(os.path.join(folder, name, "entry_points.txt"), encoding="utf-8") as f:
                    text = f.read()
            except OSError:
                continue
            for ep in _parse(text, dist):
                groups.setdefault(ep.group, []).append(ep)
    return groups
