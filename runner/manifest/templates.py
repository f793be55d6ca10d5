"""``${name}`` templates in manifest strings; ``$${`` writes a literal ``${``.

A string that is exactly one ``${name}`` takes the variable's value with its type
(so ``fps: ${fps}`` stays an integer), unless the caller wants text; anywhere else
the value is written as text (JSON spelling for numbers, booleans and null).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

_TOKEN = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_PIECES = re.compile(r"(\$\$\{|\$\{[^}]*\}|\$\{)")  # _TOKEN's tokens, kept whole by split
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class TemplateProblem(Exception):
    """A template names an undefined variable or is malformed."""

    def __init__(self, message: str, name: str | None = None) -> None:
        super().__init__(message)
        self.name = name


def has_template(value: Any) -> bool:
    """True when ``value`` (or a string inside it) holds a ``${``."""
    if isinstance(value, str):
        return "${" in value
    if isinstance(value, list):
        return any(has_template(v) for v in value)
    if isinstance(value, dict):
        return any(has_template(v) for v in value.values())
    return False


def names(value: Any) -> Iterator[str]:
    """Every variable name that ``value`` refers to."""
    if isinstance(value, str):
        if "${" in value:
            for match in _TOKEN.finditer(value):
                if match.group(1) is not None:
                    yield match.group(1)
    elif isinstance(value, list):
        for item in value:
            yield from names(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from names(item)


def render(value: Any, env: Mapping[str, Any], *, typed: bool = True) -> Any:
    """``value`` with every template replaced from ``env``; raises TemplateProblem.

    With ``typed=False`` a string stays a string even when it is one ``${name}``.
    """
    if isinstance(value, str):
        return _render_text(value, env, typed) if "${" in value else value
    if isinstance(value, list):
        return [render(v, env, typed=typed) for v in value]
    if isinstance(value, dict):
        return {k: render(v, env, typed=typed) for k, v in value.items()}
    return value


def _render_text(text: str, env: Mapping[str, Any], typed: bool) -> Any:
    if typed:
        whole = _TOKEN.fullmatch(text)
        if whole and whole.group(1) is not None:
            return _lookup(whole.group(1), env)
    pieces = _PIECES.split(text)  # text, token, text, ..., text
    for i in range(1, len(pieces), 2):
        pieces[i] = _text(pieces[i], env)
    return "".join(pieces)


def _text(token: str, env: Mapping[str, Any]) -> str:
    if token == "$${":
        return "${"
    if token == "${":
        raise TemplateProblem("unclosed ${ (write $${ for a literal ${)")
    value = _lookup(token[2:-1], env)
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # as JSON spells them, without the cost of json.dumps
    return json.dumps(value, ensure_ascii=False)


def _lookup(name: str, env: Mapping[str, Any]) -> Any:
    if not _NAME.match(name):
        shown = name if len(name) <= 40 else name[:37] + "..."
        raise TemplateProblem(f"bad template ${{{shown}}}: a name is letters, digits and _")
    if name not in env:
        raise TemplateProblem(f"undefined variable ${{{name[:60]}}}", name)
    return env[name]
