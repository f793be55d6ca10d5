"""Injected faults: a token-bucket rate limit and seeded dice for the rest.

One uniform draw per create or poll picks at most one fault from a table of
cumulative shares, so that shares add up as configured and a run with the same
seed and the same order of requests injects the same faults.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from runner.sandbox.config import SandboxConfig

# What a draw can decide, besides "nothing": ("error", status) or one of these.
DROP_BEFORE = "drop_before"
DROP_AFTER = "drop_after"
TIMEOUT_AFTER = "timeout_after"
DROP = "drop"
MALFORMED = "malformed"


@dataclass(frozen=True)
class Fault:
    """One injected fault: ``kind`` is "error" (with ``status``) or a name above."""

    kind: str
    status: int = 0


class TokenBucket:
    """``rate`` requests per second, bursts of ``burst``; ``take`` says how long to wait."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._at = now

    def take(self, now: float) -> float:
        """0 when a token was taken; else the seconds until one is available."""
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self.rate


class Dice:
    """Seeded draws for every fault of ``config``."""

    def __init__(self, config: SandboxConfig) -> None:
        self._random = random.Random(config.seed)
        self._create = _table(
            [(Fault("error", s), p) for s, p in sorted(config.create_errors.items())]
            + [
                (Fault(DROP_BEFORE), config.create_drop_before),
                (Fault(DROP_AFTER), config.create_drop_after),
                (Fault(TIMEOUT_AFTER), config.create_timeout_after),
            ]
        )
        self._poll = _table(
            [(Fault("error", s), p) for s, p in sorted(config.poll_errors.items())]
            + [(Fault(DROP), config.poll_drop), (Fault(MALFORMED), config.poll_malformed)]
        )

    def on_create(self) -> Fault | None:
        return self._pick(self._create)

    def on_poll(self) -> Fault | None:
        return self._pick(self._poll)

    def chance(self, share: float) -> bool:
        """True with probability ``share`` (no draw at all when it is 0)."""
        return share > 0 and self._random.random() < share

    def uniform(self) -> float:
        return self._random.random()

    def _pick(self, table: list[tuple[float, Fault]]) -> Fault | None:
        if not table:
            return None
        draw = self._random.random()
        for bound, fault in table:
            if draw < bound:
                return fault
        return None


def _table(shares: list[tuple[Fault, float]]) -> list[tuple[float, Fault]]:
    table, bound = [], 0.0
    for fault, share in shares:
        if share > 0:
            bound += share
            table.append((bound, fault))
    return table
