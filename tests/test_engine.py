"""The engine against the in-process sandbox, with faults injected."""

from __future__ import annotations

import json
from pathlib import Path

from runner.manifest.job import RunSettings
from runner.run.plan import PlanOptions
from tests.engine_support import KEY, run_engine, sandbox_for, statuses
from tests.factory import make_job, make_manifest, validate_lockfile
from tests.netguard import no_network  # noqa: F401

FAST_RUN = RunSettings(concurrency=4, rate=0, timeout=30, poll_initial=0.02, poll_max=0.1)
QUICK = (0.03, 0.08)


def keys(count: int) -> list[str]:
    return [f"job{i}" for i in range(count)]


def task_ids(lock: Path) -> dict[str, str]:
    return {k: e["task_id"] for k, e in validate_lockfile(lock)["jobs"].items() if e["task_id"]}


def assert_secret_kept(tmp_path: Path, result: object) -> None:
    for file in tmp_path.rglob("*.json"):
        assert KEY not in file.read_text()
    events = json.dumps([e.as_json() for e in result.reporter.events])  # type: ignore[attr-defined]
    assert KEY not in events
    assert result.sandbox.counters.file_requests_with_authorization == 0  # type: ignore[attr-defined]


def test_happy_path_completes_and_downloads(tmp_path: Path) -> None:
    manifest = make_manifest(tmp_path, 5, run=FAST_RUN)
    result = run_engine([manifest], sandbox_for(task_seconds=QUICK))
    lock = manifest.default_lockfile()
    assert statuses(lock) == dict.fromkeys(keys(5), "completed")
    assert result.sandbox.counters.tasks_made == result.creates == 5
    assert result.outcome.all_done
    doc = validate_lockfile(lock)
    for key, entry in doc["jobs"].items():
        (output,) = entry["outputs"]
        assert output["path"] == f"out/{key}.mp4"
        assert (tmp_path / output["path"]).stat().st_size == output["bytes"]
        assert output["width"] and output["height"] and output["duration"]
        assert entry["attempts"] == 1
    assert all(s.authorization is None for s in result.files.seen)
    assert all(s.authorization == f"Bearer {KEY}" for s in result.api.seen)
    assert_secret_kept(tmp_path, result)
    assert not list(tmp_path.glob("*.journal")) and not list(tmp_path.glob("*.lock"))


def test_second_run_sends_nothing(tmp_path: Path) -> None:
    manifest = make_manifest(tmp_path, 3, run=FAST_RUN)
    sandbox = sandbox_for(task_seconds=QUICK)
    run_engine([manifest], sandbox)
    before = manifest.default_lockfile().read_text()
    again = run_engine([manifest], sandbox)
    assert again.api.seen == [] and again.files.seen == []
    assert manifest.default_lockfile().read_text() == before
    assert again.outcome.all_done


def test_concurrency_limit_holds_across_manifests(tmp_path: Path) -> None:
    run = RunSettings(concurrency=3, rate=0, timeout=30, poll_initial=0.02, poll_max=0.05)
    one = make_manifest(tmp_path / "a", 6, run=run)
    two = make_manifest(tmp_path / "b", 6, run=run)
    result = run_engine([one, two], sandbox_for(task_seconds=(0.05, 0.15)))
    counters = result.sandbox.record()["counters"]
    assert counters["max_in_flight"] <= 3
    assert result.engine.peak_in_flight == 3
    assert result.sandbox.counters.tasks_made == 12
    assert statuses(one.default_lockfile()) == dict.fromkeys(keys(6), "completed")
    assert statuses(two.default_lockfile()) == dict.fromkeys(keys(6), "completed")


def test_rate_limit_storm_with_retry_after(tmp_path: Path) -> None:
    manifest = make_manifest(tmp_path, 6, run=FAST_RUN)
    sandbox = sandbox_for(task_seconds=QUICK, rate_limit=40, rate_burst=2)
    result = run_engine([manifest], sandbox)
    assert sandbox.counters.rate_limited > 0
    assert statuses(manifest.default_lockfile()) == dict.fromkeys(keys(6), "completed")
    assert sandbox.counters.tasks_made == 6
    assert result.outcome.all_done


def test_injected_429_and_5xx_are_retried_without_duplicates(tmp_path: Path) -> None:
    manifest = make_manifest(tmp_path, 8, run=FAST_RUN)
    sandbox = sandbox_for(
        task_seconds=QUICK,
        create_errors={429: 0.2, 500: 0.15, 502: 0.1, 503: 0.1},
        poll_errors={429: 0.1, 500: 0.2, 502: 0.1, 504: 0.1},
        seed=3,
    )
    result = run_engine([manifest], sandbox)
    assert sandbox.counters.injected_errors > 0
    assert statuses(manifest.default_lockfile()) == dict.fromkeys(keys(8), "completed")
    assert sandbox.counters.tasks_made == 8
    assert result.outcome.all_done


