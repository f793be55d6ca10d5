"""A sandbox served on loopback with a clock moved by hand, and a CLI pointed at it.

Tasks end when a test moves the clock, so detached runs (which never wait) can
be driven pass by pass. The fixtures are registered in ``tests/conftest.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.sandbox import Sandbox, SandboxConfig, background
from tests.test_run_cli import KEY, Cli

TASK = 10.0  # seconds of sandbox clock per task; the first half queued (cancellable)


class Clock:
    """The sandbox's clock: ``now`` moves only when a test moves it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def hand_clock() -> Clock:
    return Clock()


@pytest.fixture
def clocked_sandbox(hand_clock: Clock) -> Iterator[Sandbox]:
    config = SandboxConfig(task_seconds=(TASK, TASK), queue_share=0.5, fail_prompt_marker="FAIL")
    box = Sandbox(config, clock=hand_clock)
    with background(box) as url:
        box.url = url  # type: ignore[attr-defined]
        yield box


@pytest.fixture
def clocked_cli(clocked_sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """``vidbatch`` in process, in ``tmp_path``, with a key and the sandbox's URL."""
    monkeypatch.chdir(tmp_path)
    cli = Cli()
    url = clocked_sandbox.url  # type: ignore[attr-defined]
    cli.environ.update(LEMONDATA_API_KEY=KEY, LEMONDATA_BASE_URL=url)
    return cli
