"""``vidbatch download``: fetch outputs missing on disk, refreshing expired URLs."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import anyio

from runner.base.errors import EXIT_FAILED, EXIT_OK
from runner.cli import Context
from runner.commands import batch, flags
from runner.commands.common import add_manifest_args, load_manifests
from runner.run.engine import Engine, Outcome, Target
from runner.run.events import Reporter
from runner.run.plan import PlanOptions
from runner.run.session import Overrides, execute, open_targets, shared_limits


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "download",
        help="fetch outputs missing on disk",
        description="Fetch every output of a completed job that is missing on disk. An "
        "expired URL is refreshed by polling the task again (needs LEMONDATA_API_KEY).",
    )
    add_manifest_args(parser)
    flags.add_only_arg(parser)
    flags.add_api_args(parser, sandbox=False)
    parser.add_argument("--json", action="store_true", help="NDJSON events on stdout")
    flags.add_lockfile_arg(parser)
    parser.set_defaults(func=main)


def main(ns: argparse.Namespace, ctx: Context) -> int:
    manifests = load_manifests(
        ns.manifests, ctx, allow_unknown_models=ns.allow_unknown_models, strict=ns.strict
    )
    lockfile = flags.lockfile_option(ns)
    api = batch.api_settings(ns, ctx.environ, need_key=False)
    targets = open_targets(manifests, PlanOptions(only=tuple(ns.only)), Overrides(), lockfile)
    for target in targets:
        items = tuple(i for i in target.plan.items if i.action == "download")
        target.plan = dataclasses.replace(target.plan, items=items)
    reporter = batch.make_reporter(ctx, ns.json)
    try:
        outcome = anyio.run(_download, targets, api, reporter)
    finally:
        reporter.close()
    batch.print_summary(outcome, ctx.stderr, Path.cwd())
    if outcome.write_error is not None:
        return EXIT_FAILED
    if outcome.stopped is not None:
        ctx.error(str(outcome.stopped))
        return outcome.stopped.exit_code
    return EXIT_OK if outcome.missing_outputs == 0 else EXIT_FAILED


async def _download(targets: list[Target], api: batch.Api, reporter: Reporter) -> Outcome:
    concurrency, rate = shared_limits(targets)
    async with batch.open_clients(api, rate, concurrency) as clients:
        engine = Engine(clients.api, clients.downloader, concurrency=concurrency, reporter=reporter)
        return await execute(engine, targets)
