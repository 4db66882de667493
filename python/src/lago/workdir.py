"""``lago.workdir``: a workdir, Lago's folder of prefixes with a ``current``
link to one of them.

The bookkeeping (which prefixes there are, where ``current`` points) is done
here with plain file-system calls, as Lago's own class did, so that plugins
and tests that subclass or patch it keep working; the prefixes themselves
are opened through ``lago._native``.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
from typing import Any, Callable, Optional, TypeVar, cast

from lago import prefix as _prefix_mod
from lago._exc import LagoAlreadyExistsError
from lago.utils import LagoUserException

LOGGER = logging.getLogger(__name__)

_F = TypeVar("_F", bound=Callable[..., Any])


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


def workdir_loaded(func: _F) -> _F:
    """Decorates a method of a workdir so that the workdir is loaded
    (``load()``) before the method runs, unless it is loaded already."""

    @functools.wraps(func)
    def wrapper(workdir: Any, *args: Any, **kwargs: Any) -> Any:
        if not workdir.loaded:
            workdir.load()
        return func(workdir, *args, **kwargs)

    return cast(_F, wrapper)


class Workdir:
    """A workdir: a folder of prefixes and the ``current`` link.

    ``path`` is kept as given; ``prefix_class`` (default
    :class:`lago.prefix.Prefix`) builds the prefix objects, the hook plugins
    set to use their own Prefix subclass. ``prefixes`` (name → prefix
    object) and ``current`` are filled by :meth:`load`.
    """

    def __init__(self, path: str, prefix_class: Optional[type] = None) -> None:
        self.path = path
        self.prefixes: dict[str, Any] = {}
        self.current: Optional[str] = None
        self.loaded = False
        self.prefix_class: Any = prefix_class if prefix_class is not None else _prefix_mod.Prefix

    def join(self, *args: str) -> str:
        """``path/args…`` (just ``path`` without arguments)."""
        return os.path.join(self.path, *args)

    def initialize(self, prefix_name: str = "default", *args: Any, **kwargs: Any) -> Any:
        """Creates the workdir folder if needed and prefix ``prefix_name``
        in it (``prefix_class(path).initialize()``), points ``current`` to
        it and loads the workdir; returns the prefix object."""
        if not os.path.exists(self.join()):
            os.makedirs(self.join())
        new_prefix = self.prefix_class(self.join(prefix_name), *args, **kwargs)
        new_prefix.initialize()
        self._set_current(prefix_name)
        self.load()
        return new_prefix

    def load(self) -> None:
        """Reads the workdir: every sub-folder is a prefix, ``current`` must
        be a symlink to one of them (if it points nowhere known it is moved
        to ``default``, else to the last name in sort order). Does nothing
        if already loaded. MalformedWorkdir when there is no ``current``
        link or no folder at all."""
        if self.loaded:
            LOGGER.debug("Workdir %s already loaded", self.path)
            return
        try:
            basepath, dirs, _ = next(os.walk(self.path))
        except StopIteration as exc:
            raise MalformedWorkdir(f"Empty dir {self.path}") from exc
        found_current = False
        for dirname in dirs:
            full = os.path.join(basepath, dirname)
            if dirname == "current":
                if not os.path.islink(full):
                    raise MalformedWorkdir(f'"{self.path}/current" should be a soft link')
                self.current = os.path.basename(os.readlink(full))
                found_current = True
                continue
            self.prefixes[dirname] = self.prefix_class(prefix=self.join(dirname))
        if not found_current:
            raise MalformedWorkdir(
                f'"{self.path}/current" should exist and be a soft link to a prefix'
            )
        self._update_current()
        self.loaded = True

    def _update_current(self) -> None:
        """Points ``current`` to a prefix that exists if it does not: to
        ``default`` if there is one, else to the last name in sort order."""
        if self.current and self.current in self.prefixes:
            return
        if "default" in self.prefixes:
            selected = "default"
        elif self.prefixes:
            selected = sorted(self.prefixes)[-1]
        else:
            raise MalformedWorkdir(f"No prefixes in workdir {self.path}")
        LOGGER.info("Missing current link, setting it to %s", selected)
        self._set_current(selected)

    def _set_current(self, new_current: str) -> None:
        new_path = self.join(new_current)
        if not os.path.exists(new_path):
            raise PrefixNotFound(
                f'Prefix "{new_current}" does not exist in workdir {self.path}'
            )
        link = self.join("current")
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(new_current, link)
        self.current = new_current

    @workdir_loaded
    def set_current(self, new_current: str) -> None:
        """Points ``current`` to prefix ``new_current`` (PrefixNotFound if
        there is no such prefix)."""
        self._set_current(new_current)

    @workdir_loaded
    def add_prefix(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Creates prefix ``name`` (``prefix_class(path, *args,
        **kwargs).initialize()``); it becomes ``current`` if there was none.
        LagoPrefixAlreadyExistsError if the folder exists."""
        if os.path.exists(self.join(name)):
            raise LagoPrefixAlreadyExistsError(name, self.path)
        self.prefixes[name] = self.prefix_class(self.join(name), *args, **kwargs)
        self.prefixes[name].initialize()
        if self.current is None:
            self.set_current(name)
        return self.prefixes[name]

    @workdir_loaded
    def get_prefix(self, name: str) -> Any:
        """The prefix object ``name`` (``current`` allowed); KeyError if
        there is none."""
        if name == "current":
            name = self.current or ""
        if name not in self.prefixes:
            raise KeyError(f"Unable to find prefix {name} in workdir {self.path}")
        return self.prefixes[name]

    def prefix_names(self) -> list[str]:
        """Names of the prefixes, sorted."""
        self.load()
        return sorted(self.prefixes)

    @workdir_loaded
    def destroy(self, prefix_names: Optional[list[str]] = None) -> None:
        """Destroys the given prefixes (all by default); the workdir folder
        goes with its last prefix, else ``current`` is moved if needed."""
        names = list(self.prefixes) if prefix_names is None else list(prefix_names)
        for name in names:
            if name == "current":
                name = self.current or ""
            self.get_prefix(name).destroy()
            self.prefixes.pop(name, None)
        if self.prefixes:
            self._update_current()
        else:
            try:
                shutil.rmtree(self.path)
            except FileNotFoundError:
                pass  # lago-core removed it with its last prefix

    @classmethod
    def resolve_workdir_path(cls, start_path: str = os.curdir) -> str:
        """The workdir for ``start_path`` (``auto`` or none: the current
        folder): ``start_path`` itself if it is a workdir, else the first
        ``.lago`` workdir in it or one of its parents. LagoUserException
        when there is none."""
        if start_path == "auto":
            start_path = os.curdir
        LOGGER.debug("Checking if %s is a workdir", os.path.abspath(start_path))
        if cls.is_workdir(start_path):
            return os.path.abspath(start_path)
        cur_path = os.path.join(start_path, ".lago")
        while not cls.is_workdir(cur_path):
            LOGGER.debug("%s is not a workdir", cur_path)
            if os.path.realpath(os.path.join(cur_path, "..")) == "/":
                raise LagoUserException(
                    f"Unable to find workdir for {os.path.abspath(start_path)}"
                )
            cur_path = os.path.normpath(os.path.join(cur_path, "..", "..", ".lago"))
        return os.path.abspath(cur_path)

    @staticmethod
    def is_possible_workdir(path: str) -> bool:
        """Lago's quick guess that ``path`` is a workdir: its ``current``
        prefix has ``initialized`` and ``uuid`` files (nothing is loaded)."""
        current = os.path.join(path, "current")
        return os.path.isfile(os.path.join(current, "initialized")) and os.path.isfile(
            os.path.join(current, "uuid")
        )

    @classmethod
    def is_workdir(cls, path: str) -> bool:
        """True if ``path`` loads as a workdir."""
        try:
            cls(path=path).load()
        except (MalformedWorkdir, OSError):
            return False
        return True

    @workdir_loaded
    def cleanup(self) -> None:
        """Stops every prefix of the workdir and marks it uninitialized
        (does not remove anything)."""
        for name, prefix in self.prefixes.items():
            LOGGER.debug("Cleaning up prefix %s", name)
            prefix.cleanup()


def set_current(prefix_name: str, parent_workdir: Optional[Workdir], **kwargs: Any) -> None:
    """The ``set-current`` verb: points the workdir's ``current`` to
    ``prefix_name`` (LagoUserException when not in a workdir)."""
    if parent_workdir is None:
        raise LagoUserException("set-current needs a workdir, not a prefix (use -w or cd into it)")
    parent_workdir.set_current(new_current=prefix_name)
