"""``models --refresh`` against answers in the shapes the API has served.

The newest (``tokenlab``, as provider-openapi-video.json describes it, checked
against its schemas here), the older (``lemondata``), the compact list and a
minimal one. Each teaches a model the built-in catalog lacks, with its operations
and limits, and validation then uses them.
"""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from jsonschema import Draft202012Validator

from runner.catalog import models, refresh
from runner.catalog.models import Limits, ModelMatrix
from runner.cli import Context, main
from tests.netguard import no_network  # noqa: F401

SPEC = json.loads(
    (Path(__file__).parent / "data" / "provider-openapi-video.json").read_text("utf-8")
)
LIFECYCLE = {
    "stage": "deprecated",
    "reason": None,
    "replacement_model": "zeta-video-3",
    "released_at": None,
    "deprecated_at": "2026-10-01T00:00:00Z",
    "retired_at": None,
    "sunset_at": None,
    "latest": False,
    "latest_source": "none",
    "latest_window_days": None,
}
EXTENSION = {
    "aliases": [],
    "pricing": {"per_second": "0.07"},
    "capabilities": [],
    "max_input_tokens": None,
    "max_output_tokens": None,
    "category": "video",
    "pricing_unit": "per_second",
    "has_complex_pricing": False,
    "lifecycle": LIFECYCLE,
    "commercial": {"user_charge_policy": "paid", "free_reason": None, "free_until": None},
    "badges": [],
}
LIST_ITEM = {
    "id": "zeta-video-2",
    "object": "model",
    "created": 1767225600,
    "owned_by": "zeta",
    "tokenlab": {
        **EXTENSION,
        "request_format_summary": {
            "public_operations": ["text-to-video", "image-to-video"],
            "request_endpoint": "/v1/videos/generations",
        },
    },
}
CHAT_ITEM = {**LIST_ITEM, "id": "zeta-chat", "tokenlab": {**EXTENSION, "category": "chat"}}
DETAIL = {
    "id": "zeta-video-2",
    "object": "model",
    "created": 1767225600,
    "owned_by": "zeta",
    "tokenlab": {
        **EXTENSION,
        "supported_operations": ["text-to-video", "image-to-video"],
        "accepted_request_formats": [],
        "request_format_summary": {
            "public_operations": ["text-to-video", "image-to-video"],
            "durations": ["5", "10"],
            "resolutions": ["720p", "1080p"],
            "aspect_ratios": ["16:9", "9:16"],
            "operation_constraints": [
                {"operation": "image-to-video", "allowed_durations": ["5"]},
            ],
        },
    },
}
NEWEST = {
    "/v1/models": {"object": "list", "data": [LIST_ITEM, CHAT_ITEM]},
    "/v1/models/zeta-video-2": DETAIL,
}


def renamed(body: Any) -> Any:
    """``body`` as the API sent it before the rename: ``lemondata``, not ``tokenlab``."""
    body = copy.deepcopy(body)
    items = body.get("data", [body])
    for item in items:
        item["lemondata"] = item.pop("tokenlab")
    return body


OLDER = {path: renamed(body) for path, body in NEWEST.items()}
COMPACT = {
    "/v1/models": {
        "object": "list",
        "view": "compact",
        "count": 1,
        "data": [
            {
                "id": "zeta-video-2",
                "provider": "zeta",
                "category": "video",
                "capabilities": [],
                "max_input_tokens": None,
                "max_output_tokens": None,
                "pricing": {"unit": "per_second", "currency": "USD", "has_complex_pricing": False},
                "status": "deprecated",
                "latest": False,
                "supported_operations": ["text-to-video", "image-to-video"],
            }
        ],
    },
    "/v1/models/zeta-video-2": {
        "id": "zeta-video-2",
        "durations": [5, 10.0],
        "resolutions": ["720p", "1080p"],
        "aspect_ratios": ["16:9", "9:16"],
    },
}
MINIMAL = {
    "/v1/models": {"data": [{"id": "zeta-video-2", "type": "video"}]},
    "/v1/models/zeta-video-2": {"supported_operations": ["text-to-video", "image-to-video"]},
}


def spec_validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(
        {"$ref": f"#/components/schemas/{name}", "components": SPEC["components"]}
    )


def test_the_newest_answers_are_in_the_spec_s_shape() -> None:
    assert list(spec_validator("ModelsResponse").iter_errors(NEWEST["/v1/models"])) == []
    assert list(spec_validator("Model").iter_errors(DETAIL)) == []
    compact = COMPACT["/v1/models"]
    assert list(spec_validator("CompactModelsResponse").iter_errors(compact)) == []


