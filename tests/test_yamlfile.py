"""runner.manifest.yamlfile: YAML 1.2 scalars, positions, and every refusal located."""

from __future__ import annotations

import math
from typing import Any

import pytest
import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from runner.base.diagnostics import Diagnostic
from runner.manifest import yamlfile
from runner.manifest.yamlfile import YamlProblem


def data(text: str) -> Any:
    return yamlfile.parse(text, "m.yaml")[1]


def problems(text: str, loader: type | None = None) -> list[str]:
    with pytest.raises(YamlProblem) as caught:
        yamlfile.parse(text, "m.yaml", loader)
    return [str(d) for d in caught.value.diagnostics]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("on", "on"),
        ("off", "off"),
        ("yes", "yes"),
        ("no", "no"),
        ("y", "y"),
        ("16:9", "16:9"),
        ("1:30", "1:30"),
        ("2024-01-01", "2024-01-01"),
        ("2024-01-01T10:00:00Z", "2024-01-01T10:00:00Z"),
        ("1_000", "1_000"),
        ("0b101", "0b101"),
        ("017", 17),
        ("0o17", 15),
        ("0x1F", 31),
        ("-0x10", -16),
        ("+5", 5),
        ("-12", -12),
        ("true", True),
        ("False", False),
        ("TRUE", True),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        (".5", 0.5),
        ("-2.5E-1", -0.25),
        ("null", None),
        ("~", None),
        ("", None),
        ("NULL", None),
        ("'5'", "5"),
        ('"true"', "true"),
        ("kling-v2.6-pro", "kling-v2.6-pro"),
    ],
)
def test_scalars_follow_the_yaml_1_2_core_schema(text: str, value: Any) -> None:
    result = data(f"k: {text}\n")["k"]
    assert result == value
    assert type(result) is type(value)


def test_nan_and_infinity_are_refused_where_they_stand() -> None:
    assert problems("a: .inf\nb: -.Inf\nc: .NaN\n") == [
        "m.yaml:1:4: error: .inf is not a finite number",
        "m.yaml:2:4: error: -.Inf is not a finite number",
        "m.yaml:3:4: error: .NaN is not a finite number",
    ]


def test_empty_and_comment_only_texts_have_no_document() -> None:
    assert yamlfile.parse("", "m.yaml") == (None, None)
    assert yamlfile.parse("# only a comment\n", "m.yaml") == (None, None)


def test_the_node_tree_comes_with_the_data() -> None:
    node, value = yamlfile.parse("jobs:\n  - id: a\n    fps: 24\n", "m.yaml")
    assert value == {"jobs": [{"id": "a", "fps": 24}]}
    assert isinstance(node, MappingNode)
    jobs = yamlfile.child(node, "jobs")
    assert isinstance(jobs, SequenceNode)
    job = yamlfile.child(jobs, 0)
    assert job is not None
    assert yamlfile.position(job) == (2, 5)
    fps = yamlfile.child(job, "fps")
    assert isinstance(fps, ScalarNode)
    assert yamlfile.position(fps) == (3, 10)
    key = yamlfile.key_node(job, "fps")
    assert key is not None
    assert yamlfile.position(key) == (3, 5)


def test_child_and_key_node_give_none_where_nothing_is() -> None:
    node, _ = yamlfile.parse("a: [1, 2]\n", "m.yaml")
    assert node is not None
    seq = yamlfile.child(node, "a")
    assert seq is not None
    assert yamlfile.child(node, "b") is None
    assert yamlfile.child(seq, 2) is None
    assert yamlfile.child(seq, -1) is None
    assert yamlfile.child(seq, "a") is None
    assert yamlfile.key_node(seq, "a") is None
    assert yamlfile.key_node(node, "b") is None


def test_merge_keys_are_followed_and_own_keys_win() -> None:
    text = "base: &b {model: sora-2, fps: 24}\njob:\n  <<: *b\n  fps: 30\n"
    node, value = yamlfile.parse(text, "m.yaml")
    assert value["job"] == {"fps": 30, "model": "sora-2"}
    assert node is not None
    job = yamlfile.child(node, "job")
    assert job is not None
    assert [key for key, _, _ in yamlfile.pairs(job)] == ["fps", "model", "fps"]
    model = yamlfile.child(job, "model")
    assert model is not None
    assert yamlfile.position(model) == (1, 18)


