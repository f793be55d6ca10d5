from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from runner.base.errors import ApiStopped
from runner.catalog import models, refresh
from runner.catalog.models import ModelMatrix, matrix_of
from runner.catalog.refresh import RefreshError
from runner.cli import Context, main
from tests.netguard import no_network  # noqa: F401

KEY = "sk-secret-test-key-1234"
Handler = Callable[[httpx.Request], httpx.Response]


def fetch(handler: Handler) -> ModelMatrix:
    async def go() -> ModelMatrix:
        async with httpx.AsyncClient(
            transport=httpx.MockTransport(handler),
            base_url="https://api.example.test",
            headers={"Authorization": f"Bearer {KEY}"},
        ) as client:
            return await refresh.fetch_live(client)

    return anyio.run(go)


def routes(table: dict[str, Any]) -> Handler:
    """Answer GETs from ``table`` (path to JSON body, or to a prepared Response)."""

    def handle(request: httpx.Request) -> httpx.Response:
        assert request.method == "GET"
        assert request.headers["authorization"] == f"Bearer {KEY}"
        answer = table.get(request.url.path)
        if answer is None:
            return httpx.Response(404, json={"error": {"message": "model not found"}})
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json=answer)

    return handle


def operations(matrix: ModelMatrix) -> dict[str, tuple[str, ...] | None]:
    return {model: info.operations for model, info in matrix.models.items()}


# --- fetch_live -----------------------------------------------------------------------


def test_documented_shape() -> None:
    matrix = fetch(
        routes(
            {
                "/v1/models": {
                    "object": "list",
                    "data": [
                        {"id": "new-video-1", "object": "model", "owned_by": "x", "type": "video"},
                        {"id": "gpt-4o", "object": "model", "owned_by": "openai", "type": "chat"},
                    ],
                },
                "/v1/models/new-video-1": {
                    "id": "new-video-1",
                    "supported_operations": ["image-to-video", "text-to-video"],
                    "resolutions": ["720p"],
                    "durations": ["5"],
                },
            }
        )
    )
    assert operations(matrix) == {"new-video-1": ("text-to-video", "image-to-video")}
    assert matrix.source == "live list from https://api.example.test"
    assert matrix.base_url == "https://api.example.test"
    assert matrix.models["new-video-1"].limits == models.Limits(("5",), ("720p",))


def test_odd_shapes_are_read_tolerantly() -> None:
    listing = [
        "sora-2",  # a bare id: kept because the built-in matrix knows it as video
        "some-chat-model",  # a bare id nobody knows: not a video model
        {"model": "a", "category": "Video Generation"},
        {"name": "b", "modalities": ["text", "video"]},
        {"id": "c", "type": "video"},
        {"id": "d", "type": "video"},
        {"id": "e", "type": "video"},
        {"id": "kling-v2.6-pro", "type": "video"},
        {"id": "mystery", "type": "video"},
        {"id": "c", "type": "video"},  # a duplicate
        {"id": "embed", "type": "embedding"},
        42,
    ]
    matrix = fetch(
        routes(
            {
                "/v1/models": listing,
                "/v1/models/sora-2": {"data": {"operations": ["text_to_video"]}},
                "/v1/models/a": {"capabilities": {"supported_operations": "motion-control, x"}},
                "/v1/models/b": {"operations": {"text-to-video": True, "image-to-video": False}},
                "/v1/models/c": {"supported_operations": [{"name": "Video-To-Video"}]},
                "/v1/models/d": {"supported_operations": ["teleport"]},
                "/v1/models/e": {"capabilities": {"operations": [{"operation": "audio-to-video"}]}},
                "/v1/models/kling-v2.6-pro": {"id": "kling-v2.6-pro"},
                "/v1/models/mystery": {"id": "mystery", "resolutions": ["720p"]},
            }
        )
    )
    assert operations(matrix) == {
        "sora-2": ("text-to-video",),
        "a": ("motion-control",),
        "b": ("text-to-video",),
        "c": ("video-to-video",),
        "d": None,  # named only operations nobody knows: unknown, validation warns
        "e": ("audio-to-video",),
        # named no operation: keeps the built-in ones
        "kling-v2.6-pro": models.builtin().models["kling-v2.6-pro"].operations,
        "mystery": None,  # a video model without a known operation is still learnt
    }


