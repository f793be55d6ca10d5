"""Each model's price, read tolerantly from every place the provider publishes one.

Sources, strongest first: the price cache (``prices.json`` beside the model cache,
written by ``models --refresh`` and ``plan --fetch-prices`` from ``GET
/v1/pricing``), then the model catalog's pricing (the live list and detail that
``models --refresh`` cached, or the built-in catalog's listed price text such as
``$0.1–$0.3/second``). Prices are USD ``Decimal`` values, never floats; what a
source does not give stays unknown (None), and a unit we do not know is kept as
it was written so that the estimate can say why it has none.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from runner.base.files import write_atomic
from runner.catalog.models import ModelMatrix, cache_path

PER_SECOND = "per_second"
PER_REQUEST = "per_request"
PER_TOKENS = "per_1m_tokens"
STALE_AFTER = timedelta(days=1)
_MAX_PRICE = Decimal(1_000_000)  # a price above this per unit is not a price
_UNITS = {
    PER_SECOND: ("second", "seconds", "sec", "s", "per_second", "per_sec"),
    PER_REQUEST: ("request", "requests", "call", "video", "per_request", "per_call", "per_video"),
    PER_TOKENS: ("1m_tokens", "1m tokens", "per_1m_tokens", "per_million_tokens", "tokens"),
}
_LISTED = re.compile(r"\$\s*([0-9]+(?:\.[0-9]+)?)(?:\s*[-–—]\s*\$?\s*([0-9]+(?:\.[0-9]+)?))?")


@dataclass(frozen=True)
class Price:
    """One model's price: a unit and a [low, high] range in USD, or a lock price."""

    unit: str  # PER_SECOND, PER_REQUEST, PER_TOKENS, or an unknown unit as written
    low: Decimal | None = None
    high: Decimal | None = None
    lock: Decimal | None = None  # the lock price per request, when the API fixes one
    complex: bool = False  # the provider says options change the price
    source: str = ""
    read_at: str | None = None  # ISO 8601 UTC, when the source was read
    listed: str | None = None  # a listed text that holds no price ("See dashboard")

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"unit": self.unit, "has_complex_pricing": self.complex}
        for name, value in (("min_price", self.low), ("max_price", self.high)):
            data[name] = None if value is None else money_text(value)
        if self.lock is not None:
            data["lock_price_per_request"] = money_text(self.lock)
        if self.listed is not None:
            data["listed"] = self.listed
        data["source"] = self.source
        if self.read_at is not None:
            data["read_at"] = self.read_at
        return data


@dataclass(frozen=True)
class PriceBook:
    """The price of every model a source knows; ``read_at`` of the fetched part."""

    prices: Mapping[str, Price] = field(default_factory=dict)
    base_url: str | None = None
    read_at: str | None = None

    def price(self, model: str) -> Price | None:
        return self.prices.get(model)

    def stale(self, now: datetime) -> bool:
        """Whether the fetched prices are missing or older than a day."""
        when = _parse_stamp(self.read_at)
        return when is None or now - when > STALE_AFTER


def decimal(value: Any) -> Decimal | None:
    """A non-negative finite USD amount from a decimal string or a number; else None."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    text = value.strip().lstrip("$").strip() if isinstance(value, str) else repr(value)
    try:
        amount = Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    if not amount.is_finite() or amount < 0 or amount > _MAX_PRICE:
        return None
    return amount


def money_text(amount: Decimal) -> str:
    """``amount`` as a plain decimal string (no exponent), as the lockfile keeps it."""
    text = format(amount, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def unit_of(value: Any) -> str | None:
    """A unit's canonical name, the text as written when unknown, None when absent."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().lower().lstrip("/").replace("-", "_")
    text = text[4:] if text.startswith("per ") else text
    for unit, names in _UNITS.items():
        if text in names or text.replace(" ", "_") in names:
            return unit
    return value.strip()[:60]


def read_price(raw: Any, source: str, read_at: str | None = None) -> Price | None:
    """The price in one answer's pricing (list item, detail, pricing entry, compact
    ``pricing``, the catalog's ``listed`` text); None when it holds nothing."""
    if not isinstance(raw, Mapping):
        return None
    if isinstance(raw.get("listed"), str) and not _has_amounts(raw):
        return _listed(raw["listed"], source, read_at)
    places = [raw] + [raw[k] for k in _NESTED if isinstance(raw.get(k), Mapping)]
    unit = _first(places, ("unit", "pricing_unit"), unit_of)
    low = _first(places, ("min_price", "min", "price_min"), decimal)
    high = _first(places, ("max_price", "max", "price_max"), decimal)
    per_request = _first(places, ("per_request", "price_per_request"), decimal)
    lock = _first(places, ("lock_price_per_request", "lock_price"), decimal)
    if raw.get("is_lock_price") is False:
        lock = None
    tokens = _first(places, _TOKEN_KEYS, decimal)
    complex_ = any(p.get("has_complex_pricing") is True for p in places)
    if per_request is not None and (unit in (None, PER_REQUEST)):
        unit = PER_REQUEST
        low, high = low or per_request, high or per_request
    if unit is None and tokens is not None:
        unit = PER_TOKENS
    if unit is None and lock is not None:
        unit = PER_REQUEST
    if unit is None and low is None and high is None:
        return None
    low, high = _range(low, high)
    return Price(unit or "unknown", low, high, lock, complex_, source, read_at)


