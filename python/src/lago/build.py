"""The ``build`` steps of a disk (``virt-customize`` run on it at init) at
Lago's path ``lago.build``. lago-core runs them during init; this module
keeps Lago's :class:`Build` for code that inspects or runs the commands
itself, with the command lines made by lago-core."""

from __future__ import annotations

import logging
from typing import Any, Callable, Mapping, NamedTuple, Sequence

from lago import _native
from lago.log_utils import LogTask
from lago.utils import LagoException, run_command

LOGGER = logging.getLogger(__name__)


class BuildException(LagoException):
    """A disk's build step failed, or names a tool lago does not know."""


class Command(NamedTuple):
    """One command of a build: the tool's name and its argv."""

    name: str
    cmd: list[str]


class Build:
    """The build commands of one disk (``disk_path``) of VM ``name``;
    ``paths`` is the prefix's :class:`lago.paths.Paths` (its
    ``ssh_id_rsa_pub()`` is the key ``ssh-inject: ''`` injects)."""

    #: Build tools a spec may name (each has a method of the same name with
    #: ``-`` turned into ``_``).
    TOOLS = ("virt-customize",)

    def __init__(self, name: str, disk_path: str, paths: Any) -> None:
        self.name = name
        self.disk_path = disk_path
        self.paths = paths
        self.build_cmds: list[Command] = []

    @staticmethod
    def prefix_option(option: str) -> str:
        """``-x`` for a one-letter option, ``--name`` otherwise."""
        return f"-{option}" if len(option) == 1 else f"--{option}"

    @staticmethod
    def normalize_options(options: Mapping[str, Any], pubkey_file: str = "") -> list[str]:
        """The argv of an ``option: argument`` mapping: an argument list
        repeats the option, ``''``, None or an empty list give the bare option."""
        return list(_native.build_args(dict(options), pubkey_file))

    @classmethod
    def get_instance_from_build_spec(
        cls, name: str, disk_path: str, build_spec: Sequence[Mapping[str, Any]], paths: Any
    ) -> "Build":
        """A :class:`Build` with ``build_spec`` (the disk's ``build`` list)
        already turned into commands."""
        instance = cls(name, disk_path, paths)
        instance.normalize_build_spec(build_spec)
        return instance

    def get_cmd_handler(self, cmd: str) -> Callable[[Mapping[str, Any]], Command]:
        """The method that makes the command of tool ``cmd``; raises
        :class:`BuildException` for an unknown tool."""
        if cmd not in self.TOOLS:
            raise BuildException(
                f"Command {cmd} is not supported as a build command "
                f"(valid: {', '.join(self.TOOLS)})"
            )
        handler: Callable[[Mapping[str, Any]], Command] = getattr(self, cmd.replace("-", "_"))
        return handler

    def normalize_build_spec(self, build_spec: Sequence[Mapping[str, Any]]) -> None:
        """Appends the commands of ``build_spec`` (a list of
        ``{tool: {option: argument}}``) to :attr:`build_cmds`."""
        for step in build_spec:
            for tool, options in (step or {}).items():
                self.build_cmds.append(self.get_cmd_handler(tool)(options or {}))

    def virt_customize(self, options: Mapping[str, Any]) -> Command:
        """The ``virt-customize`` command for ``options``."""
        pubkey = str(self.paths.ssh_id_rsa_pub())
        argv = ["virt-customize", "-a", self.disk_path]
        argv.extend(self.normalize_options(options, pubkey))
        return Command("virt-customize", argv)

    def build(self) -> None:
        """Runs the commands; a failing one raises :class:`BuildException`
        with its stderr."""
        if not self.build_cmds:
            LOGGER.debug("No build commands were found, skipping build step")
        with LogTask(f"Building {self.name} disk {self.disk_path}"):
            for command in self.build_cmds:
                with LogTask(f"Running command {command.name}"):
                    LOGGER.debug(command.cmd)
                    result = run_command(command.cmd)
                    if result:
                        raise BuildException(result.err)
