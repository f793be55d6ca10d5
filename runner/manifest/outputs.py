"""``output.name``: the names a template may use, jobs that would write one file,
names longer than the file system takes, and paths that would leave ``output.dir``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from runner.base import files
from runner.manifest import checks
from runner.manifest.job import (
    OUTPUT_NAME_VARS,
    SAFE_MAX,
    Job,
    all_safe,
    output_name,
    safe_components,
)

_WIDEST = {"job": SAFE_MAX, "id": SAFE_MAX, "model": SAFE_MAX, "operation": SAFE_MAX}
_WIDEST_SEED = 2**32 - 1  # a drawn seed has fewer digits, a sent one no more


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
    if "${job}" in template and all_safe([job.key for job in jobs]):
        return None
    # When the name varies with the key alone, one set of safe keys tells.
    by_key_alone = set(re.findall(r"\$\{([^}]*)\}", template)) <= {"job", "index"}
    if by_key_alone and len(set(safe_components([job.key for job in jobs]))) == len(jobs):
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


def too_long(template: str, jobs: Sequence[Job], folder: Path) -> str | None:
    """A message when a job's output name is longer than the file system at ``folder``
    takes (NAME_MAX bytes a name, PATH_MAX a path), else None."""
    if name_problems(template) or not jobs:
        return None
    name_max, path_max = files.limits(folder)
    room = path_max - len(str(folder.absolute()).encode()) - 2  # a separator, a NUL
    widest = len(template.encode()) + sum(
        _WIDEST.get(var, 10) for var in re.findall(r"\$\{([^}]*)\}", template)
    )
    if widest <= min(name_max, room):
        return None  # no job's name can be too long: skip rendering each one
    long: list[tuple[str, str]] = []
    for job in jobs:
        seed = _WIDEST_SEED if job.seed_mode == "random" else job.seed
        name = output_name(template, job, seed, 0)
        sizes = [len(part.encode()) for part in name.split("/")]
        if max(sizes) > name_max:
            long.append((job.key, f"a name of {max(sizes)} bytes; the limit is {name_max}"))
        elif len(name.encode()) > room:
            long.append((job.key, f"a path longer than the limit of {path_max} bytes"))
    if not long:
        return None
    key, why = long[0]
    more = f", and so would {len(long) - 1} more job(s)" if len(long) > 1 else ""
    return f"{key} would write {why}{more}; shorten output.name or the values in it"


def outside(dest: Path, out_dir: Path) -> bool:
    """Whether writing ``dest`` would leave ``out_dir``, links followed (a folder of
    the name may be a symlink leading elsewhere)."""
    try:
        return not dest.parent.resolve().is_relative_to(out_dir.resolve())
    except (OSError, RuntimeError):
        return True
