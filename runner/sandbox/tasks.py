"""Tasks and their life: pending, processing with rising progress, then final.

Nothing runs in the background: a task's state is computed from the clock when
it is asked for, so the sandbox behaves the same in process and served. The
store also keeps the counts benchmarks need: tasks in flight at the same
instant (O(log n) per create), and tasks whose end no client has seen yet.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any, Literal

Status = Literal["pending", "processing", "completed", "failed"]
FINAL: frozenset[str] = frozenset({"completed", "failed"})


@dataclass(eq=False)
class Task:
    """One task: when it was made, how long it queues and runs, how it ends."""

    id: str
    key: str  # the API key that made it; only that key may see it
    model: str
    operation: str
    created_unix: int
    created: float  # clock seconds
    queued: float  # seconds pending
    duration: float  # seconds from creation to the final status
    error: dict[str, str] | None  # set when the task is to fail
    outputs: int  # 1, or 2 for a multi-video result
    digest: bytes  # decides what the output files show
    aspect_ratio: str | None
    video_seconds: float
    cancelled_at: float | None = None
    polls: int = 0
    first_final_poll: float | None = None

    @property
    def started(self) -> float:
        return self.created + self.queued

    @property
    def ends(self) -> float:
        return self.cancelled_at if self.cancelled_at is not None else self.created + self.duration

    @property
    def outcome(self) -> str:
        """How the task ends (or ended): completed, failed or cancelled."""
        if self.cancelled_at is not None:
            return "cancelled"
        return "failed" if self.error else "completed"

    def status(self, now: float) -> tuple[Status, int]:
        """The status and progress (0-100) at clock time ``now``."""
        if now >= self.ends:
            return ("completed" if self.outcome == "completed" else "failed"), 100
        if now < self.started:
            return "pending", 0
        running = max(self.duration - self.queued, 1e-9)
        return "processing", min(99, max(1, int(100 * (now - self.started) / running)))


class TaskStore:
    """Every task of one sandbox, by id, with in-flight accounting."""

    def __init__(self) -> None:
        self.tasks: dict[str, Task] = {}
        self._ends: list[tuple[float, str]] = []  # heap of end times of tasks in flight
        self._stale = 0  # heap entries of tasks cancelled before their end time
        self.max_in_flight = 0
        self.unobserved = 0  # made, and no answer has shown their final status yet
        self.max_unobserved = 0

    def add(self, task: Task) -> None:
        self.tasks[task.id] = task
        self._expire(task.created)
        heapq.heappush(self._ends, (task.ends, task.id))
        self.max_in_flight = max(self.max_in_flight, len(self._ends) - self._stale)
        self.unobserved += 1
        self.max_unobserved = max(self.max_unobserved, self.unobserved)

    def in_flight(self, now: float) -> int:
        """Tasks made and not final at ``now``."""
        self._expire(now)
        return len(self._ends) - self._stale

    def cancel(self, task: Task, now: float) -> None:
        task.cancelled_at = now
        self._stale += 1
        self.observe_final(task, now)

    def observe_final(self, task: Task, now: float) -> None:
        """A client was just shown that ``task`` is final."""
        if task.first_final_poll is None:
            task.first_final_poll = now
            self.unobserved -= 1

    def _expire(self, now: float) -> None:
        while self._ends and self._ends[0][0] <= now:
            _, task_id = heapq.heappop(self._ends)
            if self.tasks[task_id].cancelled_at is not None:
                self._stale -= 1


def record_of(task: Task, origin: float) -> dict[str, Any]:
    """One task's times as seconds since ``origin`` (the sandbox's start)."""

    def since(value: float | None) -> float | None:
        return None if value is None else round(value - origin, 6)

    return {
        "id": task.id,
        "model": task.model,
        "operation": task.operation,
        "created": since(task.created),
        "started": since(task.started) if task.started < task.ends else None,
        "duration": round(task.duration, 6),
        "completed": since(task.ends),
        "outcome": task.outcome,
        "polls": task.polls,
        "first_final_poll": since(task.first_final_poll),
    }
