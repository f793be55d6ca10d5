"""The flags several commands share, and what they mean, without the HTTP stack.

``plan`` and ``validate`` take these too, and never send a request: this module
imports neither httpx nor aiohttp (``batch`` builds the clients and re-exports
these names for the commands that send).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from runner.base.errors import UsageError

if TYPE_CHECKING:
    from runner.run.plan import Plan

DEFAULT_BASE_URL = "https://api.lemondata.cc"
SANDBOX_SPEED = 60.0  # the in-process sandbox runs tasks (and the poll clock) this much faster


def add_api_args(parser: argparse.ArgumentParser, *, sandbox: bool = True) -> None:
    if sandbox:
        parser.add_argument(
            "--sandbox",
            action="store_true",
            help="use the embedded sandbox in process (no key needed; time runs "
            f"{SANDBOX_SPEED:g}x faster)",
        )
    parser.add_argument(
        "--base-url",
        metavar="URL",
        help=f"API base URL (else $LEMONDATA_BASE_URL, else {DEFAULT_BASE_URL})",
    )


def add_lockfile_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lockfile", type=Path, metavar="FILE", help="lockfile path (one manifest only)"
    )


def add_only_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="GLOB",
        help="only job keys matching GLOB (repeatable)",
    )


def check_only(only: list[str], plans: list[Plan]) -> None:
    """An --only that selects no job at all is a typo, not a request to do nothing."""
    if only and not any(item.action != "remove" for plan in plans for item in plan.items):
        patterns = " ".join(only)
        raise UsageError(f"--only {patterns}: no job key matches (see `vidbatch plan`)")


def lockfile_option(ns: argparse.Namespace) -> Path | None:
    lockfile: Path | None = ns.lockfile
    if lockfile is not None and len(ns.manifests) != 1:
        raise UsageError("--lockfile can only be used with a single manifest")
    return lockfile
