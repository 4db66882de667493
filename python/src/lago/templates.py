"""Disk templates at Lago's path ``lago.templates``: template repositories
(a ``repo.metadata`` JSON file naming sources and templates), their
templates and versions, the file and HTTP providers, and the local store
that caches images. Reading and checking a repository, and fetching a
version into the store (download, hash check, conversion), run in lago-core;
these classes carry Lago's public names and signatures over it."""

from __future__ import annotations

import json
import logging
import os
import shutil
import urllib.request
from typing import Any, Optional, Union

from lago import _native
from lago.utils import LagoException

LOGGER = logging.getLogger(__name__)


class LagoMissingTemplateError(LagoException):
    """A template named in an init file is not in the repository."""

    def __init__(self, name: str, path: str) -> None:
        super().__init__(f"Image {name} doesn't exist in repo {path}")


def _expand(path: str) -> str:
    return os.path.expanduser(os.path.expandvars(path))


class FileSystemTemplateProvider:
    """Templates in a folder of the host (a ``file`` source; ``root`` may
    use ``~`` and ``$VARS``)."""

    def __init__(self, root: str) -> None:
        self._root = _expand(root)

    def _prefixed(self, *path: str) -> str:
        return os.path.join(self._root, *path)

    def download_image(self, handle: str, dest: str) -> None:
        """Copies the image ``handle`` to ``dest``."""
        shutil.copyfile(self._prefixed(handle), dest)

    def get_hash(self, handle: str) -> str:
        """The content of ``handle``'s ``.hash`` file."""
        with open(self._prefixed(_expand(handle) + ".hash")) as f:
            return f.read()

    def get_metadata(self, handle: str) -> Any:
        """The JSON of ``handle``'s ``.metadata`` file."""
        with open(self._prefixed(_expand(handle) + ".metadata")) as f:
            return json.load(f)


class HttpTemplateProvider:
    """Templates under an HTTP base URL (an ``http`` source)."""

    def __init__(self, baseurl: str) -> None:
        self.baseurl = baseurl

    def _url(self, handle: str, suffix: str = "") -> str:
        return self.baseurl.rstrip("/") + "/" + handle.lstrip("/") + suffix

    def open_url(self, url: str, suffix: str = "", dest: Optional[str] = None) -> Any:
        """Opens ``url`` (relative to the base URL) plus ``suffix``; with
        ``dest``, saves the body there."""
        full = self._url(url, suffix)
        try:
            response = urllib.request.urlopen(full)  # noqa: S310 - the repository's URL
        except OSError as exc:
            raise RuntimeError(f"Failed to retrieve URL {full}: {exc}") from exc
        if dest:
            with response, open(dest, "wb") as out:
                shutil.copyfileobj(response, out)
        return response

    def download_image(self, handle: str, dest: str) -> None:
        """Saves the image ``handle`` as ``dest``."""
        self.open_url(handle, dest=dest)

    def get_hash(self, handle: str) -> str:
        """The published hash of ``handle``."""
        with self.open_url(handle, ".hash") as response:
            return str(response.read().decode("utf-8"))

    def get_metadata(self, handle: str) -> Any:
        """The published metadata of ``handle``."""
        with self.open_url(handle, ".metadata") as response:
            return json.load(response)


Provider = Union[FileSystemTemplateProvider, HttpTemplateProvider]

#: Source types of ``repo.metadata`` and their providers.
_PROVIDERS: dict[str, Any] = {
    "file": FileSystemTemplateProvider,
    "http": HttpTemplateProvider,
}


class TemplateVersion:
    """One version of a template: ``name`` is ``repo:template:version``,
    the name of its image in a store."""

    def __init__(self, name: str, source: Provider, handle: str, timestamp: Any) -> None:
        self.name = name
        self._source = source
        self._handle = handle
        self._timestamp = timestamp
        self._hash: Optional[str] = None
        self._metadata: Any = None
        #: the repository's location (set by TemplateRepository)
        self._repo_path: Optional[str] = None

    def timestamp(self) -> Any:
        """The version's timestamp (seconds since the epoch)."""
        return self._timestamp

    def get_hash(self) -> str:
        """The version's published hash."""
        if self._hash is None:
            self._hash = self._source.get_hash(self._handle).strip()
        return self._hash

    def get_metadata(self) -> Any:
        """The version's published metadata."""
        if self._metadata is None:
            self._metadata = self._source.get_metadata(self._handle)
        return self._metadata

    def download(self, destination: str) -> None:
        """Copies the version's image (as published) to ``destination``."""
        self._source.download_image(self._handle, destination)


