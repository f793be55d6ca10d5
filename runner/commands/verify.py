"""``vidbatch verify``: check every recorded output on disk against its sha256."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from runner.cli import Context
from runner.commands import flags
from runner.commands.common import add_manifest_args, load_manifests
from runner.lock import lockfile
from runner.manifest.inputs import sha256_of
from runner.run.plan import lock_path_for, recorded_file


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "verify",
        help="check every output on disk against its sha256",
        description="Check each output recorded in the lockfiles: present on disk and "
        "matching its sha256. Exit 1 when any is missing or differs.",
    )
    add_manifest_args(parser)
    flags.add_only_arg(parser)
    flags.add_lockfile_arg(parser)
    parser.set_defaults(func=main)


def main(ns: argparse.Namespace, ctx: Context) -> int:
    from runner.run.plan import selected

    manifests = load_manifests(
        ns.manifests, ctx, allow_unknown_models=ns.allow_unknown_models, strict=ns.strict
    )
    lock_option = flags.lockfile_option(ns)
    problems = checked = 0
    for manifest in manifests:
        path = lock_path_for(manifest, lock_option)
        jobs = lockfile.read(path)["jobs"]
        for job in manifest.jobs:
            entry = jobs.get(job.key)
            if not selected(job.key, ns.only) or not entry or entry["status"] != "completed":
                continue
            for output in entry.get("outputs") or []:
                checked += 1
                problem = check_output(path.parent, output)
                if problem:
                    problems += 1
                    where = f"{manifest.display}: {job.key}: {output.get('path')}"
                    ctx.stdout.write(f"{problem}: {where}\n")
    ctx.stdout.write(f"verify: {checked - problems} ok, {problems} missing or changed\n")
    return 1 if problems else 0


def check_output(folder: Path, output: dict[str, Any]) -> str | None:
    """``missing``, ``changed`` or None (the file matches its recorded sha256)."""
    if not output.get("path"):
        return "missing"
    file = recorded_file(folder, output["path"])
    if not file.is_file():
        return "missing"
    try:
        if sha256_of(file) != output.get("sha256"):
            return "changed"
    except OSError:  # unreadable, or swapped for a FIFO or a device
        return "changed"
    return None
