"""Merging lockfiles: the shards of one run (``run --shard K/N``) into one lockfile.

The result depends only on the inputs' contents, not on their order: entries are
keyed by job key and rendered sorted, and output paths (relative to a lockfile's
folder) are rewritten relative to the merged lockfile's. A job key found in several inputs must
have the same entry in each (a shard seeded from the last merge and an older
copy of it are not the same); a key whose entries differ is a conflict, and
every conflict is named at once, with the files that disagree, before anything
is written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.base.errors import LockError
from runner.lock import lockfile

SHOWN_CONFLICTS = 20


class MergeConflict(LockError):
    """Two inputs hold different entries for one job key (exit 2)."""


@dataclass
class Merged:
    """The merged document, and what reading the inputs repaired or doubted."""

    doc: dict[str, Any]
    problems: list[str] = field(default_factory=list)


def merge(paths: Sequence[Path], out: Path) -> Merged:
    """The lockfile that holds every entry of ``paths``; ``out`` is where it will be
    written (for the manifest's path relative to it)."""
    jobs: dict[str, Any] = {}
    origin: dict[str, Path] = {}
    conflicts: list[str] = []
    manifests: set[Path] = set()
    problems: list[str] = []
    for path in paths:
        found: list[str] = []
        doc = lockfile.read(path, found)
        problems.extend(f"{path}: {message}" for message in found)
        if isinstance(doc.get("manifest"), str):
            manifests.add(Path(os.path.normpath(path.absolute().parent / doc["manifest"])))
        for key, entry in doc["jobs"].items():
            rebase_outputs(entry, path.absolute().parent, out.absolute().parent)
            if key not in jobs:
                jobs[key], origin[key] = entry, path
            elif _canonical(jobs[key]) != _canonical(entry):
                conflicts.append(f"{key} ({origin[key]} and {path})")
    if conflicts:
        shown = "; ".join(sorted(conflicts)[:SHOWN_CONFLICTS])
        more = len(conflicts) - SHOWN_CONFLICTS
        tail = f"; and {more} more" if more > 0 else ""
        raise MergeConflict(
            f"{len(conflicts)} job key(s) with different entries in two lockfiles: "
            f"{shown}{tail}; nothing was written"
        )
    merged: dict[str, Any] = {"version": lockfile.VERSION, "jobs": jobs}
    if len(manifests) == 1:
        (manifest,) = manifests
        folder = out.absolute().parent
        merged["manifest"] = Path(os.path.relpath(manifest, folder)).as_posix()
    elif manifests:
        names = ", ".join(sorted(str(m) for m in manifests))
        problems.append(f"the lockfiles name different manifests ({names}); none recorded")
    return Merged(merged, problems)


def rebase_outputs(entry: dict[str, Any], source: Path, folder: Path) -> None:
    """Output paths are relative to the lockfile's folder: make them relative to the
    merged lockfile's (a shard's lockfile may live elsewhere)."""
    if source == folder:
        return
    for output in entry["outputs"]:
        if isinstance(output.get("path"), str):
            where = os.path.normpath(source / output["path"])
            output["path"] = Path(os.path.relpath(where, folder)).as_posix()


def _canonical(entry: Any) -> str:
    return json.dumps(entry, sort_keys=True, ensure_ascii=False)
