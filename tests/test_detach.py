"""``run --detach``: one pass, no waiting; the lockfile carries a batch across processes."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.errors import EXIT_FAILED, EXIT_IN_FLIGHT, EXIT_OK, EXIT_USAGE
from runner.sandbox import Sandbox, SandboxConfig, background
from tests.factory import validate_lockfile
from tests.netguard import no_network  # noqa: F401
from tests.test_run_cli import KEY, Cli, write_manifest

TASK = 10.0  # seconds of sandbox clock per task


class Clock:
    """The sandbox's clock, moved by hand: tasks end when the test says."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sandbox(clock: Clock) -> Iterator[Sandbox]:
    config = SandboxConfig(task_seconds=(TASK, TASK), queue_share=0.5, fail_prompt_marker="FAIL")
    box = Sandbox(config, clock=clock)
    with background(box) as url:
        box.url = url  # type: ignore[attr-defined]
        yield box


@pytest.fixture
def cli(sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.chdir(tmp_path)
    cli = Cli()
    cli.environ.update(LEMONDATA_API_KEY=KEY, LEMONDATA_BASE_URL=sandbox.url)  # type: ignore[attr-defined]
    return cli


def fresh_clone(previous: Path, folder: Path) -> Path:
    """A new checkout: the manifest and the lockfile only (no outputs, no journal)."""
    folder.mkdir()
    for name in ("shots.yaml", "shots.lock.json"):
        if (previous / name).exists():
            shutil.copy(previous / name, folder / name)
    return folder / "shots.yaml"


def test_detach_then_resume_in_fresh_clones(
    tmp_path: Path, cli: Cli, sandbox: Sandbox, clock: Clock
) -> None:
    (tmp_path / "first").mkdir()
    manifest = write_manifest(tmp_path / "first", 5)
    manifest.write_text(manifest.read_text().replace("concurrency: 4", "concurrency: 2"))
    codes = []
    folder = manifest.parent
    for number in range(12):
        codes.append(cli("run", str(manifest), "--detach"))
        assert "Traceback" not in cli.err
        if codes[-1] != EXIT_IN_FLIGHT:
            break
        assert sandbox.store.in_flight(clock.now) <= 2
        clock.now += TASK + 1
        manifest = fresh_clone(folder, tmp_path / f"clone{number}")
        folder = manifest.parent
    assert codes[-1] == EXIT_OK, cli.err
    assert codes[:-1] == [EXIT_IN_FLIGHT] * (len(codes) - 1)
    assert sandbox.counters.tasks_made == 5  # not one task submitted twice
    assert sandbox.store.max_in_flight == 2
    jobs = validate_lockfile(folder / "shots.lock.json")["jobs"]
    assert {entry["status"] for entry in jobs.values()} == {"completed"}
    assert {entry["attempts"] for entry in jobs.values()} == {1}
    assert cli("verify", str(manifest)) == EXIT_OK, cli.out
    assert "verify: 5 ok, 0 missing or changed" in cli.out


def test_in_flight_exit_code_and_status_times(
    tmp_path: Path, cli: Cli, sandbox: Sandbox, clock: Clock
) -> None:
    manifest = write_manifest(tmp_path, 2)
    assert cli("run", str(manifest), "--detach") == EXIT_IN_FLIGHT
    assert "detached: 2 job(s) still going; run again later" in cli.err
    assert sandbox.counters.polls == 0  # nothing waited for its tasks
    assert cli("status", str(manifest)) == 0
    assert "submitted 20" in cli.out and "last polled never" in cli.out
    clock.now += 1
    assert cli("run", str(manifest), "--detach") == EXIT_IN_FLIGHT
    assert sandbox.counters.polls == 2 and sandbox.counters.tasks_made == 2
    assert cli("status", str(manifest), "--json") == 0
    rows = json.loads(cli.out)["manifests"][0]["jobs"]
    assert all(row["submitted_at"] and row["last_polled_at"] for row in rows)
    assert cli("status", str(manifest)) == 0
    assert "last polled 20" in cli.out
    clock.now += TASK
    assert cli("run", str(manifest), "--detach") == EXIT_OK, cli.err
    assert cli("run", str(manifest), "--detach") == EXIT_OK  # nothing left to do
    assert sandbox.counters.tasks_made == 2


def test_a_failure_outranks_work_in_flight(
    tmp_path: Path, cli: Cli, sandbox: Sandbox, clock: Clock
) -> None:
    manifest = write_manifest(tmp_path, 2)
    text = manifest.read_text().replace("prompt: Shot 1", "prompt: Shot 1 FAIL")
    manifest.write_text(text.replace("concurrency: 4", "concurrency: 1"))
    assert cli("run", str(manifest), "--detach") == EXIT_IN_FLIGHT
    clock.now += TASK + 1
    # shot0 completes, shot1 is submitted; then it fails while nothing else is left.
    assert cli("run", str(manifest), "--detach") == EXIT_IN_FLIGHT
    clock.now += TASK + 1
    assert cli("run", str(manifest), "--detach") == EXIT_FAILED
    assert "1 completed, 1 failed" in cli.err


def test_detach_refuses_the_in_process_sandbox_and_force(tmp_path: Path, cli: Cli) -> None:
    manifest = write_manifest(tmp_path, 1)
    assert cli("run", str(manifest), "--detach", "--sandbox") == EXIT_USAGE
    assert "--detach needs an API that outlives the run" in cli.err
    assert cli("run", str(manifest), "--detach", "--force") == EXIT_USAGE
    assert "would resubmit every job on every pass" in cli.err
    assert not (tmp_path / "shots.lock.json").exists()
