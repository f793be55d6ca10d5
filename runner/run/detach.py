"""A detached run (``run --detach``): one pass over the plans, then exit without waiting.

Each task in flight is polled once (and its outputs fetched when it completed),
then new and changed jobs are submitted while fewer than ``concurrency`` of the
selected jobs' tasks are in flight, and the run ends: nothing waits for a task.
Run again (a cron workflow, a loop) and it takes a batch of any length to its
end, each process living about as long as its requests take. The lockfile is
the hand-off: every task id is in it before the process exits.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import anyio
import anyio.abc

from runner.base.errors import WriteError
from runner.lock.lockfile import IN_FLIGHT, is_orphan
from runner.run.engine import Engine, Outcome, Target
from runner.run.events import Event
from runner.run.job_work import JobWork
from runner.run.plan import SENDS, PlanItem

CHECK_LIMIT = 30.0  # seconds for one task's poll, its retries included
STILL_GOING = frozenset({"pending", "processing", "timed_out", "not submitted"})


class DetachedEngine(Engine):
    """An engine that polls each task in flight once, fills the free slots, and returns."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unsent: list[tuple[Target, PlanItem]] = []

    async def _feed(self, tg: anyio.abc.TaskGroup, targets: list[Target]) -> None:
        if not await self._drop_removed(targets):
            return
        ordered = self._ordered(targets)
        resumes = [(t, i) for t, i in ordered if i.action == "resume"]
        # Longest unpolled first: when the rate allows fewer polls than there are
        # tasks in flight within CHECK_LIMIT, the next pass polls the others.
        resumes.sort(key=lambda pair: _last_polled(pair[0], pair[1].key))
        async with anyio.create_task_group() as checks:
            for target, item in resumes:
                checks.start_soon(self._check, self._work(target, item))
        free = self.concurrency - in_flight(targets)
        for target, item in ordered:
            if item.action == "download":
                tg.start_soon(self._download, self._work(target, item))
            elif item.action not in SENDS:
                continue
            elif free > 0 and not self._stop.submitting_stopped:
                free -= 1
                tg.start_soon(self._submit, self._work(target, item))
            else:
                self._unsent.append((target, item))

    def _outcome(self, targets: list[Target]) -> Outcome:
        """As a run's, but a job left for a later pass counts as not submitted (a
        failed one to rerun, say), whatever its entry says."""
        outcome = super()._outcome(targets)
        for target, item in self._unsent:
            entry = target.store.entry(item.key)
            if entry is None or item.job is None or entry["fingerprint"] != item.job.fingerprint:
                continue  # counted as not submitted already
            status = "uncertain" if is_orphan(entry) else str(entry["status"])
            outcome.counts[status] -= 1
            if not outcome.counts[status]:
                del outcome.counts[status]
            outcome.counts["not submitted"] = outcome.counts.get("not submitted", 0) + 1
        return outcome

    async def _check(self, work: JobWork) -> None:
        try:
            status = await work.check(CHECK_LIMIT)
        except WriteError as err:
            self._stop.stop_writing(err)
            return
        if status == "completed":
            await self._download(work)

    async def _submit(self, work: JobWork) -> None:
        try:
            await work.submit()
        except WriteError as err:
            self._stop.stop_writing(err)


def _last_polled(target: Target, key: str) -> str:
    return str((target.store.entry(key) or {}).get("last_polled_at") or "")


def in_flight(targets: list[Target]) -> int:
    """The selected jobs whose task is in flight, by their lockfile entries."""
    count = 0
    for target in targets:
        for item in target.plan.items:
            entry = target.store.entry(item.key)
            if entry and entry.get("task_id") and entry.get("status") in IN_FLIGHT:
                count += 1
    return count


def still_going(outcome: Outcome) -> int:
    """Jobs a later run takes further: tasks in flight, and jobs not yet submitted."""
    return sum(n for status, n in outcome.counts.items() if status in STILL_GOING)


def only_in_flight(outcome: Outcome) -> bool:
    """Whether all that keeps the run from done is work still going (exit 4, not 1)."""
    unfinished = {s for s, n in outcome.counts.items() if s != "completed" and n}
    return bool(unfinished) and unfinished <= STILL_GOING and outcome.missing_outputs == 0


def summary(event: Event, outcome: Outcome, detached: bool) -> Event:
    """The closing event, saying for a detached run how many jobs are still going."""
    if not detached:
        return event
    data = {**event.data, "detached": True, "still_going": still_going(outcome)}
    return dataclasses.replace(event, data=data)
