"""Each injected fault actually happens when configured, and only then."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from runner.base.errors import UsageError
from runner.sandbox import SandboxConfig
from tests.netguard import no_network  # noqa: F401
from tests.test_sandbox import CREATE, Clock, connect, error_of, make

pytestmark = pytest.mark.anyio

BODY = {"model": "kling-v2.6-pro", "prompt": "a fox"}


async def test_rate_limit_answers_429_with_retry_after() -> None:
    clock = Clock()
    sandbox = make(clock, rate_limit=2.0)
    async with connect(sandbox) as client:
        first = await client.post(CREATE, json=BODY)
        second = await client.get(first.json()["poll_url"])
        limited = await client.get("/v1/models")
        clock.advance(0.5)
        after_wait = await client.get("/v1/models")
    assert (first.status_code, second.status_code) == (200, 200)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1"
    assert error_of(limited)["code"] == "rate_limit_exceeded"
    assert error_of(limited)["retry_after"] == 0.5
    assert after_wait.status_code == 200
    assert sandbox.counters.rate_limited == 1
    assert sandbox.counters.statuses["429"] == 1


async def test_a_rate_limited_create_makes_no_task() -> None:
    clock = Clock()
    sandbox = make(clock, rate_limit=1.0)
    async with connect(sandbox) as client:
        answers = [(await client.post(CREATE, json=BODY)).status_code for _ in range(3)]
    assert answers == [200, 429, 429]
    assert (sandbox.counters.creates, sandbox.counters.tasks_made) == (3, 1)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (401, "invalid_api_key"),
        (402, "insufficient_balance"),
        (403, "access_denied"),
        (429, "rate_limit_exceeded"),
        (500, "internal_error"),
        (502, "upstream_error"),
        (503, "all_channels_failed"),
        (504, "gateway_timeout"),
    ],
)
async def test_create_errors_come_before_any_task_is_made(status: int, code: str) -> None:
    sandbox = make(Clock(), create_errors={status: 1.0})
    async with connect(sandbox) as client:
        response = await client.post(CREATE, json=BODY)
    assert response.status_code == status
    assert error_of(response)["code"] == code
    assert ("Retry-After" in response.headers) == (status == 429)
    assert (sandbox.counters.creates, sandbox.counters.tasks_made) == (1, 0)
    assert sandbox.counters.injected_errors == 1


@pytest.mark.parametrize(("setting", "expected"), [(True, True), (False, False), (None, "absent")])
async def test_503_carries_retryable_as_configured(setting: bool | None, expected: Any) -> None:
    sandbox = make(Clock(), poll_errors={503: 1.0}, unavailable_retryable=setting)
    async with connect(sandbox) as client:
        response = await client.get("/v1/tasks/ldtask_x")
    assert response.status_code == 503
    assert error_of(response).get("retryable", "absent") == expected


async def test_poll_errors_leave_the_task_alone() -> None:
    clock = Clock()
    sandbox = make(clock, task_seconds=(5, 5), poll_errors={502: 1.0})
    async with connect(sandbox) as client:
        created = (await client.post(CREATE, json=BODY)).json()
        response = await client.get(created["poll_url"])
    assert response.status_code == 502
    assert error_of(response)["code"] == "upstream_error"
    assert sandbox.tasks[created["id"]].polls == 1


async def test_drop_before_create_makes_no_task() -> None:
    sandbox = make(Clock(), create_drop_before=1.0)
    async with connect(sandbox) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post(CREATE, json=BODY)
    assert (sandbox.counters.creates, sandbox.counters.tasks_made) == (1, 0)
    assert sandbox.counters.drops == {"create_before": 1}
    assert sandbox.counters.statuses == {"dropped": 1}


async def test_drop_after_create_leaves_a_task_nobody_heard_of() -> None:
    clock = Clock()
    sandbox = make(clock, task_seconds=(5, 5), create_drop_after=1.0)
    async with connect(sandbox) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post(CREATE, json=BODY)
    assert (sandbox.counters.creates, sandbox.counters.tasks_made) == (1, 1)
    assert sandbox.counters.drops == {"create_after": 1}
    [task] = sandbox.tasks.values()
    assert task.status(clock() + 6) == ("completed", 100)
    assert sandbox.store.unobserved == 1


async def test_504_after_the_task_was_made() -> None:
    sandbox = make(Clock(), create_timeout_after=1.0)
    async with connect(sandbox) as client:
        response = await client.post(CREATE, json=BODY)
    assert response.status_code == 504
    assert error_of(response)["code"] == "gateway_timeout"
    assert sandbox.counters.tasks_made == 1


async def test_dropped_poll() -> None:
    sandbox = make(Clock(), poll_drop=1.0)
    async with connect(sandbox) as client:
        created = (await client.post(CREATE, json=BODY)).json()
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(created["poll_url"])
    assert sandbox.counters.drops == {"poll": 1}


async def test_malformed_poll_bodies_are_200s_that_do_not_parse() -> None:
    clock = Clock()
    sandbox = make(clock, task_seconds=(5, 5), poll_malformed=1.0)
    async with connect(sandbox) as client:
        created = (await client.post(CREATE, json=BODY)).json()
        clock.advance(10)
        answers = [await client.get(created["poll_url"]) for _ in range(4)]
    for answer in answers:
        assert answer.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(answer.content)
    assert sandbox.counters.malformed == 4
    # Nobody was shown the task's end: it still counts as unobserved.
    assert sandbox.store.unobserved == 1


async def test_fail_rate_fails_tasks() -> None:
    clock = Clock()
    sandbox = make(clock, task_seconds=(5, 5), fail_rate=1.0)
    async with connect(sandbox) as client:
        created = (await client.post(CREATE, json=BODY)).json()
        clock.advance(6)
        answer = (await client.get(created["poll_url"])).json()
    assert answer["status"] == "failed"
    assert answer["error"]["code"] == "generation_failed"


async def shares_run(seed: int) -> list[int]:
    sandbox = make(Clock(), seed=seed, create_errors={500: 0.3, 503: 0.2})
    async with connect(sandbox) as client:
        statuses = [(await client.post(CREATE, json=BODY)).status_code for _ in range(200)]
    assert sandbox.counters.tasks_made == statuses.count(200)
    return statuses


async def test_fault_shares_are_drawn_from_the_seed() -> None:
    first = await shares_run(seed=1)
    assert first == await shares_run(seed=1)
    assert first != await shares_run(seed=2)
    assert 40 <= first.count(500) <= 80
    assert 20 <= first.count(503) <= 60
    assert 70 <= first.count(200) <= 130


async def test_no_fault_happens_unless_configured() -> None:
    clock = Clock()
    sandbox = make(clock, task_seconds=(1, 1))
    async with connect(sandbox) as client:
        for _ in range(50):
            created = await client.post(CREATE, json=BODY)
            clock.advance(2)
            await client.get(created.json()["poll_url"])
    counters = sandbox.counters
    assert counters.statuses == {"200": 100}
    assert (counters.injected_errors, counters.malformed, sum(counters.drops.values())) == (0, 0, 0)


def test_config_from_mapping_reads_json_shapes() -> None:
    config = SandboxConfig.from_mapping(
        {"task_seconds": [1, 3], "create_errors": {"500": 0.1, "503": 0.05}, "rate_limit": 20}
    )
    assert config.task_seconds == (1.0, 3.0)
    assert config.create_errors == {500: 0.1, 503: 0.05}
    assert config.rate_limit == 20


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"spede": 2}, "unknown sandbox setting 'spede' (did you mean 'speed'?)"),
        ({"speed": "fast"}, "sandbox setting speed must be a number, not 'fast'"),
        ({"speed": 0}, "sandbox setting speed must be a number > 0, not 0"),
        ({"seed": 1.5}, "sandbox setting seed must be a number, not 1.5"),
        ({"poll_drop": 2}, "sandbox setting poll_drop must be between 0 and 1, not 2"),
        (
            {"fail_prompt_marker": 3},
            "sandbox setting fail_prompt_marker must be a string or null, not 3",
        ),
        (
            {"create_errors": {"418": 0.1}},
            "sandbox setting create_errors has status '418';"
            " allowed: 401, 402, 403, 429, 500, 502, 503, 504",
        ),
        (
            {"create_errors": {"500": 0.6}, "create_drop_after": 0.6},
            "sandbox setting create fault shares together must be between 0 and 1, not 1.2",
        ),
        (
            {"task_seconds": [3, 1]},
            "sandbox setting task_seconds must be [low, high] with 0 < low <= high, not (3, 1)",
        ),
        (
            {"poll_url_style": "sideways"},
            "sandbox setting poll_url_style must be one of relative, absolute, legacy, none,"
            " not 'sideways'",
        ),
        (
            {"unavailable_retryable": 1},
            "sandbox setting unavailable_retryable must be true or false or null, not 1",
        ),
    ],
)
def test_config_errors_are_clear(data: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        SandboxConfig.from_mapping(data)
    assert str(caught.value) == message


def test_config_must_be_a_mapping() -> None:
    with pytest.raises(UsageError, match="must be a JSON object"):
        SandboxConfig.from_mapping([1, 2])  # type: ignore[arg-type]
