"""The benchmark scenarios; each returns a list of ``Figure`` rows.

A: span against the ideal, polls, notice delay, CPU and RSS (vidbatch and the
   naive baseline side by side). B: use of a rate limit. C: bytes written to the
   lockfile and journal. D: validate and plan of a 100,000-job manifest.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import figures
import harness
import validate_scale
import writes

MODEL = "kling-v2.6-pro"


@dataclass(frozen=True)
class Figure:
    """One measured value, with its floor: ``ratio`` = value / reference."""

    scenario: str
    runner: str
    name: str
    value: float
    unit: str
    floor: float | None = None  # the bound the ratio must meet
    reference: float = 1.0  # what value is divided by (the ideal, or the floor)
    higher_is_better: bool = False
    note: str = ""
    per: str = ""  # what the floor is a multiple of, when not the figure's own unit

    @property
    def ratio(self) -> float:
        return self.value / self.reference if self.reference else float("nan")

    @property
    def verdict(self) -> str:
        if self.floor is None:
            return ""
        ok = self.ratio >= self.floor if self.higher_is_better else self.ratio <= self.floor
        return "PASS" if ok else "MISS"


def write_manifest(folder: Path, tasks: int, concurrency: int, rate: float) -> Path:
    """``tasks`` text-to-video jobs (one matrix over seeds), with these run settings."""
    seeds = ", ".join(str(i) for i in range(tasks))
    text = f"""version: 1
defaults: {{model: {MODEL}, duration: 5}}
run:
  concurrency: {concurrency}
  rate: {rate:g}
  timeout: 10m
  poll: {{initial: 0.2s, max: 2s}}
output: {{dir: renders, name: "${{job}}.mp4"}}
jobs:
  - id: shot
    prompt: Benchmark shot ${{seed}}
    matrix:
      seed: [{seeds}]
