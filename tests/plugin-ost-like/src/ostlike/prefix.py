"""The plugin's Prefix, Paths and Workdir (like ovirtlago.prefix/paths)."""

from __future__ import annotations

from typing import Any

from lago.paths import Paths
from lago.prefix import Prefix
from lago.workdir import Workdir

from ostlike.virt import OstLikeVirtEnv


class OstLikePaths(Paths):
    """Adds the plugin's own folder."""

    def lab_dir(self) -> str:
        return self.prefixed("ostlike")


class OstLikePrefix(Prefix):
    """A prefix with the plugin's VirtEnv and Paths."""

    VIRT_ENV_CLASS = OstLikeVirtEnv

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.paths = OstLikePaths(self._prefix)

    def prepare_lab(self, label: str) -> None:
        """Records ``label`` in the prefix metadata and each node's spec
        metadata, then writes them back with ``save()`` (as ovirtlago's
        ``prepare_repo`` ends)."""
        import os

        os.makedirs(self.paths.lab_dir(), exist_ok=True)
        self.metadata["ostlike-lab"] = label
        for vm in self.virt_env.node_vms():
            vm._spec.setdefault("metadata", {})["ostlike-lab"] = label
        self.save()

    def _create_virt_env(self) -> OstLikeVirtEnv:
        return OstLikeVirtEnv.from_prefix(self)  # type: ignore[return-value]


class OstLikeWorkdir(Workdir):
    """A workdir opening OstLikePrefix prefixes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prefix_class = OstLikePrefix
