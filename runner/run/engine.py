"""Scheduling a run: one task group, a bound on tasks in flight, one request budget.

The engine takes plans (one per manifest, each with its open ``LockStore``) and
works them: it resumes tasks in flight, submits new and changed jobs in manifest
order while fewer than ``concurrency`` tasks are in flight across all manifests,
polls each task to a final status, and downloads outputs as soon as a task
completes (a download does not hold a slot: the task is no longer in flight).
What happens to one job is ``runner.run.job_work``; this module decides when.

Stops: a 401 stops everything; a 402 stops submitting while polls go on; a first
``interrupt()`` (Ctrl-C) stops submitting and cancels the waiting, while creates
already sent finish and are recorded. Every change is durable in the lockfile's
journal before the engine acts on it.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from runner.api.client import ApiClient
from runner.base.errors import ApiStopped, WriteError
from runner.lock.lockfile import LockStore, is_orphan
from runner.manifest.job import RunSettings
from runner.run.budget import Costing
from runner.run.download import Downloader
from runner.run.events import Event, NullReporter, Reporter
from runner.run.job_work import JobWork, Stop
from runner.run.plan import SENDS, Plan, PlanItem, missing_outputs
from runner.run.polling import Starts

ACTED_ON = frozenset({*SENDS, "download"})  # besides "resume", which goes first
WORK = frozenset({*ACTED_ON, "resume"})
DRIVEN = frozenset({*SENDS, "resume"})  # what the progress bar counts
STATUSES = ("completed", "failed", "timed_out", "uncertain", "pending", "processing")


@dataclass
class Target:
    """One manifest in a run: its plan, its open lockfile, its effective settings."""

    plan: Plan
    store: LockStore
    settings: RunSettings
    costing: Costing | None = None  # estimates and budget (runner.run.budget)

    @property
    def name(self) -> str:
        return self.plan.manifest.display


@dataclass
class Outcome:
    """How a run ended: statuses of the selected jobs, and why it stopped early."""

    counts: dict[str, int] = field(default_factory=dict)
    missing_outputs: int = 0
    stopped: ApiStopped | None = None
    interrupted: bool = False
    elapsed: float = 0.0
    lockfiles: list[Path] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)
    write_error: WriteError | None = None  # the lockfile could not be kept
    unsaved: dict[Path, dict[str, str]] = field(default_factory=dict)  # task ids, by lockfile

    @property
    def all_done(self) -> bool:
        """Every selected job completed, with its outputs on disk."""
        unfinished = sum(n for status, n in self.counts.items() if status != "completed")
        return unfinished == 0 and self.missing_outputs == 0


class Engine:
    """Runs plans against the API with shared concurrency and rate."""

    def __init__(
        self,
        client: ApiClient | None,
        downloader: Downloader | None,
        *,
        concurrency: int,
        reporter: Reporter | None = None,
        download_concurrency: int = 8,
        expect_outputs: bool | None = None,
    ) -> None:
        self.concurrency = max(1, concurrency)
        self._slots = anyio.Semaphore(self.concurrency)
        self._stop = Stop()
        self._reporter: Reporter = reporter or NullReporter()
        self._client = client
        self._downloader = downloader
        self._expect_outputs = downloader is not None if expect_outputs is None else expect_outputs
        self._downloads = anyio.CapacityLimiter(max(1, download_concurrency))
        self._scope: anyio.CancelScope | None = None
        self.peak_in_flight = 0
        self._in_flight = 0
        self._starts: dict[str, Starts] = {}  # by model: how long its tasks queue
        self._targets: list[Target] = []

    def interrupt(self) -> None:
        """The first Ctrl-C: stop submitting, stop waiting; sent creates still finish."""
        self._stop.interrupted = True
        if self._scope is not None:
            self._scope.cancel()

    async def run(self, targets: list[Target]) -> Outcome:
        """Work every target's plan; the lockfiles stay open (the caller closes them)."""
        start = anyio.current_time()
        total = sum(1 for t in targets for i in t.plan.items if i.action in DRIVEN)
        self._reporter.start(total)
        for target in targets:  # entries repaired as the lockfile loaded
            for message in target.store.problems:
                self._reporter.emit(Event("warning", target.name, data={"message": message}))
        self._targets = targets
        with anyio.CancelScope() as scope:
            self._scope = scope
            if self._stop.interrupted:
                scope.cancel()
            async with anyio.create_task_group() as tg:
                self._stop.cancel_run = tg.cancel_scope.cancel
                await self._feed(tg, targets)
        outcome = self._outcome(targets)
        outcome.elapsed = anyio.current_time() - start
        return outcome

    async def _drop_removed(self, targets: list[Target]) -> bool:
        """Drop the entries of jobs gone from the manifests; False when that failed."""
        for target in targets:
            removed = [i.key for i in target.plan.items if i.action == "remove"]
            if removed:
                try:
                    await target.store.drop(removed)
                except WriteError as err:
                    self._stop.stop_writing(err)
                    return False
        return True

    async def _feed(self, tg: anyio.abc.TaskGroup, targets: list[Target]) -> None:
        if not await self._drop_removed(targets):
            return
        for target, item in self._ordered(targets):
            if item.action == "download":
                tg.start_soon(self._download, self._work(target, item))
                continue
            if item.action in SENDS and self._stop.submitting_stopped:
                continue
            await self._slots.acquire()
            if item.action in SENDS and self._stop.submitting_stopped:
                self._slots.release()
                continue
            tg.start_soon(self._drive, self._work(target, item), item.action == "resume")

    def _ordered(self, targets: list[Target]) -> list[tuple[Target, PlanItem]]:
        resumes = [(t, i) for t in targets for i in t.plan.items if i.action == "resume"]
        others = [(t, i) for t in targets for i in t.plan.items if i.action in ACTED_ON]
        return resumes + others

    def _work(self, target: Target, item: PlanItem) -> JobWork:
        assert item.job is not None and self._client is not None
        return JobWork(
            job=item.job,
            target_name=target.name,
            manifest=target.plan.manifest,
            store=target.store,
            settings=target.settings,
            client=self._client,
            downloader=self._downloader,
            stop=self._stop,
            emit=self._reporter.emit,
            starts=self._starts.setdefault(item.job.model, Starts()),
            holder=functools.partial(self._holder, target.store, item.key),
            costing=target.costing,
        )

    def _holder(self, store: LockStore, key: str, task_id: str) -> str | None:
        """The other job of the run (of any of its lockfiles) that holds ``task_id``."""
        for target in self._targets:
            found = target.store.holder(task_id)
            if found is None or (target.store is store and found == key):
                continue
            return found if target.store is store else f"{found} of {target.name}"
        return None

    async def _drive(self, work: JobWork, resume: bool) -> None:
        self._in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
        try:
            status = await work.drive(resume)
        except WriteError as err:
            self._stop.stop_writing(err)
            return
        finally:
            self._in_flight -= 1
            self._slots.release()
        if status == "completed":
            await self._download(work)

    async def _download(self, work: JobWork) -> None:
        if self._downloader is None:
            return
        async with self._downloads:
            try:
                await work.download()
            except WriteError as err:
                self._stop.stop_writing(err)

    def _outcome(self, targets: list[Target]) -> Outcome:
        outcome = Outcome(
            stopped=self._stop.stopped,
            interrupted=self._stop.interrupted,
            write_error=self._stop.write_failed,
        )
        counts: Counter[str] = Counter()
        for target in targets:
            outcome.lockfiles.append(target.store.path)
            outcome.outputs.append(target.plan.manifest.output.dir)
            folder = target.store.path.parent
            for item in target.plan.items:
                if item.action == "remove":
                    continue
                held = target.costing.left_out(item.key) if target.costing else None
                if held is not None:  # kept back by the budget; its entry untouched
                    counts[held] += 1
                    continue
                entry = target.store.entry(item.key)
                job = item.job
                if entry is None or (job is not None and entry["fingerprint"] != job.fingerprint):
                    counts["not submitted"] += 1
                    continue
                status = "uncertain" if is_orphan(entry) else str(entry["status"])
                counts[status] += 1
                if status == "completed" and self._expect_outputs:
                    outcome.missing_outputs += len(missing_outputs(entry, folder))
        outcome.counts = dict(counts)
        return outcome


def has_work(targets: list[Target]) -> bool:
    """Whether any job needs the API or a download (else no client need be opened)."""
    return any(i.action in WORK for t in targets for i in t.plan.items)


def summary_event(outcome: Outcome) -> Event:
    """The closing ``summary`` event."""
    return Event(
        "summary",
        data={
            "counts": outcome.counts,
            "missing_outputs": outcome.missing_outputs,
            "elapsed": round(outcome.elapsed, 3),
            "lockfiles": [str(p) for p in outcome.lockfiles],
            "outputs": [str(p) for p in outcome.outputs],
            "interrupted": outcome.interrupted,
            "stopped": str(outcome.stopped) if outcome.stopped else None,
            **_write_failure(outcome),
        },
    )


def _write_failure(outcome: Outcome) -> dict[str, Any]:
    if outcome.write_error is None:
        return {}
    unsaved = {str(path): tasks for path, tasks in outcome.unsaved.items()}
    return {"write_error": str(outcome.write_error), "unsaved_tasks": unsaved}