"""
    path = folder / "bench.yaml"
    path.write_text(text)
    return path


def vidbatch_run(
    manifest: Path, url: str, *extra: str, prefix: list[str] | None = None
) -> harness.Measured:
    argv = [
        *(prefix or []),
        *harness.VIDBATCH,
        "run",
        str(manifest),
        "--base-url",
        url,
        "--yes",
        *extra,
    ]
    result = harness.measure(argv, cwd=manifest.parent, env=harness.api_env())
    if result.code != 0:
        raise RuntimeError(f"vidbatch run exited {result.code}:\n{result.stderr[-3000:]}")
    return result


def span_rows(
    scenario: str, runner: str, run: harness.Measured, tf: figures.TaskFigures
) -> list[Figure]:
    ms_per_job = 1000 * run.cpu / tf.tasks
    return [
        Figure(
            scenario,
            runner,
            "span (whole process)",
            run.wall,
            "s",
            1.10,
            tf.ideal,
            note=f"ideal {tf.ideal:.2f} s",
            per="ideal",
        ),
        Figure(scenario, runner, "polls per task", tf.polls_per_task, "", 1.0, 4.0),
        Figure(
            scenario,
            runner,
            "notice delay, median",
            tf.notice_median,
            "s",
            note=f"p90 {tf.notice_p90:.3f} s; {tf.unnoticed} never seen final",
        ),
        Figure(
            scenario,
            runner,
            "CPU per job",
            ms_per_job,
            "ms",
            1.0,
            3.0,
            note=f"{run.cpu:.2f} s in all, {run.sys_cpu:.2f} s of it in the kernel",
        ),
        Figure(
            scenario,
            runner,
            "CPU per API request",
            1000 * run.cpu / max(1, tf.requests),
            "ms",
            note=f"{tf.requests} requests",
        ),
        Figure(scenario, runner, "peak RSS", run.peak_mb, "MB"),
    ]


def timeline_rows(
    runner: str, url: str, run: harness.Measured, concurrency: int, ideal: float
) -> list[Figure]:
    """Where the span beyond the ideal goes: start-up, slot refills, wind-down."""
    tl = figures.timeline(harness.record(url), concurrency, run.started_unix, run.wall)
    return [
        Figure("A", runner, "start-up: process start to first create", tl.startup, "s"),
        Figure("A", runner, "refill: slot seen free to next create, median", tl.refill_median, "s"),
        Figure("A", runner, "wind-down: last final poll to exit", tl.winddown, "s"),
        Figure(
            "A",
            runner,
            "in-run: first create to last final poll",
            tl.in_run,
            "s",
            reference=ideal,
            note="ratio: against the ideal span",
        ),
    ]


def fixed_cost(manifest: Path, url: str, run: harness.Measured, tasks: int) -> list[Figure]:
    """CPU of a rerun with nothing to do (start-up, validate, plan, lockfile), and the
    marginal CPU per job once that is taken away."""
    again = vidbatch_run(manifest, url, "--no-download")
    marginal = 1000 * (run.cpu - again.cpu) / tasks
    return [
        Figure(
            "A",
            "vidbatch",
            "fixed CPU (rerun, nothing to do)",
            again.cpu,
            "s",
            note=f"wall {again.wall:.2f} s",
        ),
        Figure("A", "vidbatch", "marginal CPU per job (run - rerun)", marginal, "ms", 1.0, 3.0),
    ]


def scenario_a(tasks: int, concurrency: int, download: bool, naive: bool) -> list[Figure]:
    rows: list[Figure] = []
    settings: dict[str, Any] = {"task_seconds": [1, 3], "video_max_seconds": 0.5}
    with (
        tempfile.TemporaryDirectory(prefix="bench-a-") as tmp,
        harness.sandbox(settings, Path(tmp)) as url,
    ):
        manifest = write_manifest(Path(tmp), tasks, concurrency, 1000)
        run = vidbatch_run(manifest, url, "--no-download")
        tf = figures.task_figures(harness.record(url), concurrency)
        rows += span_rows("A", "vidbatch", run, tf)
        rows += timeline_rows("vidbatch", url, run, concurrency, tf.ideal)
        rows += fixed_cost(manifest, url, run, tasks)
    if download:
        with (
            tempfile.TemporaryDirectory(prefix="bench-a-dl-") as tmp,
            harness.sandbox(settings, Path(tmp)) as url,
        ):
            manifest = write_manifest(Path(tmp), tasks, concurrency, 1000)
            run = vidbatch_run(manifest, url)
            tf = figures.task_figures(harness.record(url), concurrency)
            rows += span_rows("A", "vidbatch, downloads", run, tf)
    if naive:
        with (
            tempfile.TemporaryDirectory(prefix="bench-naive-") as tmp,
            harness.sandbox(settings, Path(tmp)) as url,
        ):
            script = str(Path(__file__).with_name("naive.py"))
            argv = [
                harness.PYTHON,
                script,
                url,
                "--tasks",
                str(tasks),
                "--concurrency",
                str(concurrency),
            ]
            run = harness.measure(argv, cwd=Path(tmp), env=harness.api_env())
            if run.code != 0:
                raise RuntimeError(f"naive baseline exited {run.code}:\n{run.stderr[-3000:]}")
            tf = figures.task_figures(harness.record(url), concurrency)
            rows += span_rows("A", "naive (5 s poll)", run, tf)
    return rows


def scenario_b(tasks: int, concurrency: int, limit: float, configured: float) -> list[Figure]:
    settings = {"task_seconds": [1, 3], "rate_limit": limit}
    runner = f"vidbatch, --rate {configured:g}"
    with (
        tempfile.TemporaryDirectory(prefix="bench-b-") as tmp,
        harness.sandbox(settings, Path(tmp)) as url,
    ):
        manifest = write_manifest(Path(tmp), tasks, concurrency, configured)
        run = vidbatch_run(manifest, url, "--no-download")
        tf = figures.task_figures(harness.record(url), concurrency)
    note = f"{tf.requests} requests in {tf.window:.1f} s (first create to last poll)"
    whole = (tf.requests - tf.rate_limited) / run.wall / limit
    return [
        Figure(
            "B",
            runner,
            f"share of R={limit:g} used",
            tf.share_of(limit),
            "",
            0.90,
            higher_is_better=True,
            note=note,
        ),
        Figure(
            "B",
            runner,
            "share of R, whole process",
            whole,
            "",
            note=f"wall {run.wall:.1f} s, incl. start-up and the tail",
        ),
        Figure(
            "B",
            runner,
            "429s per 1,000 requests",
            tf.per_1000_429,
            "",
            1.0,
            20.0,
            note=f"{tf.rate_limited} answered 429",
        ),
        Figure("B", runner, "polls per task", tf.polls_per_task, ""),
    ]


def scenario_c(tasks: int, concurrency: int) -> list[Figure]:
    """CPU per job at scale (start-up amortised), then the same run under strace."""
    return _cpu_at_scale(tasks, concurrency) + _bytes_written(tasks, concurrency)


C_SETTINGS = {"task_seconds": [0.5, 1.5]}


def _cpu_at_scale(tasks: int, concurrency: int) -> list[Figure]:
    with (
        tempfile.TemporaryDirectory(prefix="bench-c-cpu-") as tmp,
        harness.sandbox(C_SETTINGS, Path(tmp)) as url,
    ):
        manifest = write_manifest(Path(tmp), tasks, concurrency, 1000)
        run = vidbatch_run(manifest, url, "--no-download")
        tf = figures.task_figures(harness.record(url), concurrency)
    note = (
        f"{run.cpu:.2f} s in all, {run.sys_cpu:.2f} s in the kernel; "
        f"{tf.requests / tasks:.2f} requests per job; span {run.wall / tf.ideal:.3f} x ideal"
    )
    return [
        Figure(
            "C",
            "vidbatch",
            f"CPU per job ({tasks} jobs)",
            1000 * run.cpu / tasks,
            "ms",
            1.0,
            3.0,
            note=note,
        ),
        Figure("C", "vidbatch", f"peak RSS ({tasks} jobs)", run.peak_mb, "MB"),
    ]


def _bytes_written(tasks: int, concurrency: int) -> list[Figure]:
    with (
        tempfile.TemporaryDirectory(prefix="bench-c-") as tmp,
        harness.sandbox(C_SETTINGS, Path(tmp)) as url,
    ):
        folder = Path(tmp)
        manifest = write_manifest(folder, tasks, concurrency, 1000)
        lockfile = folder / "bench.lock.json"
        log = folder / "strace.log"
        prefix = writes.strace_prefix(log)
        if prefix is None:
            note = "strace is not installed (apt-get install strace): not measured"
            return [Figure("C", "vidbatch", "lockfile+journal bytes", float("nan"), "x", note=note)]
        vidbatch_run(manifest, url, "--no-download", prefix=prefix)
        totals = writes.bytes_written(log, lockfile)
        final = lockfile.stat().st_size
    rewrites = totals.pop("rewrites")
    family = sum(n for kind, n in totals.items() if kind != "run lock")
    detail = ", ".join(f"{kind} {n / 1e6:.2f} MB" for kind, n in sorted(totals.items()))
    detail += f"; the lockfile was rewritten {rewrites} times"
    return [
        Figure(
            "C",
            "vidbatch",
            f"bytes written to lockfile+journal ({tasks} jobs)",
            family / 1e6,
            "MB",
            10.0,
            final / 1e6,
            per="final lockfile",
            note=f"final lockfile {final / 1e6:.2f} MB; {detail}",
        ),
    ]


def scenario_d(jobs: int) -> list[Figure]:
    rows: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="bench-d-") as tmp:
        manifest = validate_scale.write_manifest(Path(tmp), jobs, listed=False)
        for command in ("validate", "plan"):
            argv = [*harness.VIDBATCH, command, str(manifest)]
            run = harness.measure(argv, cwd=Path(tmp), env=harness.api_env())
            if run.code != 0:
                raise RuntimeError(f"vidbatch {command} exited {run.code}:\n{run.stderr[-2000:]}")
            rows += [
                Figure(
                    "D",
                    "vidbatch",
                    f"{command} time ({jobs} jobs)",
                    run.wall,
                    "s",
                    1.0,
                    5.0,
                    note=f"CPU {run.cpu:.2f} s",
                ),
                Figure("D", "vidbatch", f"{command} peak RSS", run.peak_mb, "MB", 1.0, 500.0),
            ]
    return rows


def as_json(rows: list[Figure]) -> str:
    return json.dumps(
        [{**vars(r), "ratio": r.ratio, "verdict": r.verdict} for r in rows], indent=2, default=str
    )
