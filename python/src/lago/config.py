"""``lago.config.config``: Lago's configuration (defaults → /etc/lago/lago.conf
→ XDG files → ``LAGO_*`` environment), read by lago-core."""

from __future__ import annotations

from typing import Any, Optional

from lago import _native


class ConfigLoad:
    """Lago's configuration object; values are strings, as in Lago."""

    def __init__(self) -> None:
        self._native: Optional[_native.Config] = None

    @property
    def native(self) -> _native.Config:
        """The lago-core configuration (loaded on first use)."""
        if self._native is None:
            self._native = _native.Config.load()
        return self._native

    def load(self) -> None:
        """Reloads files and environment."""
        self._native = _native.Config.load()

    def get(self, key: str, default: Any = None) -> Any:
        """Value of ``key`` in ``[lago]``, else ``default``."""
        value = self.native.get(key)
        return default if value is None else value

    def __getitem__(self, key: str) -> str:
        value = self.native.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def get_section(self, section: str) -> Optional[dict[str, str]]:
        """The values of ``section`` as a dict, or None."""
        pairs = self.native.section(section)
        return None if pairs is None else dict(pairs)

    def set(self, section: str, key: str, value: str) -> None:
        """Overrides ``key`` of ``section`` (this process only)."""
        self.native.set(section, key, value)

    def get_ini(self, incl_unset: bool = False, generated_at: str = "") -> str:
        """The INI text of the effective configuration."""
        return self.native.to_ini(incl_unset, generated_at)


#: The process's configuration, as Lago's ``lago.config.config``.
config = ConfigLoad()
