"""The ``lago`` command line (also ``lagocli``): Lago's verbs and global
options (contract §1.1, §1.2) over ``lago._native``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import traceback
from typing import Any, Callable, NoReturn, Optional, Sequence

from lago import __version__, _native
from lago.config import config as lago_config
from lago.log_utils import FILE_FORMAT, LogTask, TaskHandler
from lago._exc import LagoCancelledError, LagoConfigError
from lago.plugins import load_plugins
from lago.plugins.cli import CLIPlugin
from lago.plugins.output import BUILTIN_FORMATS, OutFormatPlugin
from lago.utils import LagoException, LagoUserException

LOGGER = logging.getLogger("lago.cmd")

#: Values ``--loglevel`` (and ``[lago] loglevel``) accept.
LOGLEVELS = ("info", "debug", "error", "warning")

#: ``[lago]`` keys the CLI reads as whole numbers.
INT_OPTIONS = ("logdepth", "ssh_tries", "ssh_timeout")


def check_config(conf: Optional[_native.Config] = None) -> None:
    """Raises LagoConfigError (one line: where the value was set, the key
    and what is valid) if a ``[lago]`` value the CLI reads is not usable.
    Loading the configuration itself raises it for a file that does not
    parse."""
    conf = lago_config.native if conf is None else conf
    for key in INT_OPTIONS:
        conf.get_u32(key)
    level = conf.get("loglevel")
    if level is not None and level not in LOGLEVELS:
        raise LagoConfigError(
            f"invalid value {json.dumps(level)} for `loglevel` in section [lago] "
            f"(from {conf.source('loglevel')}): expected one of {', '.join(LOGLEVELS)}"
        )


def _cfg_int(key: str, default: int) -> int:
    value = lago_config.native.get_u32(key)
    return default if value is None else value


class BuiltinVerb(CLIPlugin):
    """A verb of ``lago`` itself, registered in the ``lago.plugins.cli``
    entry-point group as Lago's are; ``do_run(args)`` (and calling it) runs
    the verb on the parsed arguments."""

    def __init__(
        self,
        func: Callable[..., int],
        help: str,
        populate: Optional[Callable[[argparse.ArgumentParser], None]] = None,
        **init_args: Any,
    ) -> None:
        self._func = func
        self._populate = populate
        self._init_args: dict[str, Any] = {
            "help": help,
            "description": help,
            "formatter_class": argparse.ArgumentDefaultsHelpFormatter,
        }
        self._init_args.update(init_args)
        self.__doc__ = func.__doc__ or help

    @property
    def init_args(self) -> dict[str, Any]:
        return self._init_args

    def populate_parser(self, parser: argparse.ArgumentParser) -> None:
        if self._populate is not None:
            self._populate(parser)

    def do_run(self, args: argparse.Namespace) -> int:
        return int(self._func(args) or 0)

    def __call__(self, args: Optional[argparse.Namespace] = None, **kwargs: Any) -> int:
        """Runs the verb on parsed arguments, or on Lago's keyword
        arguments, as plugins such as ovirtlago call verbs
        (``do_collect(prefix=, output=, no_skip=)``): ``prefix`` is then the
        prefix object the verb works on (the plugin's own Prefix subclass)
        and the other keywords are the verb's arguments by dest."""
        if kwargs:
            merged = argparse.Namespace(**{**vars(args or argparse.Namespace()), **kwargs})
            return self.do_run(merged)
        if args is None:
            raise TypeError("a verb needs the parsed arguments or its keyword arguments")
        return self.do_run(args)


def verb(
    help: str, populate: Optional[Callable[[argparse.ArgumentParser], None]] = None, **init_args: Any
) -> Callable[[Callable[..., int]], BuiltinVerb]:
    """Decorator: the function becomes a BuiltinVerb."""

    def wrap(func: Callable[..., int]) -> BuiltinVerb:
        return BuiltinVerb(func, help, populate, **init_args)

    return wrap

def _out_format(args: argparse.Namespace) -> Any:
    """The output plugin of ``-f`` (the default one when a verb is called
    with keywords and none given)."""
    fmt = getattr(args, "out_format", None)
    if fmt is None or isinstance(fmt, str):
        return _out_formats()[fmt or "default"]
    return fmt


def _cfg(key: str, default: Any = None, section: Optional[str] = None) -> Any:
    value = lago_config.native.get(key, section)
    return default if value is None else value


# -- prefix resolution -------------------------------------------------------
def _standalone_prefix(args: argparse.Namespace) -> Optional[str]:
    """The prefix used on its own, as Lago's ``in_prefix`` finds it: the
    one ``-p PATH`` names (PATH itself, or a ``.lago`` prefix in it or a
    parent), or the current folder when it is a prefix and neither ``-w``
    nor ``-P`` is given (Lago ignored ``-P`` there; here it picks a prefix
    of the workdir). None: use a workdir."""
    from lago.prefix import Prefix

    prefix_path = getattr(args, "prefix_path", None)
    if prefix_path is None and (
        getattr(args, "workdir_path", None)
        or getattr(args, "prefix_name", None) not in (None, "current")
        or not Prefix.is_prefix(os.curdir)
    ):
        return None
    half_made = _half_made_prefix(prefix_path)
    if half_made is not None:
        return half_made
    try:
        return os.path.realpath(Prefix.resolve_prefix_path(prefix_path))
    except RuntimeError as exc:
        raise LagoUserException(str(exc)) from exc


def _half_made_prefix(path: Optional[str]) -> Optional[str]:
    """``-p PATH`` naming a prefix folder without ``initialized`` (its init
    was killed, or it was cleaned up): that folder, so that ``destroy``
    reaches it and the other verbs say what to run. Lago's search for a
    prefix (``Prefix.resolve_prefix_path``) only knows initialized ones."""
    if not path or path == "auto":
        return None
    if os.path.isfile(os.path.join(path, "uuid")) and not os.path.exists(
        os.path.join(path, "initialized")
    ):
        return os.path.realpath(path)
    return None


def _workdir(args: argparse.Namespace) -> str:
    if args.workdir_path:
        return os.path.abspath(str(args.workdir_path))
    standalone = _standalone_prefix(args)
    if standalone is not None:
        return os.path.dirname(standalone)
    try:
        return str(_native.resolve_workdir(os.getcwd()))
    except LagoException as exc:
        raise LagoUserException(f"Unable to find workdir in {os.getcwd()}: {exc}") from exc


def _prefix_name(args: argparse.Namespace) -> str:
    standalone = _standalone_prefix(args)
    if standalone is not None:
        return os.path.basename(standalone)
    return str(args.prefix_name or "current")


#: Entry-point groups where a plugin may name the Prefix and Workdir
#: subclasses every built-in verb opens prefixes and workdirs with (a
#: ``lago.plugins.prefix`` entry such as ``ovirt = ovirtlago.prefix:OvirtPrefix``).
PREFIX_CLASS_GROUP = "lago.plugins.prefix"
WORKDIR_CLASS_GROUP = "lago.plugins.workdir"


def _registered_class(group: str, base: type) -> type:
    """The subclass of ``base`` a plugin registers in ``group``, or ``base``."""
    found = {
        name: obj
        for name, obj in load_plugins(group, instantiate=False).items()
        if isinstance(obj, type) and issubclass(obj, base)
    }
    if len(found) > 1:
        raise LagoUserException(
            f"several plugins register a class in {group}: {', '.join(sorted(found))}; "
            "keep one of them installed"
        )
    return next(iter(found.values()), base)


def prefix_classes() -> tuple[type, type]:
    """The (Prefix, Workdir) classes the built-in verbs use: lago's, or the
    subclasses a plugin registers (``PREFIX_CLASS_GROUP``,
    ``WORKDIR_CLASS_GROUP``); a registered Prefix class is also the
    workdir's ``prefix_class``."""
    from lago.prefix import Prefix
    from lago.workdir import Workdir

    return _registered_class(PREFIX_CLASS_GROUP, Prefix), _registered_class(WORKDIR_CLASS_GROUP, Workdir)


def _prefix(args: argparse.Namespace) -> Any:
    """The prefix object a verb works on: the one given (Lago's keyword
    form, ``prefix=``), else the prefix the options name, opened through
    lago-core and wrapped in the Prefix class (``prefix_classes``)."""
    given = getattr(args, "prefix", None)
    if given is not None:
        return given
    prefix_class, _ = prefix_classes()
    return prefix_class(_env(args))


def _workdir_object(args: argparse.Namespace) -> Any:
    """The Workdir object of the options' workdir (``prefix_classes``)."""
    prefix_class, workdir_class = prefix_classes()
    workdir = workdir_class(_workdir(args))
    if prefix_class is not getattr(workdir, "prefix_class", None):
        from lago.prefix import Prefix

        if prefix_class is not Prefix:
            workdir.prefix_class = prefix_class
    return workdir


def _env(args: argparse.Namespace) -> Any:
    standalone = _standalone_prefix(args)
    if standalone is not None:
        env = _native.Env.load_prefix(standalone, config=lago_config.native)
    else:
        env = _native.Env.load(_workdir(args), _prefix_name(args), config=lago_config.native)
    os.environ["LAGO_PREFIX_PATH"] = str(env.prefix_path)
    os.environ["LAGO_WORKDIR_PATH"] = str(env.workdir)
    _add_file_log(os.path.join(str(env.prefix_path), "logs", "lago.log"))
    return env


def _add_file_log(path: str) -> None:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        handler = logging.FileHandler(path)
    except OSError:
        return
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter(FILE_FORMAT))
    logging.getLogger().addHandler(handler)


