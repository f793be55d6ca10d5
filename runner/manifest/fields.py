"""Request fields of one mapping (defaults or a job): aliases, unknown keys, checked values.

A literal value is checked where it is written, once per distinct value; a value
holding a template is checked after rendering, by the expansion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runner.base import schema
from runner.manifest import checks, templates

if TYPE_CHECKING:
    from runner.manifest.problems import Path_, Report

RUNNER_FIELDS = ("id", "matrix", "prompt_file", "extra")
_SCALARS = (str, int, float, bool, type(None))  # values that are their own memo key


@dataclass
class Fields:
    """Request fields of one mapping, with where each came from."""

    values: dict[str, Any] = field(default_factory=dict)
    paths: dict[str, Path_] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    extra_paths: dict[str, Path_] = field(default_factory=dict)
    templated: list[str] = field(default_factory=list)  # the fields whose values hold a template


class FieldReader:
    """Reads the request fields of mappings, reporting each problem to ``report``."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.request_fields = frozenset(schema.request_fields())
        self.known = (*schema.request_fields(), *checks.ALIASES)
        properties = schema.load("request")["properties"]
        self.text_fields = frozenset(k for k, v in properties.items() if v.get("type") == "string")
        self.integer_fields = frozenset(
            k for k, v in properties.items() if v.get("type") == "integer"
        )
        self._checked: dict[tuple[str, type, Any], tuple[checks.Problem, ...]] = {}
        # (keys of a mapping, allowed) -> (key, field) of each request field in it,
        # or None when some key needs more than that (an alias given twice, extra,
        # an unknown key): most jobs of a large manifest have the same keys.
        self._shapes: dict[tuple[Any, ...], list[tuple[str, str]] | None] = {}

    def read(self, raw: Any, path: Path_, allowed: tuple[str, ...]) -> Fields:
        """Normalise aliases, refuse unknown keys, check literal values."""
        result = Fields()
        if not isinstance(raw, dict):
            return result
        shape = (allowed, *raw)
        plain = self._shapes.get(shape, ())
        if plain == ():
            plain = self._shapes[shape] = self._plain(raw, allowed)
        if plain is not None:
            values, paths = result.values, result.paths
            for spelling, field_name in plain:
                value = values[field_name] = raw[spelling]
                where = paths[field_name] = (*path, spelling)
                if templates.has_template(value):
                    result.templated.append(field_name)
                else:
                    self.check(field_name, value, where)
            return result
        spelt: dict[Any, Any] = {}  # canonical name to the key that gave its value
        for key, value in raw.items():
            name = checks.ALIASES.get(key, key)
            first = spelt.setdefault(name, key)
            if first != key and name in self.request_fields:
                # The API takes both spellings only when they agree; one is sent.
                if raw[first] != value or type(raw[first]) is not type(value):
                    alias = key if key != name else first
                    other = first if alias == key else key
                    msg = f"{alias} and {other} are both given and differ; give one ({name})"
                    self.report.add((*path, str(alias)), msg, at_key=True)
                continue
            if key == "extra":
                self._extra(value, (*path, key), result)
            elif key in allowed:
                continue
            elif name not in self.request_fields:
                hint = checks.unknown_field(key, (*self.known, *allowed))
                self.report.add((*path, key), hint, at_key=True)
            else:
                result.values[name] = value
                result.paths[name] = (*path, key)
                if templates.has_template(value):
                    result.templated.append(name)
                else:
                    self.check(name, value, (*path, key))
        return result

    def _plain(self, raw: dict[str, Any], allowed: tuple[str, ...]) -> list[tuple[str, str]] | None:
        """(key, field) of each request field of ``raw``, or None when some key is
        not simply a request field or an allowed one."""
        found: list[tuple[str, str]] = []
        for key in raw:
            name = checks.ALIASES.get(key, key)
            if key in allowed and key != "extra":
                continue
            if name not in self.request_fields or any(name == n for _, n in found):
                return None
            found.append((key, name))
        return found

    def check(self, name: str, value: Any, path: Path_) -> bool:
        """Report every problem of ``value`` for field ``name``; whether it is valid."""
        if name == "seed" and value == "random":
            return True
        plain = isinstance(value, _SCALARS)
        key = (name, type(value), value if plain else repr(value))
        problems = self._checked.get(key)
        if problems is None:
            problems = checks.field_problems(name, value)
            if name == "seed" and problems and type(value) is not int:
                problems = (((), f"{checks.show(value)} is not an integer or 'random'"),)
            self._checked[key] = problems
        for below, problem in problems:
            self.report.add((*path, *below), problem)
        return not problems

    def _extra(self, extra: Any, path: Path_, result: Fields) -> None:
        """Take the provider fields of ``extra``; a request field there is a mistake."""
        if not isinstance(extra, dict):
            return  # the schema check reports it
        for key, value in extra.items():
            name = checks.ALIASES.get(key, key)
            if name in self.request_fields:
                msg = f"{name} is a request field; set it directly, not in extra"
                self.report.add((*path, key), msg, at_key=True)
            else:
                result.extra[key] = value
                result.extra_paths[key] = (*path, key)
