"""``lago.export``: Lago's disk export managers (``DiskExportManager`` and
its ``file``/``empty``/``template`` handlers, ``VMExportManager``) for
scripts that export disk dicts themselves. ``lago export`` and
``Prefix.export_vms`` do not come here: lago-core exports whole VMs. Each
step is one host tool, as in Lago: ``cp --sparse``, ``virt-sparsify``,
``qemu-img rebase``, ``xz``."""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
import time
from abc import ABC, abstractmethod
from typing import Any

from lago import utils
from lago.log_utils import LogTask

LOGGER = logging.getLogger(__name__)


def _run(cmd: list[str], what: str) -> None:
    result = utils.run_command(cmd)
    if result.code:
        raise utils.LagoException(f"{what} failed: {result.err.decode(errors='replace').strip()}")


class DiskExportManager(ABC):
    """Exports one disk (``disk``: its dict from the prefix's VM spec) into
    the folder ``dst``; ``do_compress`` adds an ``.xz`` of the image."""

    def __init__(self, dst: str, disk_type: str, disk: dict[str, Any], do_compress: bool) -> None:
        self.src = os.path.expandvars(disk["path"])
        self.name = os.path.basename(self.src)
        self.dst = os.path.join(os.path.expandvars(dst), self.name)
        self.dist_type = disk_type
        self.disk = disk
        self.exported_metadata: dict[str, Any] = copy.deepcopy(disk.get("metadata", {}))
        self.do_compress = do_compress

    @staticmethod
    def get_instance_by_type(
        dst: str, disk: dict[str, Any], do_compress: bool, *args: Any, **kwargs: Any
    ) -> "DiskExportManager":
        """The manager for ``disk['type']``; LagoUserException if none."""
        cls = HANDLERS.get(disk["type"])
        if cls is None:
            raise utils.LagoUserException(f"Export is not supported for disk type {disk['type']}")
        return cls(dst, disk["type"], disk, do_compress, *args, **kwargs)

    @abstractmethod
    def export(self) -> None:
        """Exports the disk."""

    def copy(self) -> None:
        """Copies the image, keeping it sparse."""
        with LogTask("Copying disk"):
            _run(["cp", "--sparse=always", self.src, self.dst], f"Copying {self.src}")

    def sparse(self) -> None:
        """Frees the image's unused space (``virt-sparsify --in-place``)."""
        with LogTask("Making disk sparse"):
            _run(["virt-sparsify", "-q", "--in-place", self.dst], f"Sparsifying {self.dst}")

    def calc_sha(self, checksum: str) -> None:
        """Writes ``<image>.hash`` and records it in the metadata."""
        with LogTask(f"Calculating {checksum}"):
            sha = utils.get_hash(self.dst, checksum)
            with open(self.dst + ".hash", "wt") as f:
                f.write(sha)
            self.exported_metadata[checksum] = sha

    def compress(self) -> None:
        """Replaces the image by its ``.xz`` (if ``do_compress``)."""
        if not self.do_compress:
            return
        with LogTask("Compressing disk"):
            _run(["xz", "--compress", "--keep", "--threads=0", "--block-size=16777216", self.dst], f"Compressing {self.dst}")
            os.unlink(self.dst)

    def update_lago_metadata(self) -> None:
        """Size, name and version of the exported image in the metadata."""
        with LogTask("Updating Lago metadata"):
            self.exported_metadata["size"] = os.stat(self.dst).st_size
            self.exported_metadata["name"] = self.name
            self.exported_metadata["version"] = time.strftime("%Y%m%d.0")

    def write_lago_metadata(self) -> None:
        """Writes ``<image>.metadata``."""
        with LogTask("Writing Lago metadata"):
            with open(self.dst + ".metadata", "wt") as f:
                json.dump(self.exported_metadata, f)

    def _export_steps(self, *steps: Any) -> None:
        with LogTask(f"Exporting disk {self.name} to {self.dst}"):
            with utils.RollbackContext() as rollback:
                rollback.prependDefer(shutil.rmtree, self.dst, ignore_errors=True)
                for step in steps:
                    step()
                rollback.clear()


