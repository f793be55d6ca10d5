"""The price book plan and run estimate with, and the flag that refreshes it.

Adapter code: it reads the cache paths from the environment, and with
``--fetch-prices`` (or on the sandbox) reads ``GET /v1/pricing``, which is
public: no key is sent. httpx and the client are imported only then, so a
``plan`` that reads the cached or built-in prices sends nothing and loads no
HTTP stack.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime, timezone

import anyio

from runner.base.errors import VidbatchError
from runner.catalog import models, prices
from runner.catalog.prices import PriceBook
from runner.cli import Context

Notice = Callable[[str], None]


def add_fetch_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fetch-prices",
        action="store_true",
        help="read current public prices (GET /v1/pricing, no key) when the cached ones "
        "are missing or older than a day",
    )


def price_book(
    ns: argparse.Namespace, ctx: Context, notice: Notice
) -> tuple[models.ModelMatrix, PriceBook]:
    """The catalog and the prices estimates use.

    On the sandbox, the sandbox's own prices (its ``GET /v1/pricing``, in process;
    nothing is cached). With ``--fetch-prices``, the public prices of the API when
    the cached ones are missing or older than a day, written to the price cache;
    a failure to read them is told and the cached or built-in prices are used.
    """
    matrix = models.load(models.cache_path(ctx.environ))
    book = prices.load(ctx.environ, matrix)
    fetch = getattr(ns, "fetch_prices", False)
    if getattr(ns, "sandbox", False):
        return matrix, prices.overlay(book, anyio.run(_fetch, ns, ctx))
    path = prices.path_for(ctx.environ)
    cached = prices.read_cache(path)
    if not fetch or (cached is not None and not cached.stale(datetime.now(timezone.utc))):
        return matrix, book
    try:
        fetched = anyio.run(_fetch, ns, ctx)
    except VidbatchError as err:
        notice(f"cannot read current prices ({err}); estimates use {_said(book)}")
        return matrix, book
    try:
        prices.write_cache(path, fetched)
    except OSError as err:
        notice(f"cannot cache the prices in {path}: {err.strerror}")
    return matrix, prices.overlay(book, fetched)


async def _fetch(ns: argparse.Namespace, ctx: Context) -> PriceBook:
    import httpx

    from runner.catalog import refresh
    from runner.commands import batch

    api = batch.api_settings(ns, ctx.environ, need_key=False)
    transport = None
    if api.sandbox:
        sandbox, make = batch.in_process_sandbox()
        transport = make(sandbox)
    async with httpx.AsyncClient(
        base_url=api.base_url, timeout=batch.API_TIMEOUT, transport=transport
    ) as client:  # no Authorization header: the prices are public
        return await refresh.fetch_pricing(client)


def _said(book: PriceBook) -> str:
    if book.read_at:
        return f"the prices read at {book.read_at}"
    return "the built-in catalog's listed prices"
