"""Turning checked manifest data into Jobs: defaults, vars, matrix, seeds, inputs.

Work shared by the combinations of a matrix is done once per job: field values
that did not come from a template or a matrix are checked once, where they are
written; each matrix item once; a rendering once per distinct set of the items
it reads; the completeness and catalog checks once per distinct set of the
values they read. So a 100,000-job expansion costs little more than building
its jobs (whose fingerprints are worked out only when something reads them).
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

from runner.catalog import models
from runner.catalog.models import OPERATIONS, ModelMatrix
from runner.manifest import checks, outputs, templates
from runner.manifest.fields import RUNNER_FIELDS, FieldReader, Fields
from runner.manifest.inputs import InputProblem, LocalInputs
from runner.manifest.job import Job, OutputSettings, SeedMode
from runner.manifest.jobspec import JobSpec, derived_seed, integers
from runner.manifest.localfields import LOCAL_FIELDS, LocalFields
from runner.manifest.modelcheck import Finding, ModelCheck
from runner.manifest.operations import (
    PROMPT_REQUIRED,
    READ_FIELDS,
    conflicts,
    infer_operation,
    missing_inputs,
)
from runner.manifest.problems import Path_, Report

MAX_JOBS = 1_000_000
DEFAULT_MODEL = models.DEFAULT_MODEL  # the newest reference's default; written out


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
        self.data = data
        self.output = output
        self.inputs = LocalInputs(folder)
        self.local = LocalFields(self.inputs, report)
        self.reader = FieldReader(report)
        self.models = ModelCheck(matrix, allow_unknown)
        self.judged_by = READ_FIELDS | self.models.reads  # what ``complete`` reads, but the prompt
        self.clean_jobs: set[tuple[Any, ...]] = set()  # what those were in jobs found clean
        self.default_model = matrix.default_model or DEFAULT_MODEL
        raw_vars = data.get("vars")
        items = raw_vars.items() if isinstance(raw_vars, dict) else ()
        self.vars: dict[str, Any] = {k: self.literal(v, ("vars", k)) for k, v in items}
        self.keys = 0  # job keys expanded so far, against MAX_JOBS

    def expand(self) -> list[Job]:
        defaults = self.reader.read(self.data.get("defaults"), ("defaults",), ())
        jobs: list[Job] = []
        first_index: dict[str, int] = {}
        for index, raw in enumerate(self.data.get("jobs") or ()):
            if not isinstance(raw, dict):
                continue
            expanded = self.job(index, raw, defaults)  # a duplicate is checked too
            job_id = raw.get("id")
            first = first_index.setdefault(job_id, index) if isinstance(job_id, str) else index
            if first == index:
                jobs.extend(expanded)
            else:
                msg = f"duplicate job id {job_id!r} (first at line {self.line_of(first)})"
                self.report.add(("jobs", index, "id"), msg)
        for problem in (
            outputs.clash(self.output.name, jobs),
            outputs.too_long(self.output.name, jobs, self.output.dir),
        ):
            if problem:
                self.report.add(("output", "name"), problem)
        return jobs

    def line_of(self, index: int) -> int:
        """The 1-based line where job ``index`` starts."""
        return self.report.item_line("jobs", index)

    def job(self, index: int, raw: dict[str, Any], defaults: Fields) -> list[Job]:
        """The valid jobs of manifest job ``index``: itself, or one per matrix combination."""
        spec = self.spec(index, raw, defaults)
        if spec is None:
            return []
        if not spec.axes:
            job = self.combination(spec, (), spec.job_id)
            return [] if job is None else [job]
        # The combinations, and their keys from the pre-spelt parts, in one order.
        combos = itertools.product(*(range(len(items)) for _, _, items in spec.axes))
        parts = itertools.product(*spec.key_parts)
        jobs = []
        for combo, spelt in zip(combos, parts, strict=True):
            job = self.combination(spec, combo, f"{spec.job_id}[{','.join(spelt)}]")
            if job is not None:
                jobs.append(job)
        return jobs

    def spec(self, index: int, raw: dict[str, Any], defaults: Fields) -> JobSpec | None:
        """What the combinations of job ``index`` share; None when none can be made."""
        path: Path_ = ("jobs", index)
        own = self.reader.read(raw, path, RUNNER_FIELDS)
        job_id = raw.get("id")
        if not isinstance(job_id, str):
            return None
        values = {**defaults.values, **own.values}
        paths = {**defaults.paths, **own.paths}
        extra = {**defaults.extra, **own.extra}
        extra_paths = {**defaults.extra_paths, **own.extra_paths}
        templated = own.templated
        if defaults.templated:
            templated = [*templated, *(n for n in defaults.templated if n not in own.values)]
        if "prompt_file" in raw:
            text = self.prompt_file(
                raw["prompt_file"], (*path, "prompt_file"), "prompt" in own.values
            )
            if text is None:
                return None
            values["prompt"] = text
            paths["prompt"] = (*path, "prompt_file")
            templated = [n for n in templated if n != "prompt"]
            if templates.has_template(text):
                templated.append("prompt")
        axes = self.axes(raw.get("matrix"), path, values, extra, own)
        if axes is None:
            return None
        count = math.prod(len(items) for _, _, items in axes) if axes else 1
        if self.keys + count > MAX_JOBS:  # before expanding: a matrix can be astronomic
            msg = f"expands to {count:,} jobs; a manifest may have at most {MAX_JOBS:,}"
            self.report.add((*path, "matrix") if axes else path, msg)
            return None
        self.keys += count
        spec = JobSpec(job_id, index, path, values, paths, extra, extra_paths, axes, templated)
        spec.line = self.line_of(index)
        spec.prepare(self.reader.request_fields, self.reader.integer_fields, self.judged_by)
        spec.has_inputs = not spec.present.isdisjoint(LOCAL_FIELDS)
        return spec

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
                if name not in self.reader.request_fields:
                    where = (*path, "matrix", key)
                    items = [self.literal(v, (*where, i)) for i, v in enumerate(items)]
                axes[name] = (name, key, items)
        if not ok:
            return None
        return sorted(axes.values())

    def literal(self, value: Any, where: Path_) -> Any:
        """A variable's value: ``$${`` unescaped; a ``${name}`` in it is refused."""
        if not templates.has_template(value):
            return value
        try:
            return templates.render(value, {}, typed=False)
        except templates.TemplateProblem as problem:
            message = str(problem)
            if problem.name is not None:
                message = f"a variable cannot use another (${{{problem.name}}})"
            self.report.add(where, message)
            return value

    def axis_problem(self, name: str, used: set[str], own: Fields) -> str | None:
        if name in RUNNER_FIELDS:
            return f"{name} cannot vary in a matrix"
        if name in own.values:
            return f"{name} is also set on the job; give it in one place"
        known = self.reader.known
        if name not in known and name not in self.vars and name not in used:
            hint = checks.suggest(name, (*known, *used, *self.vars))
            tail = f"; did you mean {hint}?" if hint else ""
            return f"not a request field, nor a variable this job uses{tail}"
        return None

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

    def combination(self, spec: JobSpec, combo: tuple[int, ...], key: str) -> Job | None:
        values = spec.values.copy()
        sources: dict[str, int] = {}
        if spec.axes:
            ok = self.varied(spec, combo, values, sources)
        else:
            ok = True
            for name in spec.templated:  # one combination: nothing to reuse
                values[name], valid = self.render_checked(spec, name, -1, values[name], self.vars)
                ok = ok and valid
        extra = spec.extra
        if spec.extra_templated:
            env = self.env(spec, combo)
            extra = dict(extra)
            for name in spec.extra_templated:
                try:
                    extra[name] = templates.render(extra[name], env)
                except templates.TemplateProblem as problem:
                    self.template_problem(spec.extra_paths[name], problem, env)
                    ok = False
        job = self.finish(spec, key, values, sources, extra)
        return job if ok else None

    def varied(
        self, spec: JobSpec, combo: tuple[int, ...], values: dict[str, Any], sources: dict[str, int]
    ) -> bool:
        """Set and check the fields of one combination of a matrix; whether all are valid."""
        ok = True
        for axis, name in spec.request_axes:
            position = combo[axis]
            item = values[name] = spec.axes[axis][2][position]
            sources[name] = position
            valid = spec.plain[name][position]  # an item without templates: checked once
            if valid is None:
                values[name], valid = self.rendered(spec, name, position, item, combo)
            ok = ok and valid
        for name in spec.rendered_fields:
            used = tuple([combo[i] for i in spec.template_axes[name]])
            found = spec.cache.get((name, -1, used))  # rendered before?
            if found is None:
                found = self.rendered(spec, name, -1, values[name], combo)
            values[name], valid = found
            ok = ok and valid
        return ok

    def env(self, spec: JobSpec, combo: tuple[int, ...]) -> dict[str, Any]:
        """The variables templates of one combination see: ``vars``, then its matrix items."""
        axes = zip(spec.axes, combo, strict=True)
        return {**self.vars, **{name: items[i] for (name, _, items), i in axes}}

    def rendered(
        self, spec: JobSpec, name: str, position: int, value: Any, combo: tuple[int, ...]
    ) -> tuple[Any, bool]:
        """``value`` of field ``name`` rendered and checked, once per distinct input."""
        if position >= 0 and not templates.has_template(value):
            # A matrix item without templates (nor a $${ to unescape): checked once,
            # then taken as it is by every combination (see ``varied``).
            valid = spec.plain[name][position] = self.reader.check(
                name, value, spec.where(name, position)
            )
            return value, valid
        # What the rendering reads: the variables (the same for every combination)
        # and the items of the matrix axes its templates name, known by position.
        axes = spec.axes_used(name, position, value)
        cache_key = (name, position, tuple([combo[i] for i in axes]))
        found = spec.cache.get(cache_key)
        if found is not None:
            return found
        outcome = self.render_checked(spec, name, position, value, self.env(spec, combo))
        spec.cache[cache_key] = outcome
        return outcome

    def render_checked(
        self, spec: JobSpec, name: str, position: int, value: Any, env: dict[str, Any]
    ) -> tuple[Any, bool]:
        """``value`` of field ``name`` rendered and checked; whether it is valid."""
        where = spec.where(name, position)
        try:
            result = templates.render(value, env, typed=name not in self.reader.text_fields)
            return result, self.reader.check(name, result, where)
        except templates.TemplateProblem as problem:
            self.template_problem(where, problem, env)
            return value, False

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
        spec: JobSpec,
        key: str,
        values: dict[str, Any],
        sources: dict[str, int],
        extra: dict[str, Any],
    ) -> Job | None:
        has_local = self.local.resolve(spec, values, sources) if spec.has_inputs else False
        if spec.integer_fields:
            integers(values, spec.integer_fields)
        seed = values.get("seed")
        mode: SeedMode = "derived"
        if isinstance(seed, int):
            mode = "fixed"
        elif seed == "random":
            mode = "random"
            del values["seed"]
        else:
            values["seed"] = derived_seed(key)
        values.setdefault("model", self.default_model)
        operation = values.get("operation")
        if not isinstance(operation, str) or not operation:
            operation = spec.inferred or infer_operation(values)
        values["operation"] = operation
        if not self.complete(spec, values, sources) or has_local is None:
            return None
        request = {**extra, **values} if extra else values
        return Job(key, spec.job_id, spec.index, request, mode, spec.line)

    def complete(self, spec: JobSpec, values: dict[str, Any], sources: dict[str, int]) -> bool:
        """Report missing inputs, a missing prompt, what the catalog says; whether all is well.

        A combination that agrees with one found clean on every field read here
        (of a matrix job: those its combinations vary in; of a job without a
        matrix: all of them, against the other such jobs) is clean too: not
        judged again.
        """
        alike: tuple[Any, ...] | None
        if spec.axes:
            memo = spec.clean
            alike = (
                bool(values.get("prompt")),
                *[(values.get(name), type(values.get(name))) for name in spec.judged],
            )
        else:
            memo = self.clean_jobs
            judged_by = self.judged_by
            alike = (
                bool(values.get("prompt")),
                *[(n, v, type(v)) for n, v in values.items() if n in judged_by],
            )
        try:
            if alike in memo:
                return True
        except TypeError:  # a list among the values: judged each time
            alike = None
        operation, model = values["operation"], values["model"]
        missing = missing_inputs(values, operation)
        problems = [missing] if missing else []
        problems += conflicts(values)
        if not values.get("prompt") and operation in PROMPT_REQUIRED:
            problems.append(f"prompt is required for {operation} (or prompt_file)")
        findings: tuple[Finding, ...] = ()
        if isinstance(model, str) and model and operation in OPERATIONS:
            findings = self.models.findings(model, operation, values)
        if not problems and not findings:
            if alike is not None:
                memo.add(alike)
            return True
        label = f"jobs[{spec.index}] ({spec.job_id})" if spec.job_id else f"jobs[{spec.index}]"
        for problem in problems:
            self.report.add(spec.path, problem, label=label)
        refused = False
        for finding in findings:
            where = self.finding_place(spec, finding.field, sources)
            if finding.warning:
                self.report.warn(where, finding.message, label=label)
            else:
                self.report.add(where, finding.message, label=label)
                refused = True
        return not problems and not refused

    def finding_place(self, spec: JobSpec, name: str | None, sources: dict[str, int]) -> Path_:
        """Where a finding about field ``name`` points: its value when the job gives it."""
        # The job itself when the value is the default, or comes from defaults.
        if name is not None and (name in sources or spec.paths.get(name, ())[:2] == spec.path):
            return spec.where(name, sources.get(name, -1))
        return spec.path
