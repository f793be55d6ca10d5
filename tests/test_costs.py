"""Prices read from every shape, and the estimate of one job for each unit."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from runner.catalog import costs, prices, refresh
from runner.catalog.costs import Estimate, estimate
from runner.catalog.models import Limits, ModelInfo, ModelMatrix, builtin
from runner.catalog.prices import Price, PriceBook, read_price
from runner.lock import lockentry
from tests.netguard import no_network  # noqa: F401

D = Decimal


def book(**by_model: Price) -> PriceBook:
    return PriceBook(by_model)


def matrix(**by_model: ModelInfo) -> ModelMatrix:
    return ModelMatrix(by_model, "test")


PER_SECOND = Price("per_second", D("0.10"), D("0.30"))


def test_per_second_times_the_duration_asked_for() -> None:
    found = estimate({"model": "m", "duration": 8}, matrix(), book(m=PER_SECOND))
    assert found == Estimate(D("0.80"), D("2.40"), "per second x 8 s")
    assert found.text() == "$0.80-$2.40 (per second x 8 s)"
    assert found.as_json() == {"min_usd": "0.8", "max_usd": "2.4", "basis": "per second x 8 s"}


@pytest.mark.parametrize("duration", [None, -1])
def test_a_duration_left_to_the_model_spans_the_durations_the_catalog_lists(
    duration: int | None,
) -> None:
    info = ModelInfo(
        limits=Limits(durations=("4", "8")),
        by_operation={"image-to-video": Limits(durations=("5", "10", "12"))},
    )
    request: dict[str, Any] = {"model": "m", "operation": "image-to-video"}
    if duration is not None:
        request["duration"] = duration
    found = estimate(request, matrix(m=info), book(m=PER_SECOND))
    assert (found.low, found.high) == (D("0.50"), D("3.60"))  # 0.10 x 5 s .. 0.30 x 12 s
    assert found.basis == "per second x 5-12 s, the model picks"
    text_to_video = estimate({"model": "m"}, matrix(m=info), book(m=PER_SECOND))
    assert (text_to_video.low, text_to_video.high) == (D("0.40"), D("2.40"))


def test_without_listed_durations_the_upper_bound_is_the_longest_the_api_takes() -> None:
    found = estimate({"model": "m"}, matrix(m=ModelInfo()), book(m=PER_SECOND))
    assert (found.low, found.high) == (D("0.10"), D("18.00"))
    assert "catalog lists no durations" in found.basis


def test_per_request_and_lock_price() -> None:
    per_request = Price("per_request", D("0.28"), D("0.56"))
    assert estimate({"model": "m", "duration": 10}, matrix(), book(m=per_request)) == Estimate(
        D("0.28"), D("0.56"), "per request"
    )
    locked = Price("per_request", D("0.28"), D("0.56"), lock=D("0.35"))
    assert estimate({"model": "m"}, matrix(), book(m=locked)) == Estimate(
        D("0.35"), D("0.35"), "lock price per request"
    )
    assert estimate({"model": "m"}, matrix(), book(m=locked)).text() == (
        "$0.35 (lock price per request)"
    )


@pytest.mark.parametrize(
    ("price", "reason"),
    [
        (None, "no price listed for m"),
        (Price("per_1m_tokens", D("2"), D("6")), "m is priced per 1M tokens"),
        (Price("per_image", D("1"), D("1")), "m is priced in an unknown unit ('per_image')"),
        (Price("unknown", listed="See dashboard"), "no price listed for m: 'See dashboard'"),
        (Price("per_second"), "no price listed for m"),
    ],
)
def test_unknown_estimates_say_why(price: Price | None, reason: str) -> None:
    prices_ = book() if price is None else book(m=price)
    found = estimate({"model": "m", "duration": 5}, matrix(), prices_)
    assert not found.known and found.basis.startswith(reason)
    assert found.as_json() == {"min_usd": None, "max_usd": None, "unknown": found.basis}
    assert found.text().startswith("unpriced (")


def test_decimal_arithmetic_has_no_float_error() -> None:
    price = Price("per_second", D("0.136363636364"), D("0.181818181818"))
    found = estimate({"model": "m", "duration": 3}, matrix(), book(m=price))
    assert found.high == D("0.545454545454")
    total = costs.total([found] * 3 + [costs.unknown("x")])
    assert total.high == D("1.636363636362") and total.priced == 3 and total.unpriced == 1
    assert total.text() == "$1.22-$1.64, 1 unpriced"  # low rounded down, high up


def test_the_built_in_catalog_s_listed_prices() -> None:
    found = prices.from_catalog(builtin())
    assert found.price("veo3.1") == Price(
        "per_second", D("0.1"), D("0.3"), complex=True, source="built-in catalog"
    )
    per_request = found.price("hailuo-2.3")
    assert per_request is not None and per_request.unit == "per_request"
    tokens = found.price("seedance-2.0")
    assert tokens is not None and tokens.unit == "per_1m_tokens"
    dashboard = found.price("viduq2-pro")
    assert dashboard is not None and dashboard.listed == "See dashboard"
    assert found.price("sora-2") is None  # the first page lists no prices


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (  # the compact list's pricing object
            {"unit": "per_second", "currency": "USD", "min_price": "0.05", "max_price": "0.15"},
            ("per_second", "0.05", "0.15", None),
        ),
        (  # a detail's tokenlab object: pricing nested, pricing_unit beside it
            {"pricing": {"min_price": "0.2", "max_price": 0.4}, "pricing_unit": "second"},
            ("per_second", "0.2", "0.4", None),
        ),
        (  # a GET /v1/pricing entry with a lock price
            {"model": "m", "is_lock_price": True, "lock_price_per_request": "$0.35"},
            ("per_request", None, None, "0.35"),
        ),
        (  # a lock price the entry says is none
            {"is_lock_price": False, "lock_price_per_request": "0.35", "pricing_unit": "request"},
            None,
        ),
        ({"unit": "per_request", "per_request": "0.28"}, ("per_request", "0.28", "0.28", None)),
        ({"output_per_1m_tokens": "2.2"}, ("per_1m_tokens", None, None, None)),
        (
            {"unit": "per_second", "min_price": "0.3", "max_price": "0.1"},
            ("per_second", "0.1", "0.3", None),
        ),
        (
            {"unit": "per_second", "min_price": "NaN", "max_price": "-1"},
            ("per_second", None, None, None),
        ),
        (
            {"unit": "per_second", "min_price": True, "max_price": [1]},
            ("per_second", None, None, None),
        ),
        ({"unit": "per frame", "min_price": "1e400"}, ("per frame", None, None, None)),
        ({"listed": "$0.28–$0.56/request"}, ("per_request", "0.28", "0.56", None)),
        ({"currency": "USD"}, None),
        ("not an object", None),
    ],
)
def test_prices_are_read_tolerantly(raw: Any, expected: tuple[Any, ...] | None) -> None:
    found = read_price(raw, "s")
    if expected is None:
        assert found is None or (found.low is None and found.lock is None)
        return
    assert found is not None
    unit, low, high, lock = expected
    assert found.unit == unit
    assert found.low == (None if low is None else D(low))
    assert found.high == (None if high is None else D(high))
    assert found.lock == (None if lock is None else D(lock))


def test_a_pricing_answer_and_its_cache(tmp_path: Path) -> None:
    body = {
        "object": "pricing",
        "data": [
            {"model": "a", "is_lock_price": True, "lock_price_per_request": "0.35"},
            {"model": "b", "pricing_summary": {"unit": "per_second", "min_price": "0.1"}},
            {"model": "a", "lock_price_per_request": "9"},  # a duplicate: the first wins
            {"model": "\x1b[31m", "pricing_unit": "request"},
            {"provider": "no model"},
            "junk",
        ],
    }
    found = prices.from_pricing(body, "GET /v1/pricing", "2026-01-01T00:00:00Z")
    assert sorted(found) == ["a", "b"] and found["a"].lock == D("0.35")
    path = tmp_path / "prices.json"
    prices.write_cache(path, PriceBook(found, "https://api.example", "2026-01-01T00:00:00Z"))
    again = prices.read_cache(path)
    assert again is not None and again.read_at == "2026-01-01T00:00:00Z"
    assert again.prices["a"].lock == D("0.35") and again.prices["b"].low == D("0.1")
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert not again.stale(now + timedelta(hours=23))
    assert again.stale(now + timedelta(hours=25))
    path.write_text("{not json")
    assert prices.read_cache(path) is None


def test_fetched_prices_win_over_the_catalog_s(tmp_path: Path) -> None:
    environ = {"XDG_CACHE_HOME": str(tmp_path)}
    fetched = {"veo3.1": Price("per_second", D("0.2"), D("0.2"))}
    prices.write_cache(prices.path_for(environ), PriceBook(fetched, None, "2026-01-01T00:00:00Z"))
    merged = prices.load(environ, builtin())
    assert merged.price("veo3.1") == Price(
        "per_second",
        D("0.2"),
        D("0.2"),
        source=f"price cache {prices.path_for(environ)}",
        read_at="2026-01-01T00:00:00Z",
    )
    veo_fast = merged.price("veo3.1-fast")
    assert veo_fast is not None and veo_fast.source == "built-in catalog"


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (
            {"error": {"estimated_cost_usd": 1.2, "balance_usd": 0.35}},
            "; the request would cost $1.20 and the balance is $0.35",
        ),
        ({"error": {"balance_usd": -0.5}}, "; the balance is -$0.50"),
        ({"error": {"estimated_cost_usd": "NaN", "balance_usd": None}}, ""),
        ({"error": "Insufficient balance"}, ""),
        (None, ""),
    ],
)
def test_what_a_402_says_of_the_money(body: Any, said: str) -> None:
    assert costs.payment_detail(body) == said


def test_recorded_estimates_load_and_bad_ones_are_dropped() -> None:
    good = {"min_usd": "0.2", "max_usd": "0.75", "basis": "per second x 5 s"}
    assert costs.from_json(good) == Estimate(D("0.2"), D("0.75"), "per second x 5 s")
    assert costs.from_json({"min_usd": None, "max_usd": None, "unknown": "why"}) == (
        costs.unknown("why")
    )
    assert costs.from_json(None) is None and costs.from_json({"min_usd": "x"}) is None
    base = {
        "fingerprint": "sha256:" + "0" * 64,
        "request": {},
        "seed": 1,
        "status": "completed",
        "attempts": 1,
        "outputs": [],
    }
    jobs: dict[str, Any] = {
        "old": dict(base),  # written before estimates: fine as it is
        "good": base | {"estimate": good},
        "bad": base | {"estimate": {"min_usd": 1, "max_usd": "2", "basis": "b"}},
        "mixed": base | {"estimate": {"min_usd": None, "max_usd": None, "basis": "b"}},
    }
    assert lockentry.repair(jobs) == [
        "bad: invalid estimate in the lockfile, ignored",
        "mixed: invalid estimate in the lockfile, ignored",
    ]
    assert jobs["bad"]["estimate"] is None and jobs["good"]["estimate"] == good
    assert "estimate" not in jobs["old"]


def fetch_pricing(handler: Any) -> PriceBook:
    async def go() -> PriceBook:
        async with httpx.AsyncClient(
            transport=httpx.MockTransport(handler), base_url="https://api.example"
        ) as client:
            return await refresh.fetch_pricing(client, datetime(2026, 3, 1, tzinfo=timezone.utc))

    return anyio.run(go)


def test_the_public_price_list_is_read_without_a_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = {"object": "pricing", "data": [{"model": "m", "lock_price_per_request": "0.3"}]}
        return httpx.Response(200, json=body)

    found = fetch_pricing(handler)
    assert [str(r.url) for r in seen] == ["https://api.example/v1/pricing"]
    assert "authorization" not in seen[0].headers
    assert found.read_at == "2026-03-01T00:00:00Z" and found.base_url == "https://api.example"
    assert found.prices["m"].lock == D("0.3")


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (httpx.Response(404, json={"error": {"message": "no such path"}}), "HTTP 404: no such"),
        (httpx.Response(200, json={"data": [{"model": "m"}]}), "lists no model with a price"),
        (httpx.Response(200, text="<html>"), "the answer is not JSON"),
    ],
)
def test_an_unusable_price_list_is_an_error_not_a_traceback(
    answer: httpx.Response, message: str
) -> None:
    with pytest.raises(refresh.RefreshError, match=message):
        fetch_pricing(lambda request: answer)


def test_recorded_amounts_keep_twelve_places_rounded_outwards() -> None:
    found = Estimate(D("1e-31"), D("0.1363636363641"), "per request")
    assert found.as_json() == {"min_usd": "0", "max_usd": "0.136363636365", "basis": "per request"}
    base = {"fingerprint": "sha256:" + "0" * 64, "request": {}, "seed": 1, "status": "completed"}
    jobs = {"j": base | {"attempts": 1, "outputs": [], "estimate": found.as_json()}}
    assert lockentry.repair(jobs) == []  # within the lockfile's pattern
