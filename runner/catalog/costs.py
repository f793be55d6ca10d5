"""What a job may cost: a range [low, high] in USD with its basis, or unknown with why.

Per unit (``runner.catalog.prices``): a lock price is the price; per request, the
model's [min, max]; per second, [min, max] times the duration asked for. A job
that leaves the duration to the model (omitted, or -1) is counted from the
shortest to the longest duration the catalog lists for its model and operation,
and, where the catalog lists none, from 1 s to 60 s, the widest the API takes,
so that the upper bound is never too low. Token-priced models and units we do
not know have no estimate. Decimal arithmetic throughout.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from runner.base.apitext import number
from runner.catalog.models import ModelMatrix
from runner.catalog.prices import (
    PER_REQUEST,
    PER_SECOND,
    PER_TOKENS,
    Price,
    PriceBook,
    decimal,
    money_text,
)

API_DURATIONS = (1, 60)  # the widest durations the newest contract takes, in seconds
_CENT = Decimal("0.01")
_KEPT = Decimal("1e-12")


@dataclass(frozen=True)
class Estimate:
    """A job's cost: ``low``..``high`` USD and the basis, or None and the reason."""

    low: Decimal | None
    high: Decimal | None
    basis: str  # how it was made, or, when unknown, why there is none

    @property
    def known(self) -> bool:
        return self.high is not None

    def text(self) -> str:
        """``$0.40-$1.20 (per second x 4-12 s)``, or ``unpriced (reason)``."""
        if self.low is None or self.high is None:
            return f"unpriced ({self.basis})"
        return f"{money_range(self.low, self.high)} ({self.basis})"

    def as_json(self) -> dict[str, Any]:
        """As the lockfile and ``plan --json`` carry it: USD decimal strings."""
        if self.low is None or self.high is None:
            return {"min_usd": None, "max_usd": None, "unknown": self.basis}
        return {  # 12 places keep every listed price exact, and the lockfile's pattern
            "min_usd": money_text(self.low.quantize(_KEPT, rounding=ROUND_FLOOR)),
            "max_usd": money_text(self.high.quantize(_KEPT, rounding=ROUND_CEILING)),
            "basis": self.basis,
        }


def unknown(reason: str) -> Estimate:
    return Estimate(None, None, reason)


def from_json(data: Any) -> Estimate | None:
    """A recorded estimate (lockfile); None when there is none or it is unusable."""
    if not isinstance(data, Mapping):
        return None
    low, high = decimal(data.get("min_usd")), decimal(data.get("max_usd"))
    if low is not None and high is not None and low <= high:
        return Estimate(low, high, str(data.get("basis") or ""))
    reason = data.get("unknown")
    return unknown(str(reason)) if isinstance(reason, str) and reason else None


class Estimator:
    """``estimate`` for many requests: jobs of one matrix share a model, operation
    and duration, so each combination is worked out once (a plan of 100,000 jobs)."""

    def __init__(self, matrix: ModelMatrix, book: PriceBook) -> None:
        self._matrix, self._book = matrix, book
        self._known: dict[tuple[Any, ...], Estimate] = {}

    def __call__(self, request: Mapping[str, Any]) -> Estimate:
        key = (request.get("model"), request.get("operation"), request.get("duration"))
        try:
            found = self._known.get(key)
        except TypeError:  # an unhashable value (a hand-edited lockfile): not kept
            return estimate(request, self._matrix, self._book)
        if found is None:
            found = self._known[key] = estimate(request, self._matrix, self._book)
        return found


def estimate(request: Mapping[str, Any], matrix: ModelMatrix, book: PriceBook) -> Estimate:
    """The cost of one create of ``request`` (a job's resolved or recorded request)."""
    model = str(request.get("model", matrix.default_model))
    price = book.price(model)
    if price is None:
        return unknown(f"no price listed for {model}")
    if price.lock is not None:
        return Estimate(price.lock, price.lock, "lock price per request")
    if price.unit == PER_TOKENS:
        return unknown(f"{model} is priced per 1M tokens, which no request field tells")
    if price.low is None or price.high is None:
        listed = f": {price.listed!r}" if price.listed else ""
        return unknown(f"no price listed for {model}{listed}")
    if price.unit == PER_REQUEST:
        return Estimate(price.low, price.high, "per request")
    if price.unit != PER_SECOND:
        return unknown(f"{model} is priced in an unknown unit ({price.unit!r})")
    return _per_second(price, _durations(request, matrix, model))


