"""runner.manifest.templates: ${name} substitution, $${ escapes, and the problems it reports."""

from __future__ import annotations

from typing import Any

import pytest

from runner.manifest import templates
from runner.manifest.templates import TemplateProblem

ENV = {"style": "cinematic", "fps": 24, "ratio": 1.5, "on": True, "off": False, "none": None}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain text", "plain text"),
        ("A cat, ${style}", "A cat, cinematic"),
        ("${style}${style}", "cinematiccinematic"),
        ("${fps} fps", "24 fps"),
        ("x ${ratio}", "x 1.5"),
        ("audio ${on}/${off}", "audio true/false"),
        ("seed ${none}", "seed null"),
        ("$${style}", "${style}"),
        ("costs $${price} and ${fps}", "costs ${price} and 24"),
        ("$$${fps}", "$${fps}"),
        ("$style {style} $ {style}", "$style {style} $ {style}"),
        ("", ""),
    ],
)
def test_text_rendering(text: str, expected: str) -> None:
    assert templates.render(text, ENV) == expected


@pytest.mark.parametrize(("text", "value"), [("${fps}", 24), ("${on}", True), ("${none}", None)])
def test_a_whole_template_keeps_the_value_type(text: str, value: Any) -> None:
    result = templates.render(text, ENV)
    assert result == value
    assert type(result) is type(value)


def test_a_whole_template_can_be_asked_for_text() -> None:
    assert templates.render("${fps}", ENV, typed=False) == "24"
    assert templates.render(["${on}", {"k": "${fps}"}], ENV, typed=False) == [
        "true",
        {"k": "24"},
    ]


def test_lists_and_mappings_are_rendered_inside() -> None:
    value = {"a": ["${style}", 3, {"b": "${fps}"}], "c": None}
    assert templates.render(value, ENV) == {"a": ["cinematic", 3, {"b": 24}], "c": None}


def test_rendering_leaves_the_input_unchanged() -> None:
    value = {"a": ["${style}"]}
    templates.render(value, ENV)
    assert value == {"a": ["${style}"]}


def test_structured_values_are_written_as_json_in_text() -> None:
    env = {"refs": ["a.jpg", "b.jpg"], "opts": {"k": 1}}
    assert templates.render("use ${refs} ${opts}", env) == 'use ["a.jpg", "b.jpg"] {"k": 1}'


@pytest.mark.parametrize(
    ("text", "message", "name"),
    [
        ("A ${styel}", "undefined variable ${styel}", "styel"),
        ("${missing}", "undefined variable ${missing}", "missing"),
        ("A ${ style }", "bad template ${ style }: a name is letters, digits and _", None),
        ("A ${}", "bad template ${}: a name is letters, digits and _", None),
        ("A ${1st}", "bad template ${1st}: a name is letters, digits and _", None),
        ("A ${a-b}", "bad template ${a-b}: a name is letters, digits and _", None),
        ("A ${style", "unclosed ${ (write $${ for a literal ${)", None),
        ("${style} and ${", "unclosed ${ (write $${ for a literal ${)", None),
    ],
)
def test_problems(text: str, message: str, name: str | None) -> None:
    with pytest.raises(TemplateProblem) as caught:
        templates.render(text, ENV)
    assert str(caught.value) == message
    assert caught.value.name == name


def test_a_long_bad_name_is_cut_short_in_the_message() -> None:
    with pytest.raises(TemplateProblem) as caught:
        templates.render("${" + "x-" * 100 + "}", ENV)
    assert str(caught.value) == (
        "bad template ${" + ("x-" * 100)[:37] + "...}: a name is letters, digits and _"
    )


def test_has_template() -> None:
    assert templates.has_template("a ${b}")
    assert templates.has_template("a $${b}")  # an escape still needs rendering
    assert templates.has_template(["x", {"k": "${v}"}])
    assert not templates.has_template("a $b {c}")
    assert not templates.has_template(5)
    assert not templates.has_template(None)
    assert not templates.has_template({"${k}": "v"})  # keys are not templates


def test_names() -> None:
    value = {"p": "${a} ${b} $${c}", "l": ["${a}", 7, "${d}"]}
    assert list(templates.names(value)) == ["a", "b", "a", "d"]
    assert list(templates.names("no templates")) == []
    assert list(templates.names(42)) == []
