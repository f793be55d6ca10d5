"""What a sandbox counts, for tests and for benchmarks in another process."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Counters:
    """Counts of requests and injected faults since the sandbox started.

    ``creates`` counts every create request received (valid or not, faulted or
    not); ``tasks_made`` the tasks that exist. ``statuses`` counts answers by HTTP
    status, plus ``"dropped"`` for connections closed without an answer.
    """

    requests: int = 0  # every request except /_sandbox/*
    creates: int = 0
    tasks_made: int = 0
    polls: int = 0
    cancels: int = 0
    model_requests: int = 0
    file_requests: int = 0
    file_requests_with_authorization: int = 0
    files_rendered: int = 0
    rate_limited: int = 0
    injected_errors: int = 0
    malformed: int = 0
    drops: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            name: value for name, value in vars(self).items() if isinstance(value, int)
        }
        data["drops"] = dict(sorted(self.drops.items()))
        data["statuses"] = dict(sorted(self.statuses.items()))
        return data
