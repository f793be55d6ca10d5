"""The sandbox checks fields exactly as the request schema says, and infers like the API."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.base import schema
from runner.catalog import models
from runner.sandbox.errors import ApiError
from runner.sandbox.validation import NEEDS, infer_operation, parse

MATRIX = models.builtin()
ANY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 200),
    st.floats(-1, 25, allow_nan=False),
    st.text(max_size=6),
    st.sampled_from(["16:9", "9:16", "1:1", "720p", "asset", "style", "0:9"]),
    st.lists(st.text(max_size=3), max_size=4),
)
# Fields that do not change the operation, so a body of them is text-to-video on sora-2.
PLAIN = [
    "duration", "aspect_ratio", "resolution", "output_audio", "fps", "negative_prompt", "seed",
    "cfg_scale", "motion_strength", "size", "watermark", "effect_type", "user",
    "reference_image_type", "extend_at", "extend_times",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(PLAIN), ANY, max_size=5))
def test_a_body_is_refused_exactly_when_the_schema_refuses_it(fields: dict[str, Any]) -> None:
    body = {"model": "sora-2", "prompt": "p", **fields}
    expected = sorted(
        ".".join([e.absolute_path[0], *map(str, list(e.absolute_path)[1:])])
        for e in schema.validator("request").iter_errors(body)
    )
    try:
        parse(json.dumps(body).encode(), MATRIX)
    except ApiError as error:
        assert error.status == 400
        found = sorted(v["field"].replace("[", ".").rstrip("]") for v in error.validation_errors)
        assert found == expected
    else:
        assert expected == []


# video-extension is only ever sent explicitly: its inputs infer other operations.
INFERRED = sorted((op, groups) for op, groups in NEEDS.items() if op != "video-extension")


@pytest.mark.parametrize(("operation", "groups"), INFERRED)
def test_each_operation_is_inferred_from_its_own_inputs(
    operation: str, groups: tuple[tuple[str, ...], ...]
) -> None:
    fields = {group[0]: "https://x/y" for group in groups}
    assert infer_operation(fields) == operation
