"""run's costs: the budget flags, the budgets kept while a run sends, and exit codes.

The price book itself (and ``--fetch-prices``) is ``runner.commands.pricebook``'s,
which ``plan`` uses without this module's run machinery.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import TextIO

from runner.base.errors import EXIT_FAILED, EXIT_IN_FLIGHT, EXIT_OVER_BUDGET
from runner.catalog import costs
from runner.cli import Context
from runner.commands.pricebook import add_fetch_arg, price_book
from runner.run import budget, detach
from runner.run.budget import Budget
from runner.run.engine import Outcome, Target
from runner.run.events import Event
from runner.run.plan import SENDS

MAX_BUDGET = 10**12  # USD; more is no budget (and past what the lockfile's amounts hold)


def usd_arg(text: str) -> Decimal:
    """A budget in USD: a non-negative decimal number (``12.50``, ``$12.50``)."""
    try:
        amount = Decimal(text.strip().lstrip("$").strip())
    except (InvalidOperation, ValueError):
        amount = Decimal(-1)
    if not amount.is_finite() or amount < 0:
        raise argparse.ArgumentTypeError(f"must be an amount in USD of 0 or more, not {text!r}")
    if amount > MAX_BUDGET:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_BUDGET:,} USD, not {text!r}")
    return amount


def add_budget_args(parser: argparse.ArgumentParser) -> None:
    """``run``'s cost flags."""
    parser.add_argument(
        "--max-cost",
        type=usd_arg,
        metavar="USD",
        help="a hard budget: send no create that could take this run's creates past USD "
        "(each counted at its maximum estimate; wins over run.max_cost)",
    )
    parser.add_argument(
        "--allow-unpriced",
        action="store_true",
        help="under a budget, send jobs that have no estimate too (counted at zero)",
    )
    add_fetch_arg(parser)


def attach_budgets(ns: argparse.Namespace, ctx: Context, targets: Sequence[Target]) -> list[Budget]:
    """Each target's estimates and budget (``runner.run.budget.attach``)."""
    matrix, book = price_book(ns, ctx, ctx.error)
    return budget.attach(targets, matrix, book, ns.max_cost, ns.allow_unpriced)


def with_budgets(event: Event, budgets: Sequence[Budget]) -> Event:
    """The closing summary event, with each budget's account when there is one."""
    if not budgets:
        return event
    return dataclasses.replace(
        event, data={**event.data, "budgets": [b.as_json() for b in budgets]}
    )


def print_budgets(budgets: Sequence[Budget], stream: TextIO) -> None:
    for one in budgets:
        stream.write(f"summary: {one.text()}\n")
    stream.flush()


def exit_code(code: int, outcome: Outcome, detached: bool = False) -> int:
    """5 instead of 1 (or 4) when the only jobs left unfinished are those the budget
    kept back, and, in a detached run, work still in flight (precedence
    130 > 3 > 1 > 5 > 4 > 0: a failure, a stop or Ctrl-C says more)."""
    held = {budget.OVER_BUDGET, budget.UNPRICED}
    if code not in (EXIT_FAILED, EXIT_IN_FLIGHT) or not any(outcome.counts.get(s) for s in held):
        return code
    if outcome.write_error is not None or outcome.missing_outputs:
        return code
    fine = {"completed", *(detach.STILL_GOING if detached else ())}
    others = sum(n for s, n in outcome.counts.items() if s not in held and s not in fine)
    return EXIT_OVER_BUDGET if others == 0 else code


def sends_cost(targets: Sequence[Target]) -> str:
    """``estimated $14.40-$43.20, 3 unpriced``: what the jobs a run would send may cost."""
    total = costs.Total()
    for target in targets:
        for item in target.plan.items:
            found = target.costing.estimate(item.key) if target.costing else None
            if item.action in SENDS:
                total.add(found or costs.unknown("no estimate"))
    return f"estimated {total.text()}"


def held_back(target: Target) -> dict[str, str]:
    """The jobs of ``target`` its budget kept from being sent, with why (for reports)."""
    budget_ = target.costing.budget if target.costing is not None else None
    if budget_ is None:
        return {}
    prefix = f"{target.name}\0"
    return {k[len(prefix) :]: why for k, why in budget_.left_out.items() if k.startswith(prefix)}