def _find_vm(prefix: Any, host: str) -> str:
    names = [str(n) for n in prefix._native.vm_names()]
    if host in names:
        return host
    for name in names:
        if name.endswith(host):
            return name
    raise LagoUserException(f"No VM named {host} (VMs: {', '.join(names)})")


def _running_vm(prefix: Any, host: str) -> str:
    name = _find_vm(prefix, host)
    env = prefix._native
    state = env.vm_state(name)
    if state != "running":
        raise LagoUserException(f"The VM {name} is not running (state: {state})")
    env.wait_for_ssh(name)
    return name


# -- verbs ----------------------------------------------------------------------
# Each verb is a BuiltinVerb (see ``verb``) named as Lago names it in
# ``lago.cmd``, so that the ``lago.plugins.cli`` entry points match Lago's.
def _init_args(p: argparse.ArgumentParser) -> None:
    # Arguments in Lago's order: `generate-config` prints them in this order.
    p.add_argument("--template-repos", default=_cfg("template_repos", None, "init"), help="Location to store repos")
    p.add_argument("--template-store", default=_cfg("template_store", None, "init"), help="Location to store templates at")
    p.add_argument("--template-repo-name", default=None, help="Name of the repo from the template repos dir")
    p.add_argument("--template-repo-path", default=_cfg("template_repo_path", None, "init"), help="Repo file describing the templates")
    p.add_argument(
        "workdir",
        nargs="?",
        metavar="WORKDIR",
        help="Workdir directory of the deployment, if none passed, it will use $PWD/.lago",
    )
    p.add_argument(
        "virt_config",
        nargs="?",
        metavar="VIRT_CONFIG",
        help=(
            "Configuration of resources to deploy, json and yaml file formats are supported, "
            "takes option precedence over workdir. Will use $PWD/LagoInitFile by default. "
            "You can use any env vars in that file, inculuding the extra ones "
            "LAGO_PREFIX_PATH LAGO_WORKDIR_PATH and LAGO_INITFILE_PATH"
        ),
    )
    p.add_argument("--set-current", action="store_true", help="Point 'current' to the new prefix")
    p.add_argument("--skip-bootstrap", action="store_true", help="Do not bootstrap the disks")
    p.add_argument("--skip-build", action="store_true", help="Do not run the disks' build steps")


