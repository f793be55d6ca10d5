"""A Markdown summary of a run for CI step summaries ($GITHUB_STEP_SUMMARY).

Counts by status per manifest, the jobs that did not complete with the API's
message, and where the outputs are. Text from manifests or the API is escaped so
that it cannot break a table or inject markup.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from runner.review.results import (
    FAILURES,
    STATUSES,
    JobRow,
    LockView,
    cost_cell,
    cost_total,
    format_seconds,
    has_estimates,
    output_file,
    status_counts,
)

MAX_ROWS = 100
"""Rows listed per table at most; GitHub keeps only the first MiB of a summary."""

_SPECIAL = re.compile(r"([\\`*_\[\]|#<>~])")


def render_markdown(
    views: Sequence[LockView], elapsed_seconds: float | None, budgets: Sequence[str] = ()
) -> str:
    """The summary for ``views``; ``elapsed_seconds`` is the run's wall time if known;
    ``budgets``: each budget's account (committed, left, jobs kept back)."""
    counts = status_counts(views)
    total = sum(counts.values())
    parts = [f"## vidbatch: {_verdict(counts, total)}", _counts_table(views)]
    if elapsed_seconds is not None:
        parts.append(f"Elapsed: {format_seconds(elapsed_seconds)}.")
    costed = has_estimates(views)  # a lockfile older than estimates shows as it did
    if costed:
        parts.append(_costs(views))
    parts.extend(f"Budget: {_text(line)}." for line in budgets)
    parts.extend(filter(None, [_unfinished(views, costed), _outputs(views, costed)]))
    return "\n\n".join(parts) + "\n"


def _verdict(counts: dict[str, int], total: int) -> str:
    failed = sum(counts[s] for s in FAILURES)
    if total == 0:
        return "no jobs"
    if failed:
        return f"{failed} of {total} jobs did not complete"
    if counts["completed"] == total:
        return f"all {total} jobs completed"
    return f"{counts['completed']} of {total} jobs completed"


def _counts_table(views: Sequence[LockView]) -> str:
    overall = status_counts(views)
    shown = [s for s in STATUSES if overall[s]] or ["completed"]
    header = "| manifest | " + " | ".join(s.replace("_", " ") for s in shown) + " | total |"
    rule = "| --- |" + " ---: |" * (len(shown) + 1)
    lines = [header, rule]
    rows = [(f"`{_code(v.manifest)}`", status_counts([v])) for v in views]
    if len(views) > 1:
        rows.append(("**total**", overall))
    for name, counts in rows:
        cells = " | ".join(str(counts[s]) for s in shown)
        lines.append(f"| {name} | {cells} | {sum(counts.values())} |")
    return "\n".join(lines)


def _costs(views: Sequence[LockView]) -> str:
    """The estimated cost of the jobs' tasks (each job's last create), with the total."""
    lines = [f"Estimated cost: {_text(cost_total(views).text())}"]
    if len(views) > 1:
        lines[0] += " in all"
        lines += [f"- `{_code(v.manifest)}`: {_text(cost_total([v]).text())}" for v in views]
    return "\n".join(lines)


def _unfinished(views: Sequence[LockView], costed: bool) -> str:
    lines = []
    for view in views:
        for row in view.rows():
            if row.status == "completed":
                continue
            lines.append(
                f"| `{_code(view.manifest)}` | `{_code(row.key)}` | {row.status.replace('_', ' ')}"
                f" |{_cost(row, costed)} {_text(row.reason)} |"
            )
    if not lines:
        return ""
    head = [
        "### Jobs not completed",
        "",
        "| manifest | job | status |" + (" estimate |" if costed else "") + " reason |",
        "| --- | --- | --- |" + (" ---: |" if costed else "") + " --- |",
    ]
    return "\n".join(head + _capped(lines))


def _outputs(views: Sequence[LockView], costed: bool) -> str:
    lines = []
    for view in views:
        for row in view.rows():
            for output in row.outputs:
                file = output_file(view, output)
                where = f"`{_code(file.as_posix())}`" if file is not None else "not downloaded"
                model = _code(str(row.request.get("model", "")))
                seed = "" if row.seed is None else str(row.seed)
                lines.append(
                    f"| `{_code(row.key)}` | `{model}` | {seed} |{_cost(row, costed)} {where} |"
                )
    if not lines:
        return ""
    head = [
        "### Outputs",
        "",
        "| job | model | seed |" + (" estimate |" if costed else "") + " file |",
    ]
    head.append("| --- | --- | ---: |" + (" ---: |" if costed else "") + " --- |")
    return "\n".join(head + _capped(lines))


def _cost(row: JobRow, costed: bool) -> str:
    return f" {cost_cell(row)} |" if costed else ""


def _capped(lines: list[str]) -> list[str]:
    if len(lines) <= MAX_ROWS:
        return lines
    return [*lines[:MAX_ROWS], "", f"... and {len(lines) - MAX_ROWS} more (see the lockfile)."]


def _text(value: str) -> str:
    """Plain text for a table cell: one line, Markdown and HTML characters escaped."""
    flat = " ".join(value.split())
    return _SPECIAL.sub(r"\\\1", flat.replace("&", "&amp;"))


def _code(value: str) -> str:
    """Text for inside a backtick code span in a table cell."""
    flat = " ".join(value.split()).replace("`", "'")
    return flat.replace("|", "\\|")
