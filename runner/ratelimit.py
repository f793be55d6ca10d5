"""One request budget for a whole run: a token bucket plus a shared pause.

Every request to the API (creates, polls, URL refreshes) takes a token first, so
``rate`` bounds them together, as the provider counts status polls against the
same per-key limit as creates (api/README.md, "Rate limits"). A 429 carries a
Retry-After; it pauses *every* request until it passes, not only the one that
got it, and lowers the pace a little so that a rate set above the account's
limit settles just under it instead of hitting it again and again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

_FLOOR = 0.1  # never slow below this fraction of the configured rate
_BACK_OFF = 0.8  # pace multiplier on each 429
_RECOVERY = 0.002  # fraction of the configured rate regained per success


class RateLimiter:
    """A token bucket (capacity one) shared by every API request of a run.

    ``rate`` is in requests per second; ``None`` or 0 means unlimited.
    """

    def __init__(
        self,
        rate: float | None,
        *,
        clock: Clock = anyio.current_time,
        sleep: Sleep = anyio.sleep,
    ) -> None:
        self._configured = rate if rate and rate > 0 else None
        self._rate = self._configured
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0  # the earliest time the next token may be taken
        self._paused_until = 0.0
        self.acquired = 0
        self.pauses = 0

    @property
    def rate(self) -> float | None:
        """The current pace, lowered after 429s and slowly regained."""
        return self._rate

    async def acquire(self) -> None:
        """Wait for a token, and for any pause to pass."""
        while True:
            now = self._clock()
            if self._paused_until > now:
                await self._sleep(self._paused_until - now)
                continue
            if self._rate is None:
                break
            slot = max(self._next, now)
            self._next = slot + 1.0 / self._rate
            if slot > now:
                await self._sleep(slot - now)
            if self._paused_until <= self._clock():
                break
        self.acquired += 1

    def pause(self, seconds: float) -> None:
        """Hold every request for ``seconds`` (a Retry-After), and slow down."""
        until = self._clock() + max(0.0, seconds)
        if until > self._paused_until:
            self._paused_until = until
            self.pauses += 1
        self._next = max(self._next, self._paused_until)
        if self._rate is not None and self._configured is not None:
            self._rate = max(self._configured * _FLOOR, self._rate * _BACK_OFF)

    def succeeded(self) -> None:
        """A request got through: regain a little of the configured pace."""
        if self._rate is not None and self._configured is not None:
            self._rate = min(self._configured, self._rate + self._configured * _RECOVERY)
