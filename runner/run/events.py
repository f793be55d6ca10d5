"""What a run says as it goes: ``Event`` values, emitted to a ``Reporter``.

The engine and one job's work emit events; the reporters that show them live in
``runner.review.progress``. ``NullReporter`` keeps the events, for tests and for
runs that show nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from runner.base.apitext import printable


@dataclass(frozen=True)
class Event:
    """One thing that happened: ``kind`` (submitted, progress, completed, failed,
    timed_out, uncertain, downloaded, warning, summary) about ``job`` of ``manifest``."""

    kind: str
    manifest: str = ""
    job: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"event": self.kind}
        if self.manifest:
            body["manifest"] = self.manifest
        if self.job:
            body["job"] = self.job
        body.update(self.data)
        return body

    def line(self) -> str:
        """The plain-text line for this event, with no control characters (API text in
        a message may carry escape sequences meant for the terminal)."""
        details = " ".join(f"{k}={_plain(v)}" for k, v in sorted(self.data.items()))
        where = f"{self.manifest}: " if self.manifest else ""
        return f"{self.kind:<10} {where}{self.job} {details}".rstrip()


class Reporter(Protocol):
    def start(self, total: int) -> None: ...

    def emit(self, event: Event) -> None: ...

    def close(self) -> None: ...


class NullReporter:
    """Keeps every event in ``events``."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def start(self, total: int) -> None:
        pass

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def close(self) -> None:
        pass

    def kinds(self, job: str) -> list[str]:
        return [e.kind for e in self.events if e.job == job]


def _plain(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)  # escapes every control character
    return printable(str(value))
