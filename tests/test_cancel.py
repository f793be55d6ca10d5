"""``vidbatch cancel`` against the sandbox: cancellable and uncancellable tasks."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import httpx
import pytest

from runner.api.client import ApiClient
from runner.api.ratelimit import RateLimiter
from runner.base.errors import EXIT_API_STOPPED, EXIT_FAILED, EXIT_IN_FLIGHT, EXIT_OK
from runner.lock.lockfile import LockStore
from runner.run.cancel import cancel_jobs
from runner.sandbox import Sandbox
from tests.detach_support import TASK, Clock
from tests.factory import validate_lockfile
from tests.netguard import no_network  # noqa: F401
from tests.test_run_cli import KEY, Cli

MANIFEST = """\
version: 1
run: {concurrency: 4, rate: 50}
output: {dir: renders, name: '${job}.mp4'}
jobs:
  - {id: running, model: seedance-2.0, prompt: already running}
  - {id: queued, model: seedance-2.0, prompt: still queued}
  - {id: sora, model: sora-2, prompt: a model that cannot cancel}
  - {id: done, model: seedance-2.0, prompt: finished long ago}
"""


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "shots.yaml"
    path.write_text(MANIFEST)
    return path


def test_cancel_cancellable_and_uncancellable_tasks(
    manifest: Path, clocked_cli: Cli, clocked_sandbox: Sandbox, hand_clock: Clock
) -> None:
    assert clocked_cli("run", str(manifest), "--detach", "--only", "done") == EXIT_IN_FLIGHT
    hand_clock.now += TASK + 1
    assert clocked_cli("run", str(manifest), "--detach", "--only", "done") == EXIT_OK
    assert clocked_cli("run", str(manifest), "--detach", "--only", "running") == EXIT_IN_FLIGHT
    hand_clock.now += TASK * 0.6  # past its queue: processing, no longer cancellable
    assert clocked_cli("run", str(manifest), "--detach") == EXIT_IN_FLIGHT
    assert clocked_cli("cancel", str(manifest)) == EXIT_IN_FLIGHT, clocked_cli.err
    assert "  cancelled      queued  task ldtask_" in clocked_cli.out
    assert (
        "not cancelled  running  Only a queued (pending) task can be cancelled" in clocked_cli.out
    )
    assert "not cancelled  sora  Tasks of sora-2 cannot be cancelled" in clocked_cli.out
    assert "1 cancelled, 2 not cancellable, 0 failed" in clocked_cli.out
    assert clocked_sandbox.counters.cancels == 3  # the completed job was left alone
    jobs = validate_lockfile(manifest.with_name("shots.lock.json"))["jobs"]
    assert jobs["queued"]["status"] == "failed" and jobs["queued"]["cancelled"] is True
    assert jobs["queued"]["error"]["code"] == "cancelled"
    assert jobs["running"]["status"] == "processing" and jobs["running"]["task_id"]
    assert jobs["sora"]["status"] == "pending" and "cancelled" not in jobs["sora"]
    assert clocked_cli("plan", str(manifest), "--json") == 0
    actions = {j["job"]: j["action"] for j in json.loads(clocked_cli.out)["plans"][0]["jobs"]}
    assert actions == {"running": "resume", "queued": "blocked", "sora": "resume", "done": "skip"}
    hand_clock.now += 1000
    made = clocked_sandbox.counters.tasks_made
    assert clocked_cli("run", str(manifest), "--detach") == EXIT_FAILED  # the cancelled job
    assert clocked_sandbox.counters.tasks_made == made  # never resubmitted by itself
    assert clocked_cli("status", str(manifest)) == 0
    assert "cancelled with vidbatch cancel" in clocked_cli.out and "; cancelled" in clocked_cli.out
    assert clocked_cli("cancel", str(manifest)) == EXIT_OK
    assert "(no task in flight)" in clocked_cli.out


def test_a_cancel_of_an_unknown_task_fails_and_keeps_the_id(
    manifest: Path, clocked_cli: Cli, clocked_sandbox: Sandbox
) -> None:
    assert clocked_cli("run", str(manifest), "--detach", "--only", "queued") == EXIT_IN_FLIGHT
    lock = manifest.with_name("shots.lock.json")
    doc = json.loads(lock.read_text())
    doc["jobs"]["queued"]["task_id"] = "ldtask_" + "0" * 32
    lock.write_text(json.dumps(doc))
    assert clocked_cli("cancel", str(manifest), "--only", "q*") == EXIT_FAILED
    assert "cancel failed  queued" in clocked_cli.out and "not found" in clocked_cli.out.lower()
    entry = validate_lockfile(lock)["jobs"]["queued"]
    assert entry["status"] == "pending" and entry["task_id"] == "ldtask_" + "0" * 32
    assert clocked_cli("cancel", str(manifest), "--only", "nothing*") == 2
    assert "no job key matches" in clocked_cli.err
    lock.unlink()
    assert clocked_cli("cancel", str(manifest)) == EXIT_OK
    assert "(no task in flight)" in clocked_cli.out and not lock.exists()


def test_a_refused_key_stops_the_cancel_with_exit_3(
    manifest: Path, clocked_cli: Cli, clocked_sandbox: Sandbox
) -> None:
    assert clocked_cli("run", str(manifest), "--detach", "--only", "queued") == EXIT_IN_FLIGHT
    clocked_sandbox.config = dataclasses.replace(clocked_sandbox.config, required_key=KEY)
    clocked_cli.environ["LEMONDATA_API_KEY"] = "sk-revoked"
    assert clocked_cli("cancel", str(manifest)) == EXIT_API_STOPPED
    assert (
        "the API refused the key (HTTP 401)" in clocked_cli.err
        and "Traceback" not in clocked_cli.err
    )
    assert "sk-revoked" not in clocked_cli.err + clocked_cli.out
    entry = validate_lockfile(manifest.with_name("shots.lock.json"))["jobs"]["queued"]
    assert entry["status"] == "pending" and entry["task_id"]


def test_a_task_cancelled_elsewhere_is_recorded_cancelled_and_not_resent(
    manifest: Path, clocked_cli: Cli, clocked_sandbox: Sandbox
) -> None:
    assert clocked_cli("run", str(manifest), "--detach", "--only", "queued") == EXIT_IN_FLIGHT
    lock = manifest.with_name("shots.lock.json")
    task_id = json.loads(lock.read_text())["jobs"]["queued"]["task_id"]
    url = clocked_sandbox.url  # type: ignore[attr-defined]
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}) as dashboard:
        assert dashboard.delete(f"/v1/tasks/{task_id}").status_code == 200
    assert clocked_cli("run", str(manifest), "--detach", "--only", "queued") == EXIT_FAILED
    entry = validate_lockfile(lock)["jobs"]["queued"]
    assert (entry["status"], entry["cancelled"], entry["task_id"]) == ("failed", True, task_id)
    assert clocked_cli("run", str(manifest), "--detach", "--only", "queued") == EXIT_FAILED
    assert clocked_sandbox.counters.tasks_made == 1
    assert clocked_cli("plan", str(manifest), "--only", "queued") == 0
    assert "blocked  queued  cancelled: not sent again unless --force" in clocked_cli.out


@pytest.mark.anyio
async def test_a_task_that_completed_before_its_cancel_is_kept(tmp_path: Path) -> None:
    done = {"id": "t1", "status": "completed", "video_url": "https://cdn.example.test/v.mp4"}
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        return httpx.Response(200, json=done)

    store = LockStore.open(tmp_path / "m.lock.json")
    entry = {"fingerprint": "sha256:" + "0" * 64, "request": {}, "seed": 1, "attempts": 1}
    await store.put("a", entry | {"status": "processing", "task_id": "t1", "outputs": []})
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = ApiClient(http, base_url="https://api.example.test", api_key=KEY,
                           limiter=RateLimiter(None))  # fmt: skip
        result = await cancel_jobs(store, client, ["a", "unknown"])
    await store.close()
    assert seen == ["DELETE /v1/tasks/t1"]
    assert (result.finished, result.cancelled, result.refused, result.failed) == (
        {"a": "completed"}, {}, {}, {}
    )  # fmt: skip
    kept = validate_lockfile(tmp_path / "m.lock.json")["jobs"]["a"]
    assert kept["status"] == "completed" and "cancelled" not in kept
    assert kept["outputs"][0]["url"] == "https://cdn.example.test/v.mp4"


def test_the_key_is_asked_for_only_when_a_task_is_in_flight(
    manifest: Path, clocked_cli: Cli, clocked_sandbox: Sandbox, hand_clock: Clock
) -> None:
    key = clocked_cli.environ.pop("LEMONDATA_API_KEY")
    assert clocked_cli("cancel", str(manifest)) == EXIT_OK, clocked_cli.err  # never run
    assert "(no task in flight)" in clocked_cli.out
    clocked_cli.environ["LEMONDATA_API_KEY"] = key
    assert clocked_cli("run", str(manifest), "--detach", "--only", "done") == EXIT_IN_FLIGHT
    del clocked_cli.environ["LEMONDATA_API_KEY"]
    assert clocked_cli("cancel", str(manifest), "--only", "queued") == EXIT_OK  # none of these
    assert clocked_cli("cancel", str(manifest)) == 2
    assert "LEMONDATA_API_KEY is not set" in clocked_cli.err
    assert clocked_sandbox.counters.cancels == 0
    entry = validate_lockfile(manifest.with_name("shots.lock.json"))["jobs"]["done"]
    assert entry["status"] in ("pending", "processing") and entry["task_id"]
