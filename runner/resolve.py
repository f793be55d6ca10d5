"""Turning checked manifest data into Jobs: defaults, vars, matrix, seeds, inputs.

Work shared by the combinations of a matrix is done once per job; field values
that did not come from a template or a matrix are checked once, where they are
written, so a 100,000-job expansion costs little more than its fingerprints.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner import checks, schema, templates
from runner.inputs import INPUT_FIELDS, InputProblem, LocalInputs, is_remote
from runner.job import Job, LocalFile, OutputSettings, SeedMode, canonical_json, output_name
from runner.manifest import Path_, Report
from runner.models import ModelMatrix
from runner.operations import REQUIRED_INPUTS, infer_operation

RUNNER_FIELDS = ("id", "matrix", "prompt_file", "extra")
MAX_JOBS = 1_000_000
MAX_PROMPT_FILE = 1024 * 1024
DEFAULT_MODEL = "sora-2"


@dataclass
class Fields:
    """Request fields of one mapping (defaults or a job), with where each came from."""

    values: dict[str, Any] = field(default_factory=dict)
    paths: dict[str, Path_] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    extra_path: Path_ | None = None


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
        self.known = (*schema.request_fields(), *checks.ALIASES)
        raw_vars = data.get("vars")
        self.vars: dict[str, Any] = raw_vars if isinstance(raw_vars, dict) else {}
        self.model_checked: dict[tuple[str, str], str | None] = {}
        self.prompt_files: dict[str, str | None] = {}

    def expand(self) -> list[Job]:
        defaults = self.fields(self.data.get("defaults"), ("defaults",), ())
        jobs: list[Job] = []
        first_line: dict[str, int] = {}
        for index, raw in enumerate(self.data.get("jobs") or ()):
            if not isinstance(raw, dict):
                continue
            job_id = raw.get("id")
            if isinstance(job_id, str):
                node = self.report.node(("jobs", index, "id"))
                line = node.start_mark.line + 1 if node is not None else 0
                if job_id in first_line:
                    msg = f"duplicate job id {job_id!r} (first at line {first_line[job_id]})"
                    self.report.add(("jobs", index, "id"), msg)
                    continue
                first_line[job_id] = line
            jobs.extend(self.job(index, raw, defaults))
            if len(jobs) > MAX_JOBS:
                self.report.add(
                    ("jobs", index), f"the manifest expands to more than {MAX_JOBS:,} jobs"
                )
                break
        self.check_output_names(jobs)
        return jobs

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
                result.extra = value if isinstance(value, dict) else {}
                result.extra_path = (*path, key)
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
        if name == "seed" and value == "random":
            return True
        problems = checks.field_problems(name, value)
        if name == "seed" and problems:
            problems = (f"{checks.show(value)} is not an integer or 'random'",)
        for problem in problems:
            self.report.add(path, problem)
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
        extra_path = own.extra_path or defaults.extra_path
        self.check_extra(extra, extra_path)
        if "prompt_file" in raw:
            text = self.prompt_file(
                raw["prompt_file"], (*path, "prompt_file"), "prompt" in own.values
            )
            if text is None:
                return
            values["prompt"] = text
            paths["prompt"] = (*path, "prompt_file")
        axes = self.axes(raw.get("matrix"), path, values, extra)
        if axes is None:
            return
        spec = _JobSpec(job_id, index, path, values, paths, extra, extra_path, axes)
        line = self.report.node(path)
        spec.line = line.start_mark.line + 1 if line is not None else 0
        for combo in itertools.product(*(range(len(items)) for _, _, items in axes)):
            job = self.combination(spec, combo)
            if job is not None:
                yield job

    def axes(
        self, matrix: Any, path: Path_, values: dict[str, Any], extra: dict[str, Any]
    ) -> list[tuple[str, str, list[Any]]] | None:
        if not isinstance(matrix, dict):
            return []
        used = set(templates.names(values)) | set(templates.names(extra))
        axes: list[tuple[str, str, list[Any]]] = []
        ok = True
        for key, items in matrix.items():
            name: str = checks.ALIASES.get(key) or str(key)
            where: Path_ = (*path, "matrix", key)
            if name in RUNNER_FIELDS:
                self.report.add(where, f"{name} cannot vary in a matrix", at_key=True)
                ok = False
            elif name not in self.known and name not in self.vars and name not in used:
                hint = checks.suggest(name, (*self.known, *used, *self.vars))
                tail = f"; did you mean {hint}?" if hint else ""
                msg = f"not a request field, nor a variable this job uses{tail}"
                self.report.add(where, msg, at_key=True)
                ok = False
            elif isinstance(items, list) and items:
                axes.append((name, key, items))
        if not ok:
            return None
        return sorted(axes, key=lambda axis: axis[0])

    def check_extra(self, extra: dict[str, Any], path: Path_ | None) -> None:
        for key in extra:
            name = checks.ALIASES.get(key, key)
            if path is not None and name in self.request_fields:
                self.report.add(
                    (*path, key),
                    f"{name} is a request field; set it directly, not in extra",
                    at_key=True,
                )

    def prompt_file(self, value: Any, path: Path_, has_prompt: bool) -> str | None:
        if has_prompt:
            self.report.add(path, "give either prompt or prompt_file, not both", at_key=True)
            return None
        if not isinstance(value, str):
            return None
        if value not in self.prompt_files:
            self.prompt_files[value] = self.read_prompt(value, path)
        return self.prompt_files[value]

    def read_prompt(self, value: str, path: Path_) -> str | None:
        target = (self.folder / value).resolve()
        if Path(value).is_absolute() or not target.is_relative_to(self.folder.resolve()):
            self.report.add(path, f"{value}: the path must stay inside the manifest's folder")
            return None
        try:
            if target.stat().st_size > MAX_PROMPT_FILE:
                self.report.add(path, f"{value}: larger than the {MAX_PROMPT_FILE:,}-byte limit")
                return None
            return target.read_text("utf-8").rstrip("\n")
        except (OSError, UnicodeDecodeError) as err:
            reason = (
                "no such file"
                if isinstance(err, FileNotFoundError)
                else "cannot read it as UTF-8 text"
            )
            self.report.add(path, f"{value}: {reason}")
            return None

    def combination(self, spec: _JobSpec, combo: tuple[int, ...]) -> Job | None:
        values = dict(spec.values)
        paths = spec.paths
        env = dict(self.vars)
        matrix_paths: dict[str, Path_] = {}
        for (name, yaml_key, items), position in zip(spec.axes, combo, strict=True):
            env[name] = items[position]
            if name in self.request_fields:
                values[name] = items[position]
                matrix_paths[name] = (*spec.path, "matrix", yaml_key, position)
        key = spec.key(env)
        ok = True
        for name in dict.fromkeys([*spec.templated, *matrix_paths]):
            where = matrix_paths.get(name) or paths[name]
            try:
                values[name] = templates.render(values[name], env)
            except templates.TemplateProblem as problem:
                self.template_problem(where, problem, env)
                ok = False
                continue
            ok = self.check_value(name, values[name], where) and ok
        try:
            extra = templates.render(spec.extra, env) if spec.extra else {}
        except templates.TemplateProblem as problem:
            self.template_problem(spec.extra_path or spec.path, problem, env)
            ok, extra = False, {}
        job = self.finish(spec, key, values, {**paths, **matrix_paths}, extra)
        return job if ok else None

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
        paths: dict[str, Path_],
        extra: dict[str, Any],
    ) -> Job | None:
        label = f"jobs[{spec.index}] ({spec.job_id})"
        job_node = self.report.node(spec.path)
        if not self.local_inputs(values, paths):
            return None
        seed = values.get("seed")
        mode: SeedMode = "derived"
        if seed == "random":
            mode = "random"
        elif isinstance(seed, int):
            mode = "fixed"
        if mode == "random":
            del values["seed"]
        elif mode == "derived":
            values["seed"] = derived_seed(key)
        values.setdefault("model", DEFAULT_MODEL)
        operation = values.get("operation")
        if not isinstance(operation, str) or not operation:
            operation = infer_operation(values)
        values["operation"] = operation
        problems = self.operation_problems(values, operation)
        if not values.get("prompt"):
            problems.append("prompt is required (or prompt_file)")
        for problem in problems:
            self.report.add_at(job_node, f"{label}: {problem}")
        model = values["model"]
        model_problem = self.model_problem(model, operation) if isinstance(model, str) else None
        if model_problem:
            where = paths.get("model")
            node = self.report.node(where) if where else job_node
            self.report.add_at(node, f"{label}: {model_problem}")
        if problems or model_problem:
            return None
        request = {**extra, **values}
        locked = {k: _identity(v) for k, v in request.items()}
        digest = hashlib.sha256(canonical_json(locked).encode("utf-8")).hexdigest()
        return Job(key, spec.job_id, spec.index, request, mode, f"sha256:{digest}", spec.line)

    def local_inputs(self, values: dict[str, Any], paths: dict[str, Path_]) -> bool:
        ok = True
        for name in INPUT_FIELDS:
            value = values.get(name)
            if value is None:
                continue
            try:
                if isinstance(value, list):
                    values[name] = [
                        v if is_remote(v) else self.inputs.resolve(name, v) for v in value
                    ]
                elif not is_remote(value):
                    values[name] = self.inputs.resolve(name, value)
            except InputProblem as problem:
                self.report.add(paths[name], str(problem))
                ok = False
        return ok

    def operation_problems(self, values: dict[str, Any], operation: str) -> list[str]:
        problems = []
        for group in REQUIRED_INPUTS.get(operation, ()):
            if not any(values.get(name) for name in group):
                wanted = " or ".join(group)
                problems.append(f"{operation} needs {wanted}")
        return problems

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
                f"unknown model {model}{tail} (allow_unknown_models: true or "
                "--allow-unknown-models accepts it; "
                "`vidbatch models --refresh` reads the live list)"
            )
        if not self.models.supports(model, operation):
            supported = ", ".join(self.models.models[model])
            return f"model {model} does not support {operation} (supports: {supported})"
        return None

    def check_output_names(self, jobs: list[Job]) -> None:
        seen: dict[str, str] = {}
        clashes: list[tuple[str, str, str]] = []
        for job in jobs:
            if job.seed_mode == "random" and "${seed}" in self.output.name:
                continue
            name = output_name(self.output.name, job, job.seed, 0)
            other = seen.setdefault(name, job.key)
            if other != job.key:
                clashes.append((name, other, job.key))
        if clashes:
            name, first, second = clashes[0]
            more = f", and {len(clashes) - 1} more clashes" if len(clashes) > 1 else ""
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
    extra_path: Path_ | None
    axes: list[tuple[str, str, list[Any]]]
    line: int = 0

    def __post_init__(self) -> None:
        self.templated = [k for k, v in self.values.items() if templates.has_template(v)]

    def key(self, env: dict[str, Any]) -> str:
        if not self.axes:
            return self.job_id
        parts = ",".join(f"{name}={_key_value(env[name])}" for name, _, _ in self.axes)
        return f"{self.job_id}[{parts}]"


def _key_value(value: Any) -> str:
    if isinstance(value, str):
        return value
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
