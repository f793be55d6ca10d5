"""One request budget for a whole run: a token bucket plus a shared pause.

Every request to the API (creates, polls, URL refreshes) takes a token first, so
``rate`` bounds them together, as the provider counts status polls against the
same per-key limit as creates (api/README.md, "Rate limits"). A 429 carries a
Retry-After; it pauses *every* request until it passes, not only the one that
got it, and lowers the pace a little so that a rate set above the account's
limit settles just under it instead of hitting it again and again.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable

import anyio

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

_FLOOR = 0.1  # never slow below this fraction of the configured rate
_WINDOW = 1.5  # seconds of accepted requests that estimate the server's limit
_UNDER = 0.95  # after a 429, pace at this fraction of that estimate
_BLIND = 0.7  # or, without a full window yet, cut the pace by this factor
_HALF = 0.5  # never more than this cut at once
_CALM = 0.5  # seconds: 429s come in bunches; slow down once per bunch
_RECENT = 5.0  # seconds: a 429 this soon after the last one measures the limit
_RECOVERY = 0.0005  # fraction of the configured rate regained per accepted request


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
    ) -> None:
        self._configured = rate if rate and rate > 0 else None
        self._rate = self._configured
        self._clock = clock
        self._sleep = sleep
        self._last = float("-inf")  # when the last token was taken
        self._gate = anyio.Lock()
        self._paused_until = 0.0
        self._slowed_at = float("-inf")
        self._accepted: deque[float] = deque()
        self._started: float | None = None  # the first request (the clock needs a loop)
        self.acquired = 0
        self.pauses = 0

    @property
    def rate(self) -> float | None:
        """The current pace, lowered after 429s and slowly regained."""
        return self._rate

    async def acquire(self) -> None:
        """Wait for a token, and for any pause to pass.

        Callers queue at one gate, and the one at its head works out its wait
        from the pace *now*: a slow-down or a pause applies to every request not
        yet sent, not only to those that come after it.
        """
        if self._started is None:
            self._started = self._clock()
        now = self._clock()
        interval = 0.0 if self._rate is None else 1.0 / self._rate
        if not self._gate.locked() and max(self._paused_until, self._last + interval) <= now:
            self._last = max(self._last + interval, now - interval)  # no one waits: go
            self.acquired += 1
            return
        async with self._gate:
            while True:
                now = self._clock()
                interval = 0.0 if self._rate is None else 1.0 / self._rate
                ready = max(self._paused_until, self._last + interval)
                if ready <= now:
                    break
                await self._sleep(ready - now)
            # A late wake-up may be made up once, never more (no bursts).
            self._last = max(self._last + interval, now - interval)
        self.acquired += 1

    def pause(self, seconds: float) -> None:
        """Hold every request for ``seconds`` (a Retry-After), and slow down."""
        until = self._clock() + max(0.0, seconds)
        if until > self._paused_until:
            self._paused_until = until
            self.pauses += 1
        now = self._clock()
        if self._rate is None or self._configured is None or now - self._slowed_at < _CALM:
            return
        self._rate = max(self._configured * _FLOOR, self._slower(now))
        self._slowed_at = now

    def _slower(self, now: float) -> float:
        """The pace after a 429: just under the rate the server accepted lately.

        Since the previous 429 (when recent) the server's burst allowance was
        spent, so what it accepted since is its refill rate: its real limit.
        """
        assert self._rate is not None
        since = now - self._slowed_at
        if since <= _RECENT:
            accepted = sum(1 for t in self._accepted if t > self._slowed_at) / since
            return max(min(self._rate, accepted) * _UNDER, self._rate * _HALF)
        if self._started is not None and now - self._started >= _WINDOW:
            # Only our own demand, maybe: never cut more than blindly.
            self._forget_before(now - _WINDOW)
            accepted = len(self._accepted) / _WINDOW
            return max(min(self._rate, accepted) * _UNDER, self._rate * _BLIND)
        return self._rate * _BLIND

    def succeeded(self) -> None:
        """A request got through: count it, and regain a little of the configured pace."""
        if self._rate is None or self._configured is None:
            return
        now = self._clock()
        self._accepted.append(now)
        if len(self._accepted) > 2 * _RECENT * self._configured:
            self._forget_before(now - _RECENT)
        self._rate = min(self._configured, self._rate + self._configured * _RECOVERY)

    def _forget_before(self, moment: float) -> None:
        while self._accepted and self._accepted[0] < moment:
            self._accepted.popleft()
