"""``vidbatch status``: each job's state from the lockfile; ``--refresh`` polls first."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import anyio

from runner.base.apitext import printable
from runner.catalog import costs
from runner.cli import Context
from runner.commands import batch, flags
from runner.commands.common import add_manifest_args, load_manifests, warner
from runner.lock import lockfile
from runner.lock.lockfile import LockStore, is_orphan
from runner.manifest.job import Manifest
from runner.run import shards
from runner.run.plan import lock_path_for, missing_outputs, selected
from runner.run.session import refresh_once


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "status",
        help="show each job's state from the lockfile",
        description="Show each job's status, task id, attempts and outputs from the "
        "lockfile. --refresh polls the tasks in flight once first (needs the API key).",
    )
    add_manifest_args(parser)
    parser.add_argument("--refresh", action="store_true", help="poll tasks in flight once")
    parser.add_argument("--json", action="store_true", help="print JSON")
    flags.add_only_arg(parser)
    flags.add_api_args(parser, sandbox=False)
    flags.add_lockfile_arg(parser)
    parser.add_argument(
        "--shard",
        type=shards.parse,
        metavar="K/N",
        help="only the jobs of shard K of N, as `run --shard K/N` sees them",
    )
    parser.set_defaults(func=main)


def main(ns: argparse.Namespace, ctx: Context) -> int:
    manifests = load_manifests(
        ns.manifests, ctx, allow_unknown_models=ns.allow_unknown_models, strict=ns.strict
    )
    lock_option = flags.lockfile_option(ns)
    paths = [lock_path_for(m, lock_option) for m in manifests]
    if ns.shard is not None:
        manifests = [shards.restrict(m, ns.shard) for m in manifests]
    if ns.refresh:
        api = batch.api_settings(ns, ctx.environ)
        for manifest, path in zip(manifests, paths, strict=True):
            if ns.shard is not None:  # polls are recorded where that shard's run keeps them
                shards.seed(path, lock_path_for(manifest, None), ns.shard)
            keys = [j.key for j in manifest.jobs if selected(j.key, ns.only)]
            anyio.run(_refresh, path, api, keys, manifest.run.rate, warner(ctx))
    reports = [_report(m, p, ns.only, ns.shard) for m, p in zip(manifests, paths, strict=True)]
    if ns.json:
        ctx.stdout.write(json.dumps({"manifests": reports}, indent=2, sort_keys=True) + "\n")
    else:
        for report in reports:
            _print(report, ctx.stdout)
    return 0


async def _refresh(
    path: Path, api: batch.Api, keys: list[str], rate: float, notice: Callable[[str], None]
) -> None:
    store = LockStore.open(path)
    try:
        async with batch.open_clients(api, rate, 1, download=False) as clients:
            await refresh_once(store, clients.api, keys, notice)
    finally:
        with anyio.CancelScope(shield=True):
            await store.close()


def _report(
    manifest: Manifest, path: Path, only: list[str], shard: shards.Shard | None
) -> dict[str, Any]:
    jobs = shards.starting_view(path, lock_path_for(manifest, None), shard)["jobs"]
    rows = []
    for job in manifest.jobs:
        if not selected(job.key, only):
            continue
        entry = jobs.get(job.key)
        rows.append(_row(job.key, entry, path.parent, job.fingerprint))
    counts = Counter(row["status"] for row in rows)
    recorded = [costs.from_json(row.get("estimate")) for row in rows]
    return {
        "manifest": manifest.display,
        "lockfile": str(path),
        "shard": None if shard is None else str(shard),
        "counts": dict(sorted(counts.items())),
        "jobs": rows,
        # what the recorded creates were sent under (entries from before estimates: none)
        "estimated": costs.total(found for found in recorded if found is not None).as_json(),
    }


def _row(key: str, entry: Any, folder: Path, fingerprint: str) -> dict[str, Any]:
    if not isinstance(entry, dict):
        return {"job": key, "status": "not submitted"}
    status = "uncertain" if is_orphan(entry) else entry["status"]
    outputs = entry.get("outputs") or []
    return {
        "job": key,
        "status": status,
        "changed": entry.get("fingerprint") != fingerprint,
        "task_id": entry.get("task_id"),
        "attempts": entry.get("attempts", 0),
        "outputs": len(outputs),
        "missing_outputs": len(missing_outputs(entry, folder)) if outputs else 0,
        "error": (entry.get("error") or {}).get("message"),
        "submitted_at": entry.get("submitted_at"),
        "last_polled_at": entry.get("last_polled_at"),
        "cancelled": entry.get("cancelled") is True,
        "estimate": entry.get("estimate"),
    }


def _print(report: dict[str, Any], out: TextIO) -> None:
    part = f", shard {report['shard']}" if report["shard"] else ""
    out.write(f"{report['manifest']} (lockfile {Path(report['lockfile']).name}{part})\n")
    width = max((len(row["job"]) for row in report["jobs"]), default=0)
    for row in report["jobs"]:
        details = []
        if row.get("task_id"):
            details.append(f"task {row['task_id']}")
        if row["status"] in lockfile.IN_FLIGHT and row.get("task_id"):
            details.append(f"submitted {row.get('submitted_at') or 'at an unknown time'}")
            details.append(f"last polled {row.get('last_polled_at') or 'never'}")
        if row.get("cancelled"):
            details.append("cancelled")
        if row.get("outputs"):
            on_disk = row["outputs"] - row["missing_outputs"]
            details.append(f"{on_disk}/{row['outputs']} outputs on disk")
        found = costs.from_json(row.get("estimate"))
        if found is not None:
            details.append(f"sent under {found.text()}")
        if row.get("changed"):
            details.append("manifest changed since")
        if row.get("error") and row["status"] != "completed":
            details.append(printable(row["error"]))  # API text: no escapes to the terminal
        out.write(f"  {row['status']:<14}{row['job']:<{width}}  {'; '.join(details)}\n")
    totals = ", ".join(f"{n} {status}" for status, n in report["counts"].items())
    out.write(f"  {totals or 'no jobs selected'}\n")
    recorded = [costs.from_json(row.get("estimate")) for row in report["jobs"]]
    spent = costs.total(found for found in recorded if found is not None)
    if spent.priced or spent.unpriced:
        out.write(f"  estimated {spent.text()} (each job's last create, as it was sent)\n")
