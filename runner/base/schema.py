"""The JSON Schemas shipped in the package, loaded once and compiled once each.

Two validators per schema: jsonschema-rs (compiled to native code) answers
whether a value is valid, fast; python-jsonschema, imported only when something
is invalid, says what is wrong and where, in the words ``checks`` turns into
diagnostics. A value is accepted when either accepts it (the fast one never
decides a refusal), so what is accepted and every message are python-jsonschema's.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import jsonschema_rs

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

SCHEMA_FILES = {
    "manifest": "manifest.schema.json",
    "request": "video-request.schema.json",
    "lockfile": "lockfile.schema.json",
}


def read_text(filename: str) -> str:
    """The text of a file in ``runner/schemas``."""
    return resources.files("runner").joinpath("schemas").joinpath(filename).read_text("utf-8")


@cache
def load(name: str) -> dict[str, Any]:
    """The schema called ``name`` (manifest, request or lockfile), parsed."""
    data: dict[str, Any] = json.loads(read_text(SCHEMA_FILES[name]))
    return data


@cache
def validator(name: str) -> Draft202012Validator:
    """A compiled validator for the schema called ``name``."""
    from jsonschema import Draft202012Validator  # 0.1-0.2 s to import: only when needed

    return Draft202012Validator(load(name))


@cache
def field_validator(field: str) -> Draft202012Validator:
    """A compiled validator for one property of the request body."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(load("request")["properties"][field])


@cache
def fast_field_validator(field: str) -> jsonschema_rs.Validator:
    """jsonschema-rs's validator of one property of the request body."""
    return jsonschema_rs.Draft202012Validator(load("request")["properties"][field])


def surely_valid(fast: jsonschema_rs.Validator, value: Any) -> bool:
    """True when the fast validator accepts ``value``; False when it refuses it or
    cannot read it (text that is not UTF-8, an unknown type): ask python-jsonschema."""
    try:
        return bool(fast.is_valid(value))
    except (ValueError, OverflowError, RecursionError):
        return False


def request_fields() -> tuple[str, ...]:
    """Every documented field of the request body, in documentation order."""
    return tuple(load("request")["properties"])
