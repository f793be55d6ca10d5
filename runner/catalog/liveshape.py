"""Reading the live model list and details, in every shape they have had.

The newest API keeps a model's category, operations, limits, lifecycle and pricing
under ``tokenlab`` (older: ``lemondata``): ``supported_operations``, and in
``request_format_summary`` the ``public_operations``, ``durations`` (strings),
``resolutions``, ``aspect_ratios`` and per-operation ``operation_constraints``
(``allowed_*``). The compact list (``?view=compact``) has category, operations and
pricing at the top of each item, and the oldest answers had them there too. Each
value is looked for in all these places; what is missing stays unknown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from runner.catalog.models import OPERATIONS, STAGES, Limits, ModelInfo

EXTENSIONS = ("tokenlab", "lemondata")
_TYPE_KEYS = (
    "category",
    "type",
    "model_type",
    "kind",
    "modality",
    "modalities",
    "output_modalities",
)
_OPERATION_KEYS = ("supported_operations", "operations")
_SUMMARIES = ("request_format_summary", "request_format_details")


def _model_id(value: str | None) -> str | None:
    """A model id is printed and cached: a short string without control characters."""
    ok = value is not None and 0 < len(value) <= 200 and value.isprintable()
    return value if ok else None


def items_of(listing: Any) -> list[Any] | None:
    """The entries of a model list (``{"data": [...]}`` or a bare list); None if none."""
    items = listing.get("data") if isinstance(listing, dict) else listing
    return items if isinstance(items, list) else None


def identify(item: Any) -> tuple[str | None, bool | None]:
    """An entry's id, and whether it says it is a video model (None: it does not say)."""
    if isinstance(item, str):
        return _model_id(item), None
    if not isinstance(item, dict):
        return None, None
    found = next((item[k] for k in ("id", "model", "name") if isinstance(item.get(k), str)), None)
    model_id = _model_id(found)
    hints = [_words(h[k]) for h in (item, extension(item)) for k in _TYPE_KEYS if k in h]
    if not hints:
        return model_id, None
    return model_id, any("video" in word for words in hints for word in words)


def extension(body: Any) -> dict[str, Any]:
    """The ``tokenlab`` (or ``lemondata``) object of a list item or detail; {} if none."""
    if isinstance(body, dict):
        for name in EXTENSIONS:
            if isinstance(body.get(name), dict):
                found: dict[str, Any] = body[name]
                return found
    return {}


def unwrap(detail: Any) -> dict[str, Any]:
    """A detail body, out of a ``{"data": {...}}`` wrapper when there is one."""
    if isinstance(detail, dict) and isinstance(detail.get("data"), dict):
        detail = detail["data"]
    return detail if isinstance(detail, dict) else {}


def read_info(item: Any, detail: Any, known: ModelInfo | None) -> ModelInfo:
    """What the list item and the detail say of one model, over what was known."""
    body = unwrap(detail)
    entry = item if isinstance(item, dict) else {}
    places = [extension(body), body, extension(entry), entry]
    named = _operations(places)
    summary = _summary(places)
    operations = named if named is not None else (known.operations if known else None)
    return ModelInfo(
        operations=operations,
        limits=_limits(summary).over(_limits(body)),
        by_operation=_constraints(summary),
        stage=_stage(places),
        replacement=_first_text(places, "lifecycle", "replacement_model"),
        vendor=_vendor(entry, body) or (known.vendor if known else None),
        sources=("live",),
        pricing=_pricing(places),
        # the live answers do not carry input counts: the documented ones stay
        max_inputs=known.max_inputs if known else {},
    )


def _operations(places: Sequence[dict[str, Any]]) -> tuple[str, ...] | None:
    """The known operations named anywhere; None when nothing names any."""
    for holder in _holders(places):
        for key in _OPERATION_KEYS:
            if key in holder:
                return _known_operations(holder[key])
        if "public_operations" in holder:
            return _known_operations(holder["public_operations"])
    return None


def _holders(places: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    holders: list[dict[str, Any]] = []
    for place in places:
        holders.append(place)
        holders += [place[k] for k in _SUMMARIES if isinstance(place.get(k), dict)]
        if isinstance(place.get("capabilities"), dict):
            holders.append(place["capabilities"])
    return holders


def _known_operations(value: Any) -> tuple[str, ...] | None:
    named = {_operation_name(v) for v in _listed(value)}
    found = tuple(op for op in OPERATIONS if op in named)
    return found or None  # naming none we know says nothing we can use


def _summary(places: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The request format summary, merged with its details (summary first)."""
    merged: dict[str, Any] = {}
    for place in places:
        for key in _SUMMARIES:
            part = place.get(key)
            if isinstance(part, dict):
                merged = {**part, **merged}
    return merged


def _limits(holder: Mapping[str, Any]) -> Limits:
    return Limits(
        _values(holder.get("durations")),
        _values(holder.get("resolutions")),
        _values(holder.get("aspect_ratios")),
    )


def _constraints(summary: Mapping[str, Any]) -> dict[str, Limits]:
    found: dict[str, Limits] = {}
    constraints = summary.get("operation_constraints")
    for entry in constraints if isinstance(constraints, list) else ():
        if not isinstance(entry, dict):
            continue
        operation = _operation_name(entry.get("operation", ""))
        limits = Limits(
            _values(entry.get("allowed_durations")),
            _values(entry.get("allowed_resolutions")),
            _values(entry.get("allowed_aspect_ratios")),
        )
        if operation in OPERATIONS and limits != Limits():
            found[operation] = limits
    return found


def _values(value: Any) -> tuple[str, ...]:
    """A list of choices as text (durations come as strings, sometimes as numbers)."""
    if not isinstance(value, list):
        return ()
    shown = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            continue
        if isinstance(item, float) and item.is_integer():
            item = int(item)
        text = str(item).strip()
        if text and text not in shown:
            shown.append(text)
    return tuple(shown)


def _stage(places: Sequence[dict[str, Any]]) -> str | None:
    stage = _first_text(places, "lifecycle", "stage")
    if stage is None:  # the compact list: a status per item
        stage = next((p["status"] for p in places if isinstance(p.get("status"), str)), None)
    stage = stage.lower() if stage else None
    return stage if stage in STAGES else None


def _first_text(places: Sequence[dict[str, Any]], holder: str, key: str) -> str | None:
    for place in places:
        value = place.get(holder)
        if isinstance(value, dict) and isinstance(value.get(key), str) and value[key]:
            found: str = value[key]
            return found
    return None


def _vendor(entry: Mapping[str, Any], body: Mapping[str, Any]) -> str | None:
    for holder in (entry, body):
        for key in ("owned_by", "provider"):
            if isinstance(holder.get(key), str) and holder[key]:
                return str(holder[key])
    return None


_PRICING_KEYS = ("pricing", "pricing_unit", "has_complex_pricing", "pricing_summary")


def _pricing(places: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The pricing an answer gives, kept as it is for the cost estimate."""
    for place in places:
        found = {k: place[k] for k in _PRICING_KEYS if place.get(k) is not None}
        if found:
            return found
    return None


def _words(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value.lower()]
    if isinstance(value, Sequence):
        return [str(v).lower() for v in value]
    return []


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
