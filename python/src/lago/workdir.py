"""Workdir names at Lago's import path ``lago.workdir``."""

from __future__ import annotations

from typing import Any, Optional

from lago._exc import LagoAlreadyExistsError


class WorkdirError(RuntimeError):
    """Base class of workdir errors."""


class PrefixNotFound(WorkdirError):
    """No such prefix in the workdir."""


class MalformedWorkdir(WorkdirError):
    """The workdir is not well formed."""


class PrefixAlreadyExists(WorkdirError):
    """Kept for old code; lago raises LagoPrefixAlreadyExistsError instead."""


class LagoPrefixAlreadyExistsError(LagoAlreadyExistsError):
    """A prefix of that name already exists (also: any 'already exists' error)."""

    kind = "already_exists"

    def __init__(self, prefix_name: str, workdir_path: Optional[str] = None) -> None:
        if workdir_path is None:
            super().__init__(prefix_name)
        else:
            super().__init__(f"prefix {prefix_name} already exists in {workdir_path}")


class Workdir:
    """A workdir: a folder of prefixes and the ``current`` link.

    ``prefix_class`` is the hook plugins set to use their own Prefix subclass.
    """

    def __init__(self, path: str, prefix_class: Optional[type] = None) -> None:
        import os

        from lago.prefix import Prefix

        self.path = os.path.abspath(path)
        self.prefix_class = prefix_class or Prefix

    def prefix_names(self) -> list[str]:
        """Names of the prefixes."""
        from lago import _native

        return list(_native.prefix_names(self.path))

    @property
    def current(self) -> str:
        """The prefix ``current`` points to."""
        from lago import _native

        return str(_native.current_prefix(self.path))

    def get_prefix(self, name: str) -> "Any":
        """The prefix ``name`` (``current`` allowed), as ``prefix_class``."""
        from lago import _native
        from lago.config import config

        return self.prefix_class(_native.Env.load(self.path, name, config=config.native))

    def set_current(self, new_current: str) -> None:
        """Points ``current`` to prefix ``new_current``."""
        from lago import _native

        _native.set_current(self.path, new_current)

    def destroy(self, prefix_names: "Optional[list[str]]" = None) -> None:
        """Destroys the given prefixes (all by default); the workdir goes
        with its last prefix."""
        names = self.prefix_names() if prefix_names is None else prefix_names
        for name in names:
            self.get_prefix(name).destroy()
