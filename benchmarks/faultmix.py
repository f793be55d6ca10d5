"""Scenario F: the span under a gateway's noise, against the same run without it.

The fault mix of issue 11, what a gateway in front of many upstream providers
does while the key is well under its limit: a random 6% of requests answered 429
(Retry-After 1 s), 6% a 5xx with an error body (500, 502, 503), 2% of polls
dropped without an answer and 2% of polls answered with a garbled body. Drops and
garbled bodies are injected on polls only: on a create, both leave the outcome
unknown (the job is ``uncertain`` and not sent again, by design), which would
measure the safety rule rather than the pace.

Each rate (one that does not bind, and the built-in default) runs twice on fresh
sandboxes, without and with the faults, on the same jobs (durations are drawn
from a digest of each request, so both runs get the same ones).
"""

from __future__ import annotations

from typing import Any

import figures
import harness
from rows import Figure, Rows
from workload import served, vidbatch_run, write_manifest

TIMING: dict[str, Any] = {"task_seconds": [0.5, 2], "seed": 11}
ERRORS = {429: 0.06, 500: 0.02, 502: 0.02, 503: 0.02}
FAULTS: dict[str, Any] = {
    **TIMING,
    "create_errors": ERRORS,
    "poll_errors": ERRORS,
    "poll_drop": 0.02,
    "poll_malformed": 0.02,
}
NOT_BINDING = 100.0
DEFAULT = None  # the built-in default rate (no rate in the manifest)


def scenario_f(tasks: int, concurrency: int) -> list[Figure]:
    return _pair(tasks, concurrency, NOT_BINDING, 1.5) + _pair(tasks, concurrency, DEFAULT, 1.3)


def _pair(tasks: int, concurrency: int, rate: float | None, floor: float) -> list[Figure]:
    label = "default rate" if rate is None else f"--rate {rate:g}"
    rows = Rows("F", f"vidbatch, {label}")
    clean, _, clean_tf = _run("f-clean", TIMING, tasks, concurrency, rate)
    noisy, noisy_record, noisy_tf = _run("f-noisy", FAULTS, tasks, concurrency, rate)
    faults = _faults(noisy_record, noisy_tf.requests)
    rows.add("span without faults", clean.wall, "s", reference=clean_tf.ideal, per="ideal")
    rows.add(
        "span under the fault mix / ideal",
        noisy.wall,
        "s",
        floor=floor if rate is not None else None,
        reference=noisy_tf.ideal,
        note=f"ideal {noisy_tf.ideal:.2f} s; {faults}",
        per="ideal",
    )
    rows.add(
        "span under the fault mix / span without",
        noisy.wall,
        "s",
        floor=floor if rate is None else None,
        reference=clean.wall,
        note=f"without: {clean.wall:.1f} s",
        per="span without faults",
    )
    rows.add(
        "notice delay, median (faults)",
        noisy_tf.notice_median,
        "s",
        note=f"p90 {noisy_tf.notice_p90:.3f} s; without faults {clean_tf.notice_median:.3f} s",
    )
    rows.add("polls per task (faults)", noisy_tf.polls_per_task)
    return rows.items


def _run(
    name: str, settings: dict[str, Any], tasks: int, concurrency: int, rate: float | None
) -> tuple[harness.Measured, dict[str, Any], figures.TaskFigures]:
    with served(settings, name) as (folder, url):
        run = vidbatch_run(write_manifest(folder, tasks, concurrency, rate), url, "--no-download")
        record = harness.record(url)
    return run, record, figures.task_figures(record, concurrency)


def _faults(record: dict[str, Any], requests: int) -> str:
    """What the sandbox injected, from its answers by status."""
    statuses = record["counters"].get("statuses", {})
    errors = sum(n for status, n in statuses.items() if status in ("500", "502", "503"))
    garbled = record["counters"].get("malformed", 0)
    return (
        f"of {requests} requests: {statuses.get('429', 0)} answered 429, {errors} 5xx, "
        f"{statuses.get('dropped', 0)} dropped, {garbled} garbled"
    )
