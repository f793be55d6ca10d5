"""When to poll a task next.

The provider recommends polling every few seconds with exponential backoff and a
maximum (api/README.md, "Task status"). Without progress the delay grows from
``poll.initial`` by half each time up to ``poll.max``, with ±10% jitter so that
tasks submitted together do not poll in lockstep.

When the API reports ``progress``, its rate predicts when the task will end and
the next poll is aimed just after that moment, so a task is seen done soon after
it ends, in few polls. A task may sit queued (no progress) before it runs, so one
reading is a rough guess: the run is taken to have started halfway between the
last poll without progress and this one, and the poll is aimed a little short,
to get a second reading close to the end. With two readings the slope between
them gives the end precisely.

A poll while the task is still queued tells nothing but "not yet". So a run
learns, from each task's progress slope, how long its tasks queued before they
began (``Starts``), and once it has seen a few it polls a new task first where
most of them had begun (never before ``poll.initial``, never past ``poll.max``).
The first reading then comes in the first poll, and the end in about three.

The first poll and the hop for a second reading are speculative: when the run's
request budget is short they yield to creates and to polls aimed at a predicted
end (``ratelimit.speculative``), for at most as long as their own delay, so
that a finished task is still seen within about one poll interval.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

from runner.api import ratelimit

GROWTH = 1.5
SHORT = 0.8  # with one reading, aim this far towards the predicted end
PAST = 1.02  # with two, this far past it (progress is rounded down)
MIN_DELAY = 0.05  # seconds
LEARN_FROM = 8  # tasks whose start was measured before the first poll moves
REMEMBER = 64  # the latest starts measured
QUANTILE = 0.9  # the first poll: when this share of tasks had begun


@dataclass
class Starts:
    """How long the run's tasks queued before they began: seconds after the create."""

    _seen: deque[float] = field(default_factory=lambda: deque(maxlen=REMEMBER))

    def add(self, seconds: float) -> None:
        self._seen.append(max(0.0, seconds))

    def first_poll(self, initial: float, maximum: float) -> float:
        """The delay before a new task's first poll."""
        if len(self._seen) < LEARN_FROM:
            return initial
        seen = sorted(self._seen)
        begun = seen[int(QUANTILE * (len(seen) - 1))]
        return min(maximum, max(initial, begun))


@dataclass
class PollPlan:
    """Delays between polls of one task; ``submitted`` is the monotonic time of the create."""

    initial: float
    maximum: float
    submitted: float
    starts: Starts | None = None  # where to learn and take the first poll's time
    _delay: float = 0.0
    _quiet_since: float = field(default=0.0)  # last poll that saw no progress
    _readings: list[tuple[float, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._quiet_since = self.submitted

    def first(self) -> float:
        self._delay = self.initial  # a task still queued then: grow from here
        delay = self.initial
        if self.starts is not None:
            delay = self.starts.first_poll(self.initial, self.maximum)
        ratelimit.speculative(patience=delay)
        return delay

    def next(self, now: float, progress: int | None) -> float:
        """The delay after a poll at ``now`` that reported ``progress``."""
        if progress is None or progress <= 0 or progress >= 100:
            if not self._readings:
                self._quiet_since = now
            return self._grow()
        if self._readings and progress <= self._readings[-1][1]:
            return self._grow()
        self._readings.append((now, progress))
        if len(self._readings) == 2 and self.starts is not None:
            (t0, p0), (t1, p1) = self._readings
            self.starts.add(t0 - (p0 + 0.5) * (t1 - t0) / (p1 - p0) - self.submitted)
        return self._aim(now, progress)

    def _aim(self, now: float, progress: int) -> float:
        if len(self._readings) >= 2:
            (t0, p0), (t1, p1) = self._readings[0], self._readings[-1]
            remaining = (100 - p1 - 0.5) * (t1 - t0) / (p1 - p0)  # p1 is rounded down
            delay = remaining * PAST + MIN_DELAY / 5
            ratelimit.speculative(False)
        else:
            started = (self._quiet_since + now) / 2
            remaining = (now - started) * (100 - progress) / progress
            # One rounded-down reading of a few percent says little: look again
            # soon (at most as long again as the task has run) for a slope.
            delay = min(remaining * SHORT, max(now - self.submitted, self.initial))
        self._delay = min(self.maximum, max(MIN_DELAY, delay)) * random.uniform(1.0, 1.02)
        if len(self._readings) < 2:
            ratelimit.speculative(patience=self._delay)
        return self._delay

    def _grow(self) -> float:
        ratelimit.speculative(False)  # no progress to go by: the task may end any time
        grown = min(self.maximum, max(self._delay, self.initial) * GROWTH)
        self._delay = grown
        return grown * random.uniform(0.9, 1.1)
