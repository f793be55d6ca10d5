"""Scenario A: span against the ideal, polls, notice delay, CPU and memory.

vidbatch without and with downloads, and the naive baseline, each against a
fresh sandbox whose tasks take 1-3 s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import figures
import harness
from rows import Figure, Rows
from workload import served, vidbatch_run, write_manifest

SETTINGS: dict[str, Any] = {"task_seconds": [1, 3], "video_max_seconds": 0.5}
RATE = 1000  # requests per second: high enough not to bind
# Issue 11's floors, which tighten issue 5's span (1.10) and polls (4) and replace its
# 3 ms of CPU per job: 8 ms for these 240 jobs with start-up included (without
# downloads; the run with downloads is shown beside it, unbounded).
SPAN_FLOOR = 1.08
POLLS_FLOOR = 3.5
CPU_FLOOR_MS = 8.0


def scenario_a(tasks: int, concurrency: int) -> list[Figure]:
    return (
        _vidbatch(tasks, concurrency) + _downloads(tasks, concurrency) + _naive(tasks, concurrency)
    )


def _vidbatch(tasks: int, concurrency: int) -> list[Figure]:
    rows = Rows("A", "vidbatch")
    with served(SETTINGS, "a") as (folder, url):
        manifest = write_manifest(folder, tasks, concurrency, RATE)
        run = vidbatch_run(manifest, url, "--no-download")
        record = harness.record(url)
        span_rows(rows, run, figures.task_figures(record, concurrency), cpu_floor_ms=CPU_FLOOR_MS)
        timeline_rows(rows, run, record, concurrency)
        again = vidbatch_run(manifest, url, "--no-download")
    rows.add("fixed CPU (rerun, nothing to do)", again.cpu, "s", note=f"wall {again.wall:.2f} s")
    marginal = 1000 * (run.cpu - again.cpu) / tasks
    rows.add("marginal CPU per job (run - rerun)", marginal, "ms")
    return rows.items


def _downloads(tasks: int, concurrency: int) -> list[Figure]:
    rows = Rows("A", "vidbatch, downloads")
    with served(SETTINGS, "a-dl") as (folder, url):
        run = vidbatch_run(write_manifest(folder, tasks, concurrency, RATE), url)
        span_rows(rows, run, figures.task_figures(harness.record(url), concurrency))
    return rows.items


def _naive(tasks: int, concurrency: int) -> list[Figure]:
    rows = Rows("A", "naive (5 s poll)")
    with served(SETTINGS, "naive") as (folder, url):
        script = str(Path(__file__).with_name("naive.py"))
        argv = [harness.PYTHON, script, url, "--tasks", str(tasks)]
        argv += ["--concurrency", str(concurrency)]
        run = harness.measure(argv, cwd=folder, env=harness.api_env())
        if run.code != 0:
            raise RuntimeError(f"naive baseline exited {run.code}:\n{run.stderr[-3000:]}")
        span_rows(rows, run, figures.task_figures(harness.record(url), concurrency))
    return rows.items


def span_rows(
    rows: Rows, run: harness.Measured, tf: figures.TaskFigures, cpu_floor_ms: float | None = None
) -> None:
    """Span, polls, notice delay, CPU and memory of one run; CPU held to ``cpu_floor_ms``."""
    rows.add(
        "span (whole process)",
        run.wall,
        "s",
        floor=SPAN_FLOOR,
        reference=tf.ideal,
        note=f"ideal {tf.ideal:.2f} s",
        per="ideal",
    )
    rows.add("polls per task", tf.polls_per_task, floor=1.0, reference=POLLS_FLOOR)
    rows.add(
        "notice delay, median",
        tf.notice_median,
        "s",
        note=f"p90 {tf.notice_p90:.3f} s; {tf.unnoticed} never seen final",
    )
    rows.add(
        "CPU per job",
        1000 * run.cpu / tf.tasks,
        "ms",
        floor=1.0 if cpu_floor_ms is not None else None,
        reference=cpu_floor_ms or 1.0,
        note=f"{run.cpu:.2f} s in all, {run.sys_cpu:.2f} s of it in the kernel",
    )
    rows.add(
        "CPU per API request",
        1000 * run.cpu / max(1, tf.requests),
        "ms",
        note=f"{tf.requests} requests",
    )
    rows.add("peak RSS", run.peak_mb, "MB")


def timeline_rows(
    rows: Rows, run: harness.Measured, record: dict[str, Any], concurrency: int
) -> None:
    """Where the span beyond the ideal goes: start-up, slot refills, wind-down."""
    tl = figures.timeline(record, concurrency, run.started_unix, run.wall)
    ideal = figures.task_figures(record, concurrency).ideal
    rows.add("start-up: process start to first create", tl.startup, "s")
    rows.add("refill: slot seen free to next create, median", tl.refill_median, "s")
    rows.add("wind-down: last final poll to exit", tl.winddown, "s")
    rows.add(
        "in-run: first create to last final poll",
        tl.in_run,
        "s",
        reference=ideal,
        note="ratio: against the ideal span",
    )
    rows.add(
        "ideal replayed with each task's notice delay",
        tl.with_notice,
        "s",
        reference=ideal,
        note="the part of in-run that late noticing explains",
    )
