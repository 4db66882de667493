"""SSH names at Lago's import path ``lago.ssh`` (SSH itself runs in lago-core)."""

from __future__ import annotations

from lago._exc import LagoNativeError


class LagoSSHTimeoutException(LagoNativeError):
    """A guest did not answer SSH (or an operation timed out) in time."""

    kind = "timeout"
