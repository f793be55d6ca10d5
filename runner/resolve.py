"""Turning checked manifest data into Jobs: defaults, vars, matrix, seeds, inputs.

Work shared by the combinations of a matrix is done once per job; field values
that did not come from a template or a matrix are checked once, where they are
written, so a 100,000-job expansion costs little more than its fingerprints.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yaml.nodes import Node

from runner import checks, schema, templates, yamlfile
from runner.inputs import INPUT_FIELDS, InputProblem, LocalInputs, is_remote
from runner.job import (
    Job,
    LocalFile,
    OutputSettings,
    SeedMode,
    canonical_json,
    output_name,
    safe_component,
)
from runner.manifest import Path_, Report, name_problems
from runner.models import OPERATIONS, ModelMatrix
from runner.operations import infer_operation, missing_inputs

RUNNER_FIELDS = ("id", "matrix", "prompt_file", "extra")
MAX_JOBS = 1_000_000
DEFAULT_MODEL = "sora-2"


@dataclass
class Fields:
    """Request fields of one mapping (defaults or a job), with where each came from."""

    values: dict[str, Any] = field(default_factory=dict)
    paths: dict[str, Path_] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    extra_paths: dict[str, Path_] = field(default_factory=dict)


class Expander:
    """Expands the jobs of one manifest, reporting every problem to ``report``."""

    def __init__(
        self,
        report: Report,
        folder: Path,
        data: dict[str, Any],
        matrix: ModelMatrix,
        allow_unknown: bool,
        output: OutputSettings,
    ) -> None:
        self.report = report
        self.folder = folder
        self.data = data
        self.models = matrix
        self.allow_unknown = allow_unknown
        self.output = output
        self.inputs = LocalInputs(folder)
        self.request_fields = frozenset(schema.request_fields())
        properties = schema.load("request")["properties"]
        self.text_fields = frozenset(k for k, v in properties.items() if v.get("type") == "string")
        self.known = (*schema.request_fields(), *checks.ALIASES)
        raw_vars = data.get("vars")
        self.vars: dict[str, Any] = raw_vars if isinstance(raw_vars, dict) else {}
        self.model_checked: dict[tuple[str, str], str | None] = {}
        self.checked: dict[tuple[str, type, Any], tuple[checks.Problem, ...]] = {}
        self.jobs_node: Node | None = None
        self.keys = 0  # job keys expanded so far, against MAX_JOBS

    def expand(self) -> list[Job]:
        defaults = self.fields(self.data.get("defaults"), ("defaults",), ())
        jobs: list[Job] = []
        first_index: dict[str, int] = {}
        for index, raw in enumerate(self.data.get("jobs") or ()):
            if not isinstance(raw, dict):
                continue
            job_id = raw.get("id")
            if isinstance(job_id, str):
                first = first_index.setdefault(job_id, index)
                if first != index:
                    line = self.line_of(first)
                    msg = f"duplicate job id {job_id!r} (first at line {line})"
                    self.report.add(("jobs", index, "id"), msg)
                    continue
            jobs.extend(self.job(index, raw, defaults))
        self.check_output_names(jobs)
        return jobs

    def line_of(self, index: int) -> int:
        """The 1-based line where job ``index`` starts."""
        if self.jobs_node is None:
            self.jobs_node = self.report.node(("jobs",))
        node = yamlfile.child(self.jobs_node, index) if self.jobs_node is not None else None
        return node.start_mark.line + 1 if node is not None else 0

    def fields(self, raw: Any, path: Path_, allowed: tuple[str, ...]) -> Fields:
        """Normalise aliases, reject unknown keys, check literal values once."""
        result = Fields()
        if not isinstance(raw, dict):
            return result
        for key, value in raw.items():
            name = checks.ALIASES.get(key, key)
            if name != key and name in raw:
                msg = f"both {key} and {name} are given; use {name}"
                self.report.add((*path, key), msg, at_key=True)
                continue
            if key == "extra":
                self.extra(value, (*path, key), result)
            elif key in allowed:
                continue
            elif name not in self.request_fields:
                self.report.add(
                    (*path, key), checks.unknown_field(key, (*self.known, *allowed)), at_key=True
                )
            else:
                result.values[name] = value
                result.paths[name] = (*path, key)
                if not templates.has_template(value):
                    self.check_value(name, value, (*path, key))
        return result

    def check_value(self, name: str, value: Any, path: Path_) -> bool:
        """Report every problem of ``value`` for field ``name``; whether it is valid."""
        if name == "seed" and value == "random":
            return True
        plain = isinstance(value, (str, int, float, bool, type(None)))
        key = (name, type(value), value if plain else repr(value))
        problems = self.checked.get(key)
        if problems is None:
            problems = checks.field_problems(name, value)
            if name == "seed" and problems:
                problems = (((), f"{checks.show(value)} is not an integer or 'random'"),)
            self.checked[key] = problems
        for below, problem in problems:
            self.report.add((*path, *below), problem)
        return not problems

    def job(self, index: int, raw: dict[str, Any], defaults: Fields) -> Iterator[Job]:
        path: Path_ = ("jobs", index)
        own = self.fields(raw, path, RUNNER_FIELDS)
        job_id = raw.get("id")
        if not isinstance(job_id, str):
            return
        values = {**defaults.values, **own.values}
        paths = {**defaults.paths, **own.paths}
        extra = {**defaults.extra, **own.extra}
        extra_paths = {**defaults.extra_paths, **own.extra_paths}
        if "prompt_file" in raw:
            text = self.prompt_file(
                raw["prompt_file"], (*path, "prompt_file"), "prompt" in own.values
            )
            if text is None:
                return
            values["prompt"] = text
            paths["prompt"] = (*path, "prompt_file")
        axes = self.axes(raw.get("matrix"), path, values, extra, own)
        if axes is None:
            return
        count = math.prod(len(items) for _, _, items in axes)
        if self.keys + count > MAX_JOBS:  # before expanding: a matrix can be astronomic
            msg = f"expands to {count:,} jobs; a manifest may have at most {MAX_JOBS:,}"
            self.report.add((*path, "matrix") if axes else path, msg)
            return
        self.keys += count
        spec = _JobSpec(job_id, index, path, values, paths, extra, extra_paths, axes)
        spec.line = self.line_of(index)
        for combo in itertools.product(*(range(len(items)) for _, _, items in axes)):
            job = self.combination(spec, combo)
            if job is not None:
                yield job

    def axes(
        self,
        matrix: Any,
        path: Path_,
        values: dict[str, Any],
        extra: dict[str, Any],
        own: Fields,
    ) -> list[tuple[str, str, list[Any]]] | None:
        """The matrix as sorted (name, YAML key, items); None when it has a problem."""
        if not isinstance(matrix, dict):
            return []
        used = set(templates.names(values)) | set(templates.names(extra))
        axes: dict[str, tuple[str, str, list[Any]]] = {}
        ok = True
        for key, items in matrix.items():
            name: str = checks.ALIASES.get(key) or str(key)
            problem = self.axis_problem(name, used, own)
            if problem is None and name in axes:
                problem = f"{axes[name][1]} and {key} name the same field; use {name}"
            if problem is not None:
                self.report.add((*path, "matrix", key), problem, at_key=True)
                ok = False
            elif isinstance(items, list) and items:
                axes[name] = (name, key, items)
        if not ok:
            return None
        return sorted(axes.values())

    def axis_problem(self, name: str, used: set[str], own: Fields) -> str | None:
        if name in RUNNER_FIELDS:
            return f"{name} cannot vary in a matrix"
        if name in own.values:
            return f"{name} is also set on the job; give it in one place"
        if name not in self.known and name not in self.vars and name not in used:
            hint = checks.suggest(name, (*self.known, *used, *self.vars))
            tail = f"; did you mean {hint}?" if hint else ""
            return f"not a request field, nor a variable this job uses{tail}"
        return None

    def extra(self, extra: Any, path: Path_, result: Fields) -> None:
        """Take the provider fields of ``extra``; a request field there is a mistake."""
        if not isinstance(extra, dict):
            return
        for key, value in extra.items():
            name = checks.ALIASES.get(key, key)
            if name in self.request_fields:
                msg = f"{name} is a request field; set it directly, not in extra"
                self.report.add((*path, key), msg, at_key=True)
            else:
                result.extra[key] = value
                result.extra_paths[key] = (*path, key)

    def prompt_file(self, value: Any, path: Path_, has_prompt: bool) -> str | None:
        if has_prompt:
            self.report.add(path, "give either prompt or prompt_file, not both", at_key=True)
            return None
        if not isinstance(value, str) or not value:
            return None  # the schema check reports it
        try:
            return self.inputs.prompt(value)
        except InputProblem as problem:
            self.report.add(path, str(problem))
            return None

    def combination(self, spec: _JobSpec, combo: tuple[int, ...]) -> Job | None:
        values = dict(spec.values)
        env = dict(self.vars) if self.vars else {}
        sources: dict[str, int] = {}
        for (name, _yaml_key, items), position in zip(spec.axes, combo, strict=True):
            env[name] = items[position]
            if name in self.request_fields:
                values[name] = items[position]
                sources[name] = position
        key = spec.key(env)
        ok = True
        for name in spec.to_render(sources):
            rendered, valid = self.rendered(spec, name, sources.get(name, -1), values[name], env)
            values[name] = rendered
            ok = ok and valid
        extra = dict(spec.extra)
        for name in spec.extra_templated:
            try:
                extra[name] = templates.render(extra[name], env)
            except templates.TemplateProblem as problem:
                self.template_problem(spec.extra_paths[name], problem, env)
                ok = False
        job = self.finish(spec, key, values, sources, extra)
        return job if ok else None

    def rendered(
        self, spec: _JobSpec, name: str, position: int, value: Any, env: dict[str, Any]
    ) -> tuple[Any, bool]:
        """``value`` of field ``name`` rendered and checked, once per distinct input."""
        plain = spec.plain.get((name, position))
        if plain is not None:  # a matrix item without templates: checked once
            return value, plain
        names = spec.names_of(name, position, value)
        try:
            cache_key: tuple[Any, ...] | None = (name, position, tuple(env.get(n) for n in names))
            hash(cache_key)
        except TypeError:  # a list or mapping among the values: no caching
            cache_key = None
        if cache_key is not None and cache_key in spec.cache:
            return spec.cache[cache_key]
        where = spec.where(name, position)
        try:
            result = templates.render(value, env, typed=name not in self.text_fields)
            outcome = (result, self.check_value(name, result, where))
        except templates.TemplateProblem as problem:
            self.template_problem(where, problem, env)
            outcome = (value, False)
        if position >= 0 and not names:
            spec.plain[(name, position)] = outcome[1]
        elif cache_key is not None:
            spec.cache[cache_key] = outcome
        return outcome

    def template_problem(
        self, where: Path_, problem: templates.TemplateProblem, env: dict[str, Any]
    ) -> None:
        message = str(problem)
        if problem.name is not None:
            hint = checks.suggest(problem.name, env)
            message += f"; did you mean ${{{hint}}}?" if hint else ""
        self.report.add(where, message)

    def finish(
        self,
        spec: _JobSpec,
        key: str,
        values: dict[str, Any],
        sources: dict[str, int],
        extra: dict[str, Any],
    ) -> Job | None:
        has_local = self.local_inputs(spec, values, sources)
        seed = values.get("seed")
        mode: SeedMode = "derived"
        if seed == "random":
            mode = "random"
            del values["seed"]
        elif isinstance(seed, int):
            mode = "fixed"
        else:
            values["seed"] = derived_seed(key)
        values.setdefault("model", DEFAULT_MODEL)
        operation = values.get("operation")
        if not isinstance(operation, str) or not operation:
            operation = infer_operation(values)
        values["operation"] = operation
        if not self.complete(spec, values, sources) or has_local is None:
            return None
        request = {**extra, **values}
        locked = {k: _identity(v) for k, v in request.items()} if has_local else request
        digest = hashlib.sha256(canonical_json(locked).encode("utf-8")).hexdigest()
        return Job(key, spec.job_id, spec.index, request, mode, f"sha256:{digest}", spec.line)

    def complete(self, spec: _JobSpec, values: dict[str, Any], sources: dict[str, int]) -> bool:
        """Report missing inputs, a missing prompt and an unfit model; whether all is well."""
        operation, model = values["operation"], values["model"]
        missing = missing_inputs(values, operation)
        problems = [missing] if missing else []
        if not values.get("prompt"):
            problems.append("prompt is required (or prompt_file)")
        label = f"jobs[{spec.index}] ({spec.job_id})" if spec.job_id else f"jobs[{spec.index}]"
        for problem in problems:
            self.report.add(spec.path, problem, label=label)
        model_problem = None
        if isinstance(model, str) and model and operation in OPERATIONS:
            model_problem = self.model_problem(model, operation)
        if model_problem:
            where = spec.path  # the job, when its model is the default or from defaults
            if "model" in sources or spec.paths.get("model", ())[:2] == spec.path:
                where = spec.where("model", sources.get("model", -1))
            self.report.add(where, model_problem, label=label)
        return not problems and not model_problem

    def local_inputs(
        self, spec: _JobSpec, values: dict[str, Any], sources: dict[str, int]
    ) -> bool | None:
        """Replace local paths by LocalFiles: whether there were any; None on a problem."""
        ok, found = True, False
        for name in INPUT_FIELDS:
            value = values.get(name)
            if not value:
                continue
            where = spec.where(name, sources.get(name, -1))
            if isinstance(value, list) and name == "reference_images":
                items = [self.local_input(name, v, (*where, i)) for i, v in enumerate(value)]
                ok = ok and None not in items
                values[name] = [
                    v if new is None else new for v, new in zip(value, items, strict=True)
                ]
            else:
                resolved = self.local_input(name, value, where)
                ok = ok and resolved is not None
                values[name] = value if resolved is None else resolved
            found = found or values[name] is not value
        return found if ok else None

    def local_input(self, name: str, value: Any, where: Path_) -> Any:
        """``value`` itself when it is a URL, else its LocalFile; None on a problem."""
        if not isinstance(value, str) or is_remote(value):
            return value  # a wrong type is reported where the value is checked
        try:
            return self.inputs.resolve(name, value)
        except InputProblem as problem:
            self.report.add(where, str(problem))
            return None

    def model_problem(self, model: str, operation: str) -> str | None:
        key = (model, operation)
        if key not in self.model_checked:
            self.model_checked[key] = self._model_problem(model, operation)
        return self.model_checked[key]

    def _model_problem(self, model: str, operation: str) -> str | None:
        if model not in self.models:
            if self.allow_unknown:
                return None
            hint = checks.suggest(model, self.models.models)
            tail = f"; did you mean {hint}?" if hint else ""
            return (
                f"unknown model {checks.clip(model)}{tail} (allow_unknown_models: true or "
                "--allow-unknown-models accepts it; "
                "`vidbatch models --refresh` reads the live list)"
            )
        if not self.models.supports(model, operation):
            supported = ", ".join(self.models.models[model])
            return f"model {model} does not support {operation} (supports: {supported})"
        return None

    def check_output_names(self, jobs: list[Job]) -> None:
        template = self.output.name
        if name_problems(template):
            return
        # With ${job} in the name, jobs whose keys are already safe file names
        # cannot clash with one another (keys are unique), only with the others.
        if "${job}" in template and all(safe_component(j.key) == j.key for j in jobs):
            return
        seen: dict[str, str] = {}
        clashes: list[tuple[str, str, str]] = []
        for job in jobs:
            if job.seed_mode == "random" and "${seed}" in template:
                continue
            name = output_name(template, job, job.seed, 0)
            other = seen.setdefault(name, job.key)
            if other != job.key:
                clashes.append((name, other, job.key))
        if clashes:
            name, first, second = clashes[0]
            count = len(clashes) - 1
            more = f", and {count} more clash{'es' if count > 1 else ''}" if count else ""
            msg = f"{first} and {second} would both write {name}{more}; use ${{job}} in the name"
            self.report.add(("output", "name"), msg)


@dataclass
class _JobSpec:
    """What all the combinations of one job share."""

    job_id: str
    index: int
    path: Path_
    values: dict[str, Any]
    paths: dict[str, Path_]
    extra: dict[str, Any]
    extra_paths: dict[str, Path_]
    axes: list[tuple[str, str, list[Any]]]
    line: int = 0

    def __post_init__(self) -> None:
        self.templated = [k for k, v in self.values.items() if templates.has_template(v)]
        self.extra_templated = [k for k, v in self.extra.items() if templates.has_template(v)]
        self.keys = {name: key for name, key, _ in self.axes}
        self.cache: dict[tuple[Any, ...], tuple[Any, bool]] = {}
        self.names: dict[tuple[str, int], tuple[str, ...]] = {}
        self.plain: dict[tuple[str, int], bool] = {}

    def to_render(self, sources: dict[str, int]) -> list[str]:
        """Fields to render and check: the templated ones and those the matrix set."""
        if not sources:
            return self.templated
        return list(dict.fromkeys([*self.templated, *sources]))

    def names_of(self, name: str, position: int, value: Any) -> tuple[str, ...]:
        found = self.names.get((name, position))
        if found is None:
            found = tuple(dict.fromkeys(templates.names(value)))
            self.names[(name, position)] = found
        return found

    def where(self, name: str, position: int) -> Path_:
        """The path of the value of ``name`` (a matrix item when ``position`` >= 0)."""
        if position >= 0:
            return (*self.path, "matrix", self.keys[name], position)
        return self.paths[name]

    def key(self, env: dict[str, Any]) -> str:
        if not self.axes:
            return self.job_id
        parts = ",".join(f"{name}={_key_value(env[name])}" for name, _, _ in self.axes)
        return f"{self.job_id}[{parts}]"


def _key_value(value: Any) -> str:
    if type(value) is str:
        return value
    if type(value) is int:
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def derived_seed(key: str) -> int:
    """The stable seed of a job without one: from its key, 31 bits."""
    digest = hashlib.sha256(f"vidbatch-seed:{key}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def _identity(value: Any) -> Any:
    if isinstance(value, LocalFile):
        return value.identity()
    if isinstance(value, list):
        return [_identity(v) for v in value]
    return value
