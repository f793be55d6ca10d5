"""A manifest's YAML document: its data at once, its node tree only when asked.

Positions are needed only to locate a problem, and most manifests have none, so
``load`` builds plain data straight from libyaml's event stream, without the node
tree: for 100,000 jobs that is about half the time and a fraction of the memory
of composing every node. The tree is composed from the same text the first time
a position is asked for (``Document.root``).

The event path takes the plain case, anchors, aliases and merge keys included:
no tag, duplicate or non-string key, out-of-range number, nesting past
MAX_DEPTH (aliases counted as deep as they could be), alias to an anchor still
open, merge into the root or of a non-mapping, or second document. At the
first sign of any of them it gives up and
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
    AliasEvent,
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
    MERGE,
    NULL,
    collector_paused,
)

_UNBUILT: Any = object()
_MERGE: Any = object()  # the key <<


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
        # Anchors, aliases and merge keys, rare: kept aside so the plain case pays little.
        # A closed anchor: its value, the nodes it counts for, the line where it starts.
        self.anchors: dict[str, tuple[Any, int, int]] = {}
        self.named: set[str] = set()  # every anchor seen, closed or still open
        self.opening: dict[int, tuple[str, int, int]] = {}  # id: an open anchored collection
        self.merging: dict[int, list[Any]] = {}  # id of an open mapping: its << values

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
        count = 0  # nodes, as aliases expand them
        while True:
            event = get()
            kind = event.__class__
            opened: dict[str, Any] | list[Any] | None = None
            if kind is ScalarEvent:
                if event.tag is not None:
                    raise _GiveUp
                value = event.value
                if event.implicit[0] and (not value or value[0] in self.special):
                    value = self._resolved(value)
                    if value is _MERGE and not (
                        stack and stack[-1].__class__ is dict and keys[-1] is _UNBUILT
                    ):
                        raise _GiveUp  # << as a value, or in a sequence: the builder refuses
                if event.anchor is not None:
                    self._name(event.anchor, value, event.start_mark.line + 1)
                count += 1
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                if event.tag is not None or len(stack) >= MAX_DEPTH:
                    raise _GiveUp
                value = opened = {} if kind is MappingStartEvent else []
                if event.anchor is not None:
                    self._open(event.anchor, opened, count, event.start_mark.line + 1)
                count += 1
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                if keys.pop() is not _UNBUILT:
                    raise _GiveUp  # a key without a value cannot come from the parser
                done = stack.pop()
                marks.pop()
                if self.merging and id(done) in self.merging:
                    self._merge(done)
                if self.opening and id(done) in self.opening:
                    self._close(done, count)
                continue
            elif kind is AliasEvent:
                value, size, line = self._alias(event.anchor, len(stack))
                count += size
            elif kind is DocumentEndEvent:
                break
            else:  # anything unforeseen
                raise _GiveUp
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
                        if value is _MERGE:
                            keys[-1] = _MERGE
                        elif value.__class__ is not str or value in parent:
                            raise _GiveUp  # not a string, or a duplicate
                        else:
                            keys[-1] = sys.intern(value)
                        continue
                    if key is _MERGE:
                        if len(stack) == 1:
                            raise _GiveUp  # merged into the root: its items' lines elsewhere
                        self.merging.setdefault(id(parent), []).append(value)
                    else:
                        parent[key] = value
                    keys[-1] = _UNBUILT
                else:
                    parent.append(value)
                    mark = marks[-1]
                    if mark is not None:  # an alias is where its anchor is, as a node is
                        mark.append(line if kind is AliasEvent else event.start_mark.line + 1)
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

    def _name(self, anchor: str, value: Any, line: int) -> None:
        """Record an anchored scalar (the composer refuses an anchor given twice)."""
        if anchor in self.named:
            raise _GiveUp
        self.named.add(anchor)
        self.anchors[anchor] = (value, 1, line)

    def _open(self, anchor: str, collection: Any, count: int, line: int) -> None:
        if anchor in self.named:
            raise _GiveUp
        self.named.add(anchor)
        self.opening[id(collection)] = (anchor, count, line)

    def _close(self, collection: Any, count: int) -> None:
        anchor, before, line = self.opening.pop(id(collection))
        self.anchors[anchor] = (collection, count - before, line)

    def _alias(self, anchor: str, depth: int) -> tuple[Any, int, int]:
        """What an alias stands for, the nodes it counts for, and where it starts."""
        found = self.anchors.get(anchor)
        if found is None:
            raise _GiveUp  # undefined, or an alias inside its own anchor
        value, size, _line = found
        # Its nodes bound its height: deep enough to matter, the builder decides.
        if value.__class__ in (dict, list) and depth + size > MAX_DEPTH:
            raise _GiveUp
        return found

    def _merge(self, mapping: dict[str, Any]) -> None:
        """Apply a mapping's << values after its own keys, as the builder does."""
        for value in self.merging.pop(id(mapping)):
            for source in value if value.__class__ is list else (value,):
                if source.__class__ is not dict:
                    raise _GiveUp  # the builder refuses it
                for key, item in source.items():
                    mapping.setdefault(key, item)

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
        if tag == MERGE:
            return _MERGE
        raise _GiveUp  # a number out of range, or a tag the builder refuses
