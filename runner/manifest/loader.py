"""Reading a manifest: YAML, then structure, then resolved jobs, or every problem.

``load`` never stops at the first problem: it collects a Diagnostic for each one,
located at the YAML node that holds the value (or the key, or the owning mapping),
and raises a single ManifestError carrying them all.
"""

from __future__ import annotations

import copy
import math
import re
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema_rs

from runner.base import schema
from runner.base.diagnostics import Diagnostic
from runner.base.errors import ManifestError
from runner.catalog.models import ModelMatrix, builtin
from runner.manifest import checks, outputs, yamlfile
from runner.manifest.document import load as load_document
from runner.manifest.job import Manifest, OutputSettings, RunSettings
from runner.manifest.problems import Path_, Report, in_file_order
from runner.manifest.resolve import Expander

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator, ValidationError

MAX_MANIFEST_BYTES = 32 * 1024 * 1024
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h)")
_DURATION_TEXT = re.compile(r"^\s*([0-9]+(\.[0-9]+)?\s*(ms|s|m|h)\s*)+$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def load(
    path: Path,
    *,
    display: str | None = None,
    matrix: ModelMatrix | None = None,
    allow_unknown_models: bool = False,
    strict: bool = False,
) -> Manifest:
    """Read, check and resolve the manifest at ``path``; raise ManifestError.

    Warnings (what the model catalog doubts) are kept on the Manifest; with
    ``strict`` (or ``strict: true`` in the manifest) they are errors.
    """
    name = display or str(path)
    text = _read(path, name)
    with yamlfile.collector_paused():  # nothing built here is garbage before the end
        return _resolved(path, name, text, matrix or builtin(), allow_unknown_models, strict)


def _resolved(
    path: Path,
    name: str,
    text: str,
    matrix: ModelMatrix,
    allow_unknown_models: bool,
    strict: bool,
) -> Manifest:
    try:
        document = load_document(text, name)
    except yamlfile.YamlProblem as problem:
        raise ManifestError(problem.diagnostics) from None
    data = document.data
    report = Report(name, None, document)
    if not isinstance(data, dict):
        report.add((), f"a manifest is a mapping with version: 1 and jobs; found {_kind(data)}")
        raise ManifestError(report.sorted())
    _check_structure(data, report)
    if report.problems and not isinstance(data.get("jobs"), list):
        raise ManifestError(report.sorted())
    allow = allow_unknown_models or data.get("allow_unknown_models") is True
    folder = path.resolve().parent
    output = _output(data.get("output"), folder, path, report)
    expander = Expander(report, folder, data, matrix, allow, output)
    jobs = expander.expand()
    settings = _run_settings(data.get("run"), report)
    if strict or data.get("strict") is True:
        report.problems |= {w.as_error() for w in report.warnings}
        report.warnings = set()
    if report.problems:
        raise ManifestError(report.sorted())
    return Manifest(
        path=path,
        display=name,
        run=settings,
        output=output,
        jobs=tuple(jobs),
        vars=expander.vars,
        allow_unknown_models=allow,
        warnings=tuple(sorted(report.warnings, key=in_file_order)),
    )


