"""When to poll a task next.

The provider recommends polling every few seconds with exponential backoff and a
maximum (api/README.md, "Task status"). Without progress the delay grows from
``poll.initial`` by half each time up to ``poll.max``, with ±10% jitter so that
tasks submitted together do not poll in lockstep. When the API reports
``progress``, its rate since submission predicts when the task will end, and the
next poll is aimed just after that moment: a task is then seen done soon after
it ends, in few polls.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

GROWTH = 1.5
AIM_AFTER = 1.04  # aim this much past the predicted end, so one poll usually suffices
MIN_AIMED = 0.05  # seconds: never aim closer than this


@dataclass(frozen=True)
class PollSchedule:
    """Delays between polls of one task."""

    initial: float
    maximum: float

    def first(self) -> float:
        return self.initial

    def next(self, previous: float, elapsed: float, progress: int | None) -> float:
        """The delay after a poll ``elapsed`` seconds into the task that reported ``progress``."""
        if progress is not None and 0 < progress < 100 and elapsed > 0:
            total = elapsed * 100.0 / progress
            aimed = max((total - elapsed) * AIM_AFTER + 0.02 * total, MIN_AIMED, 0.02 * total)
            return min(self.maximum, aimed * random.uniform(1.0, 1.05))
        grown = min(self.maximum, max(previous, self.initial) * GROWTH)
        return grown * random.uniform(0.9, 1.1)
