"""The planner: every action, the fields that changed, --only, --force, seeds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runner.lock.lockfile import intent_entry
from runner.run.plan import PlanOptions, changed_fields, make_plan, seed_for
from tests.factory import make_job, make_manifest
from tests.netguard import no_network  # noqa: F401


def entry(key: str, index: int, status: str, **fields: Any) -> dict[str, Any]:
    job = make_job(key, index)
    return intent_entry(job, index + 1, 1) | {"status": status, "task_id": f"t{index}"} | fields


def actions(tmp_path: Path, jobs: dict[str, Any], **options: Any) -> dict[str, tuple[str, str]]:
    manifest = make_manifest(tmp_path, 7)
    plan = make_plan(
        manifest, tmp_path / "demo.lock.json", {"version": 1, "jobs": jobs}, PlanOptions(**options)
    )
    return {item.key: (item.action, item.reason) for item in plan.items}


def test_every_action(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir(parents=True)
    (tmp_path / "out" / "job1.mp4").write_bytes(b"x")
    done = {"url": "u", "path": "out/job1.mp4", "sha256": "0" * 64, "bytes": 1}
    gone = {"url": "u", "path": "out/job2.mp4", "sha256": "0" * 64, "bytes": 1}
    changed = entry("job3", 3, "completed")
    changed["request"] = dict(changed["request"], prompt="old", duration=10)
    changed["fingerprint"] = "sha256:" + "1" * 64
    jobs = {
        "job1": entry("job1", 1, "completed", outputs=[done]),
        "job2": entry("job2", 2, "completed", outputs=[gone]),
        "job3": changed,
        "job4": entry("job4", 4, "processing"),
        "job5": entry("job5", 5, "failed"),
        "job6": entry("job6", 6, "uncertain", task_id=None),
        "old": entry("old", 9, "completed"),
    }
    assert actions(tmp_path, jobs) == {
        "job0": ("submit", "new"),
        "job1": ("skip", "completed"),
        "job2": ("download", "completed; output missing on disk"),
        "job3": ("rerun", "changed: duration, prompt"),
        "job4": ("resume", "processing task t4"),
        "job5": ("rerun", "failed last time"),
        "job6": (
            "blocked",
            "uncertain: the create may have made a task; --resubmit-uncertain sends it again",
        ),
        "old": ("remove", "no longer in the manifest"),
    }


def test_flags(tmp_path: Path) -> None:
    jobs = {
        "job1": entry("job1", 1, "completed"),
        "job6": entry("job6", 6, "pending", task_id=None),  # an orphaned intent
    }
    found = actions(tmp_path, jobs, only=("job[16]",), force=True, resubmit_uncertain=True)
    assert found == {
        "job1": ("rerun", "forced (--force)"),
        "job6": ("rerun", "uncertain (--resubmit-uncertain)"),
    }
    assert actions(tmp_path, jobs, only=("job6",))["job6"][0] == "blocked"


def test_timed_out_is_resumed(tmp_path: Path) -> None:
    found = actions(tmp_path, {"job1": entry("job1", 1, "timed_out")}, only=("job1",))
    assert found == {"job1": ("resume", "timed_out task t1")}


def test_changed_fields() -> None:
    old = {"prompt": "a", "seed": 1, "image_url": {"path": "x.png", "sha256": "1"}}
    new = {"prompt": "a", "seed": 2, "image_url": {"path": "x.png", "sha256": "2"}, "fps": 24}
    assert changed_fields(old, new) == ["fps", "image_url", "seed"]


def test_seed_for() -> None:
    fixed = make_job("a", 4)
    assert seed_for(fixed, None) == 5
    lucky = make_job("b", 0, seed_mode="random")
    assert seed_for(lucky, {"seed": 77}) == 77
    drawn = seed_for(lucky, None)
    assert isinstance(drawn, int) and 0 <= drawn < 2**31
