"""``vidbatch report``: write the self-contained HTML page of the jobs and their videos."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from runner.base.errors import UsageError, WriteError
from runner.base.files import write_atomic
from runner.cli import Context
from runner.commands.common import add_manifest_args, load_manifests
from runner.review import report
from runner.review.results import LockView, load_view, status_counts


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "report",
        help="write an HTML page with every job, its video, prompt, model, seed and status",
        description="Write one self-contained HTML page (no server, nothing loaded from "
        "elsewhere) with a card per job of the manifests: its videos playable inline, "
        "prompt, model, operation, seed, status, time taken and the API's error. Videos "
        "are linked by paths relative to the page, so keep the page beside the outputs.",
    )
    add_manifest_args(parser)
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="where to write the page ('-' for stdout); "
        "default: <manifest name>.report.html beside the first manifest's lockfile",
    )
    parser.add_argument(
        "--lockfile", metavar="FILE", help="the lockfile to read (one manifest only)"
    )
    parser.set_defaults(func=main)


def main(ns: argparse.Namespace, ctx: Context) -> int:
    if ns.lockfile and len(ns.manifests) > 1:
        raise UsageError("--lockfile names the lockfile of one manifest; give only one")
    manifests = load_manifests(
        ns.manifests, ctx, allow_unknown_models=ns.allow_unknown_models, strict=ns.strict
    )
    views = [
        load_view(
            loaded.display,
            Path(ns.lockfile) if ns.lockfile else loaded.default_lockfile(),
            frozenset(job.key for job in loaded.jobs),
        )
        for loaded in manifests
    ]
    if ns.output == "-":
        ctx.stdout.write(report.render_html(views, Path.cwd()))
        return 0
    out = (
        Path(ns.output) if ns.output else report.default_path(views[0].lockfile, manifests[0].path)
    )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(out, report.render_html(views, out.parent).encode("utf-8"))
    except OSError as err:
        raise WriteError(f"cannot write the report {out}: {err.strerror or err}") from None
    print(f"wrote {out} ({_counts(views)})", file=ctx.stdout)
    return 0


def _counts(views: list[LockView]) -> str:
    counts = status_counts(views)
    total = sum(counts.values())
    parts = [f"{n} {s.replace('_', ' ')}" for s, n in counts.items() if n]
    return f"{total} job{'s' if total != 1 else ''}" + (": " + ", ".join(parts) if parts else "")
