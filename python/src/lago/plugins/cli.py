"""CLI plugins (entry-point group ``lago.plugins.cli``)."""

from __future__ import annotations

import abc
import argparse
from typing import Any, Callable, Optional

from lago.plugins import Plugin


class CLIPlugin(Plugin, metaclass=abc.ABCMeta):
    """A ``lago`` verb: ``init_args`` for ``add_parser``, ``populate_parser``,
    ``do_run``."""

    @property
    @abc.abstractmethod
    def init_args(self) -> dict[str, Any]:
        """Keyword arguments of ``subparsers.add_parser`` (e.g. ``help``)."""

    @abc.abstractmethod
    def populate_parser(self, parser: argparse.ArgumentParser) -> None:
        """Adds the verb's arguments."""

    @abc.abstractmethod
    def do_run(self, args: argparse.Namespace) -> Any:
        """Runs the verb."""


class CLIPluginFuncWrapper(CLIPlugin):
    """A function turned into a verb by ``cli_plugin``; ``do_run(args)``
    calls ``func(**vars(args))``."""

    def __init__(self, do_run: Callable[..., Any], init_args: Optional[dict[str, Any]] = None) -> None:
        self._do_run = do_run
        self._init_args = dict(init_args or {})
        self._arguments: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    @property
    def init_args(self) -> dict[str, Any]:
        return self._init_args

    def add_argument(self, *args: Any, **kwargs: Any) -> None:
        """Records an argument for ``populate_parser``."""
        self._arguments.insert(0, (args, kwargs))

    def set_help(self, help: str) -> None:
        """Sets the verb's help text."""
        self._init_args["help"] = help

    def populate_parser(self, parser: argparse.ArgumentParser) -> None:
        for args, kwargs in self._arguments:
            parser.add_argument(*args, **kwargs)

    def do_run(self, args: argparse.Namespace) -> Any:
        return self._do_run(**vars(args))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._do_run(*args, **kwargs)


def cli_plugin(func: Optional[Callable[..., Any]] = None, **kwargs: Any) -> Any:
    """Decorator: turns ``func`` into a CLI verb."""

    def wrap(f: Callable[..., Any]) -> CLIPluginFuncWrapper:
        if isinstance(f, CLIPluginFuncWrapper):
            f._init_args.update(kwargs)
            return f
        return CLIPluginFuncWrapper(f, kwargs)

    return wrap(func) if func is not None else wrap


def cli_plugin_add_argument(*args: Any, **kwargs: Any) -> Callable[[Any], CLIPluginFuncWrapper]:
    """Decorator: adds an argument to a verb."""

    def wrap(f: Any) -> CLIPluginFuncWrapper:
        w = f if isinstance(f, CLIPluginFuncWrapper) else CLIPluginFuncWrapper(f)
        w.add_argument(*args, **kwargs)
        return w

    return wrap


def cli_plugin_add_help(help: str) -> Callable[[Any], CLIPluginFuncWrapper]:
    """Decorator: sets a verb's help text."""

    def wrap(f: Any) -> CLIPluginFuncWrapper:
        w = f if isinstance(f, CLIPluginFuncWrapper) else CLIPluginFuncWrapper(f)
        w.set_help(help)
        return w

    return wrap
