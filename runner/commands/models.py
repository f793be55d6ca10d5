"""``vidbatch models``: the model matrix, and ``--refresh`` to cache the live one."""

from __future__ import annotations

import argparse
import json
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx

from runner import models
from runner.cli import Context
from runner.errors import ConfigError, UsageError

DEFAULT_BASE_URL = "https://api.lemondata.cc"
_LOOPBACK = ("localhost", "127.0.0.1", "::1")
COLUMNS = (
    ("text", "text-to-video"),
    ("image", "image-to-video"),
    ("ref", "reference-to-video"),
    ("start-end", "start-end-to-video"),
    ("video", "video-to-video"),
    ("extend", "video-extension"),
    ("audio", "audio-to-video"),
    ("motion", "motion-control"),
)


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "models",
        help="show the model matrix (model by operation); --refresh reads the live list",
        description="Show which operations each model supports. Validation uses the "
        "built-in matrix, or the cache that --refresh writes from the live API "
        "(GET /v1/models and each model's detail) when there is one.",
    )
    parser.add_argument("--json", action="store_true", help="print the matrix as JSON")
    parser.add_argument(
        "--refresh",
        action="store_true",
        help="read the live model list (needs LEMONDATA_API_KEY) and cache it for validation",
    )
    parser.add_argument("--base-url", metavar="URL", help="API base URL for --refresh")
    parser.add_argument(
        "--sandbox", action="store_true", help="--refresh from the embedded sandbox"
    )
    parser.set_defaults(func=main)


def main(ns: argparse.Namespace, ctx: Context) -> int:
    cache = models.cache_path(ctx.environ)
    if ns.refresh:
        matrix = anyio.run(_fetch, ns, ctx)
        models.write_cache(cache, matrix)
        print(f"cached {len(matrix.models)} models from the live list in {cache}", file=ctx.stderr)
    elif ns.sandbox or ns.base_url:
        raise UsageError("--base-url and --sandbox apply only with --refresh")
    matrix = models.load(cache)
    if ns.json:
        print(json.dumps(models.to_json(matrix), indent=2), file=ctx.stdout)
    else:
        ctx.stdout.write(render_table(matrix))
    return 0


def render_table(matrix: models.ModelMatrix) -> str:
    """The matrix as a text table, one model a line, an ``x`` per supported operation."""
    width = max([len("model"), *(len(m) for m in matrix.models)])
    lines = ["  ".join(["model".ljust(width), *(name for name, _ in COLUMNS)])]
    for model, ops in sorted(matrix.models.items()):
        cells = [("x" if op in ops else ".").center(len(name)) for name, op in COLUMNS]
        lines.append("  ".join([model.ljust(width), *cells]).rstrip())
    count = len(matrix.models)
    lines += ["", f"{count} model{'s' if count != 1 else ''}; source: {matrix.source}"]
    lines.append("columns: " + ", ".join(f"{name} = {op}" for name, op in COLUMNS))
    return "\n".join(lines) + "\n"


async def _fetch(ns: argparse.Namespace, ctx: Context) -> models.ModelMatrix:
    async with _client(ns, ctx) as client:
        return await models.fetch_live(client)


def _client(ns: argparse.Namespace, ctx: Context) -> httpx.AsyncClient:
    if ns.sandbox:
        from runner.sandbox import Sandbox, SandboxConfig, transport

        return httpx.AsyncClient(
            transport=transport(Sandbox(SandboxConfig())),
            base_url="http://sandbox.invalid",
            headers={"Authorization": "Bearer sk-sandbox"},
        )
    key = ctx.environ.get("LEMONDATA_API_KEY", "").strip()
    if not key:
        raise ConfigError("models --refresh needs LEMONDATA_API_KEY set (or use --sandbox)")
    base = ns.base_url or ctx.environ.get("LEMONDATA_BASE_URL") or DEFAULT_BASE_URL
    _check_base_url(base)
    return httpx.AsyncClient(
        base_url=base,
        headers={"Authorization": f"Bearer {key}"},
        timeout=httpx.Timeout(30.0),
        follow_redirects=False,
    )


def _check_base_url(base: str) -> None:
    parts = urlsplit(base)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname in _LOOPBACK:
        return
    raise ConfigError(
        f"base URL {base!r} refused: the API key is sent only over https (or plain http "
        "to localhost)"
    )