def _durations(request: Mapping[str, Any], matrix: ModelMatrix, model: str) -> tuple[int, int, str]:
    duration = request.get("duration")
    if isinstance(duration, int) and not isinstance(duration, bool) and duration > 0:
        return duration, duration, f"{duration} s"
    info = matrix.models.get(model)
    operation = str(request.get("operation", ""))
    listed = info.limits_for(operation).durations if info is not None else ()
    seconds = sorted(n for n in (_seconds(d) for d in listed) if n is not None)
    if seconds:
        return seconds[0], seconds[-1], f"{_span(seconds[0], seconds[-1])} s, the model picks"
    low, high = API_DURATIONS
    return low, high, f"{low}-{high} s: the model picks and the catalog lists no durations"


def _per_second(price: Price, durations: tuple[int, int, str]) -> Estimate:
    assert price.low is not None and price.high is not None
    shortest, longest, said = durations
    return Estimate(price.low * shortest, price.high * longest, f"per second x {said}")


def _seconds(text: str) -> int | None:
    digits = text.strip().rstrip("s").strip()
    return int(digits) if digits.isdigit() and int(digits) > 0 else None


def _span(low: int, high: int) -> str:
    return str(low) if low == high else f"{low}-{high}"


@dataclass
class Total:
    """Estimates added up: the priced ones' range, and how many had none."""

    low: Decimal = Decimal(0)
    high: Decimal = Decimal(0)
    priced: int = 0
    unpriced: int = 0

    def add(self, found: Estimate) -> None:
        if found.low is None or found.high is None:
            self.unpriced += 1
            return
        self.low += found.low
        self.high += found.high
        self.priced += 1

    def text(self) -> str:
        """``$14.40-$43.20, 3 unpriced`` (the unpriced part only when there are some)."""
        shown = money_range(self.low, self.high) if self.priced else "$0.00"
        return shown + (f", {self.unpriced} unpriced" if self.unpriced else "")

    def as_json(self) -> dict[str, Any]:
        return {
            "min_usd": money_text(self.low),
            "max_usd": money_text(self.high),
            "priced": self.priced,
            "unpriced": self.unpriced,
        }


def total(estimates: Iterable[Estimate]) -> Total:
    found = Total()
    for one in estimates:
        found.add(one)
    return found


def money(amount: Decimal, rounding: str = ROUND_CEILING) -> str:
    """``$1.24``: to the cent, up by default (a bound shown never understates)."""
    return f"${amount.quantize(_CENT, rounding=rounding)}"


def money_range(low: Decimal, high: Decimal) -> str:
    """``$0.40-$1.20``, the low end rounded down and the high end up; one figure when equal."""
    shown_low, shown_high = money(low, ROUND_FLOOR), money(high)
    return shown_high if shown_low == shown_high else f"{shown_low}-{shown_high}"


def payment_detail(body: Any) -> str:
    """What a 402 answer says of the charge: ``; the request would cost $1.20 and the
    balance is $0.35`` (``error.estimated_cost_usd``, ``error.balance_usd``); "" if neither."""
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        return ""
    cost, balance = _amount(error.get("estimated_cost_usd")), _amount(error.get("balance_usd"))
    said = []
    if cost is not None:
        said.append(f"the request would cost {money(cost)}")
    if balance is not None:
        shown = money(abs(balance), ROUND_FLOOR)
        said.append(f"the balance is {'-' if balance < 0 else ''}{shown}")
    return "; " + " and ".join(said) if said else ""


def _amount(value: Any) -> Decimal | None:
    """A finite amount a server sent (a balance may be below zero)."""
    found = number(value)
    return None if found is None or abs(found) > 1e12 else Decimal(repr(found))
