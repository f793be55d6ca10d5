"""Checking a create body the way the API documents it.

Aliases are folded into their snake_case names (sending both is an error), every
documented field is checked against its schema, unknown fields are ignored like
the real API does, the operation is inferred when omitted, and each operation's
inputs and the model's support for it are checked.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import ValidationError

from runner.base import schema
from runner.catalog.models import ModelMatrix
from runner.sandbox.errors import ApiError, invalid

ALIASES = {
    "referenceImages": "reference_images",
    "referenceImageType": "reference_image_type",
    "outputAudio": "output_audio",
    "seconds": "duration",
    "ratio": "aspect_ratio",
    "generate_audio": "output_audio",
}
DEFAULT_MODEL = "veo3.1"  # the newest create-video reference's default
# Models that work on a video and need no prompt (upscalers).
PROMPT_OPTIONAL = frozenset({"grok-imagine-upscale", "topaz-video-upscale"})
# Inputs each operation needs: every group must be present, one field of a group.
NEEDS: Mapping[str, tuple[tuple[str, ...], ...]] = {
    "text-to-video": (),
    "image-to-video": (("image_url", "image"),),
    "reference-to-video": (
        ("reference_images", "image_urls", "material_asset_id", "material_asset_ids", "video_urls"),
    ),
    "start-end-to-video": (("start_image",), ("end_image",)),
    "video-to-video": (("video_url", "task_id"),),
    "video-extension": (("task_id", "video_url"),),
    "audio-to-video": (("audio_url",),),
    "motion-control": (("image_url",), ("video_url",)),
}


@dataclass(frozen=True)
class CreateRequest:
    """A valid create body: its documented fields (canonical names), model, operation."""

    fields: Mapping[str, Any]
    model: str
    operation: str

    @property
    def prompt(self) -> str:
        return str(self.fields.get("prompt", ""))

    def canonical(self) -> bytes:
        """The request as canonical JSON, for digests (same request, same bytes)."""
        return json.dumps(self.fields, sort_keys=True, separators=(",", ":")).encode()


def parse(body: bytes, matrix: ModelMatrix) -> CreateRequest:
    """The request in ``body``, or an ``ApiError`` (400, or 404 for an unknown model)."""
    try:
        data = json.loads(body)
    except ValueError:
        raise invalid("Request body is not valid JSON", code="invalid_json", field="body") from None
    if not isinstance(data, dict):
        raise invalid("Request body must be a JSON object", code="invalid_json", field="body")
    fields = _canonical_fields(data)
    model = str(fields.setdefault("model", DEFAULT_MODEL))
    if model not in matrix:
        raise unknown_model(model, matrix)
    operation = fields.setdefault("operation", infer_operation(fields))
    _raise_all(_missing_inputs(fields, model, operation))
    if not matrix.supports(model, operation):
        message = f"Model {model} does not support operation {operation}"
        raise invalid(message, code="unsupported_operation", param="operation")
    return CreateRequest(fields=fields, model=model, operation=operation)


def infer_operation(fields: Mapping[str, Any]) -> str:
    """The operation the API infers from the inputs present."""
    if "start_image" in fields and "end_image" in fields:
        return "start-end-to-video"
    if "image_url" in fields and "video_url" in fields:
        return "motion-control"
    for name, operation in (
        ("reference_images", "reference-to-video"),
        ("image_urls", "reference-to-video"),
        ("material_asset_id", "reference-to-video"),
        ("material_asset_ids", "reference-to-video"),
        ("video_url", "video-to-video"),
        ("audio_url", "audio-to-video"),
        ("image_url", "image-to-video"),
        ("image", "image-to-video"),
    ):
        if name in fields:
            return operation
    return "text-to-video"


def _canonical_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    problems: list[dict[str, str]] = []
    known = schema.request_fields()
    fields = {name: value for name, value in data.items() if name in known}
    for alias, name in ALIASES.items():
        if alias not in data:
            continue
        if name in fields and fields[name] != data[alias]:
            # the newest API takes an alias beside its field only when they agree
            message = f"{alias} and {name} must be identical when both are sent"
            problems.append({"field": name, "message": message, "code": "conflicting_parameters"})
        else:
            fields.setdefault(name, data[alias])
    for name, value in fields.items():
        problems.extend(_field_problems(name, value))
    if fields.get("kling_elements") and fields.get("output_audio") is True:
        message = "kling_elements cannot be combined with output_audio=true"
        problems.append({"field": "output_audio", "message": message, "code": "invalid_value"})
    _raise_all(problems)
    return fields


def _field_problems(name: str, value: Any) -> list[dict[str, str]]:
    errors = sorted(schema.field_validator(name).iter_errors(value), key=lambda e: e.path)
    return [_problem(name, error) for error in errors]


def _problem(name: str, error: ValidationError) -> dict[str, str]:
    where = name + "".join(f"[{part}]" for part in error.absolute_path)
    code, message = _describe(str(error.validator), error.validator_value)
    return {"field": where, "message": f"{where} {message}", "code": code}


def _describe(kind: str, limit: Any) -> tuple[str, str]:
    if kind == "type":
        return "invalid_type", f"must be {_TYPES.get(str(limit), limit)}"
    if kind == "enum":
        return "invalid_value", f"must be one of: {', '.join(map(str, limit))}"
    if kind in ("minimum", "maximum"):
        return "out_of_range", f"must be at {'least' if kind == 'minimum' else 'most'} {limit}"
    if kind in ("minItems", "maxItems"):
        return (
            "invalid_length",
            f"must have at {'least' if kind == 'minItems' else 'most'} {limit} item(s)",
        )
    if kind == "minLength":
        return "invalid_length", "must not be empty"
    if kind == "pattern":
        return "invalid_format", "must look like width:height (e.g. 16:9)"
    return "invalid_value", "is invalid"


_TYPES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "array": "an array",
}


def _missing_inputs(fields: Mapping[str, Any], model: str, operation: str) -> list[dict[str, str]]:
    problems = []
    optional = model in PROMPT_OPTIONAL or operation == "start-end-to-video"
    if not fields.get("prompt") and not optional:
        message = "prompt is required" if "prompt" not in fields else "prompt must not be empty"
        problems.append(
            {"field": "prompt", "message": message, "code": "missing_required_parameter"}
        )
    for group in NEEDS[operation]:
        if not any(name in fields for name in group):
            message = f"{operation} needs {' or '.join(group)}"
            problems.append(
                {"field": group[0], "message": message, "code": "missing_required_parameter"}
            )
    return problems


def _raise_all(problems: list[dict[str, str]]) -> None:
    if problems:
        first = problems[0]
        raise ApiError(
            400,
            "invalid_request_error",
            first["code"],
            first["message"],
            first["field"],
            validation_errors=problems,
        )


def unknown_model(model: str, matrix: ModelMatrix, *, status: int = 400) -> ApiError:
    """The newest API's answer for a model it does not know: 400 on create, 404 on a
    model's own path."""
    close = difflib.get_close_matches(model, list(matrix.models), n=1)
    extra = {"did_you_mean": close[0]} if close else {}
    message = f"Model {model} not found"
    return ApiError(status, "model_not_found", "model_not_found", message, "model", extra=extra)
