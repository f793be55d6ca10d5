"""Contract tests of the sandbox with raw HTTP requests, in process.

A hand-moved clock drives task lives, so nothing here waits or measures time.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from runner.catalog.models import builtin as builtin_catalog
from runner.sandbox import Sandbox, SandboxConfig, create_app, transport
from tests.netguard import no_network  # noqa: F401

pytestmark = pytest.mark.anyio

BASE = "http://sandbox.test"
CREATE = "/v1/videos/generations"
TASK_ID = re.compile(r"^ldtask_[0-9a-f]{32}$")


class Clock:
    """A monotonic clock that only moves when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make(clock: Clock, **settings: Any) -> Sandbox:
    return Sandbox(SandboxConfig(**settings), clock=clock)


@asynccontextmanager
async def connect(
    sandbox: Sandbox, key: str | None = "sk-test"
) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with httpx.AsyncClient(transport=transport(sandbox), base_url=BASE, headers=headers) as c:
        yield c


def error_of(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert set(body["error"]) >= {"message", "type", "code"}
    assert body["error"].get("param", "") is not None  # a string when there is one
    return body["error"]


async def test_create_answers_the_documented_fields() -> None:
    clock = Clock()
    sandbox = make(clock)
    async with connect(sandbox) as client:
        response = await client.post(CREATE, json={"model": "sora-2", "prompt": "a cat"})
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["id", "task_id", "poll_url", "status", "created", "model"]
    assert TASK_ID.match(body["id"])
    assert body["task_id"] == body["id"]
    assert body["poll_url"] == f"/v1/tasks/{body['id']}"
    assert body["status"] == "pending"
    assert body["model"] == "sora-2"
    assert isinstance(body["created"], int)
    assert sandbox.counters.creates == 1
    assert sandbox.counters.tasks_made == 1


async def test_life_cycle_through_poll_url_with_rising_progress() -> None:
    clock = Clock()
    sandbox = make(clock, task_seconds=(20, 20), queue_share=0.25)
    async with connect(sandbox) as client:
        created = (await client.post(CREATE, json={"prompt": "a cat", "seed": 7})).json()
        seen = []
        for _ in range(12):
            answer = (await client.get(created["poll_url"])).json()
            seen.append((answer["status"], answer["progress"]))
            clock.advance(2)
    assert seen[0] == ("pending", 0)
    assert seen[2] == ("pending", 0)
    assert [s for s, _ in seen[3:10]] == ["processing"] * 7
    progress = [p for s, p in seen if s == "processing"]
    assert progress == sorted(progress) and len(set(progress)) == len(progress)
    assert all(1 <= p <= 99 for p in progress)
    assert seen[10:] == [("completed", 100), ("completed", 100)]
    assert answer["video_url"] == answer["video"]["url"]
    assert answer["video"]["url"].startswith(f"{BASE}/files/{created['id']}/0.mp4?exp=")
    assert answer["video"]["width"] == 192 and answer["video"]["height"] == 108
    task = sandbox.tasks[created["id"]]
    assert task.polls == 12
    assert task.first_final_poll == 1000.0 + 20


async def test_legacy_status_path_answers_the_same_task() -> None:
    clock = Clock()
    sandbox = make(clock, task_seconds=(5, 5))
    async with connect(sandbox) as client:
        created = (await client.post(CREATE, json={"prompt": "a cat"})).json()
        clock.advance(6)
        new = (await client.get(f"/v1/tasks/{created['id']}")).json()
        legacy = (await client.get(f"/v1/videos/generations/{created['id']}")).json()
    assert new["status"] == legacy["status"] == "completed"
    assert new["id"] == legacy["id"] == created["id"]


@pytest.mark.parametrize(
    ("body", "operation"),
    [
        ({"prompt": "p"}, "text-to-video"),
        ({"prompt": "p", "image_url": "https://x/a.png"}, "image-to-video"),
        ({"prompt": "p", "image": "data:image/png;base64,AA=="}, "image-to-video"),
        ({"prompt": "p", "reference_images": ["https://x/a.png"]}, "reference-to-video"),
        ({"prompt": "p", "referenceImages": ["https://x/a.png"]}, "reference-to-video"),
        (
            {"prompt": "p", "start_image": "https://x/a", "end_image": "https://x/b"},
            "start-end-to-video",
        ),
        ({"prompt": "p", "video_url": "https://x/v.mp4"}, "video-to-video"),
        ({"prompt": "p", "image_url": "https://x/a", "video_url": "https://x/v"}, "motion-control"),
    ],
)
async def test_operation_is_inferred_when_omitted(body: dict[str, Any], operation: str) -> None:
    model = {
        "motion-control": "kling-3.0-motion-control",
        "reference-to-video": "veo3.1",
        "video-to-video": "kling-video-o1-pro",
    }.get(operation, "kling-video-o1-pro")
    sandbox = make(Clock(), task_seconds=(1, 1))
    async with connect(sandbox) as client:
        created = await client.post(CREATE, json={"model": model, **body})
        assert created.status_code == 200, created.text
        answer = (await client.get(created.json()["poll_url"])).json()
    assert answer["operation"] == operation


async def test_audio_url_infers_audio_to_video_which_no_model_offers() -> None:
    async with connect(make(Clock())) as client:
        response = await client.post(CREATE, json={"prompt": "p", "audio_url": "https://x/a.mp3"})
    assert response.status_code == 400
    assert error_of(response)["code"] == "unsupported_operation"
    message = "Model veo3.1 does not support operation audio-to-video"  # the default model
    assert error_of(response)["message"] == message


async def test_validation_errors_list_every_problem() -> None:
    body = {"prompt": "p", "duration": "5", "fps": 0, "reference_images": [1, *"a" * 30]}
    async with connect(make(Clock())) as client:
        response = await client.post(CREATE, json=body)
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "message": "duration must be an integer",
            "type": "invalid_request_error",
            "code": "invalid_type",
            "param": "duration",
        },
        "validation_errors": [
            {"field": "duration", "message": "duration must be an integer", "code": "invalid_type"},
            {"field": "fps", "message": "fps must be at least 1", "code": "out_of_range"},
            {
                "field": "reference_images",
                "message": "reference_images must have at most 30 item(s)",
                "code": "invalid_length",
            },
            {
                "field": "reference_images[0]",
                "message": "reference_images[0] must be a string",
                "code": "invalid_type",
            },
        ],
    }


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"model": "sora-2"}, "missing_required_parameter", "prompt"),
        ({"prompt": ""}, "missing_required_parameter", "prompt"),
        ({"prompt": "p", "operation": "image-to-video"}, "missing_required_parameter", "image_url"),
        ({"prompt": "p", "operation": "warp"}, "invalid_value", "operation"),
        ({"prompt": "p", "aspect_ratio": "wide"}, "invalid_format", "aspect_ratio"),
        ({"prompt": "p", "cfg_scale": 21}, "out_of_range", "cfg_scale"),
        ({"prompt": "p", "motion_strength": -0.1}, "out_of_range", "motion_strength"),
        ({"prompt": "p", "output_audio": "yes"}, "invalid_type", "output_audio"),
        ({"prompt": "p", "reference_image_type": "mood"}, "invalid_value", "reference_image_type"),
        ({"prompt": "p", "video_url": "https://x/v"}, "unsupported_operation", "operation"),
        (
            {"prompt": "p", "outputAudio": True, "output_audio": False},
            "conflicting_parameters",
            "output_audio",
        ),
    ],
)
async def test_each_invalid_body_is_a_400(body: dict[str, Any], code: str, param: str) -> None:
    async with connect(make(Clock())) as client:
        response = await client.post(CREATE, json=body)
    assert response.status_code == 400
    error = error_of(response)
    assert (error["code"], error["param"], error["type"]) == (code, param, "invalid_request_error")
    assert response.json()["validation_errors"][0]["field"] == param


