"""Field checks against the request schema, with stable, short messages.

jsonschema's own messages change between releases and can quote a whole value;
these are fixed here so that diagnostics are stable and tests can pin them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from functools import cache
from typing import Any

from jsonschema import ValidationError

from runner import schema

ALIASES = {
    "referenceImages": "reference_images",
    "referenceImageType": "reference_image_type",
    "outputAudio": "output_audio",
}
_JSON_TYPES = {"string": str, "boolean": bool}
MAX_SHOWN = 60


def show(value: Any) -> str:
    """A value as messages quote it: repr-like, cut short when long."""
    text = repr(value) if isinstance(value, str) else _json_like(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def message(error: ValidationError) -> str:
    """A stable message for one jsonschema error."""
    kind = error.validator
    limit: Any = error.validator_value
    value: Any = error.instance
    if kind == "type":
        wanted = " or ".join(limit) if isinstance(limit, list) else limit
        return f"{show(value)} is not of type {wanted}"
    if kind == "maximum":
        return f"{show(value)} is greater than the maximum of {limit}"
    if kind == "minimum":
        return f"{show(value)} is less than the minimum of {limit}"
    if kind == "exclusiveMinimum":
        return f"{show(value)} must be greater than {limit}"
    if kind == "enum":
        return f"{show(value)} is not one of: {', '.join(str(v) for v in limit)}"
    if kind == "const":
        return f"{show(value)} is not allowed; expected {_json_like(limit)}"
    if kind == "maxItems":
        return f"{len(value)} items given; at most {limit} allowed"
    if kind == "minItems":
        return f"{len(value)} items given; at least {limit} required"
    if kind == "minProperties":
        return "must not be empty"
    if kind == "minLength":
        return "must not be empty"
    if kind == "pattern":
        return f"{show(value)} does not match {limit}"
    if kind == "required":
        return f"missing required field {error.message.split(' ')[0]}"
    if kind == "anyOf":
        return _any_of(error)
    return error.message if len(error.message) <= 200 else f"invalid value {show(value)}"


def _any_of(error: ValidationError) -> str:
    value: Any = error.instance
    subschema: Any = error.schema
    if any("const" in s for s in subschema.get("anyOf", ())):
        return f"{show(value)} is not an integer or 'random'"
    if isinstance(value, str):
        return f"{show(value)} is not a duration (e.g. 30s, 5m, 1h30m)"
    return f"{show(value)} is not valid here"


def _json_like(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    return repr(value)


def suggest(name: str, known: Iterable[str]) -> str | None:
    """The known name closest to a misspelt ``name``, if one is close enough."""
    candidates = list(known)
    squashed = {k.replace("_", "").replace("-", "").lower(): k for k in candidates}
    exact = squashed.get(name.replace("_", "").replace("-", "").lower())
    if exact:
        return exact
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.7)
    return close[0] if close else None


def unknown_field(name: str, known: Iterable[str]) -> str:
    hint = suggest(name, known)
    return f"unknown field; did you mean {hint}?" if hint else "unknown field"


@cache
def _simple_type(field: str) -> type | None:
    """The Python type that alone decides validity of ``field``, if there is one."""
    sub = schema.load("request")["properties"][field]
    keys = set(sub) - {"description", "default"}
    if keys == {"type"} and sub["type"] in _JSON_TYPES:
        return _JSON_TYPES[sub["type"]]
    return None


_cache: dict[tuple[str, str, Any], tuple[str, ...]] = {}


def field_problems(field: str, value: Any) -> tuple[str, ...]:
    """Messages for ``value`` of request field ``field`` (empty when valid)."""
    simple = _simple_type(field)
    if simple is not None and type(value) is simple:
        return ()
    hashable = value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)
    key = (field, type(value).__name__, hashable)
    found = _cache.get(key)
    if found is None:
        errors = schema.field_validator(field).iter_errors(value)
        found = tuple(message(e) for e in sorted(errors, key=lambda e: e.path))
        if len(_cache) < 200_000:
            _cache[key] = found
    return found