@verb("Initialize a directory for framework deployment", _init_args)
def do_init(args: argparse.Namespace) -> int:
    workdir, virt_config = args.workdir, args.virt_config
    if workdir is not None and virt_config is None:
        workdir, virt_config = None, workdir
    workdir = os.path.abspath(workdir or ".lago")
    initfile = os.path.abspath(virt_config or "LagoInitFile")
    if not os.path.isfile(initfile):
        raise LagoUserException(f"Unable to find init file: {initfile}")
    os.environ["LAGO_INITFILE_PATH"] = os.path.dirname(initfile)
    prefix_name = args.prefix_name or "default"
    if prefix_name == "current":
        prefix_name = "default"
    repo = _template_repo(args)
    prefix_class: Any = prefix_classes()[0]
    with LogTask("Initialize and populate prefix"):
        prefix = prefix_class.from_init_file(
            workdir,
            initfile,
            prefix_name,
            template_repo=repo,
            template_store=args.template_store,
            set_current=bool(args.set_current),
            bootstrap="skip" if args.skip_bootstrap else "auto",
            skip_build=bool(args.skip_build),
        )
    LOGGER.info("Initialized prefix %s", prefix.paths.prefix_path())
    return 0


def _template_repo(args: argparse.Namespace) -> Optional[str]:
    """The repository ``lago init`` uses, as Lago chooses it: the
    ``--template-repo-path`` given on the command line, else the repository
    named ``--template-repo-name`` in the ``--template-repos`` folder, else
    the configured ``template_repo_path``."""
    configured = _cfg("template_repo_path", None, "init")
    path = args.template_repo_path
    if args.template_repo_name and (path is None or path == configured):
        from lago.templates import find_repo_by_name

        try:
            return find_repo_by_name(args.template_repo_name, args.template_repos).path
        except RuntimeError as exc:
            raise LagoUserException(str(exc)) from exc
    return None if path is None else str(path)


def _start_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("vm_names", nargs="*", metavar="VM_NAME", help="Name of the vm to start")


def _stop_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("vm_names", nargs="*", metavar="VM_NAME", help="Name of the vm to stop")


@verb("Deploy lago resources", _start_args)
def do_start(args: argparse.Namespace) -> int:
    prefix = _prefix(args)
    with LogTask("Start Prefix"):
        prefix.start(list(getattr(args, "vm_names", None) or []))
    return 0


@verb("Destroy lago resources", _stop_args)
def do_stop(args: argparse.Namespace) -> int:
    prefix = _prefix(args)
    with LogTask("Stop prefix"):
        prefix.stop(list(getattr(args, "vm_names", None) or []))
    return 0


def _status_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format",
        dest="status_format",
        metavar="FORMAT",
        help="dot: the environment as a Graphviz graph; or an output format "
        "(as -f: default, json, yaml, flat, ...)",
    )