def _read(path: Path, name: str) -> str:
    def fail(message: str) -> ManifestError:
        return ManifestError([Diagnostic(name, 1, 1, message)])

    try:
        size = path.stat().st_size
        if size > MAX_MANIFEST_BYTES:
            raise fail(f"the manifest is {size:,} bytes; the limit is {MAX_MANIFEST_BYTES:,}")
        with path.open("rb") as handle:  # bounded: a pipe or a device has no size
            raw = handle.read(MAX_MANIFEST_BYTES + 1)
        if len(raw) > MAX_MANIFEST_BYTES:
            raise fail(f"the manifest is over the limit of {MAX_MANIFEST_BYTES:,} bytes")
    except FileNotFoundError:
        raise fail("no such file") from None
    except IsADirectoryError:
        raise fail("is a directory, not a manifest") from None
    except OSError as err:
        raise fail(f"cannot read: {err.strerror}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ManifestError([Diagnostic(name, line, 1, "not UTF-8 text")]) from None


def _shell_schema() -> dict[str, Any]:
    """The manifest schema with job and defaults fields left to the field checks."""
    shell = copy.deepcopy(schema.load("manifest"))
    job = shell["$defs"]["job"]
    runner_only = {k: job["properties"][k] for k in ("id", "matrix", "prompt_file", "extra")}
    shell["$defs"]["job"] = {"type": "object", "required": ["id"], "properties": runner_only}
    shell["$defs"]["defaults"] = {
        "type": "object",
        "properties": {"extra": job["properties"]["extra"]},
    }
    return shell


@cache
def _fast_validators() -> tuple[jsonschema_rs.Validator, jsonschema_rs.Validator]:
    """jsonschema-rs's validators of the shell schema and of one job in it."""
    shell = _shell_schema()
    job = {**shell["$defs"]["job"], "$defs": shell["$defs"]}
    return jsonschema_rs.Draft202012Validator(shell), jsonschema_rs.Draft202012Validator(job)


@cache
def _shell_validator() -> Draft202012Validator:
    """python-jsonschema's validator of the shell schema, for the messages."""
    from jsonschema import Draft202012Validator  # only for a manifest with a problem

    return Draft202012Validator(_shell_schema())


def _check_structure(data: dict[str, Any], report: Report) -> None:
    fast_shell, fast_job = _fast_validators()
    if schema.surely_valid(fast_shell, data):
        return  # the common case: python-jsonschema is not even imported
    jobs = data.get("jobs")
    if not isinstance(jobs, list) or len(jobs) < 2:
        for error in _shell_validator().iter_errors(data):
            _report_schema_error(error, report)
        return
    # Large manifests: python-jsonschema sees one job, and each other job the
    # fast validator refuses, for its messages.
    for error in _shell_validator().iter_errors({**data, "jobs": jobs[:1]}):
        _report_schema_error(error, report)
    job_validator = _job_validator()
    for index, job in enumerate(jobs[1:], start=1):
        if not schema.surely_valid(fast_job, job):
            for error in job_validator.iter_errors(job):
                error.path.extendleft(["jobs", index][::-1])
                _report_schema_error(error, report)


@cache
def _job_validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    shell: Any = _shell_validator().schema
    return Draft202012Validator({**shell["$defs"]["job"], "$defs": shell["$defs"]})


def _report_schema_error(error: ValidationError, report: Report) -> None:
    path: Path_ = tuple(error.absolute_path)
    if error.validator == "additionalProperties":
        subschema: Any = error.schema
        instance: Any = error.instance
        known = list(subschema.get("properties", {}))
        patterns = [re.compile(p) for p in subschema.get("patternProperties", {})]
        unknown = {k for k in instance if k not in known and not any(p.search(k) for p in patterns)}
        for key in sorted(unknown):
            report.add((*path, key), checks.unknown_field(key, known), at_key=True)
    elif "propertyNames" in error.relative_schema_path:
        msg = "not a valid variable name (letters, digits and _, not starting with a digit)"
        report.add((*path, str(error.instance)), msg, at_key=True)
    else:
        report.add(path, checks.message(error))


def parse_duration(value: float | int | str) -> float:
    """Seconds from a number or a text like ``500ms``, ``5s``, ``20m``, ``1h30m``."""
    if isinstance(value, (int, float)):
        return float(value)
    return sum(float(n) * _UNITS[unit] for n, unit in _DURATION.findall(value))


def _run_settings(run: Any, report: Report) -> RunSettings:
    """The ``run:`` section; a value the schema check refused keeps its default."""
    if not isinstance(run, dict):
        return RunSettings()
    base = RunSettings()
    poll: dict[str, Any] = run["poll"] if isinstance(run.get("poll"), dict) else {}
    durations = {
        ("run", "timeout"): _duration(run.get("timeout"), base.timeout),
        ("run", "poll", "initial"): _duration(poll.get("initial"), base.poll_initial),
        ("run", "poll", "max"): _duration(poll.get("max"), base.poll_max),
    }
    for where, seconds in durations.items():
        if seconds <= 0:  # "0s" matches the pattern, yet cannot be meant
            report.add(where, "must be longer than zero")
    timeout, initial, longest = durations.values()
    if 0 < longest < initial and "max" in poll:
        report.add(("run", "poll", "initial"), "is longer than run.poll.max")
    return RunSettings(
        concurrency=_number(run.get("concurrency"), base.concurrency, int),
        rate=_float(_number(run.get("rate"), base.rate, float)),
        timeout=timeout,
        poll_initial=initial,
        poll_max=longest,
        retry_failed=_number(run.get("retry_failed"), base.retry_failed, int),
        max_cost=_max_cost(run.get("max_cost")),
    )


def _max_cost(value: Any) -> Decimal | None:
    """``run.max_cost`` in USD (a number the schema check let through), exactly as written."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    return amount if amount.is_finite() and amount >= 0 else None


def _duration(value: Any, default: float) -> float:
    if isinstance(value, str) and _DURATION_TEXT.match(value):
        return parse_duration(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return _float(value)
    return default


def _float(value: float) -> float:
    """``value`` as a float; an integer past the float range is infinite (no traceback)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _number(value: Any, default: Any, kind: type) -> Any:
    ok = isinstance(value, (int, float) if kind is float else int) and not isinstance(value, bool)
    return value if ok else default


def _kind(data: Any) -> str:
    if data is None:
        return "an empty file"
    if isinstance(data, list):
        return "a list"
    if isinstance(data, str):
        return "a single string"
    return "a single value"


def _output(output: Any, folder: Path, path: Path, report: Report) -> OutputSettings:
    output = output if isinstance(output, dict) else {}
    stem = path.name.rsplit(".", 1)[0]
    directory = output.get("dir", f"renders/{stem}")
    name = output.get("name", "${job}.mp4")
    if isinstance(directory, str) and Path(directory).is_absolute():
        target = Path(directory)
    else:
        target = folder / str(directory)
    if isinstance(name, str):
        for problem in outputs.name_problems(name):
            report.add(("output", "name"), problem)
    return OutputSettings(dir=target, name=str(name))
