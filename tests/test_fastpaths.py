"""The fast paths of validation decide as the slow ones they stand in front of.

jsonschema-rs answers first for every schema check, and python-jsonschema is
asked only when it refuses: so it must never accept what python-jsonschema
refuses. ``all_safe`` stands for a ``safe_component`` call per job key.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.base import schema
from runner.manifest import loader
from runner.manifest.job import all_safe, safe_component, safe_components

FIELDS = schema.request_fields()
# Values at the edges of what the request schema takes, and of what the two
# validators read alike: whole floats as integers, booleans beside numbers,
# numbers beyond 64 bits, text with a trailing newline (Python's `$` matches
# before it), lone surrogates (not UTF-8), non-finite numbers.
EDGES: list[Any] = [
    0, 1, -1, -2, 1.0, 42.0, 2.5, 1e300, True, False, None, "", "x", "5", "true",
    "16:9", "16:9\n", "adaptive", "adaptive\n", "0:1", "1:0", "\ud800", 2**53 + 1,
    2**64, -(2**64), 10**600, 4294967295, 4294967296, 3600, 259200, 259201,
    float("nan"), float("inf"), [], [""], ["a"], ["a"] * 31, [1], [None], {},
    [{"name": "a", "element_input_urls": ["u"]}], [{"name": "", "element_input_urls": []}],
    [{"name": "a" * 65, "element_input_urls": ["u"]}], {"a": 1}, "x" * 129,
    "text-to-video", "flex", "mp4", "style",
]  # fmt: skip
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


def python_valid(validator: jsonschema.protocols.Validator, value: Any) -> bool:
    return not list(validator.iter_errors(value))


@pytest.mark.parametrize("field", FIELDS)
def test_the_fast_field_check_accepts_only_what_python_jsonschema_accepts(field: str) -> None:
    fast, slow = schema.fast_field_validator(field), schema.field_validator(field)
    for value in EDGES:
        if schema.surely_valid(fast, value):
            assert python_valid(slow, value), (field, value)
    # and it is of use: the documented default of each field, if any, passes fast
    default = schema.load("request")["properties"][field].get("default")
    if default is not None:
        assert schema.surely_valid(fast, default)


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(FIELDS), value=json_values)
def test_the_fast_field_check_never_accepts_more(field: str, value: Any) -> None:
    if schema.surely_valid(schema.fast_field_validator(field), value):
        assert python_valid(schema.field_validator(field), value)


def test_a_value_the_fast_validator_cannot_read_goes_to_python_jsonschema() -> None:
    fast = schema.fast_field_validator("prompt")
    assert not schema.surely_valid(fast, "\ud800")  # not UTF-8: asked of python-jsonschema
    assert not schema.surely_valid(fast, object())
    assert schema.surely_valid(fast, "a prompt")


SHELLS: list[Any] = [
    {"version": 1, "jobs": [{"id": "a"}]},
    {"version": 1.0, "jobs": [{"id": "a"}]},
    {"version": True, "jobs": [{"id": "a"}]},
    {"version": 1, "jobs": []},
    {"version": 1, "jobs": [{"id": "a\n"}]},
    {"version": 1, "jobs": [{"id": "-a"}]},
    {"version": 1, "jobs": [{"id": "a", "matrix": {}}]},
    {"version": 1, "jobs": [{"id": "a", "matrix": {"seed": []}}]},
    {"version": 1, "jobs": [{"id": "a", "matrix": {"seed": [1]}, "prompt_file": ""}]},
    {"version": 1, "jobs": [{"id": "a", "extra": []}]},
    {"version": 1, "jobs": [{"id": "a"}], "vars": {"1x": "a"}},
    {"version": 1, "jobs": [{"id": "a"}], "vars": {"x": [1]}},
    {"version": 1, "jobs": [{"id": "a"}], "run": {"timeout": "5s\n"}},
    {"version": 1, "jobs": [{"id": "a"}], "run": {"timeout": " 1h30m "}},
    {"version": 1, "jobs": [{"id": "a"}], "run": {"timeout": 0}},
    {"version": 1, "jobs": [{"id": "a"}], "run": {"rate": 10001}},
    {"version": 1, "jobs": [{"id": "a"}], "output": {"name": ""}},
    {"version": 1, "jobs": [{"id": "a"}], "x-anchors": {"any": "thing"}},
    {"version": 1, "jobs": [{"id": "a"}], "unknown": 1},
]


@pytest.mark.parametrize("data", SHELLS, ids=lambda d: json.dumps(d)[:60])
def test_the_fast_manifest_check_accepts_only_what_python_jsonschema_accepts(data: Any) -> None:
    fast_shell, fast_job = loader._fast_validators()
    if schema.surely_valid(fast_shell, data):
        assert python_valid(loader._shell_validator(), data)
    for job in data["jobs"]:
        if schema.surely_valid(fast_job, job):
            assert python_valid(loader._job_validator(), job)


def test_the_fast_manifest_check_passes_a_plain_manifest() -> None:
    fast_shell, _ = loader._fast_validators()
    assert schema.surely_valid(fast_shell, SHELLS[0])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=210), max_size=6))
def test_all_safe_is_a_safe_component_per_text(texts: list[str]) -> None:
    assert all_safe(texts) == all(safe_component(t) == t for t in texts)


@pytest.mark.parametrize(
    "texts, expected",
    [
        ([], True),
        (["a[seed=1,ratio=16:9]"], False),  # ':' is not kept in a file name
        (["a[seed=1]", "b.c", "d_e-f+g=h,i"], True),
        (["a", ""], False),
        (["a", ".hidden"], False),
        (["a", "b" * 201], False),
        (["a", "b" * 200], True),
        (["a/b"], False),
    ],
)
def test_all_safe_cases(texts: list[str], expected: bool) -> None:
    assert all_safe(texts) is expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from("ab.:/\n_-[]=é"), max_size=205), max_size=6))
def test_safe_components_is_a_safe_component_per_text(texts: list[str]) -> None:
    assert safe_components(texts) == [safe_component(t) for t in texts]


def test_safe_components_cases() -> None:
    keys = ["a[ratio=16:9]", "a[ratio=16_9]", "b"]
    assert safe_components(keys) == ["a[ratio=16_9]", "a[ratio=16_9]", "b"]
    assert safe_components([".a:", "x" * 300, "", "a\nb"]) == ["a_", "x" * 200, "_", "a_b"]