_NESTED = ("pricing", "pricing_summary", "scalar_pricing")
_TOKEN_KEYS = ("output_per_1m_tokens", "input_per_1m_tokens", "output_per_1m", "input_per_1m")


def _has_amounts(raw: Mapping[str, Any]) -> bool:
    return any(k in raw for k in ("min_price", "max_price", "per_request", "unit", "pricing"))


def _first(places: list[Any], keys: tuple[str, ...], read: Any) -> Any:
    for place in places:
        for key in keys:
            found = read(place.get(key))
            if found is not None:
                return found
    return None


def _range(low: Decimal | None, high: Decimal | None) -> tuple[Decimal | None, Decimal | None]:
    low, high = low if low is not None else high, high if high is not None else low
    if low is not None and high is not None and low > high:
        low, high = high, low
    return low, high


def _listed(text: str, source: str, read_at: str | None) -> Price:
    """A catalog's listed price text: ``$0.1–$0.3/second``, ``$0.28/request``,
    ``Output $2.2/1M tokens``, ``See dashboard``."""
    lowered = text.lower()
    if "token" in lowered:
        unit = PER_TOKENS
    elif "/request" in lowered or "per request" in lowered:
        unit = PER_REQUEST
    elif "/second" in lowered or "/s" in lowered or "per second" in lowered:
        unit = PER_SECOND
    else:
        unit = "unknown"
    found = _LISTED.search(text)
    if found is None:
        return Price("unknown", source=source, read_at=read_at, listed=text[:80])
    low, high = _range(decimal(found.group(1)), decimal(found.group(2)))
    return Price(unit, low, high, complex=low != high, source=source, read_at=read_at)


def from_catalog(matrix: ModelMatrix) -> PriceBook:
    """The prices the model catalog carries (built-in listed text, or a live cache's)."""
    source = "built-in catalog" if matrix.source == "built-in" else f"model cache {matrix.source}"
    prices = {}
    for model, info in matrix.models.items():
        found = read_price(info.pricing, source, matrix.refreshed_at)
        if found is not None:
            prices[model] = found
    return PriceBook(prices, matrix.base_url, matrix.refreshed_at)


def from_pricing(body: Any, source: str, read_at: str) -> dict[str, Price]:
    """The models of a ``GET /v1/pricing`` answer (``{data: [entry...]}``), tolerantly."""
    items = body.get("data") if isinstance(body, Mapping) else body
    prices: dict[str, Price] = {}
    for entry in items if isinstance(items, list) else ():
        if not isinstance(entry, Mapping):
            continue
        model = entry.get("model", entry.get("id"))
        if not isinstance(model, str) or not model.isprintable() or not 0 < len(model) <= 200:
            continue
        found = read_price(entry, source, read_at)
        if found is not None and model not in prices:
            prices[model] = found
    return prices


def path_for(environ: Mapping[str, str]) -> Path:
    """Where fetched prices are kept: ``prices.json`` beside the model cache."""
    return cache_path(environ).with_name("prices.json")


def read_cache(path: Path) -> PriceBook | None:
    """The fetched prices in ``path``; None when there is no usable file."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        return None
    read_at = data.get("read_at") if isinstance(data.get("read_at"), str) else None
    source = f"price cache {path}"
    prices = {}
    for model, raw in data["models"].items():
        found = read_price(raw, source, read_at)
        if found is not None:
            prices[str(model)] = found
    base_url = data.get("base_url") if isinstance(data.get("base_url"), str) else None
    return PriceBook(prices, base_url, read_at)


def write_cache(path: Path, book: PriceBook) -> None:
    """Write ``book`` to ``path`` atomically."""
    data = {
        "base_url": book.base_url,
        "read_at": book.read_at,
        "models": {
            m: {k: v for k, v in p.as_json().items() if k not in ("source", "read_at")}
            for m, p in sorted(book.prices.items())
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def load(environ: Mapping[str, str], matrix: ModelMatrix) -> PriceBook:
    """The prices estimates use: the fetched ones over the catalog's."""
    base = from_catalog(matrix)
    fetched = read_cache(path_for(environ))
    return base if fetched is None else overlay(base, fetched)


def overlay(base: PriceBook, fetched: PriceBook) -> PriceBook:
    """``fetched``'s prices, with ``base``'s for the models it lacks."""
    return PriceBook({**base.prices, **fetched.prices}, fetched.base_url, fetched.read_at)


def stamp(now: datetime | None = None) -> str:
    return (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_stamp(text: str | None) -> datetime | None:
    try:
        return datetime.strptime(str(text), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