async def test_body_that_is_not_a_json_object_is_a_400() -> None:
    async with connect(make(Clock())) as client:
        garbage = await client.post(CREATE, content=b"{not json")
        array = await client.post(CREATE, json=["prompt"])
    assert garbage.status_code == array.status_code == 400
    assert error_of(garbage)["code"] == error_of(array)["code"] == "invalid_json"


async def test_unknown_fields_are_ignored_and_aliases_accepted() -> None:
    body = {
        "model": "veo3.1",
        "prompt": "p",
        "referenceImages": ["https://x/a.png"],
        "referenceImageType": "style",
        "outputAudio": False,
        "vendor_extra": {"anything": 1},
    }
    async with connect(make(Clock())) as client:
        response = await client.post(CREATE, json=body)
    assert response.status_code == 200


async def test_unknown_model_is_a_400_with_a_suggestion() -> None:
    async with connect(make(Clock())) as client:
        response = await client.post(CREATE, json={"model": "sora2", "prompt": "p"})
    assert response.status_code == 400  # the newest API: 400 on create, 404 on /v1/models/...
    assert response.json() == {
        "error": {
            "message": "Model sora2 not found",
            "type": "model_not_found",
            "code": "model_not_found",
            "param": "model",
            "did_you_mean": "sora-2",
        }
    }


