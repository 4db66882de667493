"""``lago ostlike …``: a verb whose subcommands are plugins of the group
``lago.plugins.ostlike.cli`` (like ``lago ovirt …``)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from lago.plugins import load_plugins
from lago.plugins.cli import CLIPlugin, cli_plugin, cli_plugin_add_argument
from lago.utils import in_prefix, with_logging



def _in_prefix(func: Any) -> Any:
    """in_prefix with the plugin's classes (imported when the verb runs, so
    that loading the CLI plugin for other verbs stays cheap)."""

    def run(**kwargs: Any) -> Any:
        from ostlike.prefix import OstLikePrefix, OstLikeWorkdir

        wrapped = in_prefix(prefix_class=OstLikePrefix, workdir_class=OstLikeWorkdir)(with_logging(func))
        return wrapped(**kwargs)

    return run


@cli_plugin(help="Show the lab: prefix/paths/virt-env classes and each VM's type and role")
@_in_prefix
def do_status(prefix: Any, out_format: Any, **kwargs: Any) -> None:
    env = prefix.virt_env
    info = {
        "prefix class": type(prefix).__name__,
        "paths class": type(prefix.paths).__name__,
        "lab dir": prefix.paths.lab_dir(),
        "virt env class": type(env).__name__,
        "VMs": {
            name: {"class": type(vm).__name__, "role": vm.role(), "state": vm.state()}
            for name, vm in env.get_vms().items()
        },
    }
    print(out_format.format(info))


@cli_plugin(help="Start the lab: the prefix, then wait until every node answers SSH")
@_in_prefix
def do_start(prefix: Any, **kwargs: Any) -> None:
    from lago.log_utils import LogTask

    with LogTask("Starting lab"):
        prefix.start()
        with LogTask("Waiting for the nodes"):
            for vm in prefix.virt_env.node_vms():
                vm.wait_for_ssh()


@cli_plugin(help="Stop the lab: shut every VM down")
@_in_prefix
def do_stop(prefix: Any, **kwargs: Any) -> None:
    from lago.log_utils import LogTask

    with LogTask("Stopping lab"):
        prefix.shutdown()


@cli_plugin(help="Label the lab: record LABEL in the prefix and node metadata (saved)")
@cli_plugin_add_argument("label", help="Label")
@_in_prefix
def do_prepare(prefix: Any, label: str, **kwargs: Any) -> None:
    prefix.prepare_lab(label)


@cli_plugin(help="Collect the artifacts of every VM")
@cli_plugin_add_argument("--output", required=True, help="Output folder")
@_in_prefix
def do_collect(prefix: Any, output: str, **kwargs: Any) -> None:
    from lago.log_utils import LogTask

    with LogTask("Collect lab artifacts"):
        prefix.collect_artifacts(os.path.abspath(output), ignore_nopath=False)


@cli_plugin(help="Run a command on every node VM")
@cli_plugin_add_argument("command", nargs="+", help="Command")
@_in_prefix
def do_run_cmd(prefix: Any, command: list[str], **kwargs: Any) -> int:
    from lago.log_utils import LogTask

    worst = 0
    for vm in prefix.virt_env.node_vms():
        with LogTask(f"Run on {vm.name()}"):
            worst = max(worst, vm.ssh(command).code)
    return worst


class OstLikeCLI(CLIPlugin):
    """The ``ostlike`` verb."""

    init_args = {"help": "Lab commands (from the lago.plugins.ostlike.cli group)"}

    def populate_parser(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="ostlike_verb", metavar="OSTLIKE_VERB")
        sub.required = True
        for name, plugin in sorted(load_plugins("lago.plugins.ostlike.cli").items()):
            p = sub.add_parser(name, **plugin.init_args)
            plugin.populate_parser(p)
            p.set_defaults(ostlike_func=plugin)

    def do_run(self, args: argparse.Namespace) -> Any:
        return args.ostlike_func.do_run(args)
