"""Reading the API's answers: tolerant of shapes, strict about values that are kept."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from runner.api.responses import (
    MAX_RETRY_AFTER,
    Created,
    TaskState,
    Video,
    api_error,
    created,
    retry_after,
    task_state,
)

URL = "https://cdn.example.test/v.mp4"
NOW = "Wed, 21 Oct 2015 07:27:30 GMT"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"task_id": "t1", "poll_url": "/v1/tasks/t1"}, Created("t1", "/v1/tasks/t1")),
        ({"id": 42}, Created("42", None)),
        ({"data": {"task_id": "t1"}}, Created("t1", None)),
        ({"task_id": "t1", "poll_url": "/v1/tasks/t1\r\nX-Injected: 1"}, Created("t1", None)),
        ({"task_id": "t1", "poll_url": "http://bad host/t1"}, Created("t1", None)),
        ({"task_id": "t1", "poll_url": "gopher://h/t1"}, Created("t1", None)),
        ({"task_id": "t1", "poll_url": 7}, Created("t1", None)),
        ({"task_id": "a\x1b[2Jb"}, None),
        ({"task_id": "x" * 300}, None),
        ({"task_id": None}, None),
        ({"task_id": True}, None),
        ({"task_id": 1.5}, None),
        ({"task_id": {"id": "t1"}}, None),
        ([{"task_id": "t1"}], None),
    ],
)
def test_a_create_answer_gives_a_usable_task_or_none(body: Any, expected: Created | None) -> None:
    assert created(body) == expected


def test_a_poll_answer_about_another_task_is_not_this_tasks_state() -> None:
    assert task_state({"task_id": "t2", "status": "completed", "video_url": URL}, "t1") is None
    assert task_state({"id": "t2", "status": "failed"}, "t1") is None
    # Named by either field (some gateways give ``id`` another meaning), or not at all.
    assert task_state({"id": "gen-9", "task_id": "t1", "status": "pending"}, "t1") is not None
    assert task_state({"id": 7, "status": "pending"}, "7") is not None
    assert task_state({"status": "pending"}, "t1") == TaskState("pending")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"status": 5}, None),
        ({"status": None}, None),
        ({"status": ["completed"]}, None),
        ("completed", None),
        ({"status": "processing", "progress": 250}, TaskState("processing")),
        ({"status": "processing", "progress": -1}, TaskState("processing")),
        ({"status": "processing", "progress": None}, TaskState("processing")),
        ({"status": "processing", "progress": "nan"}, TaskState("processing")),
        ({"status": "processing", "progress": "1e999"}, TaskState("processing")),
        ({"status": "processing", "progress": 10**400}, TaskState("processing")),
        ({"status": "processing", "progress": 99.9}, TaskState("processing", 99)),
        (
            {"status": "completed", "video": {"url": URL, "width": "1e999", "height": -5,
                                              "duration": float("inf")}},
            TaskState("completed", None, (Video(URL),)),
        ),
        (
            {"status": "completed", "videos": [{"url": "http://cdn\n/x"}, {"url": URL}, 5]},
            TaskState("completed", None, (Video(URL),)),
        ),
    ],
)  # fmt: skip
def test_odd_values_are_ignored_where_that_is_harmless(
    body: Any, expected: TaskState | None
) -> None:
    assert task_state(body) == expected


@pytest.mark.parametrize(
    "given",
    ["http://cdn\r\n.example/x.mp4", "file:///etc/passwd", "https://-bad-/x", {"url": "ftp://h/x"}],
)
def test_a_completed_task_whose_only_output_url_is_unusable_fails(given: Any) -> None:
    state = task_state({"status": "completed", "video": given})
    assert state is not None and state.status == "failed" and state.videos == ()
    assert state.error is not None and state.error["code"] == "invalid_output_url"
    assert "output URL is not a usable http(s) URL" in state.error["message"]


def test_a_completed_task_without_any_url_is_still_waited_for() -> None:
    assert task_state({"status": "completed"}) == TaskState("completed")


def test_error_fields_are_kept_as_short_strings_or_small_integers() -> None:
    body = {
        "error": {
            "message": {"nested": "object"},
            "type": ["list"],
            "code": 10**30,
            "param": "prompt",
            "hint": "h" * 1000,
            "did_you_mean": "duration",
        },
        "validation_errors": [
            {"field": "fps", "message": "too high", "code": 7, "extra": {"x": 1}},
            "a bare string",
            5,
        ]
        * 30,
    }
    error = api_error(400, body)
    assert error["message"] == "HTTP 400"
    assert "type" not in error and "code" not in error
    assert error["param"] == "prompt" and error["did_you_mean"] == "duration"
    assert len(error["hint"]) == 200
    assert len(error["validation_errors"]) == 50
    assert error["validation_errors"][:3] == [
        {"field": "fps", "message": "too high", "code": 7},
        {"message": "a bare string"},
        {"message": "5"},
    ]


def test_a_long_error_message_is_cut() -> None:
    assert len(api_error(500, {"error": "e" * 100_000})["message"]) == 2000


def _answer(headers: dict[str, str]) -> httpx.Response:
    return httpx.Response(429, headers=headers)


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({"Retry-After": "7"}, None, 7.0),
        ({"Retry-After": "86400"}, None, MAX_RETRY_AFTER),
        ({"Retry-After": "1e999"}, None, MAX_RETRY_AFTER),
        ({"Retry-After": "9" * 5000}, None, MAX_RETRY_AFTER),
        ({"Retry-After": "nan"}, None, None),
        ({"Retry-After": "-5"}, None, 0.0),
        ({"Retry-After": "soon"}, None, None),
        ({}, {"error": {"retry_after": 2.5}}, 2.5),
        ({"Retry-After": "9"}, {"error": {"retry_after": None}}, 9.0),
        ({}, {"error": {"retry_after": 10**9}}, MAX_RETRY_AFTER),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT", "Date": NOW}, None, 30.0),
        ({"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT", "Date": NOW}, None, MAX_RETRY_AFTER),
    ],
)  # fmt: skip
def test_retry_after_is_bounded(headers: dict[str, str], body: Any, expected: float | None) -> None:
    assert retry_after(_answer(headers), body) == expected


def test_deeply_nested_or_huge_values_make_no_message_crash() -> None:
    deep: Any = "x"
    for _ in range(5000):
        deep = [deep]
    state = task_state({"status": "completed", "video": {"url": deep}, "id": deep}, "t1")
    assert state is not None and state.status == "failed"
    assert state.error is not None and state.error["message"].endswith("a list")
    assert api_error(400, {"validation_errors": [deep]})["validation_errors"] == [
        {"message": "a list"}
    ]


def test_a_task_listing_thousands_of_videos_gives_a_bounded_number() -> None:
    urls = [f"{URL}?n={n}" for n in range(10_000)]
    state = task_state({"status": "completed", "videos": urls})
    assert state is not None and len(state.videos) == 64


def test_a_failed_task_always_has_a_message() -> None:
    state = task_state({"status": "failed", "error": {"message": ["x"], "code": {"a": 1}}})
    assert state is not None and state.error == {
        "message": "the task failed without an error message"
    }


def test_a_cancelled_task_is_failed_and_says_so() -> None:
    for body in (
        {"id": "t1", "status": "failed", "cancelled": True},
        {"id": "t1", "status": "failed", "cancellation_status": "cancelled"},
        {"id": "t1", "status": "canceled"},
    ):
        state = task_state(body, "t1")
        assert state is not None and (state.status, state.cancelled) == ("failed", True)
    state = task_state({"id": "t1", "status": "failed"}, "t1")
    assert state is not None and state.cancelled is False
    state = task_state({"id": "t1", "status": "pending", "cancelled": True}, "t1")
    assert state is not None and state.status == "failed"
