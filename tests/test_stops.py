"""Runs that stop early: 401, 402, Ctrl-C, timeouts; and resuming after them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio.lowlevel
import pytest

from runner.api.client import KeyRefused, NoBalance
from runner.lock.lockfile import IN_FLIGHT, LockStore
from runner.manifest.job import RunSettings
from runner.run.engine import Engine
from runner.run.plan import PlanOptions
from runner.run.session import Overrides
from tests.engine_support import run_engine, sandbox_for, statuses
from tests.factory import make_manifest, validate_lockfile
from tests.netguard import no_network  # noqa: F401

QUICK = (0.03, 0.08)


def settings(concurrency: int = 2, timeout: float = 30) -> RunSettings:
    return RunSettings(
        concurrency=concurrency, rate=0, timeout=timeout, poll_initial=0.02, poll_max=0.05
    )


def test_401_stops_the_run_and_records_nothing(tmp_path: Path) -> None:
    manifest = make_manifest(tmp_path, 4, run=settings())
    sandbox = sandbox_for(task_seconds=QUICK, required_key="sk-the-right-one")
    result = run_engine([manifest], sandbox)
    assert isinstance(result.outcome.stopped, KeyRefused)
    assert result.outcome.stopped.exit_code == 3
    assert sandbox.counters.tasks_made == 0
    assert sandbox.counters.creates <= 2
    assert validate_lockfile(manifest.default_lockfile())["jobs"] == {}


def test_402_stops_submitting_but_finishes_tasks_in_flight(tmp_path: Path) -> None:
    manifest = make_manifest(tmp_path, 10, run=settings(concurrency=3))
    sandbox = sandbox_for(task_seconds=(0.1, 0.2), create_errors={402: 0.3}, seed=11)
    result = run_engine([manifest], sandbox)
    assert isinstance(result.outcome.stopped, NoBalance)
    found = statuses(manifest.default_lockfile())
    assert set(found.values()) == {"completed"}
    assert sandbox.counters.tasks_made == len(found) < 10
    assert result.outcome.counts["not submitted"] == 10 - len(found)
    assert result.outcome.missing_outputs == 0
    refused = sandbox.counters.statuses["402"]
    assert sandbox.counters.creates == len(found) + refused


def test_timed_out_task_keeps_its_id_and_is_resumed(tmp_path: Path) -> None:
    manifest = make_manifest(tmp_path, 3, run=settings(concurrency=3, timeout=0.15))
    sandbox = sandbox_for(task_seconds=(0.6, 0.7))
    first = run_engine([manifest], sandbox)
    lock = manifest.default_lockfile()
    assert statuses(lock) == dict.fromkeys(["job0", "job1", "job2"], "timed_out")
    ids = {k: e["task_id"] for k, e in validate_lockfile(lock)["jobs"].items()}
    assert all(ids.values()) and not first.outcome.all_done
    second = run_engine([manifest], sandbox, overrides=Overrides(timeout=30))
    assert sandbox.counters.tasks_made == sandbox.counters.creates == 3
    assert second.creates == 3
    assert statuses(lock) == dict.fromkeys(["job0", "job1", "job2"], "completed")
    assert {k: e["task_id"] for k, e in validate_lockfile(lock)["jobs"].items()} == ids


def test_interrupt_saves_state_and_next_run_resumes(tmp_path: Path) -> None:
    manifest = make_manifest(tmp_path, 8, run=settings(concurrency=4))
    sandbox = sandbox_for(task_seconds=(0.3, 0.4))
    first = run_engine([manifest], sandbox, interrupt_after=3)
    assert first.outcome.interrupted
    lock = manifest.default_lockfile()
    doc = validate_lockfile(lock)
    assert 3 <= len(doc["jobs"]) <= 4
    for entry in doc["jobs"].values():
        assert entry["status"] in IN_FLIGHT and entry["task_id"]
    assert sandbox.counters.tasks_made == len(doc["jobs"])
    second = run_engine([manifest], sandbox)
    assert second.outcome.all_done
    assert sandbox.counters.tasks_made == sandbox.counters.creates == 8
    assert statuses(lock) == {f"job{i}": "completed" for i in range(8)}


def test_interrupt_while_an_intent_is_written_withdraws_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ctrl-C can land while the intent is being journaled, after it reached the
    # disk: no create was sent, so it must not be left to read as one in flight
    # (the close would make it uncertain, blocking the job).
    manifest = make_manifest(tmp_path, 4, run=settings(concurrency=1))
    sandbox = sandbox_for(task_seconds=(0.3, 0.4))
    real_put = LockStore.put
    engines: list[Engine] = []

    async def put(store: LockStore, key: str, entry: Mapping[str, Any]) -> None:
        await real_put(store, key, entry)
        if key == "job1" and entry.get("task_id") is None and entry.get("status") == "pending":
            engines[0].interrupt()
            await anyio.lowlevel.checkpoint()  # the cancellation comes here, inside the put

    monkeypatch.setattr(LockStore, "put", put)
    monkeypatch.setattr(Engine, "run", _remembering(Engine.run, engines))
    first = run_engine([manifest], sandbox)
    assert first.outcome.interrupted
    doc = validate_lockfile(manifest.default_lockfile())
    assert set(doc["jobs"]) == {"job0"}  # job1's intent withdrawn, nothing left uncertain
    assert sandbox.counters.creates == 1
    monkeypatch.undo()
    second = run_engine([manifest], sandbox)
    assert second.outcome.all_done
    assert sandbox.counters.tasks_made == sandbox.counters.creates == 4


def _remembering(run: Any, engines: list[Engine]) -> Any:
    async def remembered(engine: Engine, *args: Any, **kwargs: Any) -> Any:
        engines.append(engine)
        return await run(engine, *args, **kwargs)

    return remembered


def test_full_run_removes_jobs_gone_from_the_manifest(tmp_path: Path) -> None:
    manifest = make_manifest(tmp_path, 3, run=settings())
    sandbox = sandbox_for(task_seconds=QUICK)
    run_engine([manifest], sandbox)
    smaller = make_manifest(tmp_path, 2, run=settings())
    run_engine([smaller], sandbox, options=PlanOptions(only=("job0",)))
    assert set(statuses(manifest.default_lockfile())) == {"job0", "job1", "job2"}
    run_engine([smaller], sandbox)
    assert set(statuses(manifest.default_lockfile())) == {"job0", "job1"}
    assert sandbox.counters.tasks_made == 3


def test_only_and_force(tmp_path: Path) -> None:
    manifest = make_manifest(tmp_path, 3, run=settings())
    sandbox = sandbox_for(task_seconds=QUICK)
    run_engine([manifest], sandbox, options=PlanOptions(only=("job[01]",)))
    assert set(statuses(manifest.default_lockfile())) == {"job0", "job1"}
    run_engine([manifest], sandbox, options=PlanOptions(only=("job1",), force=True))
    doc = validate_lockfile(manifest.default_lockfile())
    assert doc["jobs"]["job1"]["attempts"] == 2 and doc["jobs"]["job0"]["attempts"] == 1
    assert sandbox.counters.tasks_made == 3


def test_a_local_input_changed_since_validation_fails_the_job(tmp_path: Path) -> None:
    from runner.manifest.job import LocalFile
    from tests.factory import make_job

    image = tmp_path / "in.png"
    image.write_bytes(b"\x89PNG one")
    local = LocalFile("in.png", image, "0" * 64, "image/png", 8)  # sha256 no longer matches
    job = make_job("pic", 0, operation="image-to-video", image_url=local)
    manifest = make_manifest(tmp_path, run=settings(), jobs=(job,))
    sandbox = sandbox_for(task_seconds=QUICK)
    result = run_engine([manifest], sandbox)
    entry = validate_lockfile(manifest.default_lockfile())["jobs"]["pic"]
    assert entry["status"] == "failed" and entry["task_id"] is None
    assert "changed or is unreadable" in entry["error"]["message"]
    assert entry["request"]["image_url"] == {"path": "in.png", "sha256": "0" * 64}
    assert sandbox.counters.creates == 0 and result.outcome.counts == {"failed": 1}
