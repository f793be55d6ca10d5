"""The models list, detail and pricing answers, in the newest documented shape.

``GET /v1/models`` (full, or ``?view=compact``), ``GET /v1/models/{model}``,
``GET /v1/models/{model}/pricing`` and ``GET /v1/pricing``, as the provider's
OpenAPI describes them (``ModelsResponse``, ``CompactModelsResponse``, ``Model``,
``ModelPricingResponse``, ``PricingResponse``): per model a ``tokenlab`` object
with category, operations, lifecycle, pricing and ``request_format_summary``.
Written from the spec, not from what the client parses.
"""

from __future__ import annotations

import json
import re
from typing import Any

from runner.catalog.models import LIMIT_FIELDS, ModelInfo, ModelMatrix
from runner.sandbox.catalog import profile

CREATED = 1767225600  # 2026-01-01, for every model
ENDPOINT = "/v1/videos/generations"
_PRICE = re.compile(r"\$([0-9.]+)(?:\D+\$([0-9.]+))?")


def model_list(matrix: ModelMatrix, view: str | None, category: str | None) -> dict[str, Any]:
    """The body of ``GET /v1/models``: only video models, so another category is empty."""
    ids = sorted(matrix.models) if category in (None, "", "video") else []
    if view == "compact":
        data = [_compact(model, matrix.models[model]) for model in ids]
        return {"object": "list", "view": "compact", "count": len(data), "data": data}
    return {"object": "list", "data": [_list_item(model, matrix.models[model]) for model in ids]}


def model_detail(matrix: ModelMatrix, model: str) -> dict[str, Any]:
    """The body of ``GET /v1/models/{model}`` (``model`` must be in the catalog)."""
    info = matrix.models[model]
    extension = {
        **_extension(model, info),
        "accepted_request_formats": [],
        "request_format_summary": _summary(model, info),
    }
    if info.operations is not None:
        extension["supported_operations"] = list(info.operations)
    return {**_head(model), "tokenlab": extension}


def model_pricing(matrix: ModelMatrix, model: str) -> dict[str, Any]:
    """The body of ``GET /v1/models/{model}/pricing``."""
    info = matrix.models[model]
    unit, low, high = _price(info)
    answer: dict[str, Any] = {
        "model": model,
        "pricing_unit": unit,
        "has_complex_pricing": low != high,
        "scalar_pricing": {"currency": "USD", "min_price": low, "max_price": high},
    }
    if info.operations is not None:
        answer["supported_operations"] = list(info.operations)
    return answer


def pricing(matrix: ModelMatrix, updated_at: str) -> dict[str, Any]:
    """The body of ``GET /v1/pricing``."""
    data = []
    for model, info in sorted(matrix.models.items()):
        unit, low, high = _price(info)
        entry: dict[str, Any] = {
            "model": model,
            "provider": profile(model).owned_by,
            "is_lock_price": unit == "per_request",
            "capabilities": [],
            "aliases": [],
            "has_complex_pricing": low != high,
            "pricing_summary": {"unit": unit, "min_price": low, "max_price": high},
        }
        if unit == "per_request":
            entry["lock_price_per_request"] = low
        if info.operations is not None:
            entry["supported_operations"] = list(info.operations)
        data.append(entry)
    return {"object": "pricing", "updated_at": updated_at, "currency": "USD", "data": data}


def charge(matrix: ModelMatrix, body: bytes) -> dict[str, Any]:
    """What a refused create (402) says of the money: the request's cost at the
    model's highest listed price (per second: times its duration, else 5 s), and a
    balance of zero."""
    try:
        request = json.loads(body)
    except ValueError:
        request = None
    request = request if isinstance(request, dict) else {}
    model = request.get("model")
    info = matrix.models.get(model) if isinstance(model, str) else None
    answer: dict[str, Any] = {"balance_usd": 0.0}
    if info is None:
        return answer
    unit, _, high = _price(info)
    if unit == "per_1m_tokens":
        return answer
    duration = request.get("duration")
    seconds = 5
    if isinstance(duration, int) and not isinstance(duration, bool) and duration > 0:
        seconds = duration
    times = seconds if unit == "per_second" else 1
    answer["estimated_cost_usd"] = round(float(high) * times, 6)
    return answer


def _head(model: str) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": CREATED, "owned_by": profile(model).owned_by}


def _list_item(model: str, info: ModelInfo) -> dict[str, Any]:
    summary: dict[str, Any] = {"request_endpoint": ENDPOINT}
    if info.operations is not None:
        summary["public_operations"] = list(info.operations)
    return {
        **_head(model),
        "tokenlab": {**_extension(model, info), "request_format_summary": summary},
    }


def _extension(model: str, info: ModelInfo) -> dict[str, Any]:
    """What the list item and the detail share under ``tokenlab``."""
    unit, low, high = _price(info)
    return {
        "aliases": [],
        "pricing": {"unit": unit, "currency": "USD", "min_price": low, "max_price": high},
        "capabilities": [],
        "max_input_tokens": None,
        "max_output_tokens": None,
        "category": "video",
        "pricing_unit": unit,
        "has_complex_pricing": low != high,
        "lifecycle": _lifecycle(info),
        "commercial": {"user_charge_policy": "paid", "free_reason": None, "free_until": None},
        "badges": [],
    }


def _compact(model: str, info: ModelInfo) -> dict[str, Any]:
    unit, low, high = _price(info)
    item: dict[str, Any] = {
        "id": model,
        "provider": profile(model).owned_by,
        "category": "video",
        "capabilities": [],
        "max_input_tokens": None,
        "max_output_tokens": None,
        "pricing": {
            "unit": unit,
            "currency": "USD",
            "min_price": low,
            "max_price": high,
            "has_complex_pricing": low != high,
        },
        "status": info.stage or "active",
        "latest": False,
        "request_endpoint": ENDPOINT,
    }
    if info.operations is not None:
        item["supported_operations"] = list(info.operations)
    return item


def _summary(model: str, info: ModelInfo) -> dict[str, Any]:
    """``request_format_summary`` with the catalog's documented limits only: invented
    ones would make a catalog refreshed from the sandbox warn about documented values."""
    limits = info.limits
    summary: dict[str, Any] = {
        **{name: list(getattr(limits, name)) for name in LIMIT_FIELDS if getattr(limits, name)},
        "request_endpoint": ENDPOINT,
        "operation_constraints": [
            {
                "operation": operation,
                "request_endpoint": ENDPOINT,
                "allowed_durations": list(own.durations),
                "allowed_resolutions": list(own.resolutions),
                "allowed_aspect_ratios": list(own.aspect_ratios),
            }
            for operation, own in info.by_operation.items()
        ],
    }
    if info.operations is not None:
        summary["public_operations"] = list(info.operations)
    return summary


def _lifecycle(info: ModelInfo) -> dict[str, Any]:
    return {
        "stage": info.stage or "active",
        "reason": None,
        "replacement_model": info.replacement,
        "released_at": None,
        "deprecated_at": None,
        "retired_at": None,
        "sunset_at": None,
        "latest": False,
        "latest_source": "none",
        "latest_window_days": None,
    }


def _price(info: ModelInfo) -> tuple[str, str, str]:
    """(unit, min, max) as USD decimal strings, from the catalog's listed price."""
    listed = str((info.pricing or {}).get("listed", ""))
    unit = "per_second"
    if "/request" in listed:
        unit = "per_request"
    elif "1M tokens" in listed:
        unit = "per_1m_tokens"
    found = _PRICE.search(listed)
    if found is None:
        return unit, "0.10", "0.10"
    low = found.group(1)
    return unit, low, found.group(2) or low
