"""runner.manifest.checks: stable messages for schema errors, and did-you-mean suggestions."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from runner.base.schema import request_fields
from runner.manifest import checks


def only_message(schema: dict[str, Any], value: Any) -> str:
    errors = list(Draft202012Validator(schema).iter_errors(value))
    assert len(errors) == 1
    return checks.message(errors[0])


@pytest.mark.parametrize(
    ("schema", "value", "expected"),
    [
        ({"type": "integer"}, "five", "'five' is not of type integer"),
        ({"type": "boolean"}, "yes", "'yes' is not of type boolean; write true or false"),
        ({"type": "boolean"}, "Off", "'Off' is not of type boolean; write true or false"),
        ({"type": "boolean"}, "true", "'true' is not of type boolean; write true without quotes"),
        ({"type": "integer"}, " 42 ", "' 42 ' is not of type integer; write 42 without quotes"),
        ({"type": "integer"}, "4.5", "'4.5' is not of type integer"),
        ({"type": "number"}, "-.5e2", "'-.5e2' is not of type number; write -.5e2 without quotes"),
        ({"type": "number"}, "nan", "'nan' is not of type number"),
        ({"type": "number"}, "1,5", "'1,5' is not of type number"),
        ({"type": "boolean"}, 1, "1 is not of type boolean"),
        ({"type": "string"}, 42, 'is not of type string; write it in quotes ("42") for text'),
        ({"type": "string"}, 1.5, 'is not of type string; write it in quotes ("1.5") for text'),
        ({"type": "string"}, None, "null is not of type string"),
        ({"type": "string"}, True, 'is not of type string; write it in quotes ("True") for text'),
        ({"type": ["string", "number"]}, [1], "[1] is not of type string or number"),
        ({"maximum": 120}, 240, "240 is greater than the maximum of 120"),
        ({"minimum": 0}, -0.5, "-0.5 is less than the minimum of 0"),
        ({"exclusiveMinimum": 0}, 0, "0 must be greater than 0"),
        ({"enum": ["asset", "style"]}, "photo", "'photo' is not one of: asset, style"),
        ({"const": 1}, 2, "2 is not allowed; expected 1"),
        ({"const": 1}, "1", "'1' is not allowed; expected 1"),
        ({"maxItems": 3}, [1, 2, 3, 4], "4 items given; at most 3 allowed"),
        ({"minItems": 1}, [], "0 items given; at least 1 required"),
        ({"minProperties": 1}, {}, "must not be empty"),
        ({"minLength": 1}, "", "must not be empty"),
        ({"pattern": "^a+$"}, "b", "'b' does not match ^a+$"),
        ({"required": ["id"]}, {}, "missing required field 'id'"),
    ],
)
def test_messages(schema: dict[str, Any], value: Any, expected: str) -> None:
    message = only_message(schema, value)
    if expected.startswith("is not of type string"):
        shown = checks.show(value)
        expected = f"{shown} {expected.replace('True', shown)}"
    assert message == expected


def test_known_patterns_are_described_not_quoted() -> None:
    id_schema = {"pattern": "^[A-Za-z0-9][A-Za-z0-9._-]*$"}
    assert only_message(id_schema, "-x") == (
        "'-x' is not a valid id "
        "(letters, digits, '.', '_' and '-', starting with a letter or digit)"
    )
    ratio = {"pattern": "^(adaptive|[1-9][0-9]*:[1-9][0-9]*)$"}
    assert only_message(ratio, "16x9") == "'16x9' is not an aspect ratio like 16:9, or adaptive"


def test_any_of_messages_for_seed_and_durations() -> None:
    seed = {"anyOf": [{"type": "integer"}, {"const": "random"}]}
    assert only_message(seed, "lucky") == "'lucky' is not an integer or 'random'"
    duration = {
        "anyOf": [
            {"type": "number", "exclusiveMinimum": 0},
            {"type": "string", "pattern": "^[0-9]+s$"},
        ]
    }
    expected = "is not a duration (seconds above zero, or text like 30s, 5m, 1h30m)"
    assert only_message(duration, "soon") == f"'soon' {expected}"
    assert only_message(duration, -1) == f"-1 {expected}"
    assert only_message(duration, True) == f"true {expected}"


def test_other_errors_fall_back_to_a_short_message() -> None:
    assert only_message({"multipleOf": 2}, 3) == "3 is not a multiple of 2"
    long_value = "x" * 500
    assert only_message({"not": {"type": "string"}}, long_value) == (
        f"invalid value '{'x' * 56}..."
    )


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("text", "'text'"),
        (True, "true"),
        (False, "false"),
        (None, "null"),
        (5, "5"),
        (2.5, "2.5"),
        ([1, "a"], "[1, 'a']"),
        ("x" * 100, "'" + "x" * 56 + "..."),
        ("line\nbreak", "'line\\nbreak'"),
    ],
)
def test_show(value: Any, shown: str) -> None:
    assert checks.show(value) == shown
    assert len(checks.show(value)) <= checks.MAX_SHOWN


def test_clip() -> None:
    assert checks.clip("short") == "short"
    assert checks.clip("y" * 61) == "y" * 57 + "..."
    assert checks.clip("y" * 60) == "y" * 60


@pytest.mark.parametrize(
    ("name", "known", "hint"),
    [
        ("aspectratio", request_fields(), "aspect_ratio"),
        ("aspectRatio", request_fields(), "aspect_ratio"),
        ("negativePrompt", request_fields(), "negative_prompt"),
        ("Aspect-Ratio", request_fields(), "aspect_ratio"),
        ("modle", request_fields(), "model"),
        ("promt", request_fields(), "prompt"),
        ("cfg", request_fields(), "cfg_scale"),
        ("images", request_fields(), "image"),
        ("seeds", request_fields(), "seed"),
        ("maximum", ("initial", "max"), "max"),
        ("directory", ("dir", "name"), "dir"),
        ("rate_limit", ("concurrency", "rate", "timeout"), "rate"),
        ("colour", request_fields(), None),
        ("interval", ("initial", "max"), None),
        ("on", ("version", "jobs"), None),
        ("re", ("rate", "retry_failed"), None),
        ("x", (), None),
        ("sede", request_fields(), "seed"),
    ],
)
def test_suggest(name: str, known: tuple[str, ...], hint: str | None) -> None:
    assert checks.suggest(name, known) == hint


def test_unknown_field() -> None:
    assert checks.unknown_field("fsp", ["fps", "seed"]) == "unknown field; did you mean fps?"
    assert checks.unknown_field("zzz", ["fps", "seed"]) == "unknown field"


def test_field_problems_are_located_below_the_field() -> None:
    assert checks.field_problems("fps", 24) == ()
    assert checks.field_problems("prompt", "anything") == ()
    assert checks.field_problems("fps", 240) == (((), "240 is greater than the maximum of 120"),)
    assert checks.field_problems("reference_images", ["a", 1, None]) == (
        ((1,), '1 is not of type string; write it in quotes ("1") for text'),
        ((2,), "null is not of type string"),
    )
    assert checks.field_problems("reference_images", [*"abcdefghijklmnopqrstuvwxyzABCD", 4]) == (
        ((), "31 items given; at most 30 allowed"),
        ((30,), '4 is not of type string; write it in quotes ("4") for text'),
    )
    assert checks.field_problems("safety_identifier", "x" * 129) == (
        ((), "129 characters given; at most 128 allowed"),
    )
    element = {"name": "cat", "element_input_urls": ["a", "b"], "colour": "red", "size": 1}
    assert checks.field_problems("kling_elements", [element]) == (
        ((0,), "unknown field colour, size"),
    )


def test_aliases_are_the_documented_six() -> None:
    assert checks.ALIASES == {
        "referenceImages": "reference_images",
        "referenceImageType": "reference_image_type",
        "outputAudio": "output_audio",
        "seconds": "duration",
        "ratio": "aspect_ratio",
        "generate_audio": "output_audio",
    }
