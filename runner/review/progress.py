"""Reporters: how a run's events are shown. The engine only emits ``Event`` values.

``BarReporter`` draws a tqdm bar on a terminal (stderr) with one line per
finished job; ``LogReporter`` writes plain lines (no control codes) elsewhere;
``JsonReporter`` writes one JSON object per event on stdout (logs still go to
stderr); ``NullReporter`` keeps the events, for tests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

from runner.base.apitext import printable

FINAL = frozenset({"completed", "failed", "timed_out", "uncertain"})
QUIET = frozenset({"progress", "submitted", "processing", "summary"})


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


class LogReporter:
    """Plain lines on ``stream``: finished jobs, downloads and warnings."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def start(self, total: int) -> None:
        pass

    def emit(self, event: Event) -> None:
        if event.kind not in QUIET:
            self._stream.write(event.line() + "\n")
            self._stream.flush()

    def close(self) -> None:
        pass


class JsonReporter:
    """NDJSON events on ``stdout``; warnings also as plain lines on ``log``."""

    def __init__(self, stdout: TextIO, log: TextIO) -> None:
        self._stdout = stdout
        self._log = log

    def start(self, total: int) -> None:
        pass

    def emit(self, event: Event) -> None:
        self._stdout.write(json.dumps(event.as_json(), sort_keys=True) + "\n")
        self._stdout.flush()
        if event.kind == "warning":
            self._log.write(event.line() + "\n")

    def close(self) -> None:
        pass


class BarReporter:
    """A tqdm bar for the whole run on a terminal: done / failed / in flight / queued."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._bar: Any = None
        self._done = self._failed = self._in_flight = self._total = 0

    def start(self, total: int) -> None:
        self._total = total
        from tqdm import tqdm  # only on a terminal: not worth its import time elsewhere

        self._bar = tqdm(total=total, file=self._stream, unit="job", dynamic_ncols=True)

    def emit(self, event: Event) -> None:
        if event.kind == "submitted" or event.kind == "resumed":
            self._in_flight += 1
        elif event.kind in FINAL:
            self._in_flight = max(0, self._in_flight - 1)
            if event.kind == "completed":
                self._done += 1
            else:
                self._failed += 1
            if self._bar is not None:
                self._bar.update(1)
        if event.kind not in QUIET and event.kind != "resumed":
            self._write(event.line())
        self._refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def _write(self, line: str) -> None:
        if self._bar is None:
            self._stream.write(line + "\n")
        else:
            self._bar.write(line, file=self._stream)

    def _refresh(self) -> None:
        if self._bar is None:
            return
        queued = max(0, self._total - self._done - self._failed - self._in_flight)
        self._bar.set_postfix_str(
            f"done {self._done} failed {self._failed} in flight {self._in_flight} queued {queued}",
            refresh=True,
        )


def _plain(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)  # escapes every control character
    return printable(str(value))
