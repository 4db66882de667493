# lago's inventory plugin: the VMs of a lago environment, read from its
# workdir through the lago Python package. GPL-2.0-or-later.
"""Ansible inventory plugin ``lago.lago.lago``."""

from __future__ import annotations

DOCUMENTATION = r"""
name: lago
short_description: The VMs of a lago environment
description:
  - Reads a lago (Lago-compatible) workdir through the C(lago) Python
    package and adds its VMs, grouped as C(lago ansible_hosts) groups them.
  - The source is a YAML file whose name ends in C(lago.yml) or C(lago.yaml).
requirements:
  - the C(lago) Python package, importable by Ansible's Python
options:
  plugin:
    description: The name of this plugin.
    required: true
    choices: ["lago.lago.lago"]
  workdir:
    description: The lago workdir; a relative path is taken from the source file's folder.
    type: path
    default: .lago
  prefix:
    description: The prefix of the workdir; C(current) is the one its current link names.
    type: str
    default: current
  keys:
    description: Spec key paths whose values name groups (as C(lago ansible_hosts -k)).
    type: list
    elements: str
    default: [vm-type, groups, vm-provider]
"""

EXAMPLES = r"""
# env.lago.yml
plugin: lago.lago.lago
workdir: /home/me/suite/.lago
keys: [vm-type, groups]
"""

import os
import shlex
import sys

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin

SUFFIXES = ("lago.yml", "lago.yaml")


def parse_inventory_text(text):
    """Groups and hosts of lago's INI inventory text: ``({group: [host]},
    {host: {var: value}})``, both in the text's order."""
    groups = {}
    hosts = {}
    group = None
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1]
            groups.setdefault(group, [])
            continue
        name, _, rest = line.partition(" ")
        host_vars = hosts.setdefault(name, {})
        # values may be quoted (the jump of an environment on a remote host)
        for item in shlex.split(rest):
            key, sep, value = item.partition("=")
            if sep:
                host_vars[key] = value
        if group is not None and name not in groups[group]:
            groups[group].append(name)
    return groups, hosts


def safe_group_name(name):
    """An Ansible group name for lago's group ``name`` (``vm-type=default``
    becomes ``vm_type_default``): Ansible warns about and rewrites other
    characters anyway, so rewrite them the same way here, once."""
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name)


class InventoryModule(BaseInventoryPlugin):
    """The VMs of one lago prefix."""

    NAME = "lago.lago.lago"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(SUFFIXES)

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        try:
            from lago import _native
            from lago.config import config as lago_config
            from lago.lago_ansible import LagoAnsible
            from lago.workdir import Workdir
        except ImportError as exc:
            raise AnsibleParserError(
                "lago.lago.lago needs the lago Python package in Ansible's Python "
                "(%s): %s" % (sys.executable, exc)
            )
        workdir = self.get_option("workdir")
        if not os.path.isabs(workdir):
            workdir = os.path.join(os.path.dirname(os.path.abspath(path)), workdir)
        prefix_name = self.get_option("prefix")
        keys = list(self.get_option("keys") or [])
        try:
            native = _native.Env.load(os.path.abspath(workdir), prefix_name, config=lago_config.native)
            prefix = Workdir(os.path.abspath(workdir)).prefix_class(native)
            text = LagoAnsible(prefix).get_inventory_str(keys)
            prefix_path = prefix.paths.prefix_path()
        except Exception as exc:  # lago's errors are one line naming what is wrong
            raise AnsibleParserError("lago.lago.lago: %s: %s" % (path, exc))
        groups, hosts = parse_inventory_text(text)
        known_hosts = os.path.join(prefix_path, "known_hosts")
        for name, host_vars in hosts.items():
            self.inventory.add_host(name)
            # on a remote libvirt host: the ProxyCommand through it
            jump = host_vars.pop("ansible_ssh_common_args", "")
            for key, value in host_vars.items():
                self.inventory.set_variable(name, key, value)
            self.inventory.set_variable(name, "ansible_user", "root")
            self.inventory.set_variable(
                name,
                "ansible_ssh_common_args",
                ("-o UserKnownHostsFile=%s -o StrictHostKeyChecking=accept-new %s" % (known_hosts, jump)).strip(),
            )
            self.inventory.set_variable(name, "lago_vm_name", name)
            self.inventory.set_variable(name, "lago_prefix", prefix_path)
        for group, members in groups.items():
            group_name = self.inventory.add_group(safe_group_name(group))
            for host in members:
                self.inventory.add_host(host, group=group_name)
