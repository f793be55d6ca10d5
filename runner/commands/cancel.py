"""``vidbatch cancel``: ask the API to cancel each selected job's task in flight.

Exit codes, as for ``run``: 0 every task in flight was cancelled (or none was in
flight); 1 a cancel failed (no usable answer, an unknown task); 3 the API
refused the key; 4 the API will not cancel some task (it stays in flight);
130 Ctrl-C. When several apply: 130 > 3 > 1 > 4 > 0.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

import anyio

from runner.base.apitext import printable
from runner.base.errors import EXIT_FAILED, EXIT_IN_FLIGHT, EXIT_OK, UsageError
from runner.cli import Context
from runner.commands import batch, flags
from runner.commands.common import add_manifest_args, load_manifests, warner
from runner.lock import lockfile
from runner.lock.lockfile import LockStore, journal_path
from runner.manifest.job import Manifest
from runner.run import cancel
from runner.run.plan import lock_path_for, selected


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "cancel",
        help="cancel tasks in flight where the API allows it",
        description="Send DELETE /v1/tasks/{id} for each selected job's task in flight. "
        "A cancelled task is recorded failed with cancelled: true and is not sent again "
        "unless --force (or its request changes); one the API will not cancel stays in "
        "flight, reported with the API's reason.",
    )
    add_manifest_args(parser)
    flags.add_only_arg(parser)
    flags.add_api_args(parser, sandbox=False)
    flags.add_lockfile_arg(parser)
    parser.set_defaults(func=main)


def main(ns: argparse.Namespace, ctx: Context) -> int:
    manifests = load_manifests(
        ns.manifests, ctx, allow_unknown_models=ns.allow_unknown_models, strict=ns.strict
    )
    lock_option = flags.lockfile_option(ns)
    keys = [[j.key for j in m.jobs if selected(j.key, ns.only)] for m in manifests]
    if ns.only and not any(keys):
        raise UsageError(f"--only {' '.join(ns.only)}: no job key matches (see `vidbatch plan`)")
    api: batch.Api | None = None
    codes = []
    for manifest, selection in zip(manifests, keys, strict=True):
        path = lock_path_for(manifest, lock_option)
        if _in_flight(path, selection):
            api = api or batch.api_settings(ns, ctx.environ)  # needed only to send a cancel
            done = anyio.run(_cancel, path, api, selection, manifest, ctx)
        else:
            done = cancel.Cancelled()  # nothing to cancel, nothing to record
        _print(manifest.display, done, ctx.stdout)
        if done.stopped is not None:
            raise done.stopped  # exit 3; what was cancelled is recorded
        codes.append(_code(done))
    return max(codes, key=_rank, default=EXIT_OK)


def _in_flight(path: Path, keys: list[str]) -> bool:
    """Whether the lockfile (with its journal) has a task in flight for any of ``keys``."""
    if not (path.exists() or journal_path(path).exists()):
        return False  # never run
    jobs = lockfile.read(path)["jobs"]
    return any(cancel.in_flight(jobs.get(key)) for key in keys)


async def _cancel(
    path: Path, api: batch.Api, keys: list[str], manifest: Manifest, ctx: Context
) -> cancel.Cancelled:
    store = LockStore.open(path)
    try:
        async with batch.open_clients(api, manifest.run.rate, 4, download=False) as clients:
            return await cancel.cancel_jobs(store, clients.api, keys, notice=warner(ctx))
    finally:
        with anyio.CancelScope(shield=True):
            await store.close()


def _print(name: str, done: cancel.Cancelled, out: TextIO) -> None:
    out.write(f"{name}\n")
    for key, task_id in sorted(done.cancelled.items()):
        out.write(f"  cancelled      {key}  task {task_id}\n")
    for key, status in sorted(done.finished.items()):
        out.write(f"  {status:<15}{key}  (finished before the cancel reached it)\n")
    for key, reason in sorted(done.refused.items()):
        out.write(f"  not cancelled  {key}  {printable(reason)} (still in flight)\n")
    for key, reason in sorted(done.failed.items()):
        out.write(f"  cancel failed  {key}  {printable(reason)}\n")
    out.write(
        f"  {len(done.cancelled)} cancelled, {len(done.refused)} not cancellable, "
        f"{len(done.failed)} failed" + ("" if done.tried else " (no task in flight)") + "\n"
    )


def _code(done: cancel.Cancelled) -> int:
    if done.failed:
        return EXIT_FAILED
    return EXIT_IN_FLIGHT if done.refused else EXIT_OK


def _rank(code: int) -> int:
    """Precedence of the exit codes shared by the commands: 1 > 4 > 0."""
    return {EXIT_OK: 0, EXIT_IN_FLIGHT: 1, EXIT_FAILED: 2}[code]
