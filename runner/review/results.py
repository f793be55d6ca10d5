"""A lockfile read for showing: the jobs of one manifest, their status and timings.

The report, the JUnit file and the step summary all render the same views; this
module knows how to read one and leaves how it looks to them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from runner.catalog import costs
from runner.lock import lockfile as lockfile_io

STATUSES: tuple[str, ...] = (
    "completed",
    "failed",
    "timed_out",
    "uncertain",
    "processing",
    "pending",
    "not_run",
)
"""Every status a job can show, in the order reports list them.

``not_run`` is not a lockfile status: it marks a selected job the lockfile has no
entry for yet.
"""

FAILURES = frozenset({"failed", "timed_out", "uncertain"})
IN_FLIGHT = frozenset({"pending", "processing"})

_REASONS = {
    "failed": "the task failed",
    "timed_out": "no final status before the timeout",
    "uncertain": (
        "the submission was sent but no answer came back; it is not sent again "
        "unless the run is given --resubmit-uncertain"
    ),
    "not_run": "not run: no entry in the lockfile",
}


@dataclass(frozen=True)
class LockView:
    """One manifest's lockfile as read, and which job keys to show.

    ``selected`` is None to show every job of the lockfile; otherwise exactly these
    keys, those without an entry showing as ``not_run``.
    """

    manifest: str
    lockfile: Path
    data: dict[str, Any]
    selected: frozenset[str] | None
    held: Mapping[str, str] = field(default_factory=dict)  # kept back by a budget: why

    @property
    def folder(self) -> Path:
        """The lockfile's folder, which output paths are relative to."""
        return self.lockfile.parent

    def rows(self) -> Iterator[JobRow]:
        """The jobs to show, sorted by key."""
        jobs: Mapping[str, Any] = self.data.get("jobs") or {}
        keys = set(jobs) if self.selected is None else self.selected
        for key in sorted(keys):
            entry = jobs.get(key)
            entry = entry if isinstance(entry, dict) else None
            yield JobRow(key=key, entry=entry, held=self.held.get(key))


@dataclass(frozen=True)
class JobRow:
    """One job key and its lockfile entry (None when it has not run)."""

    key: str
    entry: dict[str, Any] | None
    held: str | None = None  # why this run's budget did not send it

    @property
    def status(self) -> str:
        return "not_run" if self.entry is None else str(self.entry.get("status", "pending"))

    @property
    def request(self) -> dict[str, Any]:
        request = (self.entry or {}).get("request")
        return request if isinstance(request, dict) else {}

    @property
    def outputs(self) -> list[dict[str, Any]]:
        outputs = (self.entry or {}).get("outputs") or []
        return [o for o in outputs if isinstance(o, dict)]

    @property
    def error(self) -> dict[str, Any] | None:
        error = (self.entry or {}).get("error")
        return error if isinstance(error, dict) else None

    @property
    def seed(self) -> int | None:
        seed = (self.entry or {}).get("seed", self.request.get("seed"))
        return seed if isinstance(seed, int) else None

    @property
    def reason(self) -> str:
        """Why the job is not completed: the API's message, else what its status means."""
        if self.entry is None and self.held:
            return f"not run: {self.held}"
        error = self.error or {}
        if error.get("message"):
            return str(error["message"])
        if self.status in IN_FLIGHT:
            task = (self.entry or {}).get("task_id")
            return f"still {self.status}" + (f" (task {task})" if task else "")
        return _REASONS.get(self.status, "")

    @property
    def estimate(self) -> costs.Estimate | None:
        """The estimate the job's last create was sent under (None: not recorded)."""
        return costs.from_json((self.entry or {}).get("estimate"))

    @property
    def time_taken(self) -> float | None:
        """Seconds from submission to a final status; None until both are known."""
        entry = self.entry or {}
        return time_taken(entry.get("submitted_at"), entry.get("finished_at"))


def load_view(
    manifest_display: str,
    lockfile: Path,
    selected: frozenset[str] | None = None,
    held: Mapping[str, str] | None = None,
) -> LockView:
    """Read ``lockfile`` (journal replayed) into a view of ``manifest_display``'s jobs;
    ``held``: the jobs a budget kept back, with why."""
    data = lockfile_io.read(lockfile)
    return LockView(manifest_display, lockfile, data, selected, dict(held or {}))


def status_counts(views: Sequence[LockView]) -> dict[str, int]:
    """Jobs per status over ``views``, every status of STATUSES present (zero or more)."""
    counts = dict.fromkeys(STATUSES, 0)
    for view in views:
        for row in view.rows():
            counts[row.status] = counts.get(row.status, 0) + 1
    return counts


def cost_total(views: Sequence[LockView]) -> costs.Total:
    """The recorded estimates of the jobs shown, added up (jobs without one: unpriced)."""
    total = costs.Total()
    for view in views:
        for row in view.rows():
            if row.entry is not None:
                total.add(row.estimate or costs.unknown("not recorded"))
    return total


def has_estimates(views: Sequence[LockView]) -> bool:
    """Whether any job shown recorded an estimate (lockfiles before estimates have none)."""
    return any(row.estimate is not None for view in views for row in view.rows())


def cost_cell(row: JobRow) -> str:
    """A job's estimate for a table: ``$0.20-$0.75``, ``unpriced``, or "" when not run."""
    if row.entry is None:
        return ""
    found = row.estimate
    if found is None or found.low is None or found.high is None:
        return "unpriced"
    return costs.money_range(found.low, found.high)


def time_taken(submitted_at: object, finished_at: object) -> float | None:
    """Seconds between two lockfile timestamps (UTC ISO 8601), None if either is missing."""
    start, end = _parse(submitted_at), _parse(finished_at)
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def output_file(view: LockView, output: Mapping[str, Any]) -> Path | None:
    """Where an output was downloaded to, or None when it has not been."""
    path = output.get("path")
    return view.folder / path if isinstance(path, str) and path else None


def format_seconds(seconds: float) -> str:
    """``75.2`` as ``1m 15s``; under a minute with one decimal."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s"


_STAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z")


def _parse(stamp: object) -> datetime | None:
    # fromisoformat before 3.11 takes neither "Z" nor every fraction length
    match = _STAMP.fullmatch(stamp) if isinstance(stamp, str) else None
    if match is None:
        return None
    try:
        whole = datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None
    fraction = float(match.group(2) or 0)
    return whole.replace(tzinfo=timezone.utc) + timedelta(seconds=fraction)
