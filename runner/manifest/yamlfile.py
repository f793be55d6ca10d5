"""YAML in one place: safe parsing that keeps positions and refuses surprises.

``parse`` returns the composed node tree and plain data built from it (dict, list,
str, int, float, bool, None). Scalars follow YAML 1.2's core schema, so ``on``,
``yes``, ``16:9`` and ``2024-01-01`` stay strings instead of becoming booleans,
sexagesimal integers and dates. Duplicate keys, non-string keys, unsupported tags,
non-finite numbers and alias bombs are reported as diagnostics with positions.
"""

from __future__ import annotations

import gc
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, NoReturn

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from runner.base.diagnostics import Diagnostic

try:
    _BaseLoader: type = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    _BaseLoader = yaml.SafeLoader

MAX_EXPANDED_NODES = 5_000_000
# Our own limit, below libyaml's (1,000, "exceeded maximum nesting depth") and the
# pure-Python composer's recursion limit, so every PyYAML build says the same thing
# at the same place. A manifest needs a handful of levels.
MAX_DEPTH = 100
TOO_DEEP = f"invalid YAML: nesting is deeper than {MAX_DEPTH} levels"
TAG = "tag:yaml.org,2002:"
# Each tag spelt once: a tag per node is kept with the node tree, and a string
# made anew for each of a large manifest's scalars cost megabytes and time.
STR, NULL, BOOL, INT, FLOAT = (TAG + kind for kind in ("str", "null", "bool", "int", "float"))
SEQ, MAP, MERGE = TAG + "seq", TAG + "map", TAG + "merge"
# Python refuses to print an int of over 4,300 digits (640 where an environment
# lowers the limit), so every message or request naming a longer one would crash.
MAX_INT_DIGITS = 600
INT_LIMIT = 10**MAX_INT_DIGITS
_INT = re.compile(r"^[-+]?(?:[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)


_SPECIAL_FIRST = frozenset("tTfFnN~<-+.0123456789")


def make_loader(base: type) -> type:
    """``base`` (a PyYAML safe loader) with YAML 1.2 core-schema scalar resolution."""

    class Loader(base):  # type: ignore[misc]
        yaml_implicit_resolvers: ClassVar[dict[str, list[tuple[str, re.Pattern[str]]]]] = {}

        def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
            # Most scalars are plain words: skip the regex scan when no resolver could
            # match; a quoted one is text (no path resolvers are set: PyYAML says so too).
            if kind is ScalarNode and (
                not implicit[0] or (value and value[0] not in _SPECIAL_FIRST)
            ):
                return STR
            tag: str = super().resolve(kind, value, implicit)
            return tag

    for name, regexp, first in (
        ("bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), "tTfF"),
        ("int", _INT, "-+0123456789"),
        ("float", _FLOAT, "-+0123456789."),
        ("null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]),
        ("merge", re.compile(r"^<<$"), "<"),
    ):
        Loader.add_implicit_resolver(TAG + name, regexp, list(first))
    return Loader


_Loader = make_loader(_BaseLoader)


def default_loader() -> type:
    """The loader ``parse`` uses unless told otherwise: libyaml's when present."""
    return _Loader


class YamlProblem(Exception):
    """The text could not be parsed; carries the diagnostics."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__(diagnostics[0].message if diagnostics else "invalid YAML")
        self.diagnostics = diagnostics


def parse(text: str, file: str, loader: type | None = None) -> tuple[Node | None, Any]:
    """Compose and construct one YAML document; raise YamlProblem on any problem.

    ``loader`` is a class from ``make_loader`` (by default on libyaml when present).
    """
    with collector_paused():
        node = compose(text, file, loader or _Loader)
        if node is None:
            return None, None
        builder = _Builder(file)
        try:
            data = builder.build(node)
        except _TooBig:
            data = None
    if builder.problems:
        raise YamlProblem(builder.problems)
    return node, data


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a document is built and resolved.

    Composing allocates an object per value and nothing is garbage until the end;
    the collector's full passes over that growing heap made large manifests take
    quadratic time (parsing a 40,000-job file: 3.5 s instead of 1.3 s).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def compose(text: str, file: str, loader_class: type) -> Node | None:
    loader = loader_class(text)
    try:
        node: Node | None = loader.get_single_node()
    except (RecursionError, yaml.YAMLError) as err:
        # Past libyaml's own limit, or the pure-Python composer's recursion limit.
        if not isinstance(err, RecursionError) and "nesting depth" not in str(err):
            _refuse(err, text, file)
        deep = _too_deep(text)
        line, col = (deep.line + 1, deep.column + 1) if deep else (1, 1)
        raise YamlProblem([Diagnostic(file, line, col, TOO_DEEP)]) from None
    finally:
        loader.dispose()
    return node


def item_lines(root: Node | None) -> dict[str, list[int]]:
    """The 1-based line of each item of each sequence under a root mapping."""
    lines: dict[str, list[int]] = {}
    if isinstance(root, MappingNode):
        for key, _key_node, value in pairs(root):
            if isinstance(value, SequenceNode):
                lines.setdefault(key, [item.start_mark.line + 1 for item in value.value])
    return lines


def _too_deep(text: str) -> Any:
    """Where the first collection deeper than MAX_DEPTH starts, if there is one.

    A ``Mark``, read from the pure-Python parser's event stream, which needs no recursion and
    has no depth limit of its own (libyaml's scanner may stop before its first
    event), so it finds the place the builder reports for shallower documents.
    """
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    return event.start_mark
            elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                depth -= 1
    except yaml.YAMLError:
        pass
    return None


def _refuse(err: yaml.YAMLError, text: str, file: str) -> NoReturn:
    """Raise the diagnostic for a YAML syntax or reader error."""
    if isinstance(err, yaml.MarkedYAMLError):
        mark = err.problem_mark or err.context_mark
        if _unclosed_quote(err):  # where the string opens, not where the file ends
            mark = err.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = f"invalid YAML: {_syntax(err, text, line, col)}"
        raise YamlProblem([Diagnostic(file, line, col, message)]) from None
    line, col = _reader_position(text, err)
    raise YamlProblem([Diagnostic(file, line, col, f"invalid YAML: {_reason(err)}")]) from None


def position(node: Node) -> tuple[int, int]:
    """The 1-based line and column where ``node`` starts."""
    return node.start_mark.line + 1, node.start_mark.column + 1


def pairs(node: MappingNode) -> Iterator[tuple[str, Node, Node]]:
    """(key, key node, value node) of a mapping, merge keys followed."""
    merged: list[Node] = []
    for key_node, value_node in node.value:
        if key_node.tag == MERGE:
            merged.extend(
                value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            )
        elif isinstance(key_node, ScalarNode):
            yield key_node.value, key_node, value_node
    for source in merged:
        if isinstance(source, MappingNode):
            yield from pairs(source)


def child(node: Node, step: str | int) -> Node | None:
    """The node at ``step`` (a key or an index) below ``node``, if there is one."""
    if isinstance(node, MappingNode):
        for key, _key_node, value_node in pairs(node):
            if key == step:
                return value_node
    elif isinstance(node, SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
        found: Node = node.value[step]
        return found
    return None


def key_node(node: Node, key: str) -> Node | None:
    """The node of ``key`` itself in a mapping (for unknown-key messages)."""
    if isinstance(node, MappingNode):
        for name, knode, _value in pairs(node):
            if name == key:
                return knode
    return None


class _Builder:
    """Builds plain data from nodes, checking what PyYAML would let through."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Diagnostic] = []
        self.expanded = 0
        self.built: dict[int, Any] = {}
        self.sizes: dict[int, int] = {}
        self.active: set[int] = set()
        self.heights: dict[int, int] = {}  # levels below a built node, for its aliases
        self.depth = 0  # collections open around the node being built
        self.reach = 0  # the deepest level reached inside the node being built

    def problem(self, node: Node, message: str) -> None:
        line, col = position(node)
        self.problems.append(Diagnostic(self.file, line, col, message))

    def build(self, node: Node) -> Any:
        # The tree is kept to locate diagnostics, by where each node starts: its end
        # (80 bytes a node, a sixth of a large manifest's tree) is let go.
        node.end_mark = None
        if node.tag == STR and isinstance(node, ScalarNode):
            # Text, most of a manifest: nothing to check, nothing below it, so no
            # record is kept of it for its aliases (it is simply built again).
            self.expanded += 1
            self._check_size(node)
            return node.value
        ident = id(node)
        if ident in self.built:  # an alias: shared, but counted as expanded and as deep
            self.expanded += self.sizes[ident]
            self._check_size(node)
            self._reached(node, self.depth + self.heights[ident])
            return self.built[ident]
        if ident in self.active:
            self.problem(node, "invalid YAML: this node contains an alias to itself")
            return None
        before, outer, self.reach = self.expanded, self.reach, self.depth
        self.active.add(ident)
        value = self._construct(node)
        self.active.discard(ident)
        self.expanded += 1
        self._check_size(node)
        self.sizes[ident] = self.expanded - before
        self.heights[ident] = self.reach - self.depth
        self.reach = max(outer, self.reach)
        self.built[ident] = value
        return value

    def _reached(self, node: Node, depth: int) -> None:
        self.reach = max(self.reach, depth)
        if depth > MAX_DEPTH:
            self.problem(node, TOO_DEEP)
            raise _TooBig

    def _check_size(self, node: Node) -> None:
        if self.expanded > MAX_EXPANDED_NODES:
            message = f"aliases expand the document to more than {MAX_EXPANDED_NODES:,} values"
            self.problem(node, f"invalid YAML: {message}")
            raise _TooBig

    def _construct(self, node: Node) -> Any:
        if isinstance(node, ScalarNode):
            return self._scalar(node)
        self.depth += 1
        try:
            self._reached(node, self.depth)
            if isinstance(node, MappingNode):
                return self._mapping(node)
            if node.tag != SEQ:
                self.problem(node, f"unsupported YAML tag {_short(node.tag)}")
            return [self.build(item) for item in node.value]
        finally:
            self.depth -= 1

    def _mapping(self, node: MappingNode) -> dict[str, Any]:
        if node.tag != MAP:
            self.problem(node, f"unsupported YAML tag {_short(node.tag)}")
        result: dict[str, Any] = {}
        merged: list[Node] = []
        for knode, vnode in node.value:
            knode.end_mark = None
            if knode.tag == MERGE:
                merged.extend(vnode.value if isinstance(vnode, SequenceNode) else [vnode])
                continue
            if not isinstance(knode, ScalarNode) or knode.tag != STR:
                self.problem(knode, "mapping keys must be strings")
                continue
            if knode.value in result:
                self.problem(knode, f"duplicate key {knode.value!r}")
                continue
            result[knode.value] = self.build(vnode)
        for source in merged:
            value = self.build(source)
            if not isinstance(value, dict):
                self.problem(source, "a merge key (<<) needs a mapping")
                continue
            for key, item in value.items():
                result.setdefault(key, item)
        return result

    def _scalar(self, node: Node) -> Any:
        text: str = node.value
        tag = node.tag
        if tag == STR:
            return text
        if tag == NULL:
            return None
        if tag == BOOL:
            return text.lower() == "true"
        if tag == INT and _INT.match(text):
            value = integer(text) if len(text) <= MAX_INT_DIGITS else None
            if value is None or abs(value) >= INT_LIMIT:
                self.problem(node, f"an integer of over {MAX_INT_DIGITS} digits is too large")
                return 0
            return value
        if tag == FLOAT and _FLOAT.match(text):
            number = real(text)
            if not math.isfinite(number):
                self.problem(node, f"{text} is not a finite number")
            return number
        self.problem(node, f"unsupported YAML tag {_short(tag)}")
        return text


class _TooBig(Exception):
    pass


def integer(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    if body.startswith("0o"):
        return sign * int(body[2:], 8)
    if body.startswith("0x"):
        return sign * int(body[2:], 16)
    return sign * int(body, 10)


def real(text: str) -> float:
    lowered = text.lower()
    if lowered.endswith(".nan"):
        return math.nan
    if lowered.endswith(".inf"):
        return -math.inf if text.startswith("-") else math.inf
    return float(text)


def _short(tag: str) -> str:
    return "!!" + tag[len(TAG) :] if tag.startswith(TAG) else tag


def _syntax(err: yaml.MarkedYAMLError, text: str, line: int, col: int) -> str:
    """PyYAML's problem, reworded where its own words mislead."""
    if "single document" in (err.context or ""):
        return "a manifest is one YAML document; found a second one"
    if _unclosed_quote(err):
        return "a quoted string starts here and is never closed"
    lines = text.split("\n")
    if line <= len(lines) and lines[line - 1][col - 1 : col] == "\t":
        return "a tab character; YAML indents with spaces only"
    return str(err.problem or err.context or "syntax error")


def _unclosed_quote(err: yaml.MarkedYAMLError) -> bool:
    return "quoted scalar" in (err.context or "") and err.context_mark is not None


def _reason(err: yaml.YAMLError) -> str:
    text = str(err).splitlines()[0] if str(err) else "unreadable text"
    return text.rstrip(":")


def _reader_position(text: str, err: yaml.YAMLError) -> tuple[int, int]:
    offset = getattr(err, "position", None)
    if not isinstance(offset, int):
        return 1, 1
    before = text[:offset]
    line = before.count("\n") + 1
    return line, offset - (before.rfind("\n") + 1) + 1