@verb("Show status of the deployed virtual resources", _status_args)
def do_status(args: argparse.Namespace) -> int:
    fmt = getattr(args, "status_format", None)
    if fmt == "dot":
        print(_prefix(args).status_dot(), end="")
        return 0
    out = _out_format(args)
    if fmt is not None:
        formats = _out_formats()
        if fmt not in formats:
            raise LagoUserException(
                f"unknown status format {fmt!r}: valid are dot, {', '.join(sorted(formats))}"
            )
        out = formats[fmt]
    print(out.format(_prefix(args).status_info()))
    return 0


#: `lago graph`'s output formats by file suffix (Graphviz's -T names)
GRAPH_FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot"}


def _graph_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-o", "--output", required=True, metavar="FILE",
        help="where to write the picture; its suffix picks the format: " + ", ".join(GRAPH_FORMATS),
    )


@verb("Draw the environment (nets, VMs, NICs, IPs, states) with Graphviz", _graph_args)
def do_graph(args: argparse.Namespace) -> int:
    import shutil
    import subprocess

    output = str(args.output)
    suffix = os.path.splitext(output)[1].lower()
    kind = GRAPH_FORMATS.get(suffix)
    if kind is None:
        raise LagoUserException(
            f"lago graph -o {output}: unknown suffix {suffix or '(none)'!r}; valid are {', '.join(GRAPH_FORMATS)}"
        )
    dot = shutil.which("dot")
    if dot is None and kind != "dot":
        raise LagoUserException(
            f"lago graph -o {output} needs Graphviz's `dot` (Debian: apt install graphviz); "
            "`lago status --format dot` prints the graph's source"
        )
    source = _prefix(args).status_dot()
    if dot is None or kind == "dot":
        with open(output, "w", encoding="utf-8") as f:
            f.write(source)
        return 0
    done = subprocess.run(
        [dot, f"-T{kind}", "-o", output], input=source.encode(), capture_output=True, check=False
    )
    if done.returncode != 0:
        raise LagoUserException(
            f"Graphviz's dot could not draw {output} (exit {done.returncode}): "
            + done.stderr.decode(errors="replace").strip()
        )
    return 0


def _snapshot_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("snapshot_name", nargs="?", metavar="SNAPSHOT_NAME", help="Name of the snapshot to create")
    p.add_argument("-l", "--list", action="store_true", help="List the snapshots of every VM")
    p.add_argument(
        "--memory",
        action="store_true",
        help="Save the running VMs' memory too (they are paused together meanwhile): "
        "a revert resumes them where they were, with no boot",
    )


def _takes_keyword(func: Callable[..., Any], name: str) -> bool:
    """Whether ``func`` accepts the keyword argument ``name`` (by name or
    through ``**kwargs``)."""
    import inspect

    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return True  # not introspectable: let the call say
    return any(
        (p.name == name and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)) or p.kind == p.VAR_KEYWORD
        for p in params
    )


@verb("Create snapshots for all deployed resources", _snapshot_args)
def do_snapshot(args: argparse.Namespace) -> int:
    prefix = _prefix(args)
    if getattr(args, "list", False):
        print(_out_format(args).format(prefix.get_snapshots()))
    elif getattr(args, "snapshot_name", None):
        if getattr(args, "memory", False):
            if not _takes_keyword(prefix.create_snapshots, "memory"):
                raise LagoUserException(
                    f"--memory: this prefix ({type(prefix).__module__}.{type(prefix).__qualname__}, "
                    "from a plugin) overrides create_snapshots(name) and takes no memory snapshots; "
                    "take a disk-only snapshot (without --memory)"
                )
            prefix.create_snapshots(args.snapshot_name, memory=True)
        # without --memory, called as Lago did: a plugin's Prefix subclass
        # may override create_snapshots(name) alone
        else:
            prefix.create_snapshots(args.snapshot_name)
    else:
        raise LagoUserException("No snapshot name provided")
    return 0


def _revert_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("snapshot_name", metavar="SNAPSHOT_NAME", help="Name of the snapshot to revert to")


@verb("Revert resources to a snapshot", _revert_args)
def do_revert(args: argparse.Namespace) -> int:
    _prefix(args).revert_snapshots(args.snapshot_name)
    return 0


def _list_args(p: argparse.ArgumentParser) -> None:
    # Lago's dest: the global --workdir-path's, which a given WORKDIR_PATH
    # overrides (do_list falls back to the global value otherwise).
    p.add_argument(
        "workdir_path",
        nargs="?",
        metavar="WORKDIR_PATH",
        help=(
            "\nPath to the Workdir. If not provided Lago will\n"
            "try to find a Workdir relative to the current directory.\n"
        ),
    )
    p.add_argument(
        "--hosts",
        action="store_true",
        help="Show where each prefix runs: its libvirt host's URI, or 'local'",
    )


