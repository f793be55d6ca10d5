"""Reporters: how a run's events are shown. The engine only emits ``Event`` values
(``runner.run.events``), to any ``Reporter``.

``BarReporter`` draws a tqdm bar on a terminal (stderr) with one line per
finished job; ``LogReporter`` writes plain lines (no control codes) elsewhere;
``JsonReporter`` writes one JSON object per event on stdout (logs still go to
stderr).
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from runner.run.events import Event

FINAL = frozenset({"completed", "failed", "timed_out", "uncertain"})
QUIET = frozenset({"progress", "submitted", "processing", "summary"})


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
