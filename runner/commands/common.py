"""What several commands share: loading manifests with the right model matrix."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

from runner.base.apitext import printable
from runner.base.diagnostics import Diagnostic
from runner.base.errors import ManifestError
from runner.catalog import models
from runner.cli import Context
from runner.manifest import loader
from runner.manifest.job import Manifest


def add_manifest_args(parser: argparse.ArgumentParser) -> None:
    """The manifests, and --allow-unknown-models, which every command reading them takes."""
    parser.add_argument("manifests", nargs="+", metavar="MANIFEST", help="manifest YAML file(s)")
    parser.add_argument(
        "--allow-unknown-models", action="store_true", help="accept models missing from the catalog"
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="treat warnings (what the model catalog doubts) as errors",
    )


def load_manifests(
    paths: Sequence[str],
    ctx: Context,
    *,
    allow_unknown_models: bool = False,
    strict: bool = False,
) -> list[Manifest]:
    """Every manifest, validated; one ManifestError carrying all problems of all of them.

    The warnings of the manifests that load are printed to stderr.
    """
    matrix = models.load(models.cache_path(ctx.environ))
    loaded: list[Manifest] = []
    problems: list[Diagnostic] = []
    for name in paths:
        try:
            loaded.append(
                loader.load(
                    Path(name),
                    display=name,
                    matrix=matrix,
                    allow_unknown_models=allow_unknown_models,
                    strict=strict,
                )
            )
        except ManifestError as err:
            problems.extend(err.diagnostics)
    if problems:
        raise ManifestError([*problems, *(w for m in loaded for w in m.warnings)])
    for warning in (w for m in loaded for w in m.warnings):
        print(warning, file=ctx.stderr)
    return loaded


def warner(ctx: Context) -> Callable[[str], None]:
    """Where a command tells of a wait or a request that got no answer: stderr, one
    line, with what the API sent made printable."""

    def warn(message: str) -> None:
        ctx.stderr.write(f"vidbatch: warning: {printable(message)}\n")
        ctx.stderr.flush()

    return warn
