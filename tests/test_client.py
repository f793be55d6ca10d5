"""The API client against httpx.MockTransport: classification, retries, poll URLs."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest

from runner.api.client import (
    ApiClient,
    Backoff,
    CancelRefused,
    CreateUncertain,
    GaveUp,
    JobRejected,
    KeyRefused,
    NoBalance,
    TaskNotFound,
)
from runner.api.ratelimit import RateLimiter
from runner.api.responses import Created, TaskState, Video, task_state
from tests.netguard import no_network  # noqa: F401

KEY = "sk-live-secret-value"
U = "https://cdn.example.test/v.mp4"
BASE = "https://api.example.test"
FAST = Backoff(base=0.001, cap=0.002, attempts=4)
Handler = Callable[[httpx.Request], httpx.Response]


def error(status: int, message: str = "nope", **extra: Any) -> httpx.Response:
    body = {"error": {"message": message, "type": "t", "code": "c", "param": None, **extra}}
    return httpx.Response(status, json=body)


def scripted(*answers: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler, seen


def client_for(handler: Handler, limiter: RateLimiter | None = None) -> ApiClient:
    return ApiClient(
        httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        base_url=BASE,
        api_key=KEY,
        limiter=limiter or RateLimiter(None),
        backoff=FAST,
    )


def create(client: ApiClient) -> tuple[Created, list[Created]]:
    recorded: list[Created] = []

    async def record(created: Created) -> None:
        recorded.append(created)

    async def main() -> Created:
        return await client.create({"model": "m", "prompt": "p"}, record)

    return anyio.run(main), recorded


def poll(client: ApiClient, task_id: str = "t1", poll_url: str | None = None) -> TaskState:
    return anyio.run(client.poll, task_id, poll_url)


CREATED = httpx.Response(200, json={"id": "t1", "task_id": "t1", "poll_url": "/v1/tasks/t1"})


def test_create_sends_key_and_records_task() -> None:
    handler, seen = scripted(CREATED)
    created, recorded = create(client_for(handler))
    assert created == Created("t1", "/v1/tasks/t1") and recorded == [created]
    assert str(seen[0].url) == f"{BASE}/v1/videos/generations"
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(seen[0].content) == {"model": "m", "prompt": "p"}


def test_create_retried_when_connection_never_made() -> None:
    handler, seen = scripted(httpx.ConnectError("refused"), httpx.ConnectTimeout("slow"), CREATED)
    created, _ = create(client_for(handler))
    assert created.task_id == "t1" and len(seen) == 3


@pytest.mark.parametrize(
    "answer",
    [
        httpx.ReadTimeout("no answer"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadError("reset"),
        httpx.WriteError("broken pipe"),
        error(504, "gateway timeout"),
        httpx.Response(502, text="<html>bad gateway</html>"),
        httpx.Response(200, text="{not json"),
        httpx.Response(200, json={"status": "pending"}),
    ],
)
def test_create_without_a_certain_answer_is_uncertain_and_not_resent(answer: Any) -> None:
    handler, seen = scripted(answer)
    with pytest.raises(CreateUncertain):
        create(client_for(handler))
    assert len(seen) == 1


def test_create_retried_on_error_bodies() -> None:
    handler, seen = scripted(error(429), error(500), error(502), error(503), CREATED)
    client = ApiClient(
        httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        base_url=BASE,
        api_key=KEY,
        limiter=RateLimiter(None),
        backoff=Backoff(base=0.001, cap=0.002, attempts=6),
    )
    created, _ = create(client)
    assert created.task_id == "t1" and len(seen) == 5


def test_retry_after_pauses_every_request() -> None:
    limited = httpx.Response(429, headers={"Retry-After": "7"}, json={"error": {"message": "x"}})
    handler, _ = scripted(limited, CREATED)
    now = [100.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(None, clock=lambda: now[0], sleep=sleep)
    create(client_for(handler, limiter))
    assert slept == [7.0] and limiter.pauses == 1


def test_retry_after_in_body_is_preferred_to_rounded_header() -> None:
    body = {"error": {"message": "slow down", "retry_after": 0.25}}
    limited = httpx.Response(429, headers={"Retry-After": "1"}, json=body)
    handler, _ = scripted(limited, CREATED)
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    create(client_for(handler, RateLimiter(None, clock=lambda: now[0], sleep=sleep)))
    assert slept == [0.25]


def test_400_fails_the_job_with_details() -> None:
    body = {
        "error": {"message": "bad fps", "type": "invalid_request_error", "code": "invalid"},
        "validation_errors": [{"field": "fps", "message": "too high", "code": "max"}],
    }
    body["error"]["param"] = "fps"
    handler, seen = scripted(httpx.Response(400, json=body))
    with pytest.raises(JobRejected) as caught:
        create(client_for(handler))
    assert caught.value.error == {
        "message": "bad fps",
        "type": "invalid_request_error",
        "code": "invalid",
        "param": "fps",
        "status": 400,
        "validation_errors": [{"field": "fps", "message": "too high", "code": "max"}],
    }
    assert len(seen) == 1


@pytest.mark.parametrize("status", [403, 404, 413])
def test_other_client_errors_fail_the_job(status: int) -> None:
    handler, _ = scripted(error(status, "denied"))
    with pytest.raises(JobRejected, match="denied"):
        create(client_for(handler))


def test_503_not_retryable_fails_the_job() -> None:
    handler, seen = scripted(error(503, "all channels failed", retryable=False))
    with pytest.raises(JobRejected):
        create(client_for(handler))
    assert len(seen) == 1


def test_401_stops_the_run_without_echoing_the_key() -> None:
    handler, _ = scripted(error(401, f"Invalid API key {KEY}"))
    with pytest.raises(KeyRefused) as caught:
        create(client_for(handler))
    assert KEY not in str(caught.value) and "[redacted]" in str(caught.value)
    assert caught.value.exit_code == 3


def test_402_stops_submitting() -> None:
    handler, _ = scripted(error(402, "Insufficient balance"))
    with pytest.raises(NoBalance) as caught:
        create(client_for(handler))
    assert caught.value.exit_code == 3


def test_retries_run_out() -> None:
    handler, seen = scripted(error(500))
    with pytest.raises(GaveUp, match="gave up after 4 tries"):
        create(client_for(handler))
    assert len(seen) == 4


def test_poll_retries_malformed_and_dropped_answers() -> None:
    done = httpx.Response(200, json={"status": "succeeded", "video_url": "https://cdn/x.mp4"})
    handler, seen = scripted(
        httpx.Response(200, text="{garbled"),
        httpx.RemoteProtocolError("dropped"),
        error(502),
        done,
    )
    state = poll(client_for(handler), "t1", "/v1/tasks/t1")
    assert state == TaskState("completed", None, (Video("https://cdn/x.mp4"),), None)
    assert {str(r.url) for r in seen} == {f"{BASE}/v1/tasks/t1"}


@pytest.mark.parametrize(
    ("poll_url", "expected"),
    [
        ("/v1/tasks/t1", f"{BASE}/v1/tasks/t1"),
        ("/v1/videos/generations/t1", f"{BASE}/v1/videos/generations/t1"),
        (f"{BASE}/v1/tasks/t1?x=1", f"{BASE}/v1/tasks/t1?x=1"),
        (f"{BASE}:443/custom/t1", f"{BASE}/custom/t1"),
        ("v1/tasks/t1", f"{BASE}/v1/tasks/t1"),
        (None, f"{BASE}/v1/tasks/t1"),
        ("", f"{BASE}/v1/tasks/t1"),
        ("https://evil.example/v1/tasks/t1", f"{BASE}/v1/tasks/t1"),
        ("//evil.example/v1/tasks/t1", f"{BASE}/v1/tasks/t1"),
        ("http://api.example.test/v1/tasks/t1", f"{BASE}/v1/tasks/t1"),
    ],
)
def test_poll_goes_to_poll_url_and_never_to_another_origin(
    poll_url: str | None, expected: str
) -> None:
    handler, seen = scripted(httpx.Response(200, json={"status": "processing", "progress": 10}))
    client = client_for(handler)
    poll(client, "t1", poll_url)
    assert [str(r.url) for r in seen] == [expected]


def test_poll_of_an_unknown_task_fails_it_once_confirmed() -> None:
    handler, seen = scripted(*[error(404, "gone", code="async_task_not_found")] * 2)
    client = client_for(handler)
    client._confirm = 0.0  # the second not-found answer confirms the first
    with pytest.raises(TaskNotFound, match="gone"):
        poll(client)
    assert len(seen) == 2


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"status": "pending"}, TaskState("pending")),
        ({"status": "processing", "progress": "40"}, TaskState("processing", 40)),
        ({"status": "queued", "extra": {"x": 1}}, TaskState("pending")),
        (
            {
                "status": "completed",
                "video": {"url": U, "width": 1280, "height": 720, "duration": 5},
            },
            TaskState("completed", None, (Video(U, 1280, 720, 5.0),)),
        ),
        (
            {"status": "succeeded", "videos": [{"url": U + "?a"}, U + "?b"], "progress": 100},
            TaskState("completed", 100, (Video(U + "?a"), Video(U + "?b"))),
        ),
        (
            {"status": "completed", "video_url": U, "video": {"url": U, "width": 2}},
            TaskState("completed", None, (Video(U, 2),)),
        ),
        ({"status": "failed", "error": "boom"}, TaskState("failed", error={"message": "boom"})),
        (
            {"status": "failed", "error": {"code": "nsfw", "message": "blocked", "x": 1}},
            TaskState("failed", error={"message": "blocked", "code": "nsfw"}),
        ),
        (
            {"status": "failed", "cancelled": True},
            TaskState(
                "failed",
                error={"message": "the task was cancelled", "code": "cancelled"},
                cancelled=True,
            ),
        ),
        ({"data": {"status": "processing"}}, TaskState("processing")),
        ({"no": "status"}, None),
        ([1, 2], None),
    ],
)
def test_task_state_is_read_tolerantly(body: Any, expected: TaskState | None) -> None:
    assert task_state(body) == expected


def test_cancel_sends_delete_retries_what_is_safe_and_redacts() -> None:
    handler, seen = scripted(
        error(503, "busy"),
        httpx.ConnectError("refused"),
        httpx.Response(200, json={"id": "t1", "status": "failed", "cancelled": True}),
    )
    state = anyio.run(client_for(handler).cancel, "t1")
    assert state == TaskState(
        "failed", error={"message": "the task was cancelled", "code": "cancelled"}, cancelled=True
    )
    assert [(r.method, r.url.path) for r in seen] == [("DELETE", "/v1/tasks/t1")] * 3
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize(
    ("status", "code"), [(400, "unsupported_task_cancel"), (409, "task_not_cancellable")]
)
def test_a_refused_cancel_keeps_the_reason_without_the_key(status: int, code: str) -> None:
    handler, seen = scripted(error(status, f"cannot cancel with key {KEY}", code=code))
    with pytest.raises(CancelRefused) as caught:
        anyio.run(client_for(handler).cancel, "t1")
    assert caught.value.error["code"] == code and caught.value.error["status"] == status
    assert (
        KEY not in caught.value.error["message"] and "[redacted]" in caught.value.error["message"]
    )
    assert len(seen) == 1  # not retried


def test_a_cancel_with_a_refused_key_stops_and_one_that_keeps_failing_gives_up() -> None:
    handler, _ = scripted(error(401, "bad key"))
    with pytest.raises(KeyRefused):
        anyio.run(client_for(handler).cancel, "t1")
    handler, seen = scripted(error(502, "upstream"))
    with pytest.raises(GaveUp):
        anyio.run(client_for(handler).cancel, "t1")
    assert len(seen) == FAST.attempts


def limited_for(seconds: float) -> httpx.Response:
    return httpx.Response(429, headers={"Retry-After": f"{seconds:g}"}, json={"error": {}})


def test_429s_do_not_use_up_a_creates_tries() -> None:
    """A busy server asking again and again to wait does not fail the job: 429s made
    nothing, and 12 of them (3 times the tries) are waited through."""
    handler, seen = scripted(*[limited_for(0.001)] * 12, CREATED)
    created, _ = create(client_for(handler))
    assert created.task_id == "t1" and len(seen) == 13


def test_other_errors_still_use_up_the_tries_between_429s() -> None:
    handler, seen = scripted(
        error(500), limited_for(0.001), error(502), limited_for(0.001), error(503), error(500)
    )
    with pytest.raises(GaveUp, match="gave up after 6 tries: "):
        create(client_for(handler))
    assert len(seen) == 6  # the 4 tries of FAST, and the 2 429s between them


def test_a_long_run_of_429s_ends() -> None:
    now = [1000.0]

    def handler(request: httpx.Request) -> httpx.Response:
        now[0] += 60.0  # each answer comes a minute after the last
        return limited_for(0.001)

    client = ApiClient(
        httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        base_url=BASE,
        api_key=KEY,
        limiter=RateLimiter(None),
        backoff=FAST,
        clock=lambda: now[0],
    )
    with pytest.raises(GaveUp, match=r"gave up after 11 tries \(429 for 600s\)"):
        create(client)


def test_polls_wait_through_429s_too() -> None:
    done = httpx.Response(200, json={"status": "succeeded", "video_url": U})
    handler, seen = scripted(*[limited_for(0.001)] * 9, done)
    state = poll(client_for(handler), "t1", "/v1/tasks/t1")
    assert state.status == "completed" and len(seen) == 10