def test_missing_detail_falls_back_to_the_builtin_operations() -> None:
    matrix = fetch(routes({"/v1/models": {"data": [{"id": "veo3.1-fast", "type": "video"}]}}))
    assert operations(matrix) == {"veo3.1-fast": models.builtin().models["veo3.1-fast"].operations}


def test_model_ids_are_quoted_in_the_detail_path() -> None:
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path.decode())
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": "org/model v2", "type": "video"}]})
        return httpx.Response(200, json={"supported_operations": ["text-to-video"]})

    assert operations(fetch(handle)) == {"org/model v2": ("text-to-video",)}
    assert seen == ["/v1/models?category=video", "/v1/models/org%2Fmodel%20v2"]


def test_refused_key_stops_without_showing_the_key() -> None:
    answer = httpx.Response(401, json={"error": {"message": f"Invalid API key: {KEY}"}})
    with pytest.raises(ApiStopped) as caught:
        fetch(routes({"/v1/models": answer}))
    assert str(caught.value) == (
        "the API refused the key (HTTP 401 from GET /v1/models?category=video): "
        "Invalid API key: ***; check LEMONDATA_API_KEY"
    )
    assert caught.value.exit_code == 3


def test_forbidden_detail_falls_back_like_a_missing_one() -> None:
    table = {
        "/v1/models": {"data": [{"id": "c", "type": "video"}, {"id": "sora-2", "type": "video"}]},
        "/v1/models/c": httpx.Response(403, json={"error": {"message": "model not allowed"}}),
        "/v1/models/sora-2": httpx.Response(403, json={"error": {"message": "not allowed"}}),
    }
    assert operations(fetch(routes(table))) == {
        "c": None,
        "sora-2": models.builtin().models["sora-2"].operations,
    }


def test_forbidden_list_stops() -> None:
    answer = httpx.Response(403, json={"error": {"message": "access denied"}})
    with pytest.raises(ApiStopped) as caught:
        fetch(routes({"/v1/models": answer}))
    assert str(caught.value) == (
        "the API refused the key (HTTP 403 from GET /v1/models?category=video): access denied; "
        "check LEMONDATA_API_KEY"
    )


def test_refused_key_on_a_detail_stops() -> None:
    table = {
        "/v1/models": {"data": [{"id": "c", "type": "video"}]},
        "/v1/models/c": httpx.Response(401, json={"error": {"message": "expired key"}}),
    }
    with pytest.raises(
        ApiStopped, match=r"^the API refused the key \(HTTP 401 from GET /v1/models/c\)"
    ):
        fetch(routes(table))


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            httpx.Response(500, json={"error": {"message": "upstream exploded", "type": "x"}}),
            "GET /v1/models?category=video failed: HTTP 500: upstream exploded",
        ),
        (
            httpx.Response(502, text="<html>Bad Gateway</html>"),
            "GET /v1/models?category=video failed: HTTP 502: <html>Bad Gateway</html>",
        ),
        (
            httpx.Response(503, json={"error": "down"}),
            "GET /v1/models?category=video failed: HTTP 503: down",
        ),
        (
            httpx.Response(500, text=""),
            "GET /v1/models?category=video failed: HTTP 500: Internal Server Error",
        ),
        (
            httpx.Response(200, text="not json"),
            "GET /v1/models?category=video: the answer is not JSON",
        ),
        (
            httpx.Response(200, json={"object": "list"}),
            "GET /v1/models: the answer has no list of models",
        ),
        (
            httpx.Response(200, json={"data": [{"id": "gpt", "type": "chat"}]}),
            "the live model list names no video model",
        ),
    ],
)
def test_unusable_answers(answer: httpx.Response, message: str) -> None:
    with pytest.raises(RefreshError) as caught:
        fetch(routes({"/v1/models": answer}))
    assert str(caught.value) == message
    assert caught.value.exit_code == 1


def test_network_errors_become_refresh_errors() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    with pytest.raises(RefreshError) as caught:
        fetch(handle)
    assert str(caught.value) == (
        "GET /v1/models?category=video failed: ConnectError: [Errno 111] Connection refused"
    )


