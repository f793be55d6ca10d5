"""``vidbatch plan``: what a run would do with each job, and why; sends nothing."""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from runner.catalog import costs
from runner.catalog.costs import Estimate
from runner.catalog.prices import PriceBook
from runner.cli import Context
from runner.commands import flags, pricebook
from runner.commands.common import add_manifest_args, load_manifests
from runner.manifest.yamlfile import collector_paused
from runner.run import shards
from runner.run.plan import SENDS, Plan, PlanOptions, lock_path_for, make_plan

VERBS = {
    "submit": "to submit",
    "rerun": "to rerun",
    "resume": "to resume",
    "download": "to download",
    "skip": "up to date",
    "blocked": "blocked (uncertain or cancelled)",
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
    flags.add_only_arg(parser)
    parser.add_argument("--force", action="store_true", help="plan as `run --force` would")
    parser.add_argument(
        "--resubmit-uncertain", action="store_true", help="plan as `run --resubmit-uncertain`"
    )
    parser.add_argument("--no-download", action="store_true", help="plan as `run --no-download`")
    flags.add_lockfile_arg(parser)
    flags.add_api_args(parser, sandbox=False)  # where --fetch-prices reads the prices
    parser.add_argument(
        "--sandbox", action="store_true", help="estimate with the embedded sandbox's prices"
    )
    parser.add_argument(
        "--shard",
        type=shards.parse,
        metavar="K/N",
        help="plan as `run --shard K/N` would: only that shard's jobs",
    )
    pricebook.add_fetch_arg(parser)
    parser.set_defaults(func=main)


def main(ns: argparse.Namespace, ctx: Context) -> int:
    # Nothing a plan builds is garbage before it is printed: the collector's
    # passes over 100,000 jobs and their items would cost a tenth of a second.
    with collector_paused():
        return _plan(ns, ctx)


def _plan(ns: argparse.Namespace, ctx: Context) -> int:
    manifests = load_manifests(
        ns.manifests, ctx, allow_unknown_models=ns.allow_unknown_models, strict=ns.strict
    )
    lock_option = flags.lockfile_option(ns)
    options = PlanOptions(
        only=tuple(ns.only),
        force=ns.force,
        resubmit_uncertain=ns.resubmit_uncertain,
        download=not ns.no_download,
    )
    plans = []
    for manifest in manifests:
        path = lock_path_for(manifest, lock_option)
        doc = shards.starting_view(path, lock_path_for(manifest, None), ns.shard)
        if ns.shard is not None:
            manifest = shards.restrict(manifest, ns.shard)
        plans.append(make_plan(manifest, path, doc, options))
    flags.check_only(ns.only, plans)
    matrix, book = pricebook.price_book(ns, ctx, ctx.error)
    estimator = costs.Estimator(matrix, book)
    costed = [_estimates(plan, estimator) for plan in plans]
    if ns.json:
        body = {
            "plans": [_plan_json(p, e) for p, e in zip(plans, costed, strict=True)],
            "sends": any(p.sends for p in plans),
            "estimate": _total(costed).as_json(),
            "prices": _prices_said(book),
            "shard": None if ns.shard is None else str(ns.shard),
        }
        ctx.stdout.write(json.dumps(body, indent=2, sort_keys=True) + "\n")
    else:
        for plan, estimates in zip(plans, costed, strict=True):
            _print(plan, estimates, ctx.stdout, ns.shard)
        if len(plans) > 1:
            ctx.stdout.write(f"in all: {_would_submit(_total(costed))}\n")
        ctx.stdout.write(f"estimates: {_prices_said(book)} (see the README's section on costs)\n")
    return 1 if ns.check and any(p.sends for p in plans) else 0


def _estimates(plan: Plan, estimator: costs.Estimator) -> dict[str, Estimate]:
    """The estimate of each job the plan would send."""
    return {
        item.key: estimator(item.job.request)
        for item in plan.items
        if item.action in SENDS and item.job is not None
    }


def _total(costed: list[dict[str, Estimate]]) -> costs.Total:
    return costs.total(e for estimates in costed for e in estimates.values())


def _would_submit(total: costs.Total) -> str:
    count = total.priced + total.unpriced
    return f"would submit {count} job{'s' if count != 1 else ''}: {total.text()}"


def _plan_json(plan: Plan, estimates: dict[str, Estimate]) -> dict[str, Any]:
    body = plan.as_json()
    for job in body["jobs"]:
        if job["job"] in estimates and job["action"] in SENDS:
            job["estimate"] = estimates[job["job"]].as_json()
    body["estimate"] = costs.total(estimates.values()).as_json()
    return body


def _prices_said(book: PriceBook) -> str:
    sources = sorted({p.source for p in book.prices.values()})
    when = f", read at {book.read_at}" if book.read_at else ""
    return f"prices from {', '.join(sources) or 'nowhere'}{when}"


def _print(
    plan: Plan, estimates: dict[str, Estimate], out: TextIO, shard: shards.Shard | None
) -> None:
    part = f", shard {shard}" if shard is not None else ""
    out.write(f"{plan.manifest.display} (lockfile {plan.lockfile.name}{part})\n")
    width = max((len(item.key) for item in plan.items), default=0)
    shown: dict[int, str] = {}  # jobs share estimates (costs.Estimator): each told once
    lines = []
    for item in plan.items:
        found = estimates.get(item.key) if item.action in SENDS else None
        cost = ""
        if found is not None:
            cost = shown.get(id(found)) or shown.setdefault(id(found), f"; {found.text()}")
        lines.append(f"  {item.action:<9}{item.key:<{width}}  {item.reason}{cost}\n")
    out.write("".join(lines))  # one write: 100,000 writes cost a tenth of a second
    totals = ", ".join(f"{n} {VERBS[action]}" for action, n in plan.counts().items())
    out.write(f"  {totals or 'no jobs selected'}\n")
    if estimates:
        out.write(f"  {_would_submit(costs.total(estimates.values()))}\n")
