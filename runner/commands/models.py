"""``vidbatch models``: the model matrix, and ``--refresh`` to cache the live one."""

from __future__ import annotations

import argparse
import json
from typing import Any

import anyio
import httpx

from runner.base.errors import UsageError, WriteError
from runner.catalog import models, prices, refresh
from runner.cli import Context
from runner.commands import batch

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
        matrix, book = anyio.run(_fetch, ns, ctx)
        try:
            models.write_cache(cache, matrix)
        except OSError as err:
            raise WriteError(f"cannot write the model cache {cache}: {err.strerror}") from None
        count = len(matrix.models)
        print(f"cached {count} models from {matrix.base_url} in {cache}", file=ctx.stderr)
        _cache_prices(book, ctx)
    elif ns.sandbox or ns.base_url:
        raise UsageError("--base-url and --sandbox apply only with --refresh")
    matrix = models.load(cache)
    book = prices.load(ctx.environ, matrix)
    if ns.json:
        data = models.to_json(matrix)
        data["prices"] = {m: p.as_json() for m, p in sorted(book.prices.items())}
        print(json.dumps(data, indent=2), file=ctx.stdout)
    else:
        ctx.stdout.write(render_table(matrix, book))
    return 0


def _cache_prices(book: prices.PriceBook, ctx: Context) -> None:
    """Keep the prices the refresh read, with when, for estimates (``runner.catalog.prices``)."""
    path = prices.path_for(ctx.environ)
    try:
        prices.write_cache(path, book)
    except OSError as err:
        raise WriteError(f"cannot write the price cache {path}: {err.strerror}") from None
    print(f"cached the prices of {len(book.prices)} models in {path}", file=ctx.stderr)


def render_table(matrix: models.ModelMatrix, book: prices.PriceBook | None = None) -> str:
    """The catalog as a text table, one model a line: ``x`` per supported operation,
    ``?`` where no source documents the model's operations; then, with ``book``, its
    price; then its lifecycle."""
    width = max([len("model"), *(len(m) for m in matrix.models)])
    shown = {m: _price(book.price(m)) for m in matrix.models} if book is not None else {}
    price_width = max([len("price"), *(len(p) for p in shown.values())])
    head = ["model".ljust(width), *(name for name, _ in COLUMNS)]
    lines = ["  ".join(head + (["price"] if book is not None else []))]
    for model, info in sorted(matrix.models.items()):
        cells = [_cell(info.operations, op).center(len(name)) for name, op in COLUMNS]
        if book is not None:
            cells.append(shown[model].ljust(price_width))
        lines.append("  ".join([model.ljust(width), *cells, _lifecycle(info)]).rstrip())
    count = len(matrix.models)
    made = ""
    if matrix.base_url or matrix.refreshed_at:  # a refreshed cache says where and when
        made = f" (from {matrix.base_url or 'an unknown API'} at {matrix.refreshed_at or '?'})"
    lines += ["", f"{count} model{'s' if count != 1 else ''}; source: {matrix.source}{made}"]
    lines.append("columns: " + ", ".join(f"{name} = {op}" for name, op in COLUMNS))
    if any(info.operations is None for info in matrix.models.values()):
        lines.append("?: operations not documented; validation warns instead of refusing")
    if book is not None:
        sources = sorted({p.source for p in book.prices.values()}) or ["none"]
        when = f", read at {book.read_at}" if book.read_at else ""
        lines.append(f"prices (USD): {', '.join(sources)}{when}; -: none listed")
    return "\n".join(lines) + "\n"


def _price(price: prices.Price | None) -> str:
    """``$0.1-$0.3/s``, ``$0.35/request (lock)``, ``per 1M tokens``, or ``-``."""
    if price is None:
        return "-"
    if price.lock is not None:
        return f"${prices.money_text(price.lock)}/request (lock)"
    if price.unit == prices.PER_TOKENS:
        return "per 1M tokens"
    if price.low is None or price.high is None:
        return "-"
    low, high = prices.money_text(price.low), prices.money_text(price.high)
    span = f"${low}" if low == high else f"${low}-${high}"
    unit = {prices.PER_SECOND: "/s", prices.PER_REQUEST: "/request"}.get(price.unit)
    return span + (unit or f" {price.unit}")


def _cell(operations: tuple[str, ...] | None, operation: str) -> str:
    if operations is None:
        return "?"
    return "x" if operation in operations else "."


def _lifecycle(info: models.ModelInfo) -> str:
    if info.stage in (None, "active"):
        return ""
    return f"{info.stage}, use {info.replacement}" if info.replacement else str(info.stage)


async def _fetch(
    ns: argparse.Namespace, ctx: Context
) -> tuple[models.ModelMatrix, prices.PriceBook]:
    """The live catalog, and the prices: the public price list over what the model
    answers carried (an API without ``/v1/pricing`` keeps the latter alone)."""
    async with _client(ns, ctx) as client:
        matrix = await refresh.fetch_live(client)
        book = prices.from_catalog(matrix)
        try:
            book = prices.overlay(book, await refresh.fetch_pricing(client))
        except refresh.RefreshError as err:
            ctx.error(f"{err}; the prices the model list gave are kept")
        return matrix, book


def _client(ns: argparse.Namespace, ctx: Context) -> httpx.AsyncClient:
    """A client for the API (or the in-process sandbox) with the key on every request."""
    api = batch.api_settings(ns, ctx.environ)
    return httpx.AsyncClient(
        base_url=api.base_url,
        headers={"Authorization": f"Bearer {api.key}"},
        timeout=batch.API_TIMEOUT,
        transport=_sandbox_transport() if api.sandbox else None,
    )


def _sandbox_transport() -> httpx.AsyncBaseTransport:
    sandbox, transport = batch.in_process_sandbox()
    return transport(sandbox)
