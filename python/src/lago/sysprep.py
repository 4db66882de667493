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


def _render_template(distro: str, loader: Any, **kwargs: Any) -> str:
    """Renders ``sysprep-<distro>.j2`` (or ``sysprep-base.j2``) found by the
    Jinja2 ``loader`` with ``kwargs`` into a new temporary file, whose first
    line names the template used; returns the file's path (the caller
    removes it). Templates get the filter ``dedent``."""
    import jinja2

    env = jinja2.Environment(loader=loader, trim_blocks=True, lstrip_blocks=True)
    env.filters["dedent"] = textwrap.dedent
    template = env.select_template([f"sysprep-{distro}.j2", "sysprep-base.j2"])
    content = template.render(guestfs_ver=GUESTFS_VERSION, **kwargs)
    with tempfile.NamedTemporaryFile(mode="w", suffix=".sysprep", delete=False) as out:
        out.write(f"# {template.name}\n")
        out.write(content)
    LOGGER.debug("Generated sysprep commands at %s:\n%s", out.name, content)
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
        path = _render_template(distro, loader=loader, **kwargs)
        try:
            with open(path) as f:
                commands = f.read()
        finally:
            os.unlink(path)
    else:
        missing = [k for k in ("hostname", "root_password", "public_key") if k not in kwargs]
        if missing:
            raise TypeError(f"sysprep() without a loader needs {', '.join(missing)}")
        commands = _native.sysprep_commands(
            str(kwargs["hostname"]), str(kwargs["root_password"]), str(kwargs["public_key"])
        )
    os.environ.setdefault("LIBGUESTFS_BACKEND", backend)
    fd, work_file = tempfile.mkstemp(suffix=".sysprep")
    os.close(fd)
    _native.sysprep(disk, disk_format, commands, work_file)