class TemplateExportManager(DiskExportManager):
    """A ``template`` disk: an overlay on a store image, exported flat
    (``standalone``) or as a layer naming its base."""

    def __init__(self, dst: str, disk_type: str, disk: dict[str, Any], do_compress: bool, *args: Any, **kwargs: Any) -> None:
        super().__init__(dst, disk_type, disk, do_compress)
        self.standalone = bool(kwargs["standalone"])
        self.src_qemu_info = utils.get_qemu_info(self.src, backing_chain=True)

    def rebase(self) -> None:
        """Merges the base in (standalone) or points the layer at
        ``./<template>:<version>``."""
        with LogTask("Merging layered image with base" if self.standalone else "Rebase"):
            if len(self.src_qemu_info) == 1:
                return
            if self.standalone:
                utils.qemu_rebase(target=self.dst, backing_file="")
                return
            if len(self.src_qemu_info) > 2:
                raise utils.LagoUserException(
                    "Layered export is currently supported for one layer only.  You can try to use Standalone export."
                )
            parent = os.path.basename(self.src_qemu_info[0]["backing-filename"])
            parent = parent.split(":", 1)[1] if ":" in parent else parent
            utils.qemu_rebase(target=self.dst, backing_file=f"./{parent}", safe=False)

    def update_lago_metadata(self) -> None:
        super().update_lago_metadata()
        self.exported_metadata["base"] = "None" if self.standalone else os.path.basename(self.src)

    def export(self) -> None:
        self._export_steps(
            self.copy, self.sparse, self.rebase, lambda: self.calc_sha("sha1"),
            self.update_lago_metadata, self.write_lago_metadata, self.compress,
        )


class FileExportManager(DiskExportManager):
    """A ``file`` or ``empty`` disk: copied (ISO images are not sparsified)."""

    def __init__(self, dst: str, disk_type: str, disk: dict[str, Any], do_compress: bool, *args: Any, **kwargs: Any) -> None:
        super().__init__(dst, disk_type, disk, do_compress)

    def export(self) -> None:
        steps = [self.copy] + ([] if self.disk.get("format") == "iso" else [self.sparse])
        self._export_steps(
            *steps, lambda: self.calc_sha("sha1"), self.update_lago_metadata, self.write_lago_metadata, self.compress
        )


class VMExportManager:
    """Exports ``disks`` (minus those marked ``skip-export``) into ``dst``,
    in parallel threads unless ``with_threads`` is false; extra arguments go
    to each disk's manager (``standalone=`` for templates)."""

    def __init__(self, disks: list[dict[str, Any]], dst: str, compress: bool, with_threads: bool = True, *args: Any, **kwargs: Any) -> None:
        self._disks = disks
        self._dst = os.path.expandvars(os.path.realpath(dst))
        self._compress = compress
        self._with_threads = with_threads
        self._args = args
        self._kwargs = kwargs

    def _collect(self) -> list[dict[str, Any]]:
        return [d for d in self._disks if not d.get("skip-export")]

    def collect_paths(self) -> list[str]:
        """The images that would be exported."""
        return [os.path.expandvars(d["path"]) for d in self._collect()]

    def exported_disks_paths(self) -> list[str]:
        """Where the exported images go."""
        return [os.path.join(self._dst, os.path.basename(d["path"])) for d in self._collect()]

    def _get_export_mgr(self) -> list[DiskExportManager]:
        return [
            DiskExportManager.get_instance_by_type(self._dst, d, self._compress, *self._args, **self._kwargs)
            for d in self._collect()
        ]

    def export(self) -> list[str]:
        """Exports every disk; returns the exported images' paths."""
        managers = self._get_export_mgr()
        if self._with_threads:
            utils.invoke_different_funcs_in_parallel(*[m.export for m in managers])
        else:
            for m in managers:
                m.export()
        return self.exported_disks_paths()


#: Disk types and their export managers.
HANDLERS: dict[str, type[DiskExportManager]] = {
    "file": FileExportManager,
    "empty": FileExportManager,
    "template": TemplateExportManager,
}