def test_merge_of_a_list_of_mappings() -> None:
    text = "a: &a {x: 1}\nb: &b {y: 2}\nc:\n  <<: [*a, *b]\n"
    assert data(text)["c"] == {"x": 1, "y": 2}


def test_merge_of_something_else_is_refused() -> None:
    assert problems("c:\n  <<: 5\n") == ["m.yaml:2:7: error: a merge key (<<) needs a mapping"]


def test_shared_anchors_are_fine() -> None:
    value = data("a: &x [1, 2]\nb: *x\nc: *x\n")
    assert value == {"a": [1, 2], "b": [1, 2], "c": [1, 2]}


def test_duplicate_keys_are_each_reported_at_the_second_key() -> None:
    assert problems("a: 1\nb: 2\na: 3\nm:\n  x: 1\n  x: 2\n") == [
        "m.yaml:3:1: error: duplicate key 'a'",
        "m.yaml:6:3: error: duplicate key 'x'",
    ]


def test_keys_must_be_strings() -> None:
    assert problems("1: a\n[x]: b\n? {k: v}\n: c\n'2': fine\n") == [
        "m.yaml:1:1: error: mapping keys must be strings",
        "m.yaml:2:1: error: mapping keys must be strings",
        "m.yaml:3:3: error: mapping keys must be strings",
    ]


def test_tags_other_than_the_plain_ones_are_refused() -> None:
    assert problems(
        "a: !!python/name:os.system x\nb: !!binary aGk=\nc: !mine [1]\nd: !!set {x}\n"
    ) == [
        "m.yaml:1:4: error: unsupported YAML tag !!python/name:os.system",
        "m.yaml:2:4: error: unsupported YAML tag !!binary",
        "m.yaml:3:4: error: unsupported YAML tag !mine",
        "m.yaml:4:4: error: unsupported YAML tag !!set",
    ]


def test_explicit_core_tags_are_accepted() -> None:
    assert data("a: !!str 5\nb: !!int '7'\nc: !!float 1\n") == {"a": "5", "b": 7, "c": 1.0}


def test_explicit_tag_on_a_value_that_does_not_fit_is_refused() -> None:
    assert problems("a: !!int seven\n") == ["m.yaml:1:4: error: unsupported YAML tag !!int"]


def test_an_alias_bomb_stops_at_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlfile, "MAX_EXPANDED_NODES", 1000)
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for name, prev in zip("bcdef", "abcde", strict=True):
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 10)}]")
    found = problems("\n".join(lines) + "\n")
    assert found == [
        # the anchored node whose repetition crossed the limit (aliases have no position)
        "m.yaml:2:4: error: invalid YAML: aliases expand the document to more than 1,000 values"
    ]


def test_the_default_limit_lets_a_large_plain_document_through() -> None:
    text = "jobs:\n" + "".join(f"  - {{id: j{i}, prompt: p}}\n" for i in range(20_000))
    assert len(data(text)["jobs"]) == 20_000


def test_a_recursive_alias_is_refused() -> None:
    assert problems("a: &a\n  b: *a\n") == [
        "m.yaml:1:4: error: invalid YAML: this node contains an alias to itself"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: [1, 2\n", "m.yaml:2:1: error: invalid YAML: did not find expected ',' or ']'"),
        (
            "a: b: c\n",
            "m.yaml:1:5: error: invalid YAML: mapping values are not allowed in this context",
        ),
        ("a: *nope\n", "m.yaml:1:4: error: invalid YAML: found undefined alias"),
        (
            "a: 'x\n\n",
            "m.yaml:1:4: error: invalid YAML: a quoted string starts here and is never closed",
        ),
        (
            'a: "x\n',
            "m.yaml:1:4: error: invalid YAML: a quoted string starts here and is never closed",
        ),
        (
            "a: 1\n---\nb: 2\n",
            "m.yaml:2:1: error: invalid YAML: a manifest is one YAML document; found a second one",
        ),
        (
            "a:\n\tb: 1\n",
            "m.yaml:2:1: error: invalid YAML: a tab character; YAML indents with spaces only",
        ),
        (
            "a: 1\n\t\n b: 2\n",
            "m.yaml:2:1: error: invalid YAML: a tab character; YAML indents with spaces only",
        ),
        (
            "a: x\x07y\n",
            "m.yaml:1:5: error: invalid YAML: unacceptable character #x0007: "
            "control characters are not allowed",
        ),
        ("- a\nb: 1\n", "m.yaml:2:1: error: invalid YAML: did not find expected '-' indicator"),
    ],
)
def test_syntax_errors_are_located(text: str, expected: str) -> None:
    assert problems(text) == [expected]