def test_rate_limits_are_waited_out(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = [
        httpx.Response(429, headers={"Retry-After": "0"}, json={"error": {"message": "slow"}}),
        httpx.Response(429, headers={"Retry-After": "soon"}, json={}),
        httpx.Response(200, json={"data": [{"id": "c", "type": "video"}]}),
    ]

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return answers.pop(0)
        return httpx.Response(200, json={"operations": ["text-to-video"]})

    waits: list[float] = []

    async def no_sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(anyio, "sleep", no_sleep)
    assert operations(fetch(handle)) == {"c": ("text-to-video",)}
    assert waits == [0.0, 1.0]


def test_endless_rate_limiting_gives_up() -> None:
    answer = httpx.Response(429, headers={"Retry-After": "0"}, json={"error": {"message": "slow"}})
    with pytest.raises(
        RefreshError, match=r"^GET /v1/models\?category=video failed: HTTP 429: slow$"
    ):
        fetch(routes({"/v1/models": answer}))


# --- the cache ------------------------------------------------------------------------


def test_write_cache_then_load_prefers_it(tmp_path: Path) -> None:
    cache = models.cache_path({"XDG_CACHE_HOME": str(tmp_path / "cache")})
    matrix = matrix_of({"z-video": ("text-to-video",)}, "live list from https://x")
    models.write_cache(cache, matrix)
    assert sorted(p.name for p in cache.parent.iterdir()) == ["models.json"]
    assert json.loads(cache.read_text()) == {
        "source": "live list from https://x",
        "default_model": "veo3.1",
        "operations": list(models.OPERATIONS),
        "models": {"z-video": {"operations": ["text-to-video"]}},
    }
    assert models.load(cache) == matrix_of({"z-video": ("text-to-video",)}, str(cache))


def test_unreadable_cache_falls_back_to_builtin(tmp_path: Path) -> None:
    cache = tmp_path / "models.json"
    cache.write_text("{broken")
    assert models.load(cache) == models.builtin()
    assert models.load(None) == models.builtin()


# --- the command ----------------------------------------------------------------------


def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), Context(environ=env, stdout=out, stderr=err))
    return code, out.getvalue(), err.getvalue()


def test_table_of_the_builtin_matrix(tmp_path: Path) -> None:
    code, out, err = run_cli("models", env={"XDG_CACHE_HOME": str(tmp_path)})
    assert (code, err) == (0, "")
    lines = out.splitlines()
    count = len(models.builtin().models)
    assert lines[0] == (
        "model                           text  image  ref  start-end  video  extend  audio  motion"
        "  price"
    )
    assert (
        "grok-imagine-image-to-video      .      x     .       .        .      .       .      ."
        "     -"
    ) in lines
    assert (
        "happyhorse-1.0                   ?      ?     ?       ?        ?      ?       ?      ?"
        "     $0.123769-$0.220034/s"
    ) in lines
    assert any(line.startswith("veo3.1 ") and line.endswith("$0.1-$0.3/s") for line in lines)
    assert any(line.startswith("hailuo-2.3 ") and "$0.28-$0.56/request" in line for line in lines)
    assert any(line.startswith("seedance-2.0 ") and "per 1M tokens" in line for line in lines)
    assert lines[-4] == f"{count} models; source: built-in"
    assert lines[-3].startswith("columns: text = text-to-video, image = image-to-video, ")
    assert lines[-2] == "?: operations not documented; validation warns instead of refusing"
    assert lines[-1] == "prices (USD): built-in catalog; -: none listed"
    assert len(lines) == 1 + count + 5


def test_render_table_exactly() -> None:
    from runner.commands.models import render_table

    matrix = matrix_of({"m": ("text-to-video", "motion-control")}, "test")
    assert render_table(matrix) == (
        "model  text  image  ref  start-end  video  extend  audio  motion\n"
        "m       x      .     .       .        .      .       .      x\n"
        "\n"
        "1 model; source: test\n"
        "columns: text = text-to-video, image = image-to-video, ref = reference-to-video, "
        "start-end = start-end-to-video, video = video-to-video, extend = video-extension, "
        "audio = audio-to-video, motion = motion-control\n"
    )


