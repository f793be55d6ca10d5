"""Shared pytest configuration."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (``@pytest.mark.anyio``) run on asyncio."""
    return "asyncio"


from tests.detach_support import clocked_cli, clocked_sandbox, hand_clock  # noqa: E402, F401


@pytest.fixture(autouse=True, scope="session")
def _no_cache_outside_tests() -> Iterator[None]:
    """Tests give vidbatch a HOME of "/nonexistent" where it must write nothing; as
    root that folder can be created, and a cache written there would leak from one
    test (or run) into the next, so the session fails if one appears."""
    home = Path("/nonexistent")
    existed = home.exists()
    yield
    if not existed and home.exists():
        pytest.fail(f"a test wrote under {home}: give it a HOME of its own (tmp_path)")
