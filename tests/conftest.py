"""Shared pytest configuration."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (``@pytest.mark.anyio``) run on asyncio."""
    return "asyncio"


from tests.detach_support import clocked_cli, clocked_sandbox, hand_clock  # noqa: E402, F401