def serve(table: dict[str, Any]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        answer = table.get(request.url.path)
        if answer is None:
            return httpx.Response(404, json={"error": {"message": "not found", "type": "x"}})
        return httpx.Response(200, json=answer)

    return httpx.MockTransport(handle)


def fetch(table: dict[str, Any]) -> ModelMatrix:
    async def go() -> ModelMatrix:
        async with httpx.AsyncClient(
            transport=serve(table), base_url="https://api.tokenlab.test"
        ) as client:
            return await refresh.fetch_live(client)

    return anyio.run(go)


@pytest.mark.parametrize("table", [NEWEST, OLDER, COMPACT], ids=["newest", "older", "compact"])
def test_a_new_model_is_learnt_with_its_operations_and_limits(table: dict[str, Any]) -> None:
    assert "zeta-video-2" not in models.builtin()
    catalog = fetch(table)
    assert list(catalog.models) == ["zeta-video-2"]
    info = catalog.models["zeta-video-2"]
    assert info.operations == ("text-to-video", "image-to-video")
    assert info.limits == Limits(("5", "10"), ("720p", "1080p"), ("16:9", "9:16"))
    assert info.stage == "deprecated"
    assert info.vendor == "zeta"
    assert info.pricing is not None
    assert catalog.base_url == "https://api.tokenlab.test"
    assert catalog.refreshed_at is not None


def test_the_newest_shape_gives_constraints_replacement_and_pricing() -> None:
    for table in (NEWEST, OLDER):
        info = fetch(table).models["zeta-video-2"]
        assert info.by_operation == {"image-to-video": Limits(durations=("5",))}
        assert info.limits_for("image-to-video").durations == ("5",)
        assert info.replacement == "zeta-video-3"
        assert info.pricing == {
            "pricing": {"per_second": "0.07"},
            "pricing_unit": "per_second",
            "has_complex_pricing": False,
        }


def test_a_minimal_shape_gives_operations_only() -> None:
    info = fetch(MINIMAL).models["zeta-video-2"]
    assert info.operations == ("text-to-video", "image-to-video")
    assert (info.limits, info.stage, info.replacement) == (Limits(), None, None)


MANIFEST = """\
version: 1
jobs:
  - id: long
    model: zeta-video-2
    prompt: A product reveal
    duration: 8
  - id: animate
    model: zeta-video-2
    prompt: Bring it to life
    image_url: https://example.com/still.png
    duration: 10
"""


def cli(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(args, Context(environ=env, stdout=out, stderr=err))
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("table", [NEWEST, OLDER], ids=["newest", "older"])
def test_validation_uses_the_refreshed_catalog(
    table: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "HOME": str(tmp_path)}
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.yaml").write_text(MANIFEST, encoding="utf-8")
    code, _, err = cli(["validate", "m.yaml"], env)
    assert code == 2 and "unknown model zeta-video-2" in err  # the built-in catalog lacks it
    models.write_cache(models.cache_path(env), fetch(table))
    code, out, err = cli(["validate", "m.yaml"], env)
    warnings = [
        "m.yaml:4:12: warning: jobs[0] (long): model zeta-video-2 is deprecated; use zeta-video-3",
        "m.yaml:6:15: warning: jobs[0] (long): model zeta-video-2 takes durations 5, 10 for "
        "text-to-video; 8 is not among them",
        "m.yaml:8:12: warning: jobs[1] (animate): model zeta-video-2 is deprecated; "
        "use zeta-video-3",
        "m.yaml:11:15: warning: jobs[1] (animate): model zeta-video-2 takes durations 5 for "
        "image-to-video; 10 is not among them",
    ]
    assert (code, out, err.splitlines()) == (0, "m.yaml: ok (2 jobs)\n", warnings)
    code, out, err = cli(["validate", "--strict", "m.yaml"], env)
    errors = [line.replace(": warning: ", ": error: ") for line in warnings]
    summary = "vidbatch: 4 error(s) in manifest; nothing was submitted"
    assert (code, out, err.splitlines()) == (2, "", [*errors, summary])


def test_an_api_that_refuses_the_category_query_is_asked_for_the_whole_list() -> None:
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url.raw_path.decode()))
        if request.url.query:
            return httpx.Response(400, json={"error": {"message": "unknown parameter"}})
        return httpx.Response(200, json=MINIMAL.get(request.url.path, {}))

    async def go() -> ModelMatrix:
        async with httpx.AsyncClient(
            transport=httpx.MockTransport(handle), base_url="https://old.test"
        ) as client:
            return await refresh.fetch_live(client)

    assert list(anyio.run(go).models) == ["zeta-video-2"]
    assert seen == ["/v1/models?category=video", "/v1/models", "/v1/models/zeta-video-2"]