@verb("List the prefixes (envs) in a Workdir", _list_args)
def do_list(args: argparse.Namespace) -> int:
    if not args.workdir_path:
        args.workdir_path = getattr(args, GLOBAL_WORKDIR_PATH, None)
    workdir = _workdir_object(args)
    path = workdir.path
    names = set(workdir.prefix_names())
    # Lago lists the prefixes in the order the folder gives them.
    with os.scandir(path) as entries:
        ordered = [e.name for e in entries if e.name in names]
    if getattr(args, "hosts", False):
        print(args.out_format.format({name: _prefix_host(os.path.join(path, name)) for name in ordered}))
        return 0
    print(args.out_format.format(ordered))
    return 0


def _prefix_host(prefix: str) -> str:
    """The libvirt URI of the remote host the prefix at `prefix` runs on
    (its `host` record), or `local`."""
    try:
        with open(os.path.join(prefix, "host"), encoding="utf-8") as f:
            return str(json.load(f)["uri"])
    except FileNotFoundError:
        return "local"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"unknown ({exc})"


def _set_current_args(p: argparse.ArgumentParser) -> None:
    # Lago's dest: the global --prefix-name's, which this one overrides.
    p.add_argument("prefix_name", metavar="PREFIX_NAME", help="Name of the prefix to set as current")


@verb("Change the current prefix link, so the default prefix that is used is a new one", _set_current_args)
def do_set_current(args: argparse.Namespace) -> int:
    from lago.workdir import PrefixNotFound

    try:
        _workdir_object(args).set_current(args.prefix_name)
    except PrefixNotFound as exc:
        raise LagoUserException(str(exc)) from exc
    return 0


def _destroy_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--all-prefixes", action="store_true", help="Destroy every prefix of the workdir")
    p.add_argument("-y", "--yes", action="store_true", help="Do not ask for confirmation")


@verb("Cleanup and remove the whole prefix and any files in it", _destroy_args)
def do_destroy(args: argparse.Namespace) -> int:
    workdir = _workdir(args)
    if args.all_prefixes:
        names = list(_native.prefix_names(workdir))
        target = workdir
    else:
        names = [_prefix_name(args)]
        target = os.path.join(workdir, names[0])
    if not args.yes:
        answer = input(f"Do you really want to destroy {target}? [Yn] ")
        if answer not in ("", "Y", "y"):
            LOGGER.info("Aborting on user input")
            return 0
    if not args.all_prefixes and os.path.islink(target) and names[0] != "current":
        os.unlink(target)
        return 0
    standalone = None if args.all_prefixes else _standalone_prefix(args)
    prefix_class, _ = prefix_classes()
    for name in names:
        if standalone is not None:
            env = _native.Env.load_prefix(standalone, config=lago_config.native)
        else:
            env = _native.Env.load(workdir, name, config=lago_config.native)
        with LogTask(f"Destroy prefix {name}"):
            prefix_class(env).destroy()
    return 0


def _shell_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("host", metavar="HOST", help="Host to connect to")
    p.add_argument(
        "args",
        nargs=argparse.REMAINDER,
        metavar="ARGS",
        help=(
            "If none provided, an interactive shell will be started.\n"
            "If arguments start with -c, what follows will be executes as a command.\n"
            "Otherwise, if a single provided, it will be ran as script on the domain."
        ),
    )


@verb("Open shell on the domain or run as script/command", _shell_args, prefix_chars="\x00", add_help=False, formatter_class=argparse.HelpFormatter)
def do_shell(args: argparse.Namespace) -> int:
    from lago.vm import INTERACTIVE_SHELL, SCRIPT_SHELL, echo_output, flush_std_streams

    prefix = _prefix(args)
    vm = _running_vm(prefix, args.host)
    env = prefix._native
    command = list(args.args)
    if len(command) == 1 and os.path.isfile(command[0]):
        with open(command[0], "rb") as f:
            script = f.read()
        code, out, err = env.ssh_stdin(vm, list(SCRIPT_SHELL), script)
        echo_output(out, err)
        return int(code)
    if not command:
        argv = ["sh", "-c", INTERACTIVE_SHELL]
    else:
        if command[0] == "-c":
            command = command[1:]
        argv = ["sh", "-c", " ".join(command)]
    flush_std_streams()
    return int(env.interactive(vm, argv))


def _copy_to_args(p: argparse.ArgumentParser) -> None:
    # Lago's help texts, its mix-up of the two paths' words included.
    p.add_argument("host", metavar="HOST", help="Host to copy files to")
    p.add_argument("local_path", metavar="LOCAL_PATH", help="Path of the file/dir to copy from the host")
    p.add_argument("remote_path", metavar="REMOTE_PATH", help="Local path to copy the file/dir to")


@verb("Copy file/dir to a virtual machine from the local host", _copy_to_args)
def do_copy_to_vm(args: argparse.Namespace) -> int:
    prefix = _prefix(args)
    vm = _running_vm(prefix, args.host)
    with LogTask(f"Copy {args.local_path} to {vm}:{args.remote_path}"):
        prefix.virt_env.get_vm(vm).copy_to(args.local_path, args.remote_path)
    return 0


