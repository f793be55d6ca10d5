"""``vidbatch schema``: print a JSON Schema for editors and other tools."""

from __future__ import annotations

import argparse
from typing import Any

from runner.base import schema
from runner.cli import Context


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "schema",
        help="print a JSON Schema (manifest, request or lockfile)",
        description="Print one of the JSON Schemas shipped with vidbatch.",
    )
    parser.add_argument("name", choices=sorted(schema.SCHEMA_FILES), help="which schema")
    parser.set_defaults(func=main)


def main(ns: argparse.Namespace, ctx: Context) -> int:
    ctx.stdout.write(schema.read_text(schema.SCHEMA_FILES[ns.name]))
    return 0
