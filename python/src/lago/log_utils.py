"""Logging helpers at Lago's path ``lago.log_utils``."""

from __future__ import annotations

import logging

#: Lago's file log format.
FILE_FORMAT = "%(asctime)s::%(filename)s::%(funcName)s::%(lineno)s::%(name)s::%(levelname)s::%(message)s"


def setup_sdk_logging(logfile: "str | None" = None, loglevel: int = logging.INFO) -> None:
    """Root logger at DEBUG with a NullHandler; ``logfile`` gets records at
    ``loglevel`` and above (core records included, through lago._native)."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    root.addHandler(logging.NullHandler())
    if logfile:
        handler = logging.FileHandler(logfile)
        handler.setLevel(loglevel)
        handler.setFormatter(logging.Formatter(FILE_FORMAT))
        root.addHandler(handler)
