"""``output.name``: the names a template may use, and jobs that would write one file."""

from __future__ import annotations

import re
from collections.abc import Sequence

from runner import checks
from runner.job import OUTPUT_NAME_VARS, Job, output_name, safe_component


def name_problems(name: str) -> list[str]:
    """What is wrong with an ``output.name`` template (empty when it is usable)."""
    problems = []
    for var in re.findall(r"\$\{([^}]*)\}", name):
        if var not in OUTPUT_NAME_VARS:
            hint = checks.suggest(var, OUTPUT_NAME_VARS)
            extra = f"; did you mean ${{{hint}}}?" if hint else ""
            known = ", ".join(OUTPUT_NAME_VARS)
            problems.append(f"unknown name ${{{checks.clip(var)}}} (known: {known}){extra}")
    parts = name.replace("\\", "/").split("/")
    if name.startswith("/") or ".." in parts:
        problems.append("must stay inside output.dir (no absolute path, no ..)")
    return problems


def clash(template: str, jobs: Sequence[Job]) -> str | None:
    """A message when two jobs would write the same first output file, else None."""
    if name_problems(template):
        return None
    # With ${job} in the name, jobs whose keys are already safe file names
    # cannot clash with one another (keys are unique), only with the others.
    if "${job}" in template and all(safe_component(j.key) == j.key for j in jobs):
        return None
    # When the name varies with the key alone, one set of safe keys tells.
    by_key_alone = set(re.findall(r"\$\{([^}]*)\}", template)) <= {"job", "index"}
    if by_key_alone and len({safe_component(j.key) for j in jobs}) == len(jobs):
        return None
    seen: dict[str, str] = {}
    clashes: list[tuple[str, str, str]] = []
    for job in jobs:
        if job.seed_mode == "random" and "${seed}" in template:
            continue  # the seed is drawn at submission: names differ then
        name = output_name(template, job, job.seed, 0)
        other = seen.setdefault(name, job.key)
        if other != job.key:
            clashes.append((name, other, job.key))
    if not clashes:
        return None
    name, first, second = clashes[0]
    count = len(clashes) - 1
    more = f", and {count} more clash{'es' if count > 1 else ''}" if count else ""
    if "${job}" in template:  # keys differ only in characters a file name cannot hold
        return f"{first} and {second} would both write {name}{more}; change a matrix value"
    return f"{first} and {second} would both write {name}{more}; use ${{job}} in the name"