def test_json_output(tmp_path: Path) -> None:
    code, out, _ = run_cli("models", "--json", env={"XDG_CACHE_HOME": str(tmp_path)})
    assert code == 0
    shown = json.loads(out)
    assert shown.pop("prices")["veo3.1"] == {
        "unit": "per_second",
        "min_price": "0.1",
        "max_price": "0.3",
        "has_complex_pricing": True,
        "source": "built-in catalog",
    }
    assert shown == models.to_json(models.builtin())


def test_refresh_from_the_sandbox_writes_the_cache(tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    code, out, err = run_cli("models", "--refresh", "--sandbox", "--json", env=env)
    cache = tmp_path / "vidbatch" / "models.json"
    assert code == 0
    count = len(models.builtin().models)
    assert err == (
        f"cached {count} models from http://api.sandbox.invalid in {cache}\n"
        f"cached the prices of {count} models in {cache.with_name('prices.json')}\n"
    )
    shown = json.loads(out)
    lock = shown["prices"]["hailuo-2.3"]  # the sandbox's /v1/pricing: lock prices per request
    assert lock["lock_price_per_request"] == "0.28" and lock["read_at"] == shown["refreshed_at"]
    assert shown["source"] == str(cache)
    code, table, _ = run_cli("models", env=env)
    footer = table.splitlines()[-4]  # a table from a sandbox refresh has no "?" line
    assert table.splitlines()[-1].startswith("prices (USD): price cache ")
    assert footer.startswith(f"{count} models; source: {cache} (from http://api.sandbox.invalid")
    assert shown["base_url"] == "http://api.sandbox.invalid"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", shown["refreshed_at"])
    # the sandbox serves the built-in catalog: the same models and operations
    assert operations(models.load(cache)) == operations(models.builtin())
    # and no invented limits: the examples validate against it without a warning
    from runner.manifest import loader

    examples = sorted((Path(__file__).parent.parent / "manifests").glob("*.yaml"))
    refreshed = models.load(cache)
    assert [loader.load(p, matrix=refreshed).warnings for p in examples] == [()] * len(examples)


def test_refresh_over_http_sends_the_key_and_never_prints_it(tmp_path: Path) -> None:
    from runner.sandbox import SandboxConfig, background

    with background(SandboxConfig(required_key=KEY)) as base:
        env = {"XDG_CACHE_HOME": str(tmp_path), "LEMONDATA_API_KEY": KEY}
        code, out, err = run_cli("models", "--refresh", "--base-url", base, env=env)
        assert (code, KEY in out + err) == (0, False)
        cache = tmp_path / "vidbatch" / "models.json"
        assert err.startswith(
            f"cached {len(models.builtin().models)} models from {base} in {cache}\n"
        )
        env["LEMONDATA_API_KEY"] = "sk-wrong-key-5678"
        env["LEMONDATA_BASE_URL"] = base
        code, out, err = run_cli("models", "--refresh", env=env)
    assert (code, out) == (3, "")
    assert err.startswith(
        "vidbatch: error: the API refused the key (HTTP 401 from GET /v1/models?category=video)"
    )
    assert "sk-wrong-key-5678" not in err


def test_refresh_needs_a_key(tmp_path: Path) -> None:
    code, out, err = run_cli("models", "--refresh", env={"XDG_CACHE_HOME": str(tmp_path)})
    assert (code, out) == (2, "")
    assert err == (
        "vidbatch: error: LEMONDATA_API_KEY is not set: export your API key, "
        "or try vidbatch without one on the embedded sandbox with --sandbox\n"
    )
    assert not (tmp_path / "vidbatch").exists()


def test_refresh_needs_an_http_base_url(tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path), "LEMONDATA_API_KEY": KEY}
    code, _, err = run_cli("models", "--refresh", "--base-url", "ftp://api.example.test", env=env)
    assert code == 2
    assert err == (
        "vidbatch: error: the API base URL 'ftp://api.example.test' must be an http(s) URL\n"
    )


def test_base_url_without_refresh_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = run_cli("models", "--sandbox", env={"XDG_CACHE_HOME": str(tmp_path)})
    assert code == 2
    assert err == "vidbatch: error: --base-url and --sandbox apply only with --refresh\n"
