"""``vidbatch run``: validate, plan, submit, poll, download, record.

Exit codes (PRODUCT.md): 0 every selected job completed with its outputs on
disk; 1 some job failed, timed out, is uncertain or lacks an output; 2 bad usage
or manifest (nothing sent); 3 the API stopped the run (401, 402); 4 (--detach)
work is still in flight, run again later; 5 the budget left jobs unsent and
nothing failed; 130 Ctrl-C. When several apply: 130 > 3 > 1 > 5 > 4 > 0.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import threading
from pathlib import Path
from typing import Any

import anyio

from runner.base import files
from runner.base.errors import (
    EXIT_FAILED,
    EXIT_IN_FLIGHT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    UsageError,
    VidbatchError,
)
from runner.cli import Context
from runner.commands import batch, flags, pricing
from runner.commands.common import add_manifest_args, load_manifests
from runner.run import detach, shards
from runner.run.engine import Engine, Outcome, Target, has_work, summary_event
from runner.run.events import Reporter
from runner.run.plan import SENDS, PlanOptions
from runner.run.session import Overrides, execute, open_targets, shared_limits

CONFIRM_ABOVE = 20
FETCHES = frozenset({*SENDS, "resume", "download"})  # plan actions that end in outputs


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "run",
        help="submit, poll and download every job; keep the lockfile",
        description="Validate, plan, submit new and changed jobs, resume tasks in flight, "
        "poll them to the end, download the outputs and record everything in the lockfile.",
    )
    add_manifest_args(parser)
    flags.add_api_args(parser)
    parser.add_argument("--concurrency", type=_positive_int, metavar="N", help="tasks in flight")
    parser.add_argument("--rate", type=_positive_float, metavar="R", help="API requests/second")
    parser.add_argument("--timeout", type=batch.duration_arg, metavar="D", help="per task")
    flags.add_only_arg(parser)
    parser.add_argument("--force", action="store_true", help="resubmit even locked jobs")
    parser.add_argument(
        "--resubmit-uncertain",
        action="store_true",
        help="submit again jobs whose earlier create got no answer (may be billed twice)",
    )
    parser.add_argument("--no-download", action="store_true", help="do not fetch outputs")
    parser.add_argument("--json", action="store_true", help="NDJSON events on stdout")
    parser.add_argument("--yes", action="store_true", help="do not ask before submitting")
    flags.add_lockfile_arg(parser)
    parser.add_argument(
        "--detach",
        action="store_true",
        help="poll each task in flight once, submit into free slots, and exit without "
        f"waiting (exit {EXIT_IN_FLIGHT}: work still in flight; run again later)",
    )
    parser.add_argument(
        "--shard",
        type=shards.parse,
        metavar="K/N",
        help="only the jobs of shard K of N (by a hash of the job key); rate and "
        "concurrency are divided by N unless given",
    )
    parser.add_argument("--junit", type=Path, metavar="FILE", help="write a JUnit XML report")
    parser.add_argument(
        "--summary", type=Path, metavar="FILE", help="write a Markdown summary (also to "
        "$GITHUB_STEP_SUMMARY when set)"
    )  # fmt: skip
    pricing.add_budget_args(parser)  # issue 12: --max-cost, --allow-unpriced, --fetch-prices
    parser.set_defaults(func=main)


def main(ns: argparse.Namespace, ctx: Context) -> int:
    manifests = load_manifests(
        ns.manifests, ctx, allow_unknown_models=ns.allow_unknown_models, strict=ns.strict
    )
    lockfile = flags.lockfile_option(ns)
    _check_detach(ns)
    api = batch.api_settings(ns, ctx.environ)
    _check_reports(ns, ctx)
    options = PlanOptions(
        only=tuple(ns.only),
        force=ns.force,
        resubmit_uncertain=ns.resubmit_uncertain,
        download=not ns.no_download,
    )
    overrides = Overrides(ns.concurrency, ns.rate, ns.timeout)
    targets = open_targets(manifests, options, overrides, lockfile, shard=ns.shard)
    try:
        budgets = pricing.attach_budgets(ns, ctx, targets)  # estimates, and the budget gate
        flags.check_only(ns.only, [t.plan for t in targets])
        if not ns.no_download:
            _check_outputs(targets)
    except VidbatchError:
        for target in targets:
            target.store.release()
        raise
    if api.sandbox:
        for target in targets:
            target.settings = _sandbox_time(target.settings)
    if not _confirmed(targets, ns, ctx):
        for target in targets:
            target.store.release()
        ctx.error("nothing was submitted")
        return EXIT_FAILED
    reporter = batch.make_reporter(ctx, ns.json)
    try:
        outcome = anyio.run(_run, targets, api, reporter, not ns.no_download, ns.detach)
        if ns.json:
            event = detach.summary(summary_event(outcome), outcome, ns.detach)
            reporter.emit(pricing.with_budgets(event, budgets))
    finally:
        reporter.close()
    batch.print_summary(outcome, ctx.stderr, Path.cwd())
    pricing.print_budgets(budgets, ctx.stderr)
    code = pricing.exit_code(_exit_code(outcome, ctx, ns.detach), outcome, ns.detach)
    try:
        _write_reports(ns, ctx, targets, outcome, [b.text() for b in budgets])
    except OSError as err:
        ctx.error(f"cannot write {err.filename}: {err.strerror}; the lockfile is saved")
        return code or EXIT_FAILED
    return code


async def _run(
    targets: list[Target], api: batch.Api, reporter: Reporter, download: bool, detached: bool
) -> Outcome:
    concurrency, rate = shared_limits(targets)
    if not has_work(targets):
        idle = Engine(None, None, concurrency=concurrency, expect_outputs=download)
        return await execute(idle, targets)
    kind = detach.DetachedEngine if detached else Engine
    async with batch.open_clients(api, rate, concurrency, download=download) as clients:
        engine = kind(clients.api, clients.downloader, concurrency=concurrency, reporter=reporter)
        async with anyio.create_task_group() as tg:
            if threading.current_thread() is threading.main_thread():  # signals need it
                tg.start_soon(_watch_interrupts, engine)
            try:
                return await execute(engine, targets)
            finally:
                tg.cancel_scope.cancel()
    raise AssertionError("unreachable")


async def _watch_interrupts(engine: Engine) -> None:
    """First Ctrl-C: stop submitting and save; a second one stops at once."""
    with anyio.open_signal_receiver(signal.SIGINT) as signals:
        async for _ in signals:
            engine.interrupt()
            break
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _check_detach(ns: argparse.Namespace) -> None:
    if not ns.detach:
        return
    if ns.sandbox:
        raise UsageError(
            "--detach needs an API that outlives the run, and the --sandbox one ends with "
            "it: serve one with `vidbatch sandbox` and pass its URL with --base-url"
        )
    if ns.force:
        raise UsageError("--force with --detach would resubmit every job on every pass")


def _confirmed(targets: list[Target], ns: argparse.Namespace, ctx: Context) -> bool:
    sends = sum(1 for t in targets for item in t.plan.items if item.action in SENDS)
    if ns.yes or sends <= CONFIRM_ABOVE or not (ctx.stdin_is_tty and ctx.stderr_is_tty):
        return True
    cost = pricing.sends_cost(targets)  # issue 12: what they may cost
    ctx.stderr.write(f"vidbatch: submit {sends} jobs (each may be billed; {cost})? [y/N] ")
    ctx.stderr.flush()
    answer = ctx.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def _sandbox_time(settings: Any) -> Any:
    speed = flags.SANDBOX_SPEED
    return dataclasses.replace(
        settings,
        poll_initial=settings.poll_initial / speed,
        poll_max=settings.poll_max / speed,
        rate=settings.rate * speed,
    )


def _check_outputs(targets: list[Target]) -> None:
    """An output.dir that could not take the outputs is refused before anything is sent
    (videos made and paid for, with nowhere to keep them)."""
    for target in targets:
        manifest = target.plan.manifest
        fetches = any(item.action in FETCHES for item in target.plan.items)
        problem = fetches and files.write_problem(manifest.output.dir / "output")
        if problem:
            where = f"{manifest.display}: output.dir {manifest.output.dir}"
            raise UsageError(f"{where}: cannot write there ({problem})")


def _check_reports(ns: argparse.Namespace, ctx: Context) -> None:
    """A report that could not be written at the end is refused before anything is sent."""
    for flag, path in (("--junit", ns.junit), ("--summary", ns.summary)):
        problem = path and files.write_problem(path)
        if problem:
            raise UsageError(f"{flag} {path}: cannot write there ({problem})")
    step_summary = ctx.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        try:
            os.close(os.open(step_summary, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666))
        except OSError as err:
            raise UsageError(
                f"$GITHUB_STEP_SUMMARY {step_summary}: cannot append to it ({err.strerror})"
            ) from None


def _write_reports(
    ns: argparse.Namespace,
    ctx: Context,
    targets: list[Target],
    outcome: Outcome,
    budgets: list[str],
) -> None:
    step_summary = ctx.environ.get("GITHUB_STEP_SUMMARY")
    if ns.junit is None and ns.summary is None and not step_summary:
        return
    from runner.review import junit, results, summary

    views = [
        results.load_view(
            t.plan.manifest.display,
            t.store.path,
            frozenset(i.key for i in t.plan.items if i.action != "remove"),
            pricing.held_back(t),
        )
        for t in targets
    ]
    if ns.junit is not None:
        _write_file(ns.junit, junit.render_junit(views))
    markdown = summary.render_markdown(views, outcome.elapsed, budgets)
    if ns.summary is not None:
        _write_file(ns.summary, markdown)
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as fh:
            fh.write(markdown)


def _write_file(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        files.write_atomic(path, text.encode("utf-8"))
    except OSError as err:
        err.filename = err.filename or str(path)
        raise


def _exit_code(outcome: Outcome, ctx: Context, detached: bool = False) -> int:
    if outcome.write_error is not None:
        return EXIT_FAILED  # told with the summary, with every task id not recorded
    if outcome.interrupted:
        return EXIT_INTERRUPTED
    if outcome.stopped is not None:
        ctx.error(f"{outcome.stopped}; state saved")
        return outcome.stopped.exit_code
    if outcome.all_done:
        return EXIT_OK
    if detached and detach.only_in_flight(outcome):
        going = detach.still_going(outcome)
        ctx.stderr.write(f"detached: {going} job(s) still going; run again later\n")
        return EXIT_IN_FLIGHT
    return EXIT_FAILED


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number above 0, not {text!r}")
    return value
