"""One request budget for a whole run: a token bucket, a queue, and shared pauses.

Every request to the API (creates, polls, URL refreshes) takes a token first, so
``rate`` bounds them together, as the provider counts status polls against the
same per-key limit as creates (api/README.md, "Rate limits"). How fast tokens
come is ``runner.api.pace``: the configured rate, lowered only when 429s or the
rate-limit headers say the server's limit is below it.

A 429's Retry-After is always honoured by the request that got it: its retry
takes no token before then. It holds *every* request when the answers say the
pace is too high, or when it is long (a server asking for more than a few
seconds means the key, not the one request); a lone short one, gateway noise,
delays only its own request.

When the budget is short, requests queue, and the queue is ordered by urgency:
creates for free slots and polls of tasks likely to be finished go before
speculative early polls (``speculative()``). Such a poll yields beyond arrival
order for at most its own delay (the time it was put off for), never more than
``PATIENCE`` seconds: a task that finished meanwhile is seen within about one
poll interval, even while the budget binds.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field

import anyio

from runner.api import pace
from runner.api.responses import MAX_RETRY_AFTER

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

PATIENCE = 2.0  # seconds a speculative poll yields to more urgent requests, at most
SHARED_AFTER = 5.0  # seconds: a longer Retry-After holds every request
# Set by the task that will send the request, read by the limiter inside the
# client: the poll schedule knows how likely a poll is to find its task done, the
# budget is taken deep inside ApiClient.poll, and each task has its own context.
_SPECULATIVE: ContextVar[float] = ContextVar("vidbatch_speculative", default=0.0)  # its patience
_HELD: ContextVar[tuple[object, float] | None] = ContextVar("vidbatch_held", default=None)


def speculative(flag: bool = True, patience: float = PATIENCE) -> None:
    """Mark this task's next request as a speculative poll (or not): it yields to others
    for at most ``patience`` seconds (the poll's own delay), never more than PATIENCE."""
    _SPECULATIVE.set(min(PATIENCE, max(0.0, patience)) if flag else 0.0)


@dataclass(order=True)
class _Waiter:
    key: float  # arrival time, plus its patience for a speculative poll
    seq: int
    woken: anyio.Event | None = field(default=None, compare=False)


class RateLimiter:
    """A token bucket (capacity one) shared by every API request of a run.

    ``rate`` is in requests per second; ``None`` or 0 means unlimited.
    """

    def __init__(
        self,
        rate: float | None,
        *,
        clock: Clock = time.monotonic,  # the event loop's clock, without a lookup
        sleep: Sleep = anyio.sleep,
        wall: Clock = time.time,  # for a rate-limit reset given as a Unix time
    ) -> None:
        configured = rate if rate and rate > 0 else None
        self._clock = clock
        self._sleep = sleep
        self._wall = wall
        self._pace = None if configured is None else pace.Pace(configured, clock())
        self._last = float("-inf")  # when the last token was taken
        self._queue: list[_Waiter] = []
        self._seq = itertools.count()
        self._paused_until = 0.0
        self.acquired = 0
        self.pauses = 0  # pauses that held every request

    @property
    def rate(self) -> float | None:
        """The current pace: lowered when the server says so, regained per clean second."""
        return None if self._pace is None else self._pace.rate(self._clock())

    @property
    def limit(self) -> float | None:
        """The server's limit as found from its answers, if any said there is one."""
        return None if self._pace is None else self._pace.limit

    async def acquire(self) -> None:
        """Wait out this task's own Retry-After, then for a token and any shared pause.

        The waiter at the head of the queue works out its wait from the pace
        *now*: a slow-down or a pause applies to every request not yet sent."""
        patience = _SPECULATIVE.get()
        if patience:
            _SPECULATIVE.set(0.0)
        held = _HELD.get()
        if held is not None and held[0] is self:
            _HELD.set(None)
            if held[1] > self._clock():
                await self._sleep(held[1] - self._clock())
        now = self._clock()
        if not self._queue and self._ready(now) <= now:
            self._take(now)
            return
        waiter = _Waiter(now + patience, next(self._seq))
        heapq.heappush(self._queue, waiter)
        try:
            now = await self._wait_turn(waiter)
        except BaseException:
            self._leave(waiter)
            raise
        heapq.heappop(self._queue)
        self._take(now)
        self._wake_head()

    async def _wait_turn(self, waiter: _Waiter) -> float:
        while True:
            if self._queue[0] is not waiter:
                waiter.woken = anyio.Event()
                await waiter.woken.wait()
                continue
            now = self._clock()
            ready = self._ready(now)
            if ready <= now:
                return now
            await self._sleep(ready - now)

    def _interval(self, now: float) -> float:
        return 0.0 if self._pace is None else 1.0 / self._pace.rate(now)

    def _ready(self, now: float) -> float:
        return max(self._paused_until, self._last + self._interval(now))

    def _take(self, now: float) -> None:
        interval = self._interval(now)
        # A late wake-up may be made up once, never more (no bursts).
        self._last = max(self._last + interval, now - interval)
        self.acquired += 1

    def _leave(self, waiter: _Waiter) -> None:
        head = bool(self._queue) and self._queue[0] is waiter
        self._queue.remove(waiter)
        heapq.heapify(self._queue)
        if head:
            self._wake_head()

    def _wake_head(self) -> None:
        if self._queue and self._queue[0].woken is not None:
            self._queue[0].woken.set()

    def pause(self, seconds: float, headers: Mapping[str, str] | None = None) -> None:
        """A 429 asked this task to wait ``seconds`` (its Retry-After, already capped).

        The task's next request waits that long; every request does when the
        pace is too high (then it is also cut) or the wait is long."""
        now = self._clock()
        until = now + max(0.0, seconds)
        held = _HELD.get()
        _HELD.set((self, until if held is None or held[0] is not self else max(held[1], until)))
        budget = pace.budget(headers, self._wall())
        spent = budget is not None and budget[0] == 0
        too_fast = self._pace is not None and self._pace.rejected(now, spent)
        if spent and budget is not None:
            until = max(until, now + min(MAX_RETRY_AFTER, budget[1]))
        if (too_fast or spent or seconds > SHARED_AFTER) and until > self._paused_until:
            self._paused_until = until
            self.pauses += 1

    def succeeded(self, headers: Mapping[str, str] | None = None) -> None:
        """A request got through: count it, and regain pace for the clean time since the last."""
        if self._pace is None:
            return
        now = self._clock()
        budget = pace.budget(headers, self._wall())
        self._pace.accepted(now, budget)
        if budget is not None and budget[0] == 0:  # spent: nothing is accepted until the reset
            until = now + min(MAX_RETRY_AFTER, budget[1])
            if until > self._paused_until:
                self._paused_until = until
                self.pauses += 1
