"""Shared fixtures of the real-VM tests.

These tests talk to guests, so they must run inside the test host's network
namespace (tests/host/run). Outside it they fail rather than skip: a test run
that silently checks nothing is worse than a red one.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "bench"))

import floor  # noqa: E402


@pytest.fixture(scope="session")
def test_namespace() -> str:
    if not floor.in_test_namespace():
        pytest.fail(
            f"not inside network namespace {floor.NETNS}: run these tests as "
            "`tests/host/run python3 -m pytest tests` after tests/host/up"
        )
    return floor.NETNS


@pytest.fixture(scope="session")
def template_repo() -> Path:
    if not floor.IMAGE.exists():
        pytest.fail(f"{floor.IMAGE} missing: run tests/templates/build-tiny")
    return floor.REPO


@pytest.fixture(scope="session")
def template_metadata(template_repo: Path) -> dict:
    return json.loads((template_repo / "tiny.img.metadata").read_text())