async def test_payload_over_the_limit_is_a_413() -> None:
    sandbox = make(Clock(), max_body_bytes=1000)
    async with connect(sandbox) as client:
        response = await client.post(CREATE, json={"prompt": "p", "image": "data:," + "A" * 1000})
        small = await client.post(CREATE, json={"prompt": "p"})
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"
    assert small.status_code == 200
    assert sandbox.counters.tasks_made == 1


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Basic abc", "sk-test"])
async def test_missing_or_malformed_authorization_is_a_401(header: str | None) -> None:
    sandbox = make(Clock())
    headers = {} if header is None else {"Authorization": header}
    async with connect(sandbox, key=None) as client:
        response = await client.post(CREATE, json={"prompt": "p"}, headers=headers)
        models = await client.get("/v1/models", headers=headers)
    assert response.status_code == models.status_code == 401
    assert error_of(response)["code"] == "invalid_api_key"
    assert error_of(response)["type"] == "invalid_api_key"
    assert sandbox.counters.tasks_made == 0


async def test_required_key_refuses_any_other_key() -> None:
    sandbox = make(Clock(), required_key="sk-right")
    async with connect(sandbox, key="sk-wrong") as wrong, connect(sandbox, key="sk-right") as right:
        refused = await wrong.post(CREATE, json={"prompt": "p"})
        accepted = await right.post(CREATE, json={"prompt": "p"})
    assert refused.status_code == 401
    assert error_of(refused)["message"] == "Invalid API key"
    assert accepted.status_code == 200


async def test_a_task_is_invisible_to_another_key() -> None:
    sandbox = make(Clock())
    async with connect(sandbox, key="sk-a") as a, connect(sandbox, key="sk-b") as b:
        task_id = (await a.post(CREATE, json={"prompt": "p"})).json()["id"]
        answers = [
            await b.get(f"/v1/tasks/{task_id}"),
            await b.get(f"/v1/videos/generations/{task_id}"),
            await b.delete(f"/v1/tasks/{task_id}"),
        ]
        own = await a.get(f"/v1/tasks/{task_id}")
    # 403 on /v1/tasks, as the newest spec lists it; 404 on the legacy path
    assert [answer.status_code for answer in answers] == [403, 404, 403]
    for answer in answers:
        assert error_of(answer)["code"] == "async_task_not_found"
    assert own.status_code == 200
    assert sandbox.tasks[task_id].polls == 1


