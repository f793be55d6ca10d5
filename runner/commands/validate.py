"""``vidbatch validate``: check manifests and print every problem found."""

from __future__ import annotations

import argparse
from typing import Any

from runner.cli import Context
from runner.commands.common import add_manifest_args, load_manifests


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "validate",
        help="validate manifests; print diagnostics (exit 0 or 2)",
        description="Validate manifests against the schemas and the model matrix. "
        "Prints one diagnostic per problem; sends nothing.",
    )
    add_manifest_args(parser)
    parser.set_defaults(func=main)


def main(ns: argparse.Namespace, ctx: Context) -> int:
    manifests = load_manifests(
        ns.manifests, ctx, allow_unknown_models=ns.allow_unknown_models, strict=ns.strict
    )
    for loaded in manifests:
        count = len(loaded.jobs)
        print(f"{loaded.display}: ok ({count} job{'s' if count != 1 else ''})", file=ctx.stdout)
    return 0