def test_tabs_inside_values_are_text() -> None:
    assert data('a: "x\ty"\nb: x\ty\n') == {"a": "x\ty", "b": "x\ty"}


PURE = yamlfile.make_loader(yaml.SafeLoader)  # no libyaml: Python's recursion is the limit
LOADERS = pytest.mark.parametrize("loader", [None, PURE], ids=["default", "pure-python"])


@LOADERS
@pytest.mark.parametrize("depth", [101, 400, 999, 1001, 5000])
def test_deep_nesting_is_refused_at_one_place_whatever_the_parser(
    depth: int, loader: type | None
) -> None:
    # libyaml stops at 1,000 levels with its own words and place, the pure-Python
    # composer at the recursion limit; vidbatch says the same for all of them.
    text = "a: " + "[" * depth + "]" * depth + "\n"
    assert problems(text, loader) == [
        "m.yaml:1:103: error: invalid YAML: nesting is deeper than 100 levels"
    ]


@LOADERS
def test_deep_block_nesting_is_refused_where_it_passes_the_limit(loader: type | None) -> None:
    text = "".join(" " * i + "k:\n" for i in range(150)) + " " * 150 + "k: 1\n"
    assert problems(text, loader) == [
        "m.yaml:101:101: error: invalid YAML: nesting is deeper than 100 levels"
    ]


@LOADERS
def test_nesting_at_the_limit_is_accepted(loader: type | None) -> None:
    _node, value = yamlfile.parse("[" * 100 + "]" * 100 + "\n", "m.yaml", loader)
    for _ in range(99):
        value = value[0]
    assert value == []


@pytest.mark.parametrize("count", [100, 5000])
def test_aliases_that_nest_past_the_limit_are_refused(count: int) -> None:
    # Each line is shallow; the data it builds is not (and would be walked later).
    lines = ["a0: &a0 [1]"] + [f"a{i}: &a{i} [*a{i - 1}]" for i in range(1, count)]
    assert problems("\n".join(lines) + "\n") == [
        "m.yaml:99:6: error: invalid YAML: nesting is deeper than 100 levels"
    ]


@LOADERS
def test_syntax_errors_keep_their_own_message(loader: type | None) -> None:
    assert "nesting" not in problems("a: [1, 2\nb: 3\n", loader)[0]


def test_unicode_text_and_positions() -> None:
    node, value = yamlfile.parse("名前: 猫\nfps: 24\n", "m.yaml")
    assert value == {"名前": "猫", "fps": 24}
    assert node is not None
    fps = yamlfile.child(node, "fps")
    assert fps is not None
    assert yamlfile.position(fps) == (2, 6)


def test_problem_carries_diagnostics() -> None:
    problem = YamlProblem([Diagnostic("m.yaml", 1, 2, "bad")])
    assert str(problem) == "bad"
    assert problem.diagnostics == [Diagnostic("m.yaml", 1, 2, "bad")]


def test_floats_keep_their_value() -> None:
    assert math.isclose(data("a: 6.02e23\n")["a"], 6.02e23)


def test_columns_count_characters_not_bytes() -> None:
    node, _ = yamlfile.parse("{prompt: 猫猫猫, fps: 999}\n", "m.yaml")
    assert node is not None
    fps = yamlfile.child(node, "fps")
    assert fps is not None
    assert yamlfile.position(fps) == (1, 20)