async def test_unknown_task_is_a_404() -> None:
    async with connect(make(Clock())) as client:
        response = await client.get("/v1/tasks/ldtask_" + "0" * 32)
    assert response.status_code == 404
    assert error_of(response) == {
        "message": f"Task ldtask_{'0' * 32} not found",
        "type": "async_task_not_found",
        "code": "async_task_not_found",
        "param": "id",
    }


async def test_models_list_and_detail() -> None:
    async with connect(make(Clock())) as client:
        listing = (await client.get("/v1/models", params={"category": "video"})).json()
        compact = (await client.get("/v1/models", params={"view": "compact"})).json()
        chat = (await client.get("/v1/models", params={"category": "chat"})).json()
        detail = (await client.get("/v1/models/seedance-2.0-fast")).json()
        unknown_ops = (await client.get("/v1/models/happyhorse-1.0")).json()
        missing = await client.get("/v1/models/kling-v9")
    assert listing["object"] == "list"
    assert len(listing["data"]) == len(compact["data"]) == len(builtin_catalog().models)
    assert chat == {"object": "list", "data": []}
    [veo] = [item for item in listing["data"] if item["id"] == "veo3.1"]
    assert (veo["owned_by"], veo["tokenlab"]["category"]) == ("google", "video")
    assert veo["tokenlab"]["request_format_summary"]["public_operations"] == list(
        builtin_catalog().models["veo3.1"].operations or ()
    )
    assert veo["tokenlab"]["pricing"]["min_price"] == "0.1"
    assert compact["view"] == "compact" and compact["count"] == len(compact["data"])
    extension = detail["tokenlab"]
    assert detail["id"] == "seedance-2.0-fast"
    assert extension["supported_operations"][:2] == ["text-to-video", "image-to-video"]
    assert extension["request_format_summary"]["resolutions"] == ["480p", "720p"]
    assert extension["lifecycle"]["stage"] == "active"
    assert "supported_operations" not in unknown_ops["tokenlab"]  # no source documents them
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "model_not_found"


async def test_cancel_a_pending_task() -> None:
    clock = Clock()
    sandbox = make(clock, task_seconds=(100, 100))
    async with connect(sandbox) as client:
        task_id = (await client.post(CREATE, json={"model": "seedance-2.0", "prompt": "p"})).json()[
            "id"
        ]
        cancelled = await client.delete(f"/v1/tasks/{task_id}")
        clock.advance(500)
        later = (await client.get(f"/v1/tasks/{task_id}")).json()
        again = await client.delete(f"/v1/tasks/{task_id}")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "failed"
    assert cancelled.json()["cancelled"] is True
    assert cancelled.json()["cancellation_status"] == "cancelled"
    assert cancelled.json()["poll_url"] == f"/v1/tasks/{task_id}"
    assert later["status"] == "failed" and later["cancelled"] is True
    assert "video_url" not in later
    assert again.status_code == 409
    assert error_of(again)["code"] == "task_not_cancellable"
    assert sandbox.store.in_flight(clock()) == 0
    record = sandbox.record()["tasks"][0]
    assert (record["outcome"], record["started"], record["completed"]) == ("cancelled", None, 0.0)


async def test_cancel_refused_once_processing_or_for_models_that_cannot() -> None:
    clock = Clock()
    sandbox = make(clock, task_seconds=(100, 100))
    async with connect(sandbox) as client:
        seedance = (await client.post(CREATE, json={"model": "seedance-2.0", "prompt": "p"})).json()
        # only the Seedance models the cancel reference names can cancel
        kling = (await client.post(CREATE, json={"model": "kling-v2.6-pro", "prompt": "p"})).json()
        unsupported = await client.delete(f"/v1/tasks/{kling['id']}")
        clock.advance(50)
        processing = await client.delete(f"/v1/tasks/{seedance['id']}")
    assert unsupported.status_code == 400
    assert error_of(unsupported)["code"] == "unsupported_task_cancel"
    assert processing.status_code == 409
    assert error_of(processing)["code"] == "task_not_cancellable"


