"""A manifest's YAML document: its data at once, its node tree only when asked.

Positions are needed only to locate a problem, and most manifests have none, so
``load`` builds plain data straight from libyaml's event stream, without the node
tree: for 100,000 jobs that is about half the time and a fraction of the memory
of composing every node. The tree is composed from the same text the first time
a position is asked for (``Document.root``).

The event path takes only the plain case: no anchor, alias, tag, merge key,
duplicate or non-string key, out-of-range number, nesting past MAX_DEPTH, or
second document. At the first sign of any of them it gives up and
``yamlfile.parse`` reads the text the slow way, which keeps every refusal and
message exactly as before. Both paths resolve scalars with the same loader's
resolvers and convert them with the same functions, and a property test holds
them equal.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any

import yaml
from yaml.events import (
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import Node

from runner.manifest import yamlfile
from runner.manifest.yamlfile import (
    BOOL,
    FLOAT,
    INT,
    MAX_DEPTH,
    MAX_EXPANDED_NODES,
    MAX_INT_DIGITS,
    NULL,
    collector_paused,
)

_UNBUILT: Any = object()


class _GiveUp(Exception):
    """The text is not the plain case: read it the slow way."""


class Document:
    """The data of one YAML document, and where its values are."""

    def __init__(
        self,
        file: str,
        data: Any,
        item_lines: dict[str, list[int]],
        compose: Callable[[], Node | None],
    ) -> None:
        self.file = file
        self.data = data
        # The 1-based line of each item of each sequence at the top level (``jobs``).
        self.item_lines = item_lines
        self._compose = compose
        self._root: Any = _UNBUILT

    def root(self) -> Node | None:
        """The node tree (composed on first use), to locate problems by path."""
        if self._root is _UNBUILT:
            with collector_paused():
                self._root = self._compose()
        root: Node | None = self._root
        return root


def load(text: str, file: str, loader: type | None = None) -> Document:
    """Parse one YAML document; raise yamlfile.YamlProblem on any problem.

    ``loader`` is a class from ``yamlfile.make_loader`` (by default on libyaml).
    """
    loader_class = loader or yamlfile.default_loader()
    with collector_paused():
        try:
            data, lines = _Events(loader_class(text), loader_class).build()
        except (_GiveUp, yaml.YAMLError):
            node, data = yamlfile.parse(text, file, loader_class)
            return Document(file, data, yamlfile.item_lines(node), lambda: node)
    return Document(file, data, lines, lambda: yamlfile.compose(text, file, loader_class))


class _Events:
    """Plain data from a parser's events, in one pass with an explicit stack."""

    def __init__(self, parser: Any, loader_class: Any) -> None:
        self.parser = parser
        resolvers: dict[Any, list[tuple[str, Any]]] = loader_class.yaml_implicit_resolvers
        if None in resolvers:  # a resolver for every first character: not the plain case
            raise _GiveUp
        self.resolvers = resolvers
        self.special = frozenset(key for key in resolvers if key)

    def build(self) -> tuple[Any, dict[str, list[int]]]:
        try:
            return self._document()
        finally:
            self.parser.dispose()

    def _document(self) -> tuple[Any, dict[str, list[int]]]:
        # One loop, on purpose: it runs once per event (800,000 for 100,000 jobs),
        # and a function call for each would cost a tenth more.
        get = self.parser.get_event
        get()  # the stream's start
        if get().__class__ is not DocumentStartEvent:
            raise _GiveUp  # no document at all
        lines: dict[str, list[int]] = {}
        root: Any = _UNBUILT
        stack: list[Any] = []  # the open collections, outermost first
        keys: list[Any] = []  # per open mapping, the key awaiting its value (_UNBUILT: none)
        marks: list[list[int] | None] = []  # per open sequence under the root: its lines
        count = 0
        while True:
            event = get()
            kind = event.__class__
            if kind is ScalarEvent:
                if event.anchor is not None or event.tag is not None:
                    raise _GiveUp
                value = event.value
                if event.implicit[0] and (not value or value[0] in self.special):
                    value = self._resolved(value)
                opened: dict[str, Any] | list[Any] | None = None
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                if event.anchor is not None or event.tag is not None or len(stack) >= MAX_DEPTH:
                    raise _GiveUp
                value = opened = {} if kind is MappingStartEvent else []
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                if keys.pop() is not _UNBUILT:
                    raise _GiveUp  # a key without a value cannot come from the parser
                stack.pop()
                marks.pop()
                continue
            elif kind is DocumentEndEvent:
                break
            else:  # an alias, or anything unforeseen
                raise _GiveUp
            count += 1
            if count > MAX_EXPANDED_NODES:
                raise _GiveUp
            key = None
            if not stack:
                root = value
            else:
                parent = stack[-1]
                if parent.__class__ is dict:
                    key = keys[-1]
                    if key is _UNBUILT:
                        if value.__class__ is not str or value in parent:
                            raise _GiveUp  # not a string, a duplicate, or a merge key
                        keys[-1] = sys.intern(value)
                        continue
                    parent[key] = value
                    keys[-1] = _UNBUILT
                else:
                    parent.append(value)
                    mark = marks[-1]
                    if mark is not None:
                        mark.append(event.start_mark.line + 1)
            if opened is not None:
                if key is not None and len(stack) == 1 and opened.__class__ is list:
                    marks.append(lines.setdefault(key, []))  # a sequence under the root
                else:
                    marks.append(None)
                stack.append(opened)
                keys.append(_UNBUILT)
        if get().__class__ is not StreamEndEvent:
            raise _GiveUp  # a second document
        return root, lines

    def _resolved(self, value: str) -> Any:
        """A plain scalar as the loader resolves it (yamlfile._Builder._scalar's values)."""
        candidates = self.resolvers.get(value[0] if value else "", ())
        tag = next((tag for tag, regexp in candidates if regexp.match(value)), None)
        if tag is None:
            return value
        if tag == NULL:
            return None
        if tag == BOOL:
            return value.lower() == "true"
        if tag == INT and len(value) <= MAX_INT_DIGITS:
            number = yamlfile.integer(value)
            if abs(number) < yamlfile.INT_LIMIT:
                return number
        elif tag == FLOAT:
            real = yamlfile.real(value)
            if math.isfinite(real):
                return real
        raise _GiveUp  # a merge key, a number out of range, or a tag the builder refuses
