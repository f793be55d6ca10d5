"""``vidbatch plan``: what a run would do with each job, and why; sends nothing."""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from runner import lockfile
from runner.cli import Context
from runner.commands import batch
from runner.commands.common import add_manifest_args, load_manifests
from runner.plan import Plan, PlanOptions, make_plan
from runner.session import lock_path_for

VERBS = {
    "submit": "to submit",
    "rerun": "to rerun",
    "resume": "to resume",
    "download": "to download",
    "skip": "up to date",
    "blocked": "blocked (uncertain)",
    "remove": "to remove",
}


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "plan",
        help="show what a run would submit, rerun, resume, skip or remove",
        description="Compare each manifest with its lockfile and show, per job, what "
        "`vidbatch run` would do. Sends nothing.",
    )
    add_manifest_args(parser)
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a run would submit anything"
    )
    batch.add_only_arg(parser)
    parser.add_argument("--force", action="store_true", help="plan as `run --force` would")
    parser.add_argument(
        "--resubmit-uncertain", action="store_true", help="plan as `run --resubmit-uncertain`"
    )
    parser.add_argument("--no-download", action="store_true", help="plan as `run --no-download`")
    batch.add_lockfile_arg(parser)
    parser.set_defaults(func=main)


def main(ns: argparse.Namespace, ctx: Context) -> int:
    manifests = load_manifests(
        ns.manifests, ctx, allow_unknown_models=ns.allow_unknown_models, strict=ns.strict
    )
    lock_option = batch.lockfile_option(ns)
    options = PlanOptions(
        only=tuple(ns.only),
        force=ns.force,
        resubmit_uncertain=ns.resubmit_uncertain,
        download=not ns.no_download,
    )
    plans = []
    for manifest in manifests:
        path = lock_path_for(manifest, lock_option)
        plans.append(make_plan(manifest, path, lockfile.read(path), options))
    batch.check_only(ns.only, plans)
    if ns.json:
        body = {"plans": [p.as_json() for p in plans], "sends": any(p.sends for p in plans)}
        ctx.stdout.write(json.dumps(body, indent=2, sort_keys=True) + "\n")
    else:
        for plan in plans:
            _print(plan, ctx.stdout)
    return 1 if ns.check and any(p.sends for p in plans) else 0


def _print(plan: Plan, out: TextIO) -> None:
    out.write(f"{plan.manifest.display} (lockfile {plan.lockfile.name})\n")
    width = max((len(item.key) for item in plan.items), default=0)
    # one write of all the lines: 100,000 writes cost a tenth of a second
    out.write("".join(f"  {i.action:<9}{i.key:<{width}}  {i.reason}\n" for i in plan.items))
    totals = ", ".join(f"{n} {VERBS[action]}" for action, n in plan.counts().items())
    out.write(f"  {totals or 'no jobs selected'}\n")