def _copy_from_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("host", metavar="HOST", help="Host to copy files from")
    p.add_argument("remote_path", metavar="REMOTE_PATH", help="Path of the file/dir to copy from the host")
    p.add_argument("local_path", metavar="LOCAL_PATH", help="Path on the local host to copy the file/dir to")


@verb("Copy file from a virtual machine to local machine", _copy_from_args)
def do_copy_from_vm(args: argparse.Namespace) -> int:
    prefix = _prefix(args)
    vm = _running_vm(prefix, args.host)
    with LogTask(f"Copy {vm}:{args.remote_path} to {args.local_path}"):
        prefix.virt_env.get_vm(vm).copy_from(args.remote_path, args.local_path)
    return 0


def _collect_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output", required=True, type=os.path.abspath, help="Path to place all the extracted at")
    p.add_argument("--no-skip", action="store_true", help="Fail on missing artifacts")


@verb("Collect logs from VMs, list of collected logs can be specified in the init file, under artifacts parameter ", _collect_args)
def do_collect(args: argparse.Namespace) -> int:
    """``lago collect``; also callable as Lago's ``do_collect(prefix=,
    output=, no_skip=)`` (ovirtlago's ``lago ovirt collect`` does)."""
    output = getattr(args, "output", None)
    if output is None:
        raise LagoUserException("collect: an output folder is needed")
    _prefix(args).collect_artifacts(output, ignore_nopath=not getattr(args, "no_skip", False))
    return 0


def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-s", "--standalone", action="store_true", help="Flatten the disks (no template needed)")
    p.add_argument("-c", "--compress", action="store_true", help="Compress the images with xz")
    p.add_argument("--init-file-name", default="LagoInitFile", help="The name of the exported init file")
    p.add_argument("-d", "--dst-dir", default=".", help="Dir to place the exported images in")
    p.add_argument(
        "-n",
        "--vm-names",
        nargs="*",
        metavar="VM_NAME",
        help="Name of the vms to export. If no name is specified, export all the vms in this prefix.",
    )
    p.add_argument("--collect-only", action="store_true", help="Only print the images that would be exported")
    p.add_argument("--without-threads", action="store_true", help="Export one disk at a time")


@verb("Export virtual machine disks", _export_args)
def do_export(args: argparse.Namespace) -> int:
    output = _prefix(args).export_vms(
        args.vm_names or None,
        args.standalone,
        args.dst_dir,
        args.compress,
        args.init_file_name,
        args.out_format,
        args.collect_only,
        not args.without_threads,
    )
    if args.collect_only:
        print(args.out_format.format(output))
    return 0


@verb("Run scripts that install necessary RPMs and configuration")
def do_deploy(args: argparse.Namespace) -> int:
    _prefix(args).deploy()
    return 0


def _ansible_hosts_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-k", "--keys", nargs="*", default=["vm-type", "groups", "vm-provider"], help="Path to the keys that should be used as groups")


@verb("Create Ansible host inventory of the environment", _ansible_hosts_args)
def do_generate_ansible_hosts(args: argparse.Namespace) -> int:
    from lago.lago_ansible import LagoAnsible

    print(LagoAnsible(_prefix(args)).get_inventory_str(list(args.keys or [])))
    return 0


def _generate_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--verbose", action="store_true", help="Include unset options")


@verb("Dump configuration file", _generate_config_args)
def do_generate(args: argparse.Namespace) -> int:
    print(lago_config.get_ini(incl_unset=bool(args.verbose)))
    return 0


def _shutdown_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("vm_names", nargs="*", metavar="VM_NAME", help="Name of the vms to shutdown")
    p.add_argument("-r", "--reboot", action="store_true", help="Reboot instead of shutting down")


@verb("Shutdown and destroy, or reboot vms", _shutdown_args)
def do_shutdown(args: argparse.Namespace) -> int:
    prefix = _prefix(args)
    names = [_find_vm(prefix, n) for n in getattr(args, "vm_names", None) or []]
    prefix.shutdown(names, bool(getattr(args, "reboot", False)))
    return 0


@verb("Clean up deployed resources")
def do_cleanup(args: argparse.Namespace) -> int:
    _prefix(args).cleanup()
    return 0


def _console_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("host", metavar="HOST", help="Host to connect to")


@verb("Open serial console to the domain", _console_args)
def do_console(args: argparse.Namespace) -> int:
    import subprocess

    prefix = _prefix(args)
    vm = _find_vm(prefix, args.host)
    # the prefix's own host when it runs on a remote one
    url = prefix._native.libvirt_uri()
    argv = ["virsh", "-c", url, "console", prefix._native.vm_libvirt_name(vm)]
    try:
        return subprocess.call(argv)
    except OSError as exc:
        raise LagoUserException(f"cannot run {argv[0]}: {exc}") from exc


