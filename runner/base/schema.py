"""The JSON Schemas shipped in the package, loaded once and compiled once each."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

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
    return Draft202012Validator(load(name))


@cache
def field_validator(field: str) -> Draft202012Validator:
    """A compiled validator for one property of the request body."""
    return Draft202012Validator(load("request")["properties"][field])


def request_fields() -> tuple[str, ...]:
    """Every documented field of the request body, in documentation order."""
    return tuple(load("request")["properties"])
