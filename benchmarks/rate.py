"""Scenario B: use of a rate limit the sandbox enforces, and 429s met on the way."""

from __future__ import annotations

import figures
import harness
from rows import Figure, Rows
from workload import served, vidbatch_run, write_manifest


def scenario_b(tasks: int, concurrency: int, limit: float, configured: float) -> list[Figure]:
    """``tasks`` jobs against a sandbox allowing ``limit`` requests/s, run with --rate
    ``configured`` (the limit itself, or more than the account allows)."""
    rows = Rows("B", f"vidbatch, --rate {configured:g}")
    with served({"task_seconds": [1, 3], "rate_limit": limit}, "b") as (folder, url):
        manifest = write_manifest(folder, tasks, concurrency, configured)
        run = vidbatch_run(manifest, url, "--no-download")
        tf = figures.task_figures(harness.record(url), concurrency)
    window = f"{tf.requests} requests in {tf.window:.1f} s (first create to last poll)"
    rows.add(
        f"share of R={limit:g} used",
        tf.share_of(limit),
        floor=0.90,
        higher_is_better=True,
        note=window,
    )
    whole = (tf.requests - tf.rate_limited) / run.wall / limit
    rows.add(
        "share of R, whole process",
        whole,
        note=f"wall {run.wall:.1f} s, incl. start-up and the tail",
    )
    rows.add(
        "429s per 1,000 requests",
        tf.per_1000_429,
        floor=1.0,
        reference=20.0,
        note=f"{tf.rate_limited} answered 429",
    )
    rows.add("polls per task", tf.polls_per_task)
    return rows.items
