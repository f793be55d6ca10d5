"""runner.manifest.document: the event path gives what the node tree gives, or steps aside.

Every text is read both ways, through ``document.load`` and through
``yamlfile.parse`` (the node tree), on libyaml and on the pure-Python parser: the
data, the lines of the top-level items and every refusal must be the same.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.manifest import document, yamlfile
from runner.manifest.yamlfile import YamlProblem

LOADERS = [
    pytest.param(yamlfile.make_loader(yaml.CSafeLoader), id="libyaml"),
    pytest.param(yamlfile.make_loader(yaml.SafeLoader), id="python"),
]
LIBYAML = yamlfile.make_loader(yaml.CSafeLoader)

# Scalars each path must resolve alike, the awkward ones included.
SCALARS = [
    "on",
    "yes",
    "16:9",
    "2024-01-01",
    "1_000",
    "0b101",
    "017",
    "0o17",
    "0x1F",
    "-0x10",
    "+5",
    "true",
    "True",
    "TRUE",
    "False",
    "1.5",
    "1e3",
    ".5",
    "-2.5E-1",
    "null",
    "~",
    "",
    "'5'",
    '"true"',
    "kling-v2.6-pro",
    ".inf",
    "-.Inf",
    ".NaN",
    "9" * 601,
    "-" + "9" * 600,
    "<<",
    "'<<'",
    "!!str 5",
    "!!int 5",
    "!custom x",
    "! 5",
    "&a 5",
    "*a",
    "&b [1, 2]",
    "[]",
    "{}",
    "[1, {a: b}]",
    "{a: 1, a: 2}",
    "{1: x}",
    "{null: x}",
    "{[1]: x}",
    "'x\ty'",
    "a b c",
    "- x",
    "? k",
    "'unclosed",
    "{",
    "]",
    "\t",
    "x: y: z",
    "0.",
    "-.5e+3",
    "+.inf",
]
KEYS = ["id", "prompt", "seed", "jobs", "vars", "<<", "on", "1", "null", "'q'", "k k", "id"]


def both(text: str, loader: type) -> tuple[Any, Any]:
    """What each path makes of ``text``: (data, item lines) or the diagnostics."""
    try:
        loaded = document.load(text, "m.yaml", loader)
        fast: Any = (loaded.data, loaded.item_lines)
    except YamlProblem as problem:
        fast = [str(d) for d in problem.diagnostics]
    try:
        node, data = yamlfile.parse(text, "m.yaml", loader)
        slow: Any = (data, yamlfile.item_lines(node))
    except YamlProblem as problem:
        slow = [str(d) for d in problem.diagnostics]
    return fast, slow


def same(fast: Any, slow: Any) -> None:
    assert repr(fast) == repr(slow)  # repr: nan equals itself, 1 and True and 1.0 differ


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize("scalar", SCALARS)
def test_each_scalar_reads_alike_as_value_key_and_item(scalar: str, loader: type) -> None:
    for text in (
        f"k: {scalar}\n",
        f"{scalar}: v\n",
        f"jobs:\n  - {scalar}\n  - id: a\n",
        f"{scalar}\n",
        f"a: &a {{x: 1}}\nb:\n  <<: *a\n  k: {scalar}\n",
    ):
        same(*both(text, loader))


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize(
    "text",
    [
        "",
        "# only a comment\n",
        "a: 1\n---\nb: 2\n",
        "--- a\n...\n",
        "jobs:\n  - id: a\n    fps: 24\n  -\n  - [1, 2]\n  - id: b\nvars: [x, y]\n",
        "version: 1\njobs: []\nother:\n  deeper: [1, 2]\n",
        "[" * 100 + "]" * 100 + "\n",
        "[" * 101 + "]" * 101 + "\n",
        "a: &x [1, *x]\n",
        "a0: &a0 [x]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 101)),
        "a0: &a0 [x]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 98)),
        "a: &a [" + "[" * 60 + "]" * 60 + "]\nb: " + "[" * 40 + "*a" + "]" * 40 + "\n",
        "a: &a [1, 2]\nb: [*a, *a, {<<: *a}]\n",
        "a: &a {k: 1}\nb: {<<: [*a, {k: 2, j: 3}], j: 4}\n",
        "a: *nowhere\n",
        "名前: 猫\nfps: 24\n",
        "k: 'it''s'\nj: \"\\u00e9\\n\"\nm: |\n  line\n  two\nn: >-\n  folded\n  text\n",
    ],
)
def test_documents_read_alike(text: str, loader: type) -> None:
    same(*both(text, loader))


def _block(value: Any, indent: int) -> str:
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return " {}\n"
        lines = "".join(f"{pad}{key}:{_block(item, indent + 2)}" for key, item in value.items())
        return "\n" + lines
    if isinstance(value, list):
        if not value:
            return " []\n"
        return "\n" + "".join(f"{pad}-{_block(item, indent + 2)}" for item in value)
    return f" {value}\n"


_TREES = st.recursive(
    st.sampled_from(SCALARS[:30]),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(KEYS), inner, max_size=4),
    ),
    max_leaves=12,
)


# Mostly valid documents, so that the event path is taken and its values compared.
_PLAIN_KEYS = ["id", "prompt", "seed", "tags", "k k", "'q'", "on"]
_PLAIN_SCALARS = ["on", "16:9", "017", "0x1F", "+5", "true", "1.5", "~", "'5'", "a b", '"x"']
_PLAIN = st.recursive(
    st.sampled_from(_PLAIN_SCALARS),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(_PLAIN_KEYS), inner, max_size=3),
    ),
    max_leaves=8,
)
_MAPPINGS = st.dictionaries(st.sampled_from(_PLAIN_KEYS), _PLAIN, min_size=1, max_size=3)


@st.composite
def _anchored(draw: st.DrawFn) -> str:
    """Top-level definitions under anchors, then jobs that alias and merge them; now
    and then wrong: an undefined or repeated anchor, a merge of a non-mapping."""
    names = draw(st.lists(st.sampled_from("abc"), unique=True, min_size=1, max_size=3))
    if names and draw(st.sampled_from([False] * 5 + [True])):
        names.append(names[0])  # the same anchor twice
    lines = []
    for index, name in enumerate(names):
        body = draw(st.one_of(_MAPPINGS, _MAPPINGS, _MAPPINGS, _PLAIN, _TREES))
        lines.append(f"x-{index}: &{name}" + _block(body, 4).rstrip("\n"))
    usable = sorted(set(names)) * 8 + ["z"] if names else ["z"]
    forms = ["<<: *{0}", "<<: [*{0}]", "k: *{0}", "k: [*{0}, *{0}]", "<<: {{m: *{0}}}"]
    lines.append("jobs:")
    for number in range(draw(st.integers(0, 4))):
        fields = [f"id: j{number}"]
        for use in draw(st.lists(st.sampled_from(usable), max_size=2)):
            fields.append(draw(st.sampled_from(forms)).format(use))
        for key in draw(st.lists(st.sampled_from(_PLAIN_KEYS[1:] + KEYS[-3:]), max_size=2)):
            fields.append(f"{key}:" + _block(draw(st.one_of(_PLAIN, _TREES)), 6).rstrip("\n"))
        lines.append("  - " + "\n    ".join(fields))
    return "\n".join(lines) + "\n"


@settings(max_examples=300, deadline=None)
@given(text=_anchored())
def test_random_anchors_aliases_and_merges_read_alike(text: str) -> None:
    same(*both(text, LIBYAML))


@settings(max_examples=300, deadline=None)
@given(tree=st.dictionaries(st.sampled_from(KEYS), _TREES, min_size=1, max_size=5))
def test_random_block_documents_read_alike(tree: dict[str, Any]) -> None:
    text = _block(tree, 0).lstrip("\n")
    same(*both(text, LIBYAML))


def test_a_plain_document_composes_its_tree_only_when_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = "version: 1\njobs:\n  - id: a\n    fps: 24\n  - id: b\n"
    calls: list[str] = []
    compose = yamlfile.compose

    def counted(*args: Any) -> Any:
        calls.append("compose")
        return compose(*args)

    monkeypatch.setattr(yamlfile, "compose", counted)
    loaded = document.load(text, "m.yaml")
    assert loaded.data == {"version": 1, "jobs": [{"id": "a", "fps": 24}, {"id": "b"}]}
    assert loaded.item_lines == {"jobs": [3, 5]}
    assert calls == []
    root = loaded.root()
    assert calls == ["compose"]
    assert loaded.root() is root and calls == ["compose"]
    fps = yamlfile.child(yamlfile.child(yamlfile.child(root, "jobs"), 0), "fps")  # type: ignore[arg-type]
    assert fps is not None and yamlfile.position(fps) == (4, 10)


def test_a_tag_takes_the_node_tree_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = document.load("a: !!str 5\n", "m.yaml")
    assert loaded.data == {"a": "5"}
    monkeypatch.setattr(yamlfile, "compose", lambda *args: pytest.fail("composed again"))
    assert loaded.root() is not None


def test_anchors_aliases_and_merge_keys_stay_on_the_event_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(yamlfile, "parse", lambda *args: pytest.fail("read the slow way"))
    text = (
        "x-common: &common {model: veo3.1-fast, duration: 5}\n"
        "x-more: &more {duration: 8, fps: 24}\n"
        "jobs:\n"
        "  - {<<: *common, id: a}\n"
        "  - <<: [*more, *common]\n"
        "    id: b\n"
        "    tags: &t [x, y]\n"
        "  - {id: c, tags: *t, prompt: &p hello, title: *p}\n"
    )
    loaded = document.load(text, "m.yaml")
    common = {"model": "veo3.1-fast", "duration": 5}
    assert loaded.data["jobs"] == [
        {"id": "a", **common},
        {"id": "b", "tags": ["x", "y"], "duration": 8, "fps": 24, "model": "veo3.1-fast"},
        {"id": "c", "tags": ["x", "y"], "prompt": "hello", "title": "hello"},
    ]
    assert loaded.item_lines["jobs"] == [4, 5, 8]


def test_keys_are_interned() -> None:
    loaded = document.load("jobs:\n  - {id: a}\n  - {id: b}\n", "m.yaml")
    first, second = (next(iter(job)) for job in loaded.data["jobs"])
    assert first is second
