"""Lago's constants at its path ``lago.constants``: where configuration
files are looked for first, and the built-in configuration defaults (the
values lago-core starts from; ``lago generate-config`` prints them)."""

from __future__ import annotations

from typing import Union

from lago._native import DEFAULT_LIBVIRT_URL

#: Folder of helper programs.
LIBEXEC_DIR = "/usr/libexec/lago/"

#: Configuration files read before the user's.
CONFS_PATH = ["/etc/lago/lago.conf"]

#: The built-in defaults by section, as Lago declares them.
CONFIG_DEFAULTS: dict[str, dict[str, Union[str, int]]] = {
    "lago": {
        "logdepth": 3,
        "loglevel": "info",
        "ssh_user": "root",
        "ssh_password": "123456",
        "ssh_tries": 100,
        "ssh_timeout": 10,
        "libvirt_url": DEFAULT_LIBVIRT_URL,
        "default_vm_type": "default",
        "default_vm_provider": "local-libvirt",
        "lease_dir": "/var/lib/lago/subnets",
        "prefix_name": "current",
        "reposync_dir": "/var/lib/lago",
    },
    "init": {
        "template_repo_path": "http://templates.ovirt.org/repo/repo.metadata",
        "template_store": "/var/lib/lago/store",
        "template_repos": "/var/lib/lago/repos",
    },
}