#: The verbs of ``lago``, in the order Lago registers them (its
#: ``lago.plugins.cli`` entry points): ``lago --help`` lists them and
#: ``generate-config`` prints their sections in this order. Each is also an
#: entry point of that group (pyproject.toml).
BUILTIN_VERBS: dict[str, BuiltinVerb] = {
    "cleanup": do_cleanup,
    "collect": do_collect,
    "console": do_console,
    "copy-from-vm": do_copy_from_vm,
    "copy-to-vm": do_copy_to_vm,
    "deploy": do_deploy,
    "destroy": do_destroy,
    "ansible_hosts": do_generate_ansible_hosts,
    "init": do_init,
    "list": do_list,
    "revert": do_revert,
    "set-current": do_set_current,
    "shell": do_shell,
    "snapshot": do_snapshot,
    "start": do_start,
    "status": do_status,
    "stop": do_stop,
    "generate-config": do_generate,
    "export": do_export,
    "shutdown": do_shutdown,
    # lago's own (Lago has no picture of an environment)
    "graph": do_graph,
}

#: Earlier names of two verbs' objects.
do_ansible_hosts = do_generate_ansible_hosts
do_generate_config = do_generate


#: CLI global options (dest) that are configuration keys of ``[lago]``.
CONFIG_OPTIONS = (
    "loglevel",
    "logdepth",
    "prefix_name",
    "ssh_user",
    "ssh_password",
    "ssh_tries",
    "ssh_timeout",
    "libvirt_url",
    "libvirt_user",
    "libvirt_password",
    "default_vm_type",
    "default_vm_provider",
    "default_root_password",
    "lease_dir",
    "reposync_dir",
)


def update_config_from_args(args: argparse.Namespace) -> None:
    """Lago's ``config.update_args``: global options given (or defaulted
    from the configuration) become the ``[lago]`` values lago-core reads."""
    for key in CONFIG_OPTIONS:
        value = getattr(args, key, None)
        if value is None:
            continue
        if lago_config.native.get(key) != str(value):
            lago_config.set("lago", key, str(value))


# -- parser -----------------------------------------------------------------------
#: Where ``-w/--workdir-path`` is kept too: ``list``'s WORKDIR_PATH has the
#: same dest (as in Lago) and replaces the global value when not given.
GLOBAL_WORKDIR_PATH = "global_workdir_path"


