"""Bootstrapping a disk with virt-sysprep at Lago's path ``lago.sysprep``.

lago-core bootstraps VMs itself at init (hostname, root password, the
prefix's SSH key). This module keeps Lago's functions for code that runs
virt-sysprep on a disk of its own: :func:`sysprep` with lago-core's commands,
or with commands rendered from the caller's Jinja2 templates
(``sysprep-<distro>.j2``, else ``sysprep-base.j2``; Jinja2 is needed only
then).
"""

from __future__ import annotations

import logging
import os
import tempfile
import textwrap
from typing import Any, Optional

from lago import _native

LOGGER = logging.getLogger(__name__)

#: libguestfs version handed to templates as ``guestfs_ver`` (the tools
#: lago-core runs are 1.34 or later, which have ``ssh-inject``).
GUESTFS_VERSION = {"major": 1, "minor": 34}


def _render(distro: str, loader: Any, **kwargs: Any) -> str:
    """The commands ``sysprep-<distro>.j2`` (or ``sysprep-base.j2``) found by
    the Jinja2 ``loader`` renders with ``kwargs``, after a first line naming
    the template used. Templates get the filter ``dedent``."""
    import jinja2

    env = jinja2.Environment(loader=loader, trim_blocks=True, lstrip_blocks=True)
    env.filters["dedent"] = textwrap.dedent
    template = env.select_template([f"sysprep-{distro}.j2", "sysprep-base.j2"])
    content = template.render(guestfs_ver=GUESTFS_VERSION, **kwargs)
    return f"# {template.name}\n{content}"


def _render_template(distro: str, loader: Any, **kwargs: Any) -> str:
    """Lago's helper: :func:`_render` into a new temporary file (mode 0600);
    returns the file's path (the caller removes it). :func:`sysprep` itself
    renders in memory: the commands hold the root password."""
    content = _render(distro, loader, **kwargs)
    with tempfile.NamedTemporaryFile(mode="w", suffix=".sysprep", delete=False) as out:
        out.write(content)
    LOGGER.debug("Generated sysprep commands at %s", out.name)
    return out.name


def sysprep(
    disk: str,
    distro: str,
    loader: Optional[Any] = None,
    backend: str = "direct",
    *,
    disk_format: str = "qcow2",
    **kwargs: Any,
) -> None:
    """Runs virt-sysprep on ``disk``.

    With a Jinja2 ``loader`` the commands are rendered from its templates
    with ``kwargs``; without one they are lago-core's (``hostname``,
    ``root_password`` and ``public_key`` from ``kwargs``). ``backend`` is
    the libguestfs backend used when ``LIBGUESTFS_BACKEND`` is not set.
    Failures raise lago-core's disk error (a :class:`lago.utils.LagoException`).
    """
    if loader is not None:
        commands = _render(distro, loader, **kwargs)
    else:
        missing = [k for k in ("hostname", "root_password", "public_key") if k not in kwargs]
        if missing:
            raise TypeError(f"sysprep() without a loader needs {', '.join(missing)}")
        commands = _native.sysprep_commands(
            str(kwargs["hostname"]), str(kwargs["root_password"]), str(kwargs["public_key"])
        )
    os.environ.setdefault("LIBGUESTFS_BACKEND", backend)
    # the commands (root's password among them) go through a file next to
    # the disk, never in the temp folder; lago-core creates it 0600 and
    # always removes it
    folder, name = os.path.split(os.path.abspath(disk))
    work_file = os.path.join(folder, f".{name}.sysprep-{os.getpid()}")
    _native.sysprep(disk, disk_format, commands, work_file)
