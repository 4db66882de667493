"""The ``lago`` command line (also ``lagocli``): Lago's verbs and global
options (contract §1.1, §1.2) over ``lago._native``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
import traceback
from typing import Any, Callable, NoReturn, Optional, Sequence

from lago import __version__, _native
from lago.config import config as lago_config
from lago.log_utils import FILE_FORMAT, LogTask, TaskHandler
from lago.plugins import load_plugins
from lago.plugins.output import BUILTIN_FORMATS, OutFormatPlugin
from lago.utils import LagoException, LagoUserException

LOGGER = logging.getLogger("lago.cmd")

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
    try:
        return os.path.realpath(Prefix.resolve_prefix_path(prefix_path))
    except RuntimeError as exc:
        raise LagoUserException(str(exc)) from exc


def _workdir(args: argparse.Namespace) -> str:
    if args.workdir_path:
        return os.path.abspath(args.workdir_path)
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


def _find_vm(env: Any, host: str) -> str:
    names = list(env.vm_names())
    if host in names:
        return host
    for name in names:
        if name.endswith(host):
            return name
    raise LagoUserException(f"No VM named {host} (VMs: {', '.join(names)})")


def _running_vm(env: Any, host: str) -> str:
    name = _find_vm(env, host)
    state = env.vm_state(name)
    if state != "running":
        raise LagoUserException(f"The VM {name} is not running (state: {state})")
    env.wait_for_ssh(name)
    return name


# -- verbs ----------------------------------------------------------------------
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
    with LogTask("Initialize and populate prefix"):
        env = _init_env(args, workdir, initfile, prefix_name)
    LOGGER.info("Initialized prefix %s", env.prefix_path)
    return 0


def _init_env(args: argparse.Namespace, workdir: str, initfile: str, prefix_name: str) -> Any:
    return _native.Env.init(
        workdir,
        initfile,
        prefix_name=prefix_name,
        template_repo=args.template_repo_path,
        template_store=args.template_store,
        set_current=bool(args.set_current),
        bootstrap="skip" if args.skip_bootstrap else "auto",
        skip_build=bool(args.skip_build),
        config=lago_config.native,
    )


def do_start(args: argparse.Namespace) -> int:
    env = _env(args)
    with LogTask("Start Prefix"):
        env.start(list(args.vm_names))
    return 0


def do_stop(args: argparse.Namespace) -> int:
    env = _env(args)
    with LogTask("Stop prefix"):
        env.stop(list(args.vm_names))
    return 0


def do_status(args: argparse.Namespace) -> int:
    info = json.loads(_env(args).status_json())
    print(args.out_format.format(info))
    return 0


def do_snapshot(args: argparse.Namespace) -> int:
    env = _env(args)
    if args.list:
        print(args.out_format.format(json.loads(env.snapshots_json())))
    elif args.snapshot_name:
        env.snapshot(args.snapshot_name, [])
    else:
        raise LagoUserException("No snapshot name provided")
    return 0


def do_revert(args: argparse.Namespace) -> int:
    _env(args).revert(args.snapshot_name, [])
    return 0


def do_list(args: argparse.Namespace) -> int:
    path = os.path.abspath(args.workdir) if args.workdir else _workdir(args)
    names = [n for n in _native.prefix_names(path)]
    print(args.out_format.format(names))
    return 0


def do_set_current(args: argparse.Namespace) -> int:
    _native.set_current(_workdir(args), args.prefix_name_to_set)
    return 0


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
    for name in names:
        if standalone is not None:
            env = _native.Env.load_prefix(standalone, config=lago_config.native)
        else:
            env = _native.Env.load(workdir, name, config=lago_config.native)
        with LogTask(f"Destroy prefix {name}"):
            env.destroy()
    return 0


def do_shell(args: argparse.Namespace) -> int:
    from lago.vm import INTERACTIVE_SHELL, SCRIPT_SHELL, echo_output, flush_std_streams

    env = _env(args)
    vm = _running_vm(env, args.host)
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


def do_copy_to_vm(args: argparse.Namespace) -> int:
    env = _env(args)
    vm = _running_vm(env, args.host)
    with LogTask(f"Copy {args.local_path} to {vm}:{args.remote_path}"):
        env.copy_to(vm, args.local_path, args.remote_path)
    return 0


def do_copy_from_vm(args: argparse.Namespace) -> int:
    env = _env(args)
    vm = _running_vm(env, args.host)
    with LogTask(f"Copy {vm}:{args.remote_path} to {args.local_path}"):
        env.copy_from(vm, args.remote_path, args.local_path)
    return 0


def do_collect(
    args: Optional[argparse.Namespace] = None,
    *,
    prefix: Any = None,
    output: Optional[str] = None,
    no_skip: bool = False,
    **kwargs: Any,
) -> int:
    """``lago collect``; also callable as Lago's ``do_collect(prefix=,
    output=, no_skip=)`` (ovirtlago's ``lago ovirt collect`` does)."""
    from lago.prefix import Prefix

    if args is not None:
        prefix, output, no_skip = Prefix(_env(args)), args.output, args.no_skip
    if prefix is None or output is None:
        raise LagoUserException("collect: a prefix and an output folder are needed")
    prefix.collect_artifacts(output, ignore_nopath=not no_skip)
    return 0


def do_export(args: argparse.Namespace) -> int:
    from lago.prefix import Prefix

    output = Prefix(_env(args)).export_vms(
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


def do_deploy(args: argparse.Namespace) -> int:
    from lago.prefix import Prefix

    Prefix(_env(args)).deploy()
    return 0


def do_ansible_hosts(args: argparse.Namespace) -> int:
    print(_env(args).ansible_inventory(list(args.keys or [])))
    return 0


def do_generate_config(args: argparse.Namespace) -> int:
    sys.stdout.write(lago_config.native.to_ini(bool(args.verbose), time.strftime("%c")))
    return 0


def do_shutdown(args: argparse.Namespace) -> int:
    env = _env(args)
    names = [_find_vm(env, n) for n in args.vm_names]
    with LogTask("Reboot VMs" if args.reboot else "Shutdown VMs"):
        env.shutdown(names, bool(args.reboot))
    return 0


def do_cleanup(args: argparse.Namespace) -> int:
    env = _env(args)
    with LogTask("Stop prefix"):
        env.stop([])
    with LogTask("Tag prefix as uninitialized"):
        env.cleanup()
    return 0


def do_console(args: argparse.Namespace) -> int:
    import subprocess

    env = _env(args)
    vm = _find_vm(env, args.host)
    url = _cfg("libvirt_url", "qemu:///system")
    argv = ["virsh", "-c", url, "console", env.vm_libvirt_name(vm)]
    try:
        return subprocess.call(argv)
    except OSError as exc:
        raise LagoUserException(f"cannot run {argv[0]}: {exc}") from exc


def _add_power_verbs(verb: Callable[..., argparse.ArgumentParser]) -> None:
    """The verbs shutdown, cleanup and console."""
    p = verb("shutdown", do_shutdown, "Shut down the VMs cleanly (ACPI, else poweroff over SSH)")
    p.add_argument("vm_names", nargs="*", metavar="VM_NAME", help="VMs (default: all)")
    p.add_argument("-r", "--reboot", action="store_true", help="Reboot instead of shutting down")
    verb("cleanup", do_cleanup, "Stop the prefix and mark it uninitialized")
    p = verb("console", do_console, "Open the serial console of a VM (virsh console)")
    p.add_argument("host", metavar="HOST", help="VM name (or its end)")


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
            lago_config.native.set("lago", key, str(value))


# -- parser -----------------------------------------------------------------------
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
    g("-l", "--loglevel", choices=["info", "debug", "error", "warning"], default=_cfg("loglevel", "info"), help="Log level to use")
    g("--logdepth", type=int, default=int(_cfg("logdepth", 3)), help="How many task levels to show")
    g("--version", action="version", version=f"%(prog)s {__version__}")
    g("-f", "--out-format", choices=list(formats), default="default", help="Output format")
    g("-p", "--prefix-path", default=None, help="Path to the prefix (deprecated, use --workdir-path)")
    g("-w", "--workdir-path", default=None, help="Path to the workdir")
    g("-P", "--prefix-name", default=_cfg("prefix_name", "current"), help="Name of the prefix to use")
    g("--ssh-user", default=_cfg("ssh_user", "root"), help="User for SSH")
    g("--ssh-password", default=_cfg("ssh_password", "123456"), help="Password for SSH")
    g("--ssh-tries", type=int, default=int(_cfg("ssh_tries", 100)), help="Number of SSH attempts")
    g("--ssh-timeout", type=int, default=int(_cfg("ssh_timeout", 10)), help="Timeout of an SSH connect (s)")
    g("--libvirt_url", default=_cfg("libvirt_url", "qemu:///system"), help="libvirt URI")
    g("--libvirt-user", default=_cfg("libvirt_user"), help="libvirt user")
    g("--libvirt-password", default=_cfg("libvirt_password"), help="libvirt password")
    g("--default_vm_type", default=_cfg("default_vm_type", "default"), help="Default VM type")
    g("--default_vm_provider", default=_cfg("default_vm_provider", "local-libvirt"), help="Default VM provider")
    g("--default_root_password", default=_cfg("default_root_password"), help="Default root password")
    g("--lease_dir", default=_cfg("lease_dir", "/var/lib/lago/subnets"), help="Subnet lease directory")
    g("--reposync-dir", default=_cfg("reposync_dir", "/var/lib/lago"), help="Reposync directory")
    g("--ignore-warnings", action="store_true", help="Do not turn Python warnings into errors")

    sub = parser.add_subparsers(dest="verb", metavar="VERB")

    def verb(name: str, func: Callable[[argparse.Namespace], int], help: str, **kw: Any) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, formatter_class=fmt, **kw)
        p.set_defaults(func=func)
        return p

    p = verb("init", do_init, "Initialize a directory for use by lago")
    p.add_argument("workdir", nargs="?", metavar="WORKDIR", help="Workdir (default: ./.lago)")
    p.add_argument("virt_config", nargs="?", metavar="VIRT_CONFIG", help="Init file (default: ./LagoInitFile)")
    p.add_argument("--template-repo-path", default=_cfg("template_repo_path", None, "init"), help="Template repository (path or URL of repo.metadata)")
    p.add_argument("--template-repo-name", default=None, help="Name of a stored template repository")
    p.add_argument("--template-store", default=_cfg("template_store", None, "init"), help="Template store")
    p.add_argument("--template-repos", default=_cfg("template_repos", None, "init"), help="Template repositories folder")
    p.add_argument("--set-current", action="store_true", help="Point 'current' to the new prefix")
    p.add_argument("--skip-bootstrap", action="store_true", help="Do not bootstrap the disks")
    p.add_argument("--skip-build", action="store_true", help="Do not run the disks' build steps")

    for name, func, help in (("start", do_start, "Start the VMs (and networks)"), ("stop", do_stop, "Stop the VMs (and networks)")):
        p = verb(name, func, help)
        p.add_argument("vm_names", nargs="*", metavar="VM_NAME", help="VMs (default: all)")

    verb("status", do_status, "Show the status of the environment")
    p = verb("snapshot", do_snapshot, "Snapshot the VMs' disks (running or stopped)")
    p.add_argument("snapshot_name", nargs="?", metavar="SNAPSHOT_NAME", help="Name of the new snapshot")
    p.add_argument("-l", "--list", action="store_true", help="List the snapshots of every VM")
    p = verb("revert", do_revert, "Revert the VMs to a snapshot")
    p.add_argument("snapshot_name", metavar="SNAPSHOT_NAME", help="Snapshot to revert to")
    p = verb("list", do_list, "List the prefixes of a workdir")
    p.add_argument("workdir", nargs="?", metavar="WORKDIR_PATH", help="Workdir (default: found from the current folder)")
    p = verb("set-current", do_set_current, "Point 'current' to a prefix")
    p.add_argument("prefix_name_to_set", metavar="PREFIX_NAME", help="Prefix to make current")
    p = verb("destroy", do_destroy, "Stop and remove the environment")
    p.add_argument("--all-prefixes", action="store_true", help="Destroy every prefix of the workdir")
    p.add_argument("-y", "--yes", action="store_true", help="Do not ask for confirmation")

    p = sub.add_parser("shell", help="Run a command in a VM", description="Run a command in a VM", prefix_chars="\x00", add_help=False)
    p.set_defaults(func=do_shell)
    p.add_argument("host", metavar="HOST", help="VM name (or its end)")
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS", help="Command")

    p = verb("copy-to-vm", do_copy_to_vm, "Copy a file or folder into a VM")
    p.add_argument("host", metavar="HOST")
    p.add_argument("local_path", metavar="LOCAL_PATH")
    p.add_argument("remote_path", metavar="REMOTE_PATH")
    p = verb("copy-from-vm", do_copy_from_vm, "Copy a file or folder out of a VM")
    p.add_argument("host", metavar="HOST")
    p.add_argument("remote_path", metavar="REMOTE_PATH")
    p.add_argument("local_path", metavar="LOCAL_PATH")
    p = verb("collect", do_collect, "Collect the VMs' artifacts")
    p.add_argument("--output", required=True, type=os.path.abspath, help="Output folder")
    p.add_argument("--no-skip", action="store_true", help="Fail on missing artifacts")
    p = verb("export", do_export, "Export the VMs' disks and an init file re-creating them")
    p.add_argument("-n", "--vm-names", nargs="*", default=[], metavar="VM_NAME", help="VMs to export (default: all)")
    p.add_argument("-s", "--standalone", action="store_true", help="Flatten the disks (no template needed)")
    p.add_argument("-c", "--compress", action="store_true", help="Compress the images with xz")
    p.add_argument("-d", "--dst-dir", default=".", help="Destination folder")
    p.add_argument("--init-file-name", default="LagoInitFile", help="Name of the exported init file")
    p.add_argument("--collect-only", action="store_true", help="Only print the images that would be exported")
    p.add_argument("--without-threads", action="store_true", help="Export one disk at a time")
    verb("deploy", do_deploy, "Run the deploy scripts")
    p = verb("ansible_hosts", do_ansible_hosts, "Print an Ansible inventory")
    p.add_argument("-k", "--keys", nargs="*", default=["vm-type", "groups", "vm-provider"], help="Spec keys to group by")
    p = verb("generate-config", do_generate_config, "Print the effective configuration")
    p.add_argument("--verbose", action="store_true", help="Include unset options")

    _add_power_verbs(verb)

    for name, plugin in cli_plugins.items():
        if name in sub.choices:
            continue
        p = sub.add_parser(name, formatter_class=fmt, **plugin.init_args)
        plugin.populate_parser(p)
        p.set_defaults(func=plugin.do_run)
    return parser


def _signal_exit(signum: int, _frame: Any) -> NoReturn:
    sys.exit(128 + signum)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs ``lago``; returns the exit code."""
    signal.signal(signal.SIGTERM, _signal_exit)
    signal.signal(signal.SIGHUP, _signal_exit)
    prog = os.path.basename(sys.argv[0]) or "lago"
    if prog not in ("lago", "lagocli"):
        prog = "lago"
    formats = _out_formats()
    cli_plugins = load_plugins("lago.plugins.cli")
    parser = create_parser(prog, list(formats), cli_plugins)
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
    try:
        return int(args.func(args) or 0)
    except LagoException as exc:
        LOGGER.debug("error", exc_info=True)
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
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
