"""Reading a VM's disk with libguestfs, at Lago's path ``lago.guestfs_tools``.

This is Lago's public helper API for users and plugins that open disks
themselves: :func:`guestfs_conn_ro`, :func:`guestfs_conn_mount_ro`,
:func:`find_rootfs`, :func:`extract_paths` and :exc:`GuestFSError`. Lago's
own engine does not use it (lago-core collects and exports in Rust).

The handles come from :data:`guestfs`, libguestfs' Python bindings (Debian's
``python3-guestfs``, not on PyPI) when they import, else
:mod:`lago._guestfs_missing`, whose ``GuestFS`` raises one
:exc:`GuestFSError` naming the package to install. Every handle is created as
``guestfs.GuestFS(...)`` through this module attribute, so tests can patch
``lago.guestfs_tools.guestfs.GuestFS``. Failures of libguestfs calls
(``RuntimeError`` in the bindings) come out as :exc:`GuestFSError`.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import time
from types import ModuleType
from typing import Any, Iterable, Iterator, Tuple

from lago.plugins.vm import ExtractPathNoPathError
from lago.utils import LagoException

LOGGER = logging.getLogger(__name__)

#: An open libguestfs handle (``guestfs.GuestFS``); untyped, as the bindings are.
GuestFSHandle = Any


class GuestFSError(LagoException):
    """A libguestfs operation failed (or the bindings are not installed)."""


def _load_bindings() -> ModuleType:
    """The ``guestfs`` module, or our stand-in when it does not import."""
    try:
        return importlib.import_module("guestfs")
    except ImportError as exc:
        from lago import _guestfs_missing

        _guestfs_missing.import_error = str(exc)
        return _guestfs_missing


#: libguestfs' Python bindings, or :mod:`lago._guestfs_missing` without them.
guestfs = _load_bindings()


@contextlib.contextmanager
def guestfs_conn_ro(disk: str) -> Iterator[GuestFSHandle]:
    """Yield a launched libguestfs handle with ``disk`` added read-only.

    Environment variables in ``disk`` are expanded (unknown ones are left as
    written). The backend is ``$LIBGUESTFS_BACKEND``, ``direct`` when unset.
    The handle is shut down and closed when the block ends.

    Raises:
        GuestFSError: the appliance did not launch, or the bindings are
            missing.
    """
    handle = guestfs.GuestFS(python_return_dict=True)
    handle.add_drive_ro(os.path.expandvars(disk))
    handle.set_backend(os.environ.get("LIBGUESTFS_BACKEND") or "direct")
    try:
        handle.launch()
    except RuntimeError as err:
        LOGGER.debug("guestfs launch for %s: %s", disk, err)
        handle.close()
        raise GuestFSError(f"failed starting guestfs in readonly mode for disk: {disk}") from err
    try:
        yield handle
    finally:
        handle.shutdown()
        handle.close()


@contextlib.contextmanager
def guestfs_conn_mount_ro(
    disk_path: str, disk_root: str, retries: int = 5, wait: float = 1
) -> Iterator[GuestFSHandle]:
    """Yield a handle on ``disk_path`` with its root filesystem mounted
    read-only at ``/``.

    The root filesystem is found by :func:`find_rootfs` (``disk_root`` is
    the hint used when libguestfs cannot tell). Mounting the disk of a
    running guest can fail on an inconsistent filesystem, so a failed mount
    is tried again on a fresh handle, up to ``retries`` attempts in all,
    ``wait`` seconds apart. The filesystem is unmounted when the block ends
    without an error.

    Raises:
        GuestFSError: launching, finding the root filesystem, every mount
            attempt or the unmount failed.
    """
    if retries < 1:
        raise GuestFSError(f"guestfs_conn_mount_ro: retries must be at least 1, got {retries}")
    for attempt in range(1, retries + 1):
        with guestfs_conn_ro(disk_path) as handle:
            rootfs = find_rootfs(handle, disk_root)
            try:
                handle.mount_ro(rootfs, "/")
            except RuntimeError as err:
                if attempt == retries:
                    LOGGER.debug("guestfs mount of %s:%s: %s", disk_path, rootfs, err)
                    msg = f"failed mounting {disk_path}:{rootfs} using guestfs"
                    raise GuestFSError(msg) from err
                LOGGER.debug(
                    "failed mounting %s:%s using guestfs, attempt %s/%s: %s",
                    disk_path,
                    rootfs,
                    attempt,
                    retries,
                    err,
                )
            else:
                yield handle
                try:
                    handle.umount(rootfs)
                except RuntimeError as err:
                    LOGGER.debug("guestfs umount of %s:%s: %s", disk_path, rootfs, err)
                    msg = f"failed unmounting {disk_path}:{rootfs} using guestfs"
                    raise GuestFSError(msg) from err
                return
        time.sleep(wait)


def find_rootfs(conn: GuestFSHandle, disk_root: str) -> str:
    """The device of the root filesystem on the disk behind ``conn``.

    The one root libguestfs' inspection reports, if it reports exactly one;
    else ``disk_root`` if it is one of the disk's filesystems; else the first
    (sorted) filesystem whose name contains ``disk_root``.

    Raises:
        GuestFSError: no filesystem matches ``disk_root``.
    """
    roots = conn.inspect_os()
    if roots and len(roots) == 1:
        return str(roots[0])
    # a dict with python_return_dict=True, else a list of (device, type)
    filesystems = dict(conn.list_filesystems())
    if disk_root in filesystems:
        return disk_root
    matching = sorted(device for device in filesystems if disk_root in device)
    if not matching:
        raise GuestFSError(f"no root fs {disk_root} could be found from list {filesystems}")
    return str(matching[0])


def extract_paths(
    disk_path: str,
    disk_root: str,
    paths: Iterable[Tuple[str, str]],
    ignore_nopath: bool,
) -> None:
    """Copy ``(guest_path, host_path)`` pairs out of the disk at ``disk_path``.

    The disk is opened with :func:`guestfs_conn_mount_ro`. A guest file is
    downloaded to exactly ``host_path``; a guest directory is copied, itself
    and recursively, into the host directory ``host_path`` (libguestfs'
    ``copy_out``: ``/var/log`` lands as ``host_path/log``), which is created
    first when missing.

    Raises:
        ExtractPathNoPathError: a guest path does not exist and
            ``ignore_nopath`` is false (with it true, the path is skipped).
        GuestFSError: opening the disk or copying failed.
    """
    with guestfs_conn_mount_ro(disk_path, disk_root) as conn:
        for guest_path, host_path in paths:
            LOGGER.debug("Extracting guestfs://%s to %s", guest_path, host_path)
            try:
                _copy_path(conn, guest_path, host_path)
            except ExtractPathNoPathError as err:
                if not ignore_nopath:
                    raise
                LOGGER.debug("%s - ignoring", err)


def _copy_path(conn: GuestFSHandle, guest_path: str, host_path: str) -> None:
    """Copy one guest file or directory to the host."""
    if conn.is_file(guest_path, followsymlinks=True):
        kind, copy = "file", conn.download
    elif conn.is_dir(guest_path, followsymlinks=True):
        if not os.path.isdir(host_path):
            os.makedirs(host_path)
        kind, copy = "directory", conn.copy_out
    else:
        raise ExtractPathNoPathError(f"unable to extract {guest_path}: path does not exist.")
    try:
        copy(guest_path, host_path)
    except RuntimeError as err:
        msg = f"failed copying {kind} {guest_path} to {host_path} using guestfs: {err}"
        raise GuestFSError(msg) from err
