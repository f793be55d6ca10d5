"""Reading a manifest: YAML, then structure, then resolved jobs, or every problem.

``load`` never stops at the first problem: it collects a Diagnostic for each one,
located at the YAML node that holds the value (or the key, or the owning mapping),
and raises a single ManifestError carrying them all.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError
from yaml.nodes import Node

from runner import checks, schema, yamlfile
from runner.diagnostics import Diagnostic
from runner.errors import ManifestError
from runner.job import Manifest, OutputSettings, RunSettings
from runner.models import ModelMatrix, builtin

MAX_MANIFEST_BYTES = 32 * 1024 * 1024
Path_ = tuple[str | int, ...]
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def load(
    path: Path,
    *,
    display: str | None = None,
    matrix: ModelMatrix | None = None,
    allow_unknown_models: bool = False,
) -> Manifest:
    """Read, check and resolve the manifest at ``path``; raise ManifestError."""
    from runner.resolve import Expander  # resolve imports Report from here

    name = display or str(path)
    text = _read(path, name)
    try:
        root, data = yamlfile.parse(text, name)
    except yamlfile.YamlProblem as problem:
        raise ManifestError(problem.diagnostics) from None
    report = Report(name, root)
    if not isinstance(data, dict):
        found = "an empty file" if data is None else f"a {type(data).__name__}"
        report.add((), f"a manifest is a mapping with version: 1 and jobs; found {found}")
        raise ManifestError(report.sorted())
    _check_structure(data, report)
    if report.problems and not isinstance(data.get("jobs"), list):
        raise ManifestError(report.sorted())
    allow = allow_unknown_models or data.get("allow_unknown_models") is True
    folder = path.resolve().parent
    output = _output(data.get("output"), folder, path, report)
    expander = Expander(report, folder, data, matrix or builtin(), allow, output)
    jobs = expander.expand()
    settings = _run_settings(data.get("run"), report)
    if report.problems:
        raise ManifestError(report.sorted())
    return Manifest(
        path=path,
        display=name,
        run=settings,
        output=output,
        jobs=tuple(jobs),
        vars=data.get("vars") or {},
        allow_unknown_models=allow,
    )


class Report:
    """Collects diagnostics, locating each by its path through the node tree."""

    def __init__(self, file: str, root: Node | None) -> None:
        self.file = file
        self.root = root
        self.problems: set[Diagnostic] = set()

    def add(self, path: Path_, message: str, *, at_key: bool = False) -> None:
        """A problem at ``path``; ``at_key`` points at the last key, not its value."""
        node = self.node(path, at_key=at_key)
        prefix = format_path(path)
        self.add_at(node, f"{prefix}: {message}" if prefix else message)

    def add_at(self, node: Node | None, message: str) -> None:
        line, col = yamlfile.position(node) if node is not None else (1, 1)
        self.problems.add(Diagnostic(self.file, line, col, message))

    def node(self, path: Path_, *, at_key: bool = False) -> Node | None:
        """The deepest node along ``path`` (the key node itself with ``at_key``)."""
        node = self.root
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

    def sorted(self) -> list[Diagnostic]:
        return sorted(self.problems, key=lambda d: (d.line, d.col, d.message))


def format_path(path: Path_) -> str:
    """``("jobs", 1, "fps")`` as ``jobs[1].fps``."""
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text


def _read(path: Path, name: str) -> str:
    def fail(message: str) -> ManifestError:
        return ManifestError([Diagnostic(name, 1, 1, message)])

    try:
        size = path.stat().st_size
        if size > MAX_MANIFEST_BYTES:
            raise fail(f"the manifest is {size:,} bytes; the limit is {MAX_MANIFEST_BYTES:,}")
        raw = path.read_bytes()
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


@cache
def _shell_validator() -> Draft202012Validator:
    """The manifest schema with job and defaults fields left to the field checks."""
    shell = copy.deepcopy(schema.load("manifest"))
    job = shell["$defs"]["job"]
    runner_only = {k: job["properties"][k] for k in ("id", "matrix", "prompt_file", "extra")}
    shell["$defs"]["job"] = {"type": "object", "required": ["id"], "properties": runner_only}
    shell["$defs"]["defaults"] = {"type": "object"}
    return Draft202012Validator(shell)


def _check_structure(data: dict[str, Any], report: Report) -> None:
    for error in _shell_validator().iter_errors(data):
        _report_schema_error(error, report)


def _report_schema_error(error: ValidationError, report: Report) -> None:
    path: Path_ = tuple(error.absolute_path)
    if error.validator == "additionalProperties":
        subschema: Any = error.schema
        instance: Any = error.instance
        known = list(subschema.get("properties", {}))
        for key in sorted(set(instance) - set(known)):
            report.add((*path, key), checks.unknown_field(key, known), at_key=True)
    elif error.validator == "propertyNames":
        report.add(path, f"{checks.message(error)} (names are letters, digits and _)")
    else:
        report.add(path, checks.message(error))


def parse_duration(value: float | int | str) -> float:
    """Seconds from a number or a text like ``500ms``, ``5s``, ``20m``, ``1h30m``."""
    if isinstance(value, (int, float)):
        return float(value)
    return sum(float(n) * _UNITS[unit] for n, unit in _DURATION.findall(value))


def _run_settings(run: Any, report: Report) -> RunSettings:
    if not isinstance(run, dict):
        return RunSettings()
    base = RunSettings()
    poll: dict[str, Any] = run["poll"] if isinstance(run.get("poll"), dict) else {}
    settings = RunSettings(
        concurrency=run.get("concurrency", base.concurrency),
        rate=float(run.get("rate", base.rate)),
        timeout=parse_duration(run.get("timeout", base.timeout)),
        poll_initial=parse_duration(poll.get("initial", base.poll_initial)),
        poll_max=parse_duration(poll.get("max", base.poll_max)),
        retry_failed=run.get("retry_failed", base.retry_failed),
    )
    if settings.poll_initial > settings.poll_max and "max" in poll:
        report.add(("run", "poll", "initial"), "is longer than run.poll.max")
    for key, seconds in (("timeout", settings.timeout),):
        if seconds <= 0 and key in run:
            report.add(("run", key), "must be longer than zero")
    return settings


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
        for problem in _name_problems(name):
            report.add(("output", "name"), problem)
    return OutputSettings(dir=target, name=str(name))


def _name_problems(name: str) -> Sequence[str]:
    from runner.job import OUTPUT_NAME_VARS

    problems = []
    for var in re.findall(r"\$\{([^}]*)\}", name):
        if var not in OUTPUT_NAME_VARS:
            hint = checks.suggest(var, OUTPUT_NAME_VARS)
            extra = f"; did you mean ${{{hint}}}?" if hint else ""
            problems.append(
                f"unknown name ${{{var}}} (known: {', '.join(OUTPUT_NAME_VARS)}){extra}"
            )
    parts = name.replace("\\", "/").split("/")
    if name.startswith("/") or ".." in parts:
        problems.append("must stay inside output.dir (no absolute path, no ..)")
    return problems