def test_dropped_or_timed_out_creates_become_uncertain(tmp_path: Path) -> None:
    manifest = make_manifest(tmp_path, 12, run=FAST_RUN)
    sandbox = sandbox_for(
        task_seconds=QUICK,
        create_drop_before=0.2,
        create_drop_after=0.2,
        create_timeout_after=0.2,
        seed=5,
    )
    result = run_engine([manifest], sandbox)
    lock = manifest.default_lockfile()
    found = statuses(lock)
    uncertain = [k for k, s in found.items() if s == "uncertain"]
    dropped = sandbox.counters.statuses["dropped"] + sandbox.counters.statuses["504"]
    assert len(uncertain) == dropped > 0
    assert sandbox.counters.creates == 12  # not one create was sent twice
    completed = [k for k, s in found.items() if s == "completed"]
    assert len(completed) + len(uncertain) == 12
    assert not result.outcome.all_done
    doc = validate_lockfile(lock)
    for key in uncertain:
        assert doc["jobs"][key]["task_id"] is None
        assert "--resubmit-uncertain" in doc["jobs"][key]["error"]["message"]

    again = run_engine([manifest], sandbox)
    assert again.creates == 12 and again.api.seen == []
    assert statuses(lock)[uncertain[0]] == "uncertain"

    healthy = sandbox_for(task_seconds=QUICK)
    resubmitted = run_engine([manifest], healthy, options=PlanOptions(resubmit_uncertain=True))
    assert healthy.counters.tasks_made == len(uncertain)
    assert resubmitted.outcome.all_done
    assert validate_lockfile(lock)["jobs"][uncertain[0]]["attempts"] == 2


def test_dropped_and_malformed_polls_are_retried(tmp_path: Path) -> None:
    manifest = make_manifest(tmp_path, 6, run=FAST_RUN)
    sandbox = sandbox_for(task_seconds=QUICK, poll_drop=0.25, poll_malformed=0.25, seed=7)
    result = run_engine([manifest], sandbox)
    assert sandbox.counters.malformed > 0 and sandbox.counters.drops
    assert statuses(manifest.default_lockfile()) == dict.fromkeys(keys(6), "completed")
    assert sandbox.counters.tasks_made == sandbox.counters.creates == 6
    assert result.outcome.all_done


def test_failing_task_is_recorded_and_retried_with_same_seed(tmp_path: Path) -> None:
    run = RunSettings(
        concurrency=2, rate=0, timeout=30, poll_initial=0.02, poll_max=0.05, retry_failed=2
    )
    jobs = (make_job("ok", 0), make_job("bad", 1, prompt="FAIL please"))
    manifest = make_manifest(tmp_path, run=run, jobs=jobs)
    sandbox = sandbox_for(task_seconds=QUICK, fail_prompt_marker="FAIL")
    result = run_engine([manifest], sandbox)
    doc = validate_lockfile(manifest.default_lockfile())
    bad = doc["jobs"]["bad"]
    assert bad["status"] == "failed"
    assert bad["attempts"] == 3
    assert bad["error"]["code"] == "generation_failed"
    assert bad["error"]["message"] == "Video generation failed upstream"
    assert bad["seed"] == 2 and bad["request"]["seed"] == 2
    assert sandbox.counters.tasks_made == 4
    assert doc["jobs"]["ok"]["status"] == "completed"
    assert result.outcome.counts == {"completed": 1, "failed": 1}
    assert result.reporter.kinds("bad").count("submitted") == 3


def test_random_seed_is_drawn_once_and_reused(tmp_path: Path) -> None:
    run = RunSettings(
        concurrency=1, rate=0, timeout=30, poll_initial=0.02, poll_max=0.05, retry_failed=1
    )
    job = make_job("lucky", 0, seed_mode="random", prompt="FAIL")
    manifest = make_manifest(tmp_path, run=run, jobs=(job,))
    sandbox = sandbox_for(task_seconds=QUICK, fail_prompt_marker="FAIL")
    first = run_engine([manifest], sandbox)
    entry = validate_lockfile(manifest.default_lockfile())["jobs"]["lucky"]
    assert isinstance(entry["seed"], int)
    assert [b["seed"] for b in first.sent_bodies()] == [entry["seed"]] * 2
    assert entry["request"]["seed"] == entry["seed"]
    second = run_engine([manifest], sandbox)  # failed: rerun, with the same seed
    assert [b["seed"] for b in second.sent_bodies()] == [entry["seed"]] * 2
    assert validate_lockfile(manifest.default_lockfile())["jobs"]["lucky"]["attempts"] == 4
