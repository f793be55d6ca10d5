"""How fast a run sends: the configured rate, lowered only when the server says so.

A 429 alone says little. A gateway in front of many upstream providers answers a
few percent of requests 429 while the key is well under its limit; slowing down
for each of them (as vidbatch once did) took a run from 2 requests/s to 0.3 and
kept it there. So the pace is cut only when the answers say it is too high:

- several 429s among the latest answers (``SEVERAL`` of the last ``LOOK``,
  a share random noise of a few percent almost never reaches), or
- the rate-limit headers: ``X-RateLimit-Remaining: 0`` on a 429, or a
  ``Remaining`` / ``Reset`` budget below the pace, which caps it until the reset
  (api/README.md, "Rate limits").

A cut paces just under what the server accepted lately (its refill rate, once
its burst allowance is spent) and remembers that as the server's limit. The pace
then climbs back additively, per second of clean answers: fast (a tenth of the
configured rate per second) while far below that limit, slowly near it, so that
probing past a real limit costs about one 429 in a hundred requests; the longer
the pace holds past the limit without a 429, the faster it climbs, so that a limit
found too low (from noise, or a limit since raised) is outgrown in about a
minute. Near the limit, an isolated 429 steps the pace back a little (the fast
climb soon makes it up) and, below it, lowers it, by at most ``SLACK`` in all, so
that noise cannot wear it down; with no limit found, an isolated 429 only delays the
request that got it (``ratelimit.RateLimiter.pause``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping

LOOK = 30  # latest answers (accepted or 429) that say whether the pace is too high
SEVERAL = 8  # 429s among them that do: random 6% of answers gets there for 1 in 900 429s
FLOOR = 0.02  # never slower than this share of the configured rate
UNDER = 0.95  # after a cut, pace at this share of the server's measured limit
HALF = 0.25  # never cut to less than this share of the pace at once
BLIND = 0.7  # a cut without any history to measure the limit from
RECENT = 5.0  # seconds: a cut this soon after the last measures from it
CALM = 1.0  # seconds after a cut when 429s are of requests sent before it
FAST = 0.1  # share of the configured rate regained per clean second, far from the limit
PROBE = 0.005  # share of the found limit regained per clean second, near it
NEAR = 0.95  # "near the limit": at or above this share of it
SLACK = 0.85  # 429s below the limit found lower it at most to this share of it
BOLDER = 20.0  # seconds without a 429 past the limit that double the climb near it
EPOCH = 1e9  # a Reset above this is a Unix time, not seconds from now


class Pace:
    """The pace of one run, in requests per second; ``configured`` is its ceiling."""

    def __init__(self, configured: float, now: float) -> None:
        self.configured = configured
        self._rate = configured
        self._limit: float | None = None  # the server's limit as found (and drifted)
        self._found = 0.0  # the limit as the last cut measured it
        self._answers: deque[tuple[float, bool]] = deque(maxlen=LOOK)  # (when, a 429?)
        self._accepted: deque[float] = deque()
        self._started = now
        self._cut_at = -math.inf
        self._probed_at = now  # the last cut, or 429 past the limit found
        self._clean_since: float | None = None  # the last accepted answer, none 429 since
        self._cap: tuple[float, float] | None = None  # (rate, until) from the headers

    def rate(self, now: float) -> float:
        """The pace now: lowered after cuts, capped by a header budget until its reset."""
        if self._cap is not None and now >= self._cap[1]:
            self._cap = None
        return self._rate if self._cap is None else min(self._rate, self._cap[0])

    @property
    def limit(self) -> float | None:
        """The server's limit as last found, None while no 429 said there is one."""
        return self._limit

    def accepted(self, now: float, budget: tuple[int, float] | None) -> None:
        """An answer the server accepted, with its rate-limit budget if it sent one."""
        self._answers.append((now, False))
        self._accepted.append(now)
        if len(self._accepted) > 4 * LOOK and self._accepted[0] < now - RECENT:
            self._forget_before(now - RECENT)
        if budget is not None:
            remaining, reset = budget
            self._cap = (max(remaining / reset, self.configured * FLOOR), now + reset)
        if self._clean_since is not None:
            self._climb(now, min(1.0, now - self._clean_since))
        self._clean_since = now

    def rejected(self, now: float, spent: bool) -> bool:
        """A 429 (``spent``: its headers say no request is left); True when it says
        the pace is too high, so that every request should wait out its Retry-After."""
        self._answers.append((now, True))
        self._clean_since = None
        if spent or sum(rejected for _, rejected in self._answers) >= SEVERAL:
            if now - self._cut_at > CALM:  # once for the requests sent before a cut
                self._cut(now)
            return True
        if self._limit is not None and now - self._cut_at > CALM:
            # Near a limit found: step back a little (the climb soon makes it up).
            before = self._rate
            self._rate = max(self.configured * FLOOR, before * UNDER)
            if before >= self._limit:
                self._probed_at = now  # probing past it failed: climb slowly again
            else:  # the cut measured it a little high, or this is noise: not far
                self._limit = max(self._found * SLACK, before)
        return False

    def _cut(self, now: float) -> None:
        before = self._rate
        under = min(before, self._measured(now)) * UNDER
        self._rate = max(self.configured * FLOOR, under, before * HALF)
        self._limit = self._found = self._rate / UNDER
        self._cut_at = now
        self._probed_at = now
        self._answers.clear()  # the next cut needs 429s at the new pace

    def _measured(self, now: float) -> float:
        """What the server accepted lately, in requests per second.

        Since a recent cut the server's burst allowance was spent, so what it
        accepted since is its refill rate: its real limit."""
        since = now - self._cut_at
        if since <= RECENT:
            return sum(1 for t in self._accepted if t > self._cut_at) / since
        # Else since the first of these 429s: the burst allowance was spent by then.
        first = next(t for t, rejected in self._answers if rejected)
        accepted = sum(1 for t, rejected in self._answers if t > first and not rejected)
        if now - first <= 0 or accepted == 0:
            return self._rate * BLIND
        return accepted / (now - first)

    def _climb(self, now: float, seconds: float) -> None:
        limit = self._limit
        if limit is None:
            self._rate = min(self.configured, self._rate + self.configured * FAST * seconds)
            return
        if self._rate < NEAR * limit:
            self._rate = min(NEAR * limit, self._rate + self.configured * FAST * seconds)
        else:  # the longer it holds without a 429, the likelier the limit is higher
            self._rate += limit * PROBE * (1 + (now - self._probed_at) / BOLDER) * seconds
        self._rate = min(self.configured, self._rate)
        if self._rate > limit:
            self._limit = self._rate  # clean answers past it: the limit is higher
        if self._rate >= self.configured:
            self._limit = None

    def _forget_before(self, moment: float) -> None:
        while self._accepted and self._accepted[0] < moment:
            self._accepted.popleft()


def budget(headers: Mapping[str, str] | None, unix_now: float) -> tuple[int, float] | None:
    """``(remaining, seconds to reset)`` from X-RateLimit headers, when both are usable.

    Reset is seconds from now, or a Unix time (as some providers send it)."""
    if not headers:
        return None
    remaining = _number(headers.get("x-ratelimit-remaining"))
    reset = _number(headers.get("x-ratelimit-reset"))
    if remaining is None or reset is None:
        return None
    if reset > EPOCH:
        reset -= unix_now
    if not 0 < reset <= 3600 or remaining < 0:
        return None
    return int(remaining), reset


def _number(text: str | None) -> float | None:
    if text is None or len(text) > 32:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None
