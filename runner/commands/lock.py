"""``vidbatch lock merge FILES... -o LOCKFILE``: join shard lockfiles into one.

The output is replaced (name it among FILES too to merge into it), atomically,
under the same lock a run takes, so it is never written while a run holds it.
A job key whose entries differ between two inputs is an error naming it (exit 2)
and nothing is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import anyio

from runner.cli import Context
from runner.lock import lockmerge
from runner.lock.lockfile import LockStore


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "lock",
        help="merge shard lockfiles into one (lock merge FILES... -o LOCKFILE)",
        description="Work on lockfiles.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    merge = actions.add_parser(
        "merge",
        help="merge lockfiles (the shards of a run) into one",
        description="Merge lockfiles, e.g. those of `run --shard K/N`, into one: every "
        "entry of every input, sorted. The same job key with different entries in two "
        "inputs is an error naming it (exit 2), and nothing is written. The output is "
        "replaced; name it among FILES too to merge into it.",
    )
    merge.add_argument("files", nargs="+", type=Path, metavar="FILE", help="lockfiles to merge")
    merge.add_argument(
        "-o", "--output", type=Path, required=True, metavar="LOCKFILE", help="where to write"
    )
    merge.set_defaults(func=main)


def main(ns: argparse.Namespace, ctx: Context) -> int:
    missing = [str(path) for path in ns.files if not path.is_file()]
    if missing:
        ctx.error(f"no such lockfile: {', '.join(missing)}")
        return 2
    merged = lockmerge.merge(ns.files, ns.output)
    for problem in merged.problems:
        ctx.stderr.write(f"vidbatch: warning: {problem}\n")
    store = LockStore.open(ns.output)
    store.doc = merged.doc
    anyio.run(store.close)
    jobs = len(merged.doc["jobs"])
    ctx.stderr.write(f"lock merge: {len(ns.files)} file(s), {jobs} job(s) -> {ns.output}\n")
    return 0
