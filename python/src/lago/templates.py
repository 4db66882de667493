"""Template errors at Lago's path ``lago.templates`` (repositories and the
template store are handled by lago-core)."""

from __future__ import annotations

from lago.utils import LagoException


class LagoMissingTemplateError(LagoException):
    """A template named in an init file is not in the repository."""

    def __init__(self, name: str, path: str) -> None:
        super().__init__(f"Image {name} doesn't exist in repo {path}")
