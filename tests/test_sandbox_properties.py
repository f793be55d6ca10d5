"""A property-based run (schemathesis, bounded and seeded) of the sandbox against the
provider's newest OpenAPI (tests/data/provider-openapi-video.json).

Every operation of the spec gets generated requests; each answer must be no server
error, have the documented content type, and match the response schema of its
status. Deliberate deviation: the documented status codes are not enforced, because
the sandbox answers an unknown task on ``GET /v1/tasks/{id}`` with 404
``async_task_not_found`` (as the README documents the API), where the spec lists
only 403; the body is still checked (tests/test_sandbox_conformance.py checks it
against ``ApiError``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)

from runner.sandbox import Sandbox, SandboxConfig, transport
from tests.netguard import no_network  # noqa: F401

SPEC = json.loads(
    (Path(__file__).parent / "data" / "provider-openapi-video.json").read_text("utf-8")
)
SCHEMA = schemathesis.openapi.from_dict(SPEC)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
CHECKS = [not_a_server_error, content_type_conformance, response_schema_conformance]
BASE = "http://sandbox.test"


async def send(sandbox: Sandbox, kwargs: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(transport=transport(sandbox), base_url=BASE) as client:
        response = await client.request(**kwargs)
        await response.aread()
        return response


@pytest.mark.slow
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: f"{op.method} {op.path}")
def test_the_sandbox_answers_generated_requests_as_the_spec_says(operation: Any) -> None:
    sandbox = Sandbox(SandboxConfig(seed=7, task_seconds=(0.5, 1.0)))

    @settings(
        max_examples=30,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def check(case: Any) -> None:
        kwargs = case.as_transport_kwargs(base_url=BASE, headers={"Authorization": "Bearer sk-t"})
        request = {k: kwargs[k] for k in ("method", "url", "headers", "params") if k in kwargs}
        if "json" in kwargs:
            request["json"] = kwargs["json"]
        elif "data" in kwargs:
            request["content"] = kwargs["data"]
        response = anyio.run(send, sandbox, request)
        case.validate_response(response, checks=CHECKS)

    check()
