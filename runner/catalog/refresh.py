"""``models --refresh``: the live catalog, from ``GET /v1/models`` and each detail.

Answers are read by ``runner.catalog.liveshape``, tolerantly; the HTTP side waits out
429s, reads a few details at a time, and never shows the key in a message.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import anyio
import httpx

from runner.base import apitext
from runner.base.errors import EXIT_FAILED, ApiStopped, VidbatchError
from runner.catalog import liveshape, prices
from runner.catalog.models import ModelInfo, ModelMatrix, builtin
from runner.catalog.prices import PriceBook

LIST_PATH = "/v1/models?category=video"
PRICING_PATH = "/v1/pricing"
_DETAIL_CONCURRENCY = 4
_MAX_RETRIES = 3
_MAX_RETRY_WAIT = 30.0


class RefreshError(VidbatchError):
    """The live model list could not be read (network, HTTP error, unusable answer)."""

    exit_code = EXIT_FAILED


async def fetch_live(client: httpx.AsyncClient, now: datetime | None = None) -> ModelMatrix:
    """The live catalog: the video models of the list, each with its detail.

    ``client`` carries the base URL and the key. A model whose answers name no
    known operation keeps its built-in ones, or has unknown operations when the
    built-in catalog lacks it. Raises ApiStopped for a refused key, RefreshError
    for anything else that goes wrong.
    """
    known = builtin()
    listing = await _get_json(client, LIST_PATH, unfiltered="/v1/models")
    items = liveshape.items_of(listing)
    if items is None:
        raise RefreshError("GET /v1/models: the answer has no list of models")
    entries = _video_entries(items, known)
    details = await _details(client, list(entries))
    models: dict[str, ModelInfo] = {}
    for model_id, item in entries.items():
        models[model_id] = liveshape.read_info(
            item, details.get(model_id), known.models.get(model_id)
        )
    if not models:
        raise RefreshError("the live model list names no video model")
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    base_url = str(client.base_url).rstrip("/")
    return ModelMatrix(
        models=models,
        source=f"live list from {base_url}",
        base_url=base_url,
        refreshed_at=stamp,
        default_model=known.default_model,
    )


async def fetch_pricing(client: httpx.AsyncClient, now: datetime | None = None) -> PriceBook:
    """The public prices (``GET /v1/pricing``, which needs no key), read tolerantly.

    Raises RefreshError (or ApiStopped for a refused key) like ``fetch_live``.
    """
    body = await _get_json(client, PRICING_PATH)
    base_url = str(client.base_url).rstrip("/")
    read_at = prices.stamp(now)
    found = prices.from_pricing(body, f"{PRICING_PATH} of {base_url}", read_at)
    if not found:
        raise RefreshError(f"GET {PRICING_PATH}: the answer lists no model with a price")
    return PriceBook(found, base_url, read_at)


def _video_entries(items: Sequence[Any], known: ModelMatrix) -> dict[str, Any]:
    """Each video model's list entry by id, in list order, the first of duplicates."""
    entries: dict[str, Any] = {}
    for item in items:
        model_id, video = liveshape.identify(item)
        if (
            model_id
            and model_id not in entries
            and (video or (video is None and model_id in known))
        ):
            entries[model_id] = item
    return entries


async def _details(client: httpx.AsyncClient, ids: Sequence[str]) -> dict[str, Any]:
    """Each model's detail (None where there is none), a few requests at a time."""
    details: dict[str, Any] = {}
    errors: list[VidbatchError] = []
    limiter = anyio.CapacityLimiter(_DETAIL_CONCURRENCY)

    async def detail(model_id: str) -> None:
        # An expected error is kept, not raised, so that it does not cancel the
        # siblings half way through a request; the first one is raised after.
        async with limiter:
            try:
                details[model_id] = await _get_json(
                    client, f"/v1/models/{quote(model_id, safe='')}", missing_ok=True
                )
            except VidbatchError as err:
                errors.append(err)

    async with anyio.create_task_group() as group:
        for model_id in ids:
            group.start_soon(detail, model_id)
    if errors:
        raise errors[0]
    return details


async def _get_json(
    client: httpx.AsyncClient, path: str, *, missing_ok: bool = False, unfiltered: str = ""
) -> Any:
    """GET ``path`` as JSON, waiting out 429s; None for a 403/404 when ``missing_ok``;
    ``unfiltered`` instead when the API refuses the query with a 400 (an older API)."""
    for attempt in range(_MAX_RETRIES + 1):
        try:
            response = await client.get(path)
        except httpx.HTTPError as err:
            detail = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
            raise RefreshError(_redact(f"GET {path} failed: {detail}", client)) from None
        if response.status_code == 429 and attempt < _MAX_RETRIES:
            await anyio.sleep(_retry_after(response))
            continue
        break
    # 404: no such detail; 403 on a detail: a model this key may not use (the API's
    # "model not allowed"), which says nothing about the rest of the list.
    if response.status_code in (403, 404) and missing_ok:
        return None
    if response.status_code in (401, 403):
        raise ApiStopped(
            _redact(
                f"the API refused the key (HTTP {response.status_code} from GET {path}): "
                f"{_api_message(response)}; check LEMONDATA_API_KEY",
                client,
            )
        )
    if response.status_code == 400 and unfiltered:
        return await _get_json(client, unfiltered)
    if response.status_code >= 400:
        raise RefreshError(
            _redact(
                f"GET {path} failed: HTTP {response.status_code}: {_api_message(response)}", client
            )
        )
    body = apitext.parse(response.content, _key(client))  # the key redacted from it all
    if body is None:
        raise RefreshError(f"GET {path}: the answer is not JSON")
    return body


def _retry_after(response: httpx.Response) -> float:
    try:
        wait = float(response.headers.get("retry-after", "1"))
    except ValueError:
        wait = 1.0
    return min(max(wait, 0.0), _MAX_RETRY_WAIT)


def _api_message(response: httpx.Response) -> str:
    body = apitext.parse(response.content, "")  # the whole message is redacted after
    if body is None:
        return " ".join(response.text.split())[:200] or response.reason_phrase
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return apitext.text(error["message"], 500) or ""
    if isinstance(error, str) and error:
        return apitext.text(error, 500) or ""
    return response.reason_phrase


def _redact(message: str, client: httpx.AsyncClient) -> str:
    """``message`` without the client's key, whatever echoed it, and without control
    characters (it is printed)."""
    key = _key(client)
    return apitext.printable(message.replace(key, "***") if len(key) >= 4 else message)


def _key(client: httpx.AsyncClient) -> str:
    return str(client.headers.get("authorization", "")).split(" ", 1)[-1].strip()
