"""Lockfile entries of the wrong shape are repaired as they load, never trusted or fatal."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from runner.base import schema
from runner.lock.lockentry import NO_FINGERPRINT, repair

GOOD: dict[str, Any] = {
    "fingerprint": "sha256:" + "a" * 64,
    "request": {"model": "m", "prompt": "p"},
    "seed": 1,
    "status": "completed",
    "task_id": "ldtask_01",
    "poll_url": "/v1/tasks/ldtask_01",
    "submitted_at": "2026-01-01T00:00:00Z",
    "finished_at": "2026-01-01T00:01:00Z",
    "attempts": 1,
    "outputs": [
        {
            "url": "https://cdn.example.test/0.mp4",
            "path": "renders/a.mp4",
            "sha256": "b" * 64,
            "bytes": 10,
            "width": 1280,
            "height": 720,
            "duration": 5.0,
        }
    ],
    "error": None,
}


def test_a_good_entry_is_left_alone() -> None:
    jobs = {"a": copy.deepcopy(GOOD)}
    assert repair(jobs) == []
    assert jobs == {"a": GOOD}
    cancelled = GOOD | {"status": "failed", "cancelled": True}
    polled = GOOD | {"status": "processing", "last_polled_at": "2026-01-01T00:00:30Z"}
    jobs = {"c": copy.deepcopy(cancelled), "p": copy.deepcopy(polled)}
    assert repair(jobs) == [] and jobs == {"c": cancelled, "p": polled}
    validate_lockfile_doc({"version": 1, "jobs": jobs})


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"fingerprint": 5}, {"fingerprint": NO_FINGERPRINT}),
        ({"request": [1]}, {"request": {}}),
        ({"seed": "x"}, {"seed": None}),
        ({"seed": True}, {"seed": None}),
        ({"poll_url": "/v1/tasks/x\r\nX: 1"}, {"poll_url": None}),
        ({"status": "weird"}, {"status": "timed_out"}),  # a task id: resumed
        ({"status": ["completed"]}, {"status": "timed_out"}),
        ({"status": "weird", "task_id": None}, {"status": "uncertain"}),
        ({"submitted_at": "yesterday"}, {"submitted_at": None}),
        ({"attempts": "many"}, {"attempts": 0}),
        ({"attempts": -1}, {"attempts": 0}),
        ({"progress": 250}, {}),
        ({"cancelled": "yes"}, {}),
        ({"cancelled": 1}, {}),
        ({"last_polled_at": "a minute ago"}, {}),
        ({"outputs": {"a": 1}}, {"outputs": []}),
        ({"error": "boom"}, {"error": {"message": "boom"}}),
        ({"error": {"message": ["x"], "code": 1.5}}, {"error": {"message": "unreadable: a list",
                                                               "code": None}}),
    ],
)  # fmt: skip
def test_invalid_values_are_dropped_and_said(change: dict[str, Any], expected: Any) -> None:
    entry = copy.deepcopy(GOOD) | change
    jobs = {"a": entry}
    problems = repair(jobs)
    assert len(problems) == 1 and problems[0].startswith("a: invalid ")
    wanted = copy.deepcopy(GOOD) | change | expected
    for dropped in ("progress", "cancelled", "last_polled_at"):
        wanted.pop(dropped, None)
    assert jobs["a"] == wanted
    validate_lockfile_doc({"version": 1, "jobs": jobs})


@pytest.mark.parametrize("task_id", ["a\nb", "x" * 300, 12, {"id": "t"}, "", ".."])
def test_an_unusable_task_id_blocks_the_job_with_a_clear_error(task_id: Any) -> None:
    jobs = {"a": copy.deepcopy(GOOD) | {"task_id": task_id, "status": "processing"}}
    assert repair(jobs) == ["a: invalid task_id in the lockfile, ignored"]
    entry = jobs["a"]
    assert (entry["task_id"], entry["poll_url"], entry["status"]) == (None, None, "uncertain")
    assert (
        "task_id" in entry["error"]["message"]
        and "--resubmit-uncertain" in entry["error"]["message"]
    )


def test_outputs_keep_what_is_valid() -> None:
    outputs = [
        "not an object",
        {"url": "https://cdn\r\n.example/x"},
        {"url": "https://cdn.example.test/1.mp4", "width": "wide", "duration": "5",
         "sha256": "nothex", "bytes": -1, "path": 7},
    ]  # fmt: skip
    jobs = {"a": copy.deepcopy(GOOD) | {"outputs": outputs}}
    assert repair(jobs) == ["a: invalid outputs in the lockfile, ignored"]
    assert jobs["a"]["outputs"] == [
        {"url": "https://cdn.example.test/1.mp4", "path": None, "sha256": None, "bytes": None,
         "width": None, "height": None, "duration": None},
    ]  # fmt: skip


def test_an_entry_that_is_no_object_is_dropped() -> None:
    jobs: dict[str, Any] = {"a": "text", "b": None, "c": copy.deepcopy(GOOD)}
    assert repair(jobs) == [
        "a: the lockfile entry is not an object; planned as new",
        "b: the lockfile entry is not an object; planned as new",
    ]
    assert list(jobs) == ["c"]


def validate_lockfile_doc(doc: dict[str, Any]) -> None:
    errors = [e.message for e in schema.validator("lockfile").iter_errors(doc)]
    assert errors == []
