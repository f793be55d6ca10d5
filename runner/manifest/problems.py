"""Where a manifest's problems are: paths through the YAML node tree, and the Report
that turns each path into a located Diagnostic.

The manifest's loader and the modules it resolves with (fields, job specs, local
inputs) all report through it, so it sits below them all.
"""

from __future__ import annotations

import re

from yaml.nodes import Node

from runner.base.diagnostics import Diagnostic
from runner.manifest import checks, yamlfile
from runner.manifest.document import Document

Path_ = tuple[str | int, ...]
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")  # one diagnostic, one line


class Report:
    """Collects diagnostics, locating each by its path through the node tree."""

    def __init__(self, file: str, root: Node | None, document: Document | None = None) -> None:
        """Problems are located in ``root``, or in the tree of ``document`` (composed when
        first needed)."""
        self.file = file
        self._root = root
        self.document = document
        self.problems: set[Diagnostic] = set()
        self.warnings: set[Diagnostic] = set()

    def add(
        self, path: Path_, message: str, *, at_key: bool = False, label: str | None = None
    ) -> None:
        """A problem at ``path``; ``at_key`` points at the last key, not its value.

        ``label`` replaces the path in the message (``jobs[0] (cat-garden)``).
        """
        node = self.node(path, at_key=at_key)
        prefix = label or format_path(path)
        self.add_at(node, f"{prefix}: {message}" if prefix else message)

    def warn(self, path: Path_, message: str, *, label: str | None = None) -> None:
        """A warning at ``path``: reported, but no error unless the run is strict."""
        prefix = label or format_path(path)
        self.add_at(self.node(path), f"{prefix}: {message}", severity="warning")

    def add_at(self, node: Node | None, message: str, severity: str = "error") -> None:
        line, col = yamlfile.position(node) if node is not None else (1, 1)
        one_line = _CONTROL.sub(lambda m: repr(m.group())[1:-1], message)
        found = Diagnostic(self.file, line, col, one_line, severity)
        (self.problems if severity == "error" else self.warnings).add(found)

    def node(self, path: Path_, *, at_key: bool = False) -> Node | None:
        """The deepest node along ``path`` (the key node itself with ``at_key``)."""
        node = self.document.root() if self.document is not None else self._root
        for depth, step in enumerate(path):
            if node is None:
                break
            if at_key and depth == len(path) - 1 and isinstance(step, str):
                return yamlfile.key_node(node, step) or node
            below = yamlfile.child(node, step)
            if below is None:
                break
            node = below
        return node

    def item_line(self, key: str, index: int) -> int:
        """The 1-based line where item ``index`` of the top-level ``key`` starts, or 0."""
        document = self.document
        lines = document.item_lines if document is not None else yamlfile.item_lines(self._root)
        found = lines.get(key)
        return found[index] if found is not None and 0 <= index < len(found) else 0

    def sorted(self) -> list[Diagnostic]:
        """Errors and warnings, in the order of the file."""
        return sorted(self.problems | self.warnings, key=in_file_order)


def in_file_order(diagnostic: Diagnostic) -> tuple[int, int, str, str]:
    """The sort key that lists diagnostics in the order of the file."""
    return (diagnostic.line, diagnostic.col, diagnostic.message, diagnostic.severity)


def format_path(path: Path_) -> str:
    """``("jobs", 1, "fps")`` as ``jobs[1].fps``."""
    text = ""
    for step in path:
        if isinstance(step, int):
            text += f"[{step}]"
        else:
            text += f".{checks.clip(step)}" if text else checks.clip(step)
    return text