async def test_failing_prompt_ends_failed_with_an_error_object() -> None:
    clock = Clock()
    sandbox = make(clock, task_seconds=(3, 3), fail_prompt_marker="FAIL")
    async with connect(sandbox) as client:
        created = (await client.post(CREATE, json={"prompt": "please FAIL now"})).json()
        clock.advance(1)
        middle = (await client.get(created["poll_url"])).json()
        clock.advance(3)
        final = (await client.get(created["poll_url"])).json()
    assert middle["status"] in ("pending", "processing")
    assert final["status"] == "failed"
    assert final["error"] == {
        "code": "generation_failed",
        "message": "Video generation failed upstream",
    }
    assert "video_url" not in final and "cancelled" not in final


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        ("relative", "/v1/tasks/{id}"),
        ("absolute", f"{BASE}/v1/tasks/{{id}}"),
        ("legacy", "/v1/videos/generations/{id}"),
        ("none", None),
    ],
)
async def test_poll_url_styles(style: str, expected: str | None) -> None:
    async with connect(make(Clock(), poll_url_style=style)) as client:
        body = (await client.post(CREATE, json={"prompt": "p"})).json()
        fallback = await client.get(f"/v1/tasks/{body['id']}")
    if expected is None:
        assert "poll_url" not in body
    else:
        assert body["poll_url"] == expected.format(id=body["id"])
    assert fallback.status_code == 200


async def test_unknown_route_answers_in_the_envelope() -> None:
    async with connect(make(Clock())) as client:
        response = await client.get("/v2/nothing")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


async def test_record_endpoint_reports_times_and_counters() -> None:
    clock = Clock()
    sandbox = make(clock, task_seconds=(4, 4), queue_share=0.5)
    async with connect(sandbox) as client:
        clock.advance(10)
        created = (await client.post(CREATE, json={"prompt": "p"})).json()
        clock.advance(5)
        await client.get(created["poll_url"])
        await client.get(created["poll_url"])
        await client.get("/v1/tasks/ldtask_unknown")
        record = (await client.get("/_sandbox/record")).json()
    assert record["tasks"] == [
        {
            "id": created["id"],
            "model": "veo3.1",
            "operation": "text-to-video",
            "created": 10.0,
            "started": 12.0,
            "duration": 4.0,
            "completed": 14.0,
            "outcome": "completed",
            "polls": 2,
            "first_final_poll": 15.0,
        }
    ]
    counters = record["counters"]
    assert counters["creates"] == counters["tasks_made"] == 1
    assert counters["polls"] == 3
    assert counters["requests"] == 4
    assert counters["statuses"] == {"200": 3, "404": 1}
    assert counters["max_in_flight"] == counters["max_unobserved"] == 1
    assert counters["in_flight"] == counters["unobserved"] == 0


async def test_in_flight_counts_tasks_made_and_not_yet_final() -> None:
    clock = Clock()
    sandbox = make(clock, task_seconds=(10, 10))
    async with connect(sandbox) as client:
        first = [(await client.post(CREATE, json={"prompt": f"p{i}"})).json() for i in range(3)]
        clock.advance(11)
        for i in range(2):
            await client.post(CREATE, json={"prompt": f"q{i}"})
        await client.get(first[0]["poll_url"])
    assert sandbox.store.max_in_flight == 3
    assert sandbox.store.in_flight(clock()) == 2
    assert sandbox.store.max_unobserved == 5
    assert sandbox.store.unobserved == 4


async def test_create_app_exposes_its_sandbox() -> None:
    app = create_app(SandboxConfig(task_seconds=(1, 1)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        response = await client.post(
            CREATE, json={"prompt": "p"}, headers={"Authorization": "Bearer k"}
        )
    assert response.status_code == 200
    assert list(app.sandbox.tasks) == [response.json()["id"]]
