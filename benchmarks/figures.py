"""Figures from a sandbox record: the ideal span, polls per task, notice delays, rate use.

The record (``GET /_sandbox/record``) gives each task's ``created``, ``duration``,
``completed`` and ``first_final_poll`` in seconds since the sandbox started, the
number of ``polls`` it got, and the request counters.
"""

from __future__ import annotations

import heapq
import statistics
from dataclasses import dataclass
from typing import Any


def ideal_span(durations: list[float], concurrency: int) -> float:
    """A perfect runner's span: tasks in submission order, each started the instant a
    slot frees, zero latency anywhere."""
    slots = [0.0] * max(1, concurrency)
    end = 0.0
    for duration in durations:
        start = heapq.heappop(slots)
        finish = start + duration
        heapq.heappush(slots, finish)
        end = max(end, finish)
    return end


@dataclass(frozen=True)
class TaskFigures:
    """What the sandbox saw of one run's tasks."""

    tasks: int
    ideal: float
    polls_per_task: float
    notice_median: float
    notice_p90: float
    unnoticed: int
    requests: int  # API requests (creates, polls, ...), not output downloads
    rate_limited: int
    window: float  # first create to last final poll, seconds

    @property
    def per_1000_429(self) -> float:
        return 1000.0 * self.rate_limited / self.requests if self.requests else 0.0

    def share_of(self, rate: float) -> float:
        """Accepted requests per second over the window, as a share of ``rate``."""
        accepted = self.requests - self.rate_limited
        return accepted / self.window / rate if self.window > 0 else 0.0


def task_figures(record: dict[str, Any], concurrency: int) -> TaskFigures:
    tasks = sorted(record["tasks"], key=lambda t: t["created"])
    if not tasks:
        raise ValueError("the sandbox made no task")
    durations = [float(t["duration"]) for t in tasks]
    seen = [t for t in tasks if t["first_final_poll"] is not None]
    delays = [t["first_final_poll"] - t["completed"] for t in seen]
    counters = record["counters"]
    last = max((t["first_final_poll"] for t in seen), default=tasks[-1]["created"])
    return TaskFigures(
        tasks=len(tasks),
        ideal=ideal_span(durations, concurrency),
        polls_per_task=sum(t["polls"] for t in tasks) / len(tasks),
        notice_median=statistics.median(delays) if delays else float("nan"),
        notice_p90=_quantile(delays, 0.9),
        unnoticed=len(tasks) - len(seen),
        requests=int(counters["requests"]) - int(counters.get("file_requests", 0)),
        rate_limited=int(counters["rate_limited"]),
        window=last - tasks[0]["created"],
    )


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass(frozen=True)
class Timeline:
    """Where a run's span goes beyond the ideal (seconds, medians over tasks).

    ``startup``: process start to the first create. ``refill``: for each task
    after the first ``concurrency``, the time from the moment the runner saw a
    slot free (the matching first final poll, in order) to its create.
    ``winddown``: the last final poll to the process's exit. ``in_run``: the first
    create to the last final poll (compare with the ideal span). ``with_notice``:
    the ideal replayed with each task's own notice delay added to its duration,
    which is how much of ``in_run`` late noticing explains.
    """

    startup: float
    refill_median: float
    winddown: float
    in_run: float  # first create to last final poll
    with_notice: float


def timeline(
    record: dict[str, Any], concurrency: int, started_unix: float, wall: float
) -> Timeline:
    origin = float(record["started_unix"])
    tasks = sorted(record["tasks"], key=lambda t: t["created"])
    seen = sorted(t["first_final_poll"] for t in tasks if t["first_final_poll"] is not None)
    refills = [
        task["created"] - freed for task, freed in zip(tasks[concurrency:], seen, strict=False)
    ]
    last = seen[-1] if seen else tasks[-1]["created"]
    return Timeline(
        startup=origin + tasks[0]["created"] - started_unix,
        refill_median=statistics.median(refills) if refills else float("nan"),
        winddown=started_unix + wall - (origin + last),
        in_run=last - tasks[0]["created"],
        with_notice=ideal_span([_noticed(t) for t in tasks], concurrency),
    )


def _noticed(task: dict[str, Any]) -> float:
    """A task's duration plus the delay until a poll saw it final (if one did)."""
    seen = task["first_final_poll"]
    late = seen - task["completed"] if seen is not None else 0.0
    return float(task["duration"]) + max(0.0, late)
