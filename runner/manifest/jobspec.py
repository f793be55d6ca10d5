"""One job of a manifest before expansion: what its combinations share, and their keys.

A job without a matrix has its id as key; a matrix job has one key per combination,
``id[name=value,...]`` with names in sorted order. A job sent without a seed gets
one derived from its key, so that the manifest alone reproduces a run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner.manifest import templates
from runner.manifest.operations import INFERENCE_INPUTS, infer_operation

if TYPE_CHECKING:
    from runner.manifest.problems import Path_


_DECIDE_OPERATION = INFERENCE_INPUTS | {"operation"}


@dataclass
class JobSpec:
    """What all the combinations of one job share."""

    job_id: str
    index: int
    path: Path_
    values: dict[str, Any]
    paths: dict[str, Path_]
    extra: dict[str, Any]
    extra_paths: dict[str, Path_]
    axes: list[tuple[str, str, list[Any]]]
    templated: list[str]  # the fields whose values hold a template
    line: int = 0

    def __post_init__(self) -> None:
        self.extra_templated = (
            [k for k, v in self.extra.items() if templates.has_template(v)] if self.extra else []
        )
        self.keys = {name: key for name, key, _ in self.axes} if self.axes else {}
        self.cache: dict[tuple[Any, ...], tuple[Any, bool]] = {}
        self.names: dict[tuple[str, int], tuple[str, ...]] = {}
        self.used: dict[tuple[str, int], tuple[int, ...]] = {}
        # field -> whether each of its matrix items is valid; None: has templates, or not seen yet
        self.plain: dict[str, list[bool | None]] = {}
        # the operation inferred from inputs no matrix axis changes: once per job
        self.inferred: str | None = None
        if _DECIDE_OPERATION.isdisjoint(self.keys) and _DECIDE_OPERATION.isdisjoint(self.templated):
            self.inferred = infer_operation(self.values)
        # "name=value" of every matrix item, spelt once, for the job keys
        self.key_parts = (
            [[f"{name}={key_value(v)}" for v in items] for name, _, items in self.axes]
            if self.axes
            else []
        )

    def prepare(
        self,
        request_fields: frozenset[str],
        integer_fields: frozenset[str],
        judged_by: frozenset[str],
    ) -> None:
        """What every combination does alike, worked out once for the job."""
        # 42.0 passes the schema as an integer: 42 is sent. The literals are made
        # integers here; each combination makes those it renders or takes from the matrix.
        integers(self.values, integer_fields & self.values.keys())
        # fields to render and check: the templated ones and those the matrix sets
        self.checked = self.templated
        # the templated fields no matrix axis sets
        self.rendered_fields = self.templated
        # the fields a combination has (each has the same fields)
        self.present: AbstractSet[str] = self.values.keys()
        # (axis index, field) of the axes that set a request field
        self.request_axes: list[tuple[int, str]] = []
        # the matrix axes each templated field's templates name
        self.template_axes: dict[str, tuple[int, ...]] = {}
        # the fields the completeness and catalog checks read that combinations vary in
        self.judged: list[str] = []
        if self.axes:
            self.prepare_matrix(request_fields, judged_by)
        self.has_inputs = True  # whether local input fields are among them (set by the caller)
        self.integer_fields = integer_fields.intersection(self.checked)
        self.clean: set[tuple[Any, ...]] = set()  # what those were in combinations found clean

    def prepare_matrix(self, request_fields: frozenset[str], judged_by: frozenset[str]) -> None:
        """The part of ``prepare`` that only a job with a matrix needs."""
        self.request_axes = [
            (i, name) for i, (name, _, _) in enumerate(self.axes) if name in request_fields
        ]
        if self.request_axes:
            set_by_axes = [name for _, name in self.request_axes]
            self.checked = list(dict.fromkeys([*self.templated, *set_by_axes]))
            self.rendered_fields = [n for n in self.templated if n not in set_by_axes]
            self.present = {*self.values, *set_by_axes}
        self.plain = {name: [None] * len(self.axes[i][2]) for i, name in self.request_axes}
        self.template_axes = {n: self.axes_used(n, -1, self.values[n]) for n in self.templated}
        self.judged = [name for name in self.checked if name in judged_by]

    def names_of(self, name: str, position: int, value: Any) -> tuple[str, ...]:
        found = self.names.get((name, position))
        if found is None:
            found = tuple(dict.fromkeys(templates.names(value)))
            self.names[(name, position)] = found
        return found

    def axes_used(self, name: str, position: int, value: Any) -> tuple[int, ...]:
        """The indexes of the matrix axes whose items the templates of ``value`` name."""
        found = self.used.get((name, position))
        if found is None:
            index = {axis: i for i, (axis, _, _) in enumerate(self.axes)}
            names = self.names_of(name, position, value)
            found = tuple(index[n] for n in names if n in index)
            self.used[(name, position)] = found
        return found

    def where(self, name: str, position: int) -> Path_:
        """The path of the value of ``name`` (a matrix item when ``position`` >= 0)."""
        if position >= 0:
            return (*self.path, "matrix", self.keys[name], position)
        return self.paths[name]


def integers(values: dict[str, Any], names: Iterable[str]) -> None:
    """Whole floats among ``values`` of the integer fields ``names`` made integers.

    42.0 passes the schema as an integer: 42 is sent.
    """
    for name in names:
        number = values.get(name)
        if type(number) is float and number.is_integer():
            values[name] = int(number)


def key_value(value: Any) -> str:
    """A matrix value as a job key spells it: text as is, anything else as JSON."""
    if type(value) is str:
        return value
    if type(value) is int:
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def derived_seed(key: str) -> int:
    """The stable seed of a job without one: from its key, 31 bits."""
    digest = hashlib.sha256(f"vidbatch-seed:{key}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
