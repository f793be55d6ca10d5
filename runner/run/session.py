"""One run over several manifests: open their lockfiles, plan, work, close.

The commands (run, download) and the tests share this path; it takes typed
values only. Each manifest keeps its own lockfile; the manifests share one
concurrency bound and one request budget (the smallest of theirs unless a flag
sets them).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from runner.api.client import ApiClient, GaveUp, JobRejected, Notice
from runner.api.responses import TaskState
from runner.base.errors import WriteError
from runner.lock.lockfile import IN_FLIGHT, LockStore, utc_now
from runner.manifest.job import Manifest, RunSettings
from runner.run import shards
from runner.run.engine import Engine, Outcome, Target
from runner.run.job_work import output_entry
from runner.run.plan import PlanOptions, lock_path_for, make_plan

REFRESH_LIMIT = 60.0  # seconds for one task's poll in `status --refresh`


@dataclass(frozen=True)
class Overrides:
    """Settings given on the command line; None when not given."""

    concurrency: int | None = None
    rate: float | None = None
    timeout: float | None = None


def effective(run: RunSettings, overrides: Overrides) -> RunSettings:
    """A manifest's ``run:`` settings with the flags applied."""
    changes = {k: v for k, v in dataclasses.asdict(overrides).items() if v is not None}
    return dataclasses.replace(run, **changes)


def open_targets(
    manifests: Sequence[Manifest],
    options: PlanOptions,
    overrides: Overrides,
    lockfile: Path | None = None,
    shard: shards.Shard | None = None,
) -> list[Target]:
    """Take each manifest's lockfile (refusing one held by another run) and plan.

    With ``shard``, only that shard's jobs are planned (``runner.run.shards``)."""
    targets: list[Target] = []
    try:
        for manifest in manifests:
            path = lock_path_for(manifest, lockfile)
            relative = Path(os.path.relpath(manifest.path.absolute(), path.parent)).as_posix()
            settings = effective(manifest.run, overrides)
            if shard is not None:
                shards.seed(path, lock_path_for(manifest, None), shard)
                manifest = shards.restrict(manifest, shard)
                given = (overrides.concurrency is not None, overrides.rate is not None)
                settings = shards.share(settings, shard, *given)
            store = LockStore.open(path, relative)
            doc = store.doc if shard is None else shards.view(store.doc, shard)
            plan = make_plan(manifest, path, doc, options)
            targets.append(Target(plan, store, settings))
    except BaseException:
        for target in targets:
            target.store.release()
        raise
    return targets


def shared_limits(targets: Sequence[Target]) -> tuple[int, float]:
    """The concurrency and rate all manifests share: the smallest of theirs."""
    concurrency = min((t.settings.concurrency for t in targets), default=1)
    rate = min((t.settings.rate for t in targets), default=0.0)
    return concurrency, rate


async def refresh_once(
    store: LockStore,
    client: ApiClient,
    keys: Iterable[str],
    notice: Notice | None = None,
    limit: float | None = None,
) -> int:
    """Poll each in-flight task of ``keys`` once and record what it says; polls made.

    A task whose poll gets no readable answer within ``limit`` seconds (retries
    and Retry-After pauses included; default ``REFRESH_LIMIT``) is left as it
    was, and ``notice`` hears of it.
    """
    limit = REFRESH_LIMIT if limit is None else limit
    polls = 0
    for key in keys:
        entry = store.entry(key)
        if not entry or entry.get("status") not in IN_FLIGHT or not entry.get("task_id"):
            continue
        polls += 1
        try:
            state = await _poll_within(client, entry, limit, notice)
        except JobRejected as err:
            await store.update(key, status="failed", error=err.error, finished_at=utc_now())
            continue
        store.note(key, last_polled_at=utc_now())  # saved when the store closes
        if state is None:
            if notice is not None:
                notice(f"{key}: no readable answer within {limit:g}s; left as it was")
            continue
        if state.status == "completed" and state.videos:
            outputs = [output_entry(video) for video in state.videos]
            await store.update(
                key, status="completed", outputs=outputs, error=None, finished_at=utc_now()
            )
        elif state.status == "failed":
            error = state.error or {"message": "failed"}
            await store.update(key, status="failed", error=error, finished_at=utc_now())
        elif state.status == "processing":
            await store.update(key, status="processing")
    return polls


async def _poll_within(
    client: ApiClient, entry: dict[str, Any], limit: float, notice: Notice | None
) -> TaskState | None:
    """One poll of the entry's task, its retries bounded by ``limit``; None without answer."""
    with anyio.move_on_after(limit):
        try:
            return await client.poll(str(entry["task_id"]), entry.get("poll_url"), notice)
        except GaveUp:
            return None
    return None


async def execute(engine: Engine, targets: list[Target]) -> Outcome:
    """Run ``targets`` with ``engine``, then compact and release every lockfile.

    A lockfile that could not be written, during the run or at its close, is
    told in the outcome with the task ids that only memory holds.
    """
    failures: list[WriteError] = []
    try:
        outcome = await engine.run(targets)
    finally:
        with anyio.CancelScope(shield=True):
            for target in targets:
                try:
                    await target.store.close()
                except WriteError as err:
                    failures.append(err)
    outcome.write_error = outcome.write_error or (failures[0] if failures else None)
    if outcome.write_error is not None:
        for target in targets:
            unsaved = target.store.unsaved_tasks()
            if unsaved:
                outcome.unsaved[target.store.path] = unsaved
    return outcome
