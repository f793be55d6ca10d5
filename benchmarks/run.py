"""vidbatch's benchmark harness: the runner against the ideal, and against a naive baseline.

    .venv/bin/python benchmarks/run.py            # every scenario; writes benchmarks/RESULTS.md
    .venv/bin/python benchmarks/run.py --quick    # smaller runs, a smoke check; writes nothing
    .venv/bin/python benchmarks/run.py --only A,B --output /tmp/r.md
    .venv/bin/python benchmarks/run.py --only A --repeat 5   # medians of 5 runs of A

Each scenario serves ``vidbatch sandbox`` in a process of its own (fresh, so its
record holds only that run), then runs ``vidbatch run --base-url URL`` as
another child process, reaped with ``wait4`` so that its wall time, CPU time
and peak RSS are its own. Figures come from the process and from the sandbox's
record (``GET /_sandbox/record``: each task's real duration, when it was made,
when it ended, its polls, and when a poll first saw it final).

A  240 tasks of 1-3 s, 60 in flight, poll 0.2 s..2 s, rate 1000 (not binding),
   --no-download (and again with downloads): span of the whole process against
   the ideal (the tasks' real durations, in submission order, each started the
   instant one of the 60 slots frees, zero latency), polls per task, median
   delay from a task's end to the first poll that saw it, CPU ms per job, peak
   RSS. The naive baseline (benchmarks/naive.py: create in sequence, a fixed
   5 s poll, same 60-task cap) runs against a fresh sandbox beside it. A is run
   three times (--repeat) and each figure is the median, with the range noted.
B  The sandbox enforces R = 20 requests/s; many tasks so that the rate binds.
   Share of R used (accepted requests per second from the first create to the
   last poll, over R) and 429s per 1,000 requests; once with --rate R, once
   with --rate 2R (a rate set above the account's limit).
C  5,000 jobs of 0.5-1.5 s, 200 in flight, --no-download. Once plain: CPU per
   job with start-up amortised. Once traced by strace (-f -y, write calls only):
   bytes written to the lockfile, its journal and their temp files, over the
   final lockfile's size. Without strace that half says so and is not measured.
D  ``vidbatch validate`` and ``vidbatch plan`` (no lockfile) of a manifest that
   expands to 100,000 jobs (benchmarks/validate_scale.py's manifest: 100 jobs
   with a matrix each), floor 2 s each (issue 11); and D', ``validate`` of
   100,000 jobs written one by one (its --listed manifest), floor 4 s, 400 MB.
F  60 jobs of 0.5-2 s, 6 in flight, under a gateway's noise (issue 11: a random
   6% of requests 429 with Retry-After 1 s, 6% 5xx, 2% of polls dropped, 2%
   garbled), at a rate that does not bind (100/s) and at the built-in default;
   each beside the same run without faults. Span / ideal (not binding) and
   span / fault-free span (default rate), notice delay, polls per task.

Every figure is printed as a ratio against its ideal or floor (issues 5, 11) with
PASS or MISS; the exit status is 1 when any floor is missed.

BENCH_PYTHONPATH=/copy puts another copy of the package (/copy/runner/) first on
the path of every process started: a what-if measurement of a patched runner
without touching the tree.

Modules: harness (processes, wait4, the served sandbox), workload (manifest,
measured run), span (A), rate (B), scale (C, D), faultmix (F), figures (the ideal span and
timings from the sandbox record), writes (strace log), rows (result rows),
naive (the baseline). The machine is shared: each scenario notes the load average it
started under.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import faultmix
import harness
import rate
import scale
import span
from rows import Figure, medians

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
FULL = {"A": (240, 60), "B": (400, 100, 20.0), "C": (5000, 200), "D": (100_000,), "F": (60, 6)}
QUICK = {"A": (60, 20), "B": (120, 40, 20.0), "C": (500, 100), "D": (10_000,), "F": (30, 6)}


def run_scenarios(
    only: str, sizes: dict[str, tuple[float, ...]], repeat: int
) -> tuple[list[Figure], dict[str, str]]:
    rows: list[Figure] = []
    loads: dict[str, str] = {}
    harness.warm_up()
    for name in only:
        loads[name] = f"load {harness.load()}, code {harness.git_state()}"
        print(f"scenario {name} ({loads[name]}) ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            done = _one(name, sizes[name], repeat)
        except (RuntimeError, OSError, ValueError) as err:
            # One scenario failing (e.g. the tree is broken mid-edit) must not lose the others.
            reason = str(err).strip().splitlines()[-1][:200]
            done = [Figure(name, "vidbatch", "scenario failed", float("nan"), "", note=reason)]
        rows += done
        print("\n".join(table(done)[2:]), file=sys.stderr)
        print(f"scenario {name}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return rows, loads


def _one(name: str, size: tuple[float, ...], repeat: int) -> list[Figure]:
    if name == "A":
        return medians([span.scenario_a(int(size[0]), int(size[1])) for _ in range(repeat)])
    if name == "B":
        tasks, concurrency, limit = int(size[0]), int(size[1]), size[2]
        at_limit = rate.scenario_b(tasks, concurrency, limit, limit)
        return at_limit + rate.scenario_b(tasks, concurrency, limit, 2 * limit)
    if name == "C":
        return scale.scenario_c(int(size[0]), int(size[1]))
    if name == "F":
        return faultmix.scenario_f(int(size[0]), int(size[1]))
    return scale.scenario_d(int(size[0]))


def _number(value: float, unit: str) -> str:
    if value != value:  # NaN
        return "n/a"
    text = f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return f"{text} {unit}".strip()


def _bound(row: Figure) -> str:
    if row.floor is None:
        return ""
    sign = ">=" if row.higher_is_better else "<="
    if row.per:
        return f"{sign} {row.floor:g} x {row.per}"
    return f"{sign} {row.floor * row.reference:g} {row.unit}".rstrip()


def table(rows: list[Figure]) -> list[str]:
    lines = [
        "| | runner | figure | value | ratio | floor | verdict | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = f"{r.ratio:.3f}" if r.floor is not None or r.reference != 1.0 else ""
        lines.append(
            f"| {r.scenario} | {r.runner} | {r.name} | {_number(r.value, r.unit)} | {ratio} "
            f"| {_bound(r)} | {r.verdict} | {r.note} |"
        )
    return lines


def summary(rows: list[Figure]) -> list[str]:
    """One line per floor the runner (not the naive baseline) is held to."""
    lines = []
    for r in rows:
        if r.floor is None or not r.runner.startswith("vidbatch"):
            continue
        lines.append(
            f"- **{r.verdict}** {r.scenario}, {r.runner}: {r.name} = {_number(r.value, r.unit)}"
            f" (ratio {r.ratio:.3f}, floor {_bound(r)})"
            + (f": {r.note}" if r.value != r.value else "")
        )
    failed = [r for r in rows if r.name == "scenario failed"]
    lines += [f"- **FAILED** scenario {r.scenario}: {r.note}" for r in failed]
    return lines


def report(rows: list[Figure], loads: dict[str, str], quick: bool) -> str:
    machine = harness.machine()
    lines = [
        "# Benchmark results",
        "",
        f"Written by `benchmarks/run.py{' --quick' if quick else ''}` (see its docstring "
        "for what each scenario does and how each figure is measured).",
        "",
        *(f"- {key}: {value}" for key, value in machine.items()),
        "- load average (1/5/15 min) and code when each scenario started:",
        *(f"  - {name}: {state}" for name, state in loads.items()),
        "",
        "Ratio is value / ideal (span), or value / floor (the rest); the floor is the "
        "bound on that ratio from issue 11 where it sets one (A's span, polls and CPU, "
        "C's CPU, D, F), else from issue 5. The naive baseline is shown, not held to them.",
        "",
        "## Floors",
        "",
        *summary(rows),
        "",
        "## Every figure",
        "",
        *table(rows),
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs, a smoke check")
    parser.add_argument("--only", default="ABCDF", help="scenarios to run, e.g. A,C")
    parser.add_argument(
        "--repeat",
        type=int,
        metavar="N",
        help="runs of scenario A, medians reported (default 3; 1 with --quick)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help=f"results file (default {RESULTS.name}, not written with --quick)",
    )
    ns = parser.parse_args()
    only = [c for c in ns.only.upper() if c in FULL]
    repeat = ns.repeat or (1 if ns.quick else 3)
    rows, loads = run_scenarios("".join(only), QUICK if ns.quick else FULL, repeat)
    text = report(rows, loads, ns.quick)
    print(text)
    output = ns.output or (None if ns.quick else RESULTS)
    if output is not None:
        output.write_text(text)
        print(f"wrote {output}", file=sys.stderr)
    misses = sum(
        (r.verdict == "MISS" and r.runner.startswith("vidbatch")) or r.name == "scenario failed"
        for r in rows
    )
    return 1 if misses else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
