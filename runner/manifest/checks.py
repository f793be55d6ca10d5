"""Field checks against the request schema, with stable, short messages.

jsonschema's own messages change between releases and can quote a whole value;
these are fixed here so that diagnostics are stable and tests can pin them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from runner.base import schema

if TYPE_CHECKING:
    from jsonschema import ValidationError

# Accepted spellings and the canonical field each stands for: the camelCase ones
# of the first page, and the compatibility names of the newest API reference.
ALIASES = {
    "referenceImages": "reference_images",
    "referenceImageType": "reference_image_type",
    "outputAudio": "output_audio",
    "seconds": "duration",
    "ratio": "aspect_ratio",
    "generate_audio": "output_audio",
}
MAX_SHOWN = 60
_INTEGER_TEXT = re.compile(r"^\s*[-+]?[0-9]+\s*$")
_NUMBER_TEXT = re.compile(r"^\s*[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\s*$")
_PATTERNS = {
    "^[A-Za-z0-9][A-Za-z0-9._-]*$": "is not a valid id "
    "(letters, digits, '.', '_' and '-', starting with a letter or digit)",
    "^(adaptive|[1-9][0-9]*:[1-9][0-9]*)$": "is not an aspect ratio like 16:9, or adaptive",
}


def show(value: Any) -> str:
    """A value as messages quote it: repr-like, cut short when long."""
    return clip(repr(value) if isinstance(value, str) else _json_like(value))


def clip(text: str) -> str:
    """``text`` cut short for a message when it is long."""
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def message(error: ValidationError) -> str:
    """A stable message for one jsonschema error."""
    kind = error.validator
    limit: Any = error.validator_value
    value: Any = error.instance
    if kind == "type":
        wanted = " or ".join(limit) if isinstance(limit, list) else limit
        hint = ""
        if wanted == "boolean" and _yes_no(value):
            hint = "; write true or false"
        elif wanted == "string" and isinstance(value, (int, float)):
            hint = f'; write it in quotes ("{_json_like(value)}") for text'
        elif isinstance(value, str) and _unquoted(value, wanted):
            hint = f"; write {value.strip()} without quotes"
        return f"{show(value)} is not of type {wanted}{hint}"
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
    if kind == "maxLength":
        return f"{len(value)} characters given; at most {limit} allowed"
    if kind == "additionalProperties" and isinstance(value, dict):
        known = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        unknown = sorted(str(k) for k in value if k not in known)
        return f"unknown field {', '.join(map(clip, unknown))}"
    if kind == "pattern":
        return f"{show(value)} {_PATTERNS.get(limit, f'does not match {limit}')}"
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
    return f"{show(value)} is not a duration (seconds above zero, or text like 30s, 5m, 1h30m)"


def _unquoted(text: str, wanted: str) -> bool:
    """Whether ``text`` would be a valid ``wanted`` value without its quotes."""
    if wanted == "boolean":
        return text in ("true", "false")
    pattern = {"integer": _INTEGER_TEXT, "number": _NUMBER_TEXT}.get(wanted)
    return pattern is not None and pattern.match(text) is not None


def _yes_no(value: Any) -> bool:
    """A YAML 1.1 boolean word, which YAML 1.2 (and vidbatch) reads as text."""
    return isinstance(value, str) and value.lower() in {"yes", "no", "on", "off", "y", "n"}


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
    if close:
        return close[0]
    swapped = [k for k in candidates if sorted(k) == sorted(name)]  # fsp for fps
    if swapped:
        return swapped[0]
    # An abbreviation or an elaboration of a known name: max for maximum, dir for directory.
    longer = [k for k in candidates if len(k) >= 3 and name.startswith(k)]
    if longer:
        return max(longer, key=len)
    shorter = [k for k in candidates if len(name) >= 3 and k.startswith(name)]
    return shorter[0] if len(shorter) == 1 else None


def unknown_field(name: str, known: Iterable[str]) -> str:
    hint = suggest(name, known)
    return f"unknown field; did you mean {hint}?" if hint else "unknown field"


Problem = tuple[tuple[str | int, ...], str]


def field_problems(field: str, value: Any) -> tuple[Problem, ...]:
    """(path below the field, message) for each problem of ``value`` in request field ``field``."""
    if schema.surely_valid(schema.fast_field_validator(field), value):
        return ()
    errors = schema.field_validator(field).iter_errors(value)
    return tuple(
        (tuple(e.path), message(e)) for e in sorted(errors, key=lambda e: tuple(map(str, e.path)))
    )