class Template:
    """A template of a repository and its versions by name."""

    def __init__(self, name: str, versions: dict[str, TemplateVersion]) -> None:
        self.name = name
        self._versions = versions

    def get_version(self, ver_name: Optional[str] = None) -> TemplateVersion:
        """Version ``ver_name``, or the newest when None."""
        if ver_name is None:
            return self.get_latest_version()
        return self._versions[ver_name]

    def get_latest_version(self) -> TemplateVersion:
        """The version with the newest timestamp."""
        return max(self._versions.values(), key=lambda v: v.timestamp())


class TemplateRepository:
    """A template repository: ``dom`` is its parsed ``repo.metadata``,
    ``path`` where it was read from."""

    def __init__(self, dom: dict[str, Any], path: str) -> None:
        self._dom = dom
        self._path = path
        self._providers: dict[str, Provider] = {
            name: self._get_provider(spec) for name, spec in dom.get("sources", {}).items()
        }

    @classmethod
    def from_url(cls, path: str) -> "TemplateRepository":
        """The repository at ``path`` (a file, a ``file://`` or an HTTP URL),
        read and checked by lago-core."""
        return cls(_native.template_repo(path), path)

    def _get_provider(self, spec: dict[str, Any]) -> Provider:
        provider: Provider = _PROVIDERS[spec["type"]](**spec["args"])
        return provider

    @property
    def name(self) -> str:
        """The repository's name."""
        return str(self._dom["name"])

    @property
    def path(self) -> str:
        """Where the repository was read from."""
        return self._path

    def get_by_name(self, name: str) -> Template:
        """Template ``name``; LagoMissingTemplateError if there is none."""
        spec = self._dom.get("templates", {}).get(name)
        if spec is None:
            raise LagoMissingTemplateError(name, self._path)
        versions: dict[str, TemplateVersion] = {}
        for ver_name, ver in spec["versions"].items():
            version = TemplateVersion(
                name=f"{self.name}:{name}:{ver_name}",
                source=self._providers[ver["source"]],
                handle=ver["handle"],
                timestamp=ver.get("timestamp"),
            )
            version._repo_path = self._path
            versions[ver_name] = version
        return Template(name=name, versions=versions)


def find_repo_by_name(name: str, repo_dir: Optional[str] = None) -> TemplateRepository:
    """The repository called ``name`` among the ``*.json`` files under
    ``repo_dir`` (default: the configured ``template_repos``); RuntimeError
    if none is."""
    if repo_dir is None:
        from lago.config import config

        repo_dir = config.native.get("template_repos", "init") or config.get("template_repos")
    if repo_dir is None:
        raise RuntimeError(f"Could not find repo {name}: no template_repos folder is configured")
    paths: list[str] = []
    for folder, _dirs, files in os.walk(repo_dir):
        paths.extend(os.path.join(folder, f) for f in files if f.endswith(".json"))
    for path in sorted(paths):
        repo = TemplateRepository.from_url(path)
        if repo.name == name:
            return repo
    raise RuntimeError(f"Could not find repo {name} (searched {len(paths)} *.json files under {repo_dir})")


class TemplateStore:
    """The local cache of template images at ``path`` (created if missing):
    ``repo:template:version`` files with their ``.hash`` and ``.metadata``."""

    def __init__(self, path: str) -> None:
        self._root = path
        os.makedirs(path, exist_ok=True)

    def _prefixed(self, *path: str) -> str:
        return os.path.join(self._root, *path)

    def __contains__(self, temp_ver: TemplateVersion) -> bool:
        return os.path.exists(self._prefixed(temp_ver.name))

    def get_path(self, temp_ver: TemplateVersion) -> str:
        """The image of ``temp_ver`` in the store; RuntimeError if absent."""
        if temp_ver not in self:
            raise RuntimeError(f"Template: {temp_ver.name} not present")
        return self._prefixed(temp_ver.name)

    def download(self, temp_ver: TemplateVersion, store_metadata: bool = True) -> None:
        """Fetches ``temp_ver`` into the store unless it is there (lago-core:
        lock, download, hash check, conversion to raw)."""
        if temp_ver._repo_path is None:
            raise RuntimeError(f"Template version {temp_ver.name} does not come from a repository")
        _repo, template, version = temp_ver.name.split(":", 2)
        _native.template_fetch(self._root, temp_ver._repo_path, template, version)

    def get_stored_metadata(self, temp_ver: TemplateVersion) -> Any:
        """The stored metadata of ``temp_ver``."""
        with open(self._prefixed(temp_ver.name + ".metadata")) as f:
            return json.load(f)

    def get_stored_hash(self, temp_ver: TemplateVersion) -> str:
        """The stored hash of ``temp_ver``."""
        with open(self._prefixed(temp_ver.name + ".hash")) as f:
            return f.read().strip()
