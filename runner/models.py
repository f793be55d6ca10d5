"""The model matrix: which operation each model supports.

The built-in matrix is the documentation page's table (``schemas/models.json``);
``vidbatch models --refresh`` writes a cache from the live API, which, when present,
is used instead so that a new model validates without a new release.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import httpx

from runner import schema
from runner.errors import EXIT_FAILED, ApiStopped, VidbatchError
from runner.files import write_atomic

OPERATIONS: tuple[str, ...] = (
    "text-to-video",
    "image-to-video",
    "reference-to-video",
    "start-end-to-video",
    "video-to-video",
    "video-extension",
    "audio-to-video",
    "motion-control",
)


@dataclass(frozen=True)
class ModelMatrix:
    """Model id to the operations it supports, and where that knowledge came from."""

    models: Mapping[str, tuple[str, ...]]
    source: str

    def supports(self, model: str, operation: str) -> bool:
        return operation in self.models.get(model, ())

    def __contains__(self, model: object) -> bool:
        return model in self.models


def builtin() -> ModelMatrix:
    """The matrix of the documentation page, shipped with the package."""
    data = json.loads(schema.read_text("models.json"))
    return _from_json(data, "built-in")


def cache_path(environ: Mapping[str, str]) -> Path:
    """Where ``models --refresh`` keeps the live list (XDG cache directory)."""
    base = environ.get("XDG_CACHE_HOME") or os.path.join(environ.get("HOME", "."), ".cache")
    return Path(base) / "vidbatch" / "models.json"


def load(cache_file: Path | None) -> ModelMatrix:
    """The refreshed matrix when ``cache_file`` holds a readable one, else the built-in."""
    if cache_file is not None and cache_file.is_file():
        try:
            data = json.loads(cache_file.read_text("utf-8"))
            return _from_json(data, str(cache_file))
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return builtin()


def to_json(matrix: ModelMatrix) -> dict[str, Any]:
    """The matrix as the JSON that ``models.json`` and the cache hold."""
    return {
        "source": matrix.source,
        "operations": list(OPERATIONS),
        "models": {m: {"operations": list(ops)} for m, ops in sorted(matrix.models.items())},
    }


def _from_json(data: Mapping[str, Any], source: str) -> ModelMatrix:
    models = {str(m): tuple(str(o) for o in v["operations"]) for m, v in data["models"].items()}
    return ModelMatrix(models=models, source=source)


class RefreshError(VidbatchError):
    """The live model list could not be read (network, HTTP error, unusable answer)."""

    exit_code = EXIT_FAILED


def write_cache(cache_file: Path, matrix: ModelMatrix) -> None:
    """Write ``matrix`` to ``cache_file`` atomically (temp file beside it, then replace)."""
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(to_json(matrix), indent=2, sort_keys=True) + "\n"
    write_atomic(cache_file, text.encode("utf-8"))


_DETAIL_CONCURRENCY = 4
_MAX_RETRIES = 3
_MAX_RETRY_WAIT = 30.0
_TYPE_KEYS = (
    "type",
    "category",
    "model_type",
    "kind",
    "modality",
    "modalities",
    "output_modalities",
)
_OPERATION_KEYS = ("supported_operations", "operations")


async def fetch_live(client: httpx.AsyncClient) -> ModelMatrix:
    """The live matrix: ``GET /v1/models``, then ``GET /v1/models/{id}`` per video model.

    ``client`` carries the base URL and the key. Answers are read tolerantly: the
    list as ``{"data": [...]}`` or a bare list; operations under
    ``supported_operations`` or ``operations``, at the top or under ``capabilities``.
    A model whose detail names no known operation keeps its built-in ones, or is
    left out when it has none. Raises ApiStopped for a refused key, RefreshError
    for anything else that goes wrong.
    """
    known = builtin()
    ids = _video_ids(await _get_json(client, "/v1/models"), known)
    details = await _details(client, ids)
    models = {}
    for model_id in ids:
        ops = _operations(details.get(model_id)) or known.models.get(model_id, ())
        if ops:
            models[model_id] = ops
    if not models:
        raise RefreshError("the live model list names no video model with a known operation")
    return ModelMatrix(models=models, source=f"live list from {client.base_url}")


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


async def _get_json(client: httpx.AsyncClient, path: str, *, missing_ok: bool = False) -> Any:
    """GET ``path`` as JSON, waiting out 429s; None for a 403/404 when ``missing_ok``."""
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
    if response.status_code >= 400:
        raise RefreshError(
            _redact(
                f"GET {path} failed: HTTP {response.status_code}: {_api_message(response)}", client
            )
        )
    try:
        return response.json()
    except ValueError:
        raise RefreshError(f"GET {path}: the answer is not JSON") from None


def _retry_after(response: httpx.Response) -> float:
    try:
        wait = float(response.headers.get("retry-after", "1"))
    except ValueError:
        wait = 1.0
    return min(max(wait, 0.0), _MAX_RETRY_WAIT)


def _api_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return " ".join(response.text.split())[:200] or response.reason_phrase
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    if isinstance(error, str) and error:
        return error
    return response.reason_phrase


def _redact(message: str, client: httpx.AsyncClient) -> str:
    """``message`` without the client's key, whatever echoed it."""
    auth = client.headers.get("authorization", "")
    key = auth.split(" ", 1)[-1].strip()
    return message.replace(key, "***") if len(key) >= 4 else message


def _video_ids(listing: Any, known: ModelMatrix) -> list[str]:
    """The ids of video models in the list, in its order, without duplicates."""
    items = listing.get("data") if isinstance(listing, dict) else listing
    if not isinstance(items, list):
        raise RefreshError("GET /v1/models: the answer has no list of models")
    ids: list[str] = []
    for item in items:
        model_id, video = _identify(item)
        if model_id and model_id not in ids and (video or (video is None and model_id in known)):
            ids.append(model_id)
    return ids


def _identify(item: Any) -> tuple[str | None, bool | None]:
    """An entry's id, and whether it says it is a video model (None: it does not say)."""
    if isinstance(item, str):
        return item, None
    if not isinstance(item, dict):
        return None, None
    model_id = next(
        (item[k] for k in ("id", "model", "name") if isinstance(item.get(k), str)), None
    )
    hints = [_words(item[k]) for k in _TYPE_KEYS if k in item]
    if not hints:
        return model_id, None
    return model_id, any("video" in word for words in hints for word in words)


def _words(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value.lower()]
    if isinstance(value, Sequence):
        return [str(v).lower() for v in value]
    return []


def _operations(detail: Any) -> tuple[str, ...]:
    """The known operations a model detail names, in OPERATIONS order."""
    if isinstance(detail, dict) and isinstance(detail.get("data"), dict):
        detail = detail["data"]
    if not isinstance(detail, dict):
        return ()
    for holder in (detail, detail.get("capabilities")):
        if not isinstance(holder, dict):
            continue
        for key in _OPERATION_KEYS:
            if key in holder:
                named = {_operation_name(v) for v in _listed(holder[key])}
                return tuple(op for op in OPERATIONS if op in named)
    return ()


def _listed(value: Any) -> list[Any]:
    if isinstance(value, str):
        return value.split(",")
    if isinstance(value, dict):
        return [k for k, v in value.items() if v]
    return list(value) if isinstance(value, list) else []


def _operation_name(value: Any) -> str:
    if isinstance(value, dict):
        value = next((value[k] for k in ("name", "id", "operation") if k in value), "")
    return str(value).strip().lower().replace("_", "-")