class _GlobalWorkdirPath(argparse.Action):
    """``-w/--workdir-path``: stores the path under its dest and under
    GLOBAL_WORKDIR_PATH."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: Optional[str] = None,
    ) -> None:
        setattr(namespace, self.dest, values)
        setattr(namespace, GLOBAL_WORKDIR_PATH, values)


def _out_formats() -> dict[str, OutFormatPlugin]:
    formats: dict[str, OutFormatPlugin] = {n: c() for n, c in BUILTIN_FORMATS.items()}
    for name, plugin in load_plugins("lago.plugins.output").items():
        formats.setdefault(name, plugin)
    return formats


def create_parser(
    prog: str, formats: Sequence[str], cli_plugins: dict[str, Any]
) -> argparse.ArgumentParser:
    """The ``lago`` argument parser."""
    fmt = argparse.ArgumentDefaultsHelpFormatter
    parser = argparse.ArgumentParser(prog=prog, description="Command line interface to Lago", formatter_class=fmt)
    g = parser.add_argument
    g("-l", "--loglevel", choices=list(LOGLEVELS), default=_cfg("loglevel", "info"), help="Log level to use")
    g("--logdepth", type=int, default=_cfg_int("logdepth", 3), help="How many task levels to show")
    g("--version", action="version", version=f"%(prog)s {__version__}")
    g("-f", "--out-format", choices=list(formats), default="default")
    g("-p", "--prefix-path", default=None, help="Path to the prefix to use, will be deprecated, use --workdir-path instead")
    g("-w", "--workdir-path", default=None, action=_GlobalWorkdirPath, help="Path to the workdir to use.")
    g("-P", "--prefix-name", default=_cfg("prefix_name", "current"), help="Name of the prefix to use.")
    g("--ssh-user", default=_cfg("ssh_user", "root"), help="User for SSH provider.")
    g("--ssh-password", default=_cfg("ssh_password", "123456"), help="Password for SSH provider.")
    g("--ssh-tries", type=int, default=_cfg_int("ssh_tries", 100), help="Number of ssh time outs to wait before failing.")
    g("--ssh-timeout", type=int, default=_cfg_int("ssh_timeout", 10), help="Seconds to wait before marking SSH connection as failed.")
    g("--libvirt_url", default=_cfg("libvirt_url", _native.DEFAULT_LIBVIRT_URL), help="libvirt URI, currently only system is supported.")
    g("--libvirt-user", default=_cfg("libvirt_user"), help="libvirt user")
    g("--libvirt-password", default=_cfg("libvirt_password"), help="libvirt password")
    g("--default_vm_type", default=_cfg("default_vm_type", "default"), help="Default vm type")
    g("--default_vm_provider", default=_cfg("default_vm_provider", "local-libvirt"), help="Default vm provider")
    g("--default_root_password", default=_cfg("default_root_password"), help="Default root password")
    g("--lease_dir", default=_cfg("lease_dir", "/var/lib/lago/subnets"), help="Path to store created subnets configurations")
    g("--reposync-dir", default=_cfg("reposync_dir", "/var/lib/lago"), help="Reposync dir if used")
    g("--ignore-warnings", action="store_true", help="Do not turn Python warnings into errors")
    g("-q", "--quiet", action="store_true", help="Show no progress of long operations (also LAGO_QUIET=1)")

    sub = parser.add_subparsers(dest="verb", metavar="VERB")

    for name, builtin in BUILTIN_VERBS.items():
        p = sub.add_parser(name, **builtin.init_args)
        builtin.populate_parser(p)
        p.set_defaults(func=builtin.do_run)

    for name, plugin in cli_plugins.items():
        if name in sub.choices:
            continue
        p = sub.add_parser(name, **{"formatter_class": fmt, **plugin.init_args})
        plugin.populate_parser(p)
        p.set_defaults(func=plugin.do_run)
    lago_config.update_parser(parser)
    return parser


def _signal_exit(signum: int, _frame: Any) -> NoReturn:
    sys.exit(128 + signum)


class _RepairReporter(logging.Handler):
    """Prints each repair lago-core made of what a killed lago left
    (logger ``lago.repair``: a half-made prefix removed, a finished one
    adopted) as one line ``lago: <what was cleaned>`` on stderr."""

    def __init__(self, prog: str) -> None:
        super().__init__(logging.WARNING)
        self.prog = prog

    def emit(self, record: logging.LogRecord) -> None:
        print(f"{self.prog}: {record.getMessage()}", file=sys.stderr)


def _report_repairs(prog: str) -> None:
    repairs = logging.getLogger("lago.repair")
    repairs.addHandler(_RepairReporter(prog))
    repairs.propagate = False


def _flush_native_logs() -> None:
    """Hands queued lago-core records (repairs among them) to logging now:
    calls that fail, or that do not flush, would leave them unseen."""
    try:
        _native.flush_logs()
    except Exception:  # noqa: BLE001 - reporting must never fail a command
        LOGGER.debug("flush of native logs failed", exc_info=True)


def _interrupted(exc: KeyboardInterrupt) -> str:
    """The line saying lago was interrupted: ``interrupted``, or what the
    core said it was doing and what it undid (an interrupted native call
    raises KeyboardInterrupt with lago-core's ``Cancelled`` error as its
    ``__cause__``), on one line."""
    cause = exc.__cause__
    if not isinstance(cause, LagoCancelledError):
        return "interrupted"
    what = " ".join(str(cause).split())
    return what if what.startswith("interrupted") else f"interrupted: {what}"


def _quiet(args: argparse.Namespace) -> bool:
    """Whether progress stays hidden: ``-q`` or ``LAGO_QUIET`` set to
    anything but empty or ``0``."""
    return bool(args.quiet) or os.environ.get("LAGO_QUIET", "") not in ("", "0")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs ``lago``; returns the exit code."""
    signal.signal(signal.SIGTERM, _signal_exit)
    signal.signal(signal.SIGHUP, _signal_exit)
    prog = os.path.basename(sys.argv[0]) or "lago"
    if prog not in ("lago", "lagocli"):
        prog = "lago"
    try:
        # A configuration file that does not parse, or a value the CLI
        # cannot use, ends every command (--help included) in one line.
        check_config()
        formats = _out_formats()
        cli_plugins = load_plugins("lago.plugins.cli")
        parser = create_parser(prog, list(formats), cli_plugins)
    except LagoConfigError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    if not getattr(args, "verb", None):
        parser.print_help()
        return 1
    update_config_from_args(args)
    args.out_format = formats[args.out_format]

    console = TaskHandler(
        task_tree_depth=int(args.logdepth),
        level=getattr(logging, args.loglevel.upper()),
        dump_level=logging.ERROR,
        stream=sys.stderr,
    )
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    root.addHandler(console)
    _report_repairs(prog)
    _native.enable_progress(not _quiet(args))
    try:
        code = int(args.func(args) or 0)
        _flush_native_logs()
        return code
    except LagoException as exc:
        _flush_native_logs()
        LOGGER.debug("error", exc_info=True)
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        _flush_native_logs()
        print(f"{prog}: {_interrupted(exc)}", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`lago status | head`): quiet, as a shell
        # tool is; stdout is pointed at /dev/null so exit's flush is quiet
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except Exception:  # noqa: BLE001 - report any bug with its traceback
        print("Error occured, aborting", file=sys.stderr)
        traceback.print_exc()
        return 1


def run() -> NoReturn:
    """Console-script entry: exits with ``main()``'s code."""
    sys.exit(main())
