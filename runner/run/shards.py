"""Shards: ``run --shard K/N`` works on the jobs whose key falls in shard K of N.

A job's shard is the sha256 of its key, read as a number, modulo N: it depends
on the key alone, so a job stays in its shard when others are added or removed,
and N runners (a CI matrix) split a batch with nothing shared but the manifest.
Each shard keeps its own lockfile (``--lockfile``); ``vidbatch lock merge``
joins them. A shard's lockfile that does not exist yet starts from the
manifest's own lockfile (the last merge), restricted to the shard's jobs, so
that no task that lockfile holds is submitted again.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

from runner.base.errors import LockError
from runner.base.files import write_atomic
from runner.lock import lockfile, lockmerge
from runner.manifest.job import Manifest, RunSettings

_SPEC = re.compile(r"([0-9]{1,6})/([0-9]{1,6})")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    count: int

    def holds(self, key: str) -> bool:
        """Whether job ``key`` is in this shard."""
        return shard_of(key, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_of(key: str, count: int) -> int:
    """The shard (1-based) of job ``key`` among ``count``."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def parse(text: str) -> Shard:
    """argparse type for ``K/N``: 1 <= K <= N."""
    match = _SPEC.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"not a shard: {text!r} (try 1/4: shard 1 of 4)")
    index, count = int(match[1]), int(match[2])
    if not 1 <= index <= count:
        raise argparse.ArgumentTypeError(f"shard {text!r}: K must be 1 to N")
    return Shard(index, count)


def restrict(manifest: Manifest, shard: Shard) -> Manifest:
    """``manifest`` with only the jobs of ``shard``."""
    jobs = tuple(job for job in manifest.jobs if shard.holds(job.key))
    return dataclasses.replace(manifest, jobs=jobs)


def view(doc: Mapping[str, Any], shard: Shard) -> dict[str, Any]:
    """The lockfile document as the shard's plan sees it: its own jobs only, so that
    another shard's entries are neither planned nor removed."""
    jobs = {key: entry for key, entry in doc["jobs"].items() if shard.holds(key)}
    return {**doc, "jobs": jobs}


MICRO_USD = Decimal("0.000001")


def share(settings: RunSettings, shard: Shard, concurrency: bool, rate: bool) -> RunSettings:
    """The shard's part of the settings: concurrency and rate divided by N, except
    those given on the command line (``concurrency``, ``rate``: given), and the
    manifest's ``run.max_cost`` divided by N, rounded down so that the N shares
    never add up to more than it (``--max-cost`` is each shard's own)."""
    changes: dict[str, Any] = {}
    if not concurrency:
        changes["concurrency"] = max(1, settings.concurrency // shard.count)
    if not rate:
        changes["rate"] = settings.rate / shard.count
    if settings.max_cost is not None:
        part = settings.max_cost / shard.count
        changes["max_cost"] = part.quantize(MICRO_USD, rounding=ROUND_DOWN)
    return dataclasses.replace(settings, **changes)


def seed(path: Path, base: Path, shard: Shard) -> None:
    """Start the shard's lockfile ``path``, when it does not exist, from ``base``
    (the manifest's own lockfile) restricted to the shard's jobs."""
    if not _starts_from_base(path, base):
        return
    doc = _from_base(path, base, shard)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, lockfile.render(doc).encode("utf-8"))
    except OSError as err:
        raise LockError(f"cannot write the lockfile {path}: {err.strerror or err}") from None


def starting_view(path: Path, base: Path, shard: Shard | None) -> dict[str, Any]:
    """The lockfile ``path`` as a run would start from it, written nowhere. For a
    shard, only its jobs, and while ``path`` does not exist, what ``seed`` would write."""
    if shard is None:
        return lockfile.read(path)
    if _starts_from_base(path, base):
        return _from_base(path, base, shard)
    return view(lockfile.read(path), shard)


def _starts_from_base(path: Path, base: Path) -> bool:
    return not path.exists() and path != base.absolute() and base.exists()


def _from_base(path: Path, base: Path, shard: Shard) -> dict[str, Any]:
    doc = view(lockfile.read(base), shard)
    doc.pop("manifest", None)  # relative to base's folder; the run writes its own
    for entry in doc["jobs"].values():
        lockmerge.rebase_outputs(entry, base.absolute().parent, path.parent)
    return doc
