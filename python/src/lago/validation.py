"""``lago.validation``: checks of the host Lago's optional features need."""

from __future__ import annotations

import importlib.util
import logging

LOGGER = logging.getLogger(__name__)


def check_import(module_name: str) -> bool:
    """True if module ``module_name`` can be found for import (it is not
    imported)."""
    try:
        return importlib.util.find_spec(module_name) is not None
    except (ImportError, ValueError):
        return False
