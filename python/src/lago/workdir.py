"""Workdir names at Lago's import path ``lago.workdir``."""

from __future__ import annotations

from typing import Optional

from lago._exc import LagoAlreadyExistsError


class WorkdirError(RuntimeError):
    """Base class of workdir errors."""


class PrefixNotFound(WorkdirError):
    """No such prefix in the workdir."""


class MalformedWorkdir(WorkdirError):
    """The workdir is not well formed."""


class PrefixAlreadyExists(WorkdirError):
    """Kept for old code; lago raises LagoPrefixAlreadyExistsError instead."""


class LagoPrefixAlreadyExistsError(LagoAlreadyExistsError):
    """A prefix of that name already exists (also: any 'already exists' error)."""

    kind = "already_exists"

    def __init__(self, prefix_name: str, workdir_path: Optional[str] = None) -> None:
        if workdir_path is None:
            super().__init__(prefix_name)
        else:
            super().__init__(f"prefix {prefix_name} already exists in {workdir_path}")
