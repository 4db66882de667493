"""An argparse parser as the INI text ``lago generate-config`` prints
(Lago's ``utils.argparse_to_ini``): one section for the parser's own
options and one per sub-command, each option with a default as
``dest = default`` after its help as ``# `` comment lines.

The text is what Lago's configparser-based writer produced, quirks
included: comment lines and keys are lower-cased, a help line repeated in a
section is written once (where it first appeared), options whose default is
false-y are left out, and unset ones (default None) appear as
``#dest = None`` only with ``incl_unset``.
"""

from __future__ import annotations

import argparse
import textwrap
import time
from typing import Any, Optional

#: Section -> [(dest, default, help)] of the options to write.
OptionTable = dict[str, list[tuple[str, Any, Optional[str]]]]


def _wanted(action: argparse.Action, incl_unset: bool) -> bool:
    default = action.default
    if default is None:
        return incl_unset
    return bool(default) and default != argparse.SUPPRESS


def argparse_sections(
    parser: argparse.ArgumentParser, root_section: str = "lago", incl_unset: bool = False
) -> OptionTable:
    """The options of ``parser`` to write, per section: ``root_section``
    for the parser's own, the sub-command's name for each sub-command's.
    Sections with nothing to write are left out."""
    table: OptionTable = {}

    def add(section: str, actions: list[argparse.Action]) -> None:
        rows = [(a.dest, a.default, a.help) for a in actions if _wanted(a, incl_unset)]
        if rows:
            table.setdefault(section, []).extend(rows)

    subparser_actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    add(root_section, [a for a in parser._actions if a not in subparser_actions])
    for action in subparser_actions:
        for name, sub in action.choices.items():
            add(name, list(sub._actions))
    return table


def argparse_to_ini(
    parser: argparse.ArgumentParser, root_section: str = "lago", incl_unset: bool = False
) -> str:
    """The INI text of ``parser``'s options (see the module documentation),
    after a ``# Lago configuration file, generated: <time>`` line."""
    out = [f"# Lago configuration file, generated: {time.strftime('%c')}\n"]
    for section, rows in argparse_sections(parser, root_section, incl_unset).items():
        # key -> value (None for a comment line), in first-set order
        lines: dict[str, Optional[str]] = {}
        for dest, default, help_text in rows:
            key = dest if default is not None else f"#{dest}"
            if help_text:
                for line in textwrap.wrap(help_text, width=70):
                    lines[f"# {line}".lower()] = None
            lines[key.lower()] = str(default)
        out.append(f"[{section}]\n")
        for key, value in lines.items():
            if value is None:
                out.append(f"{key}\n")
            else:
                out.append(f"{key} = " + value.replace("\n", "\n\t") + "\n")
        out.append("\n")
    return "".join(out)
