"""A hard budget for a run: no create is sent that could take the run past it.

Each create is counted at the upper bound of its estimate (``runner.catalog.costs``) the
moment before it is sent, resubmissions (``retry_failed``, ``--force``,
``--resubmit-uncertain``) included; a create that certainly made no task (the
API refused it with an error, or it was never sent) gives its amount back. Tasks
the run resumes in flight were created by an earlier run, but their outcome,
and so their bill, is not known yet: each is held at the maximum recorded with
it (or, for an entry without a priced one, the one its request gets now) for
the whole run, so that a budget given to a resumed run bounds everything the run
has in flight. The plan is cut in order: the first create that does not fit
closes the budget, and no later one is sent, so that the jobs left out are
exactly the tail of the plan. A job without an estimate is not sent under a
budget unless unpriced jobs are allowed; then it is sent and counted at zero.

Jobs left out keep their lockfile entry and plan action as they were, so the
next run takes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from runner.catalog import costs
from runner.catalog.costs import Estimate, money
from runner.catalog.models import ModelMatrix
from runner.catalog.prices import PriceBook, money_text

if TYPE_CHECKING:
    from runner.run.engine import Target

PRICED_ACTIONS = frozenset({"submit", "rerun", "resume"})  # a resumed job may be resubmitted

OVER_BUDGET = "over budget"  # the status the summary counts jobs left out under
UNPRICED = "unpriced"


@dataclass
class Budget:
    """One limit (``--max-cost``, or one manifest's ``run.max_cost``) and what it holds."""

    limit: Decimal
    label: str
    allow_unpriced: bool = False
    committed: Decimal = Decimal(0)
    resumed: Decimal = Decimal(0)  # the part of ``committed`` held by resumed tasks
    creates: int = 0
    unpriced_sent: int = 0
    unpriced_resumed: int = 0
    closed: bool = False
    left_out: dict[str, str] = field(default_factory=dict)  # "manifest\0key" to why

    @property
    def left(self) -> Decimal:
        return max(Decimal(0), self.limit - self.committed)

    def hold_resumed(self, found: Estimate | None) -> None:
        """A task resumed in flight: held at its maximum (unpriced: counted apart)."""
        if found is None or found.high is None:
            self.unpriced_resumed += 1
            return
        self.committed += found.high
        self.resumed += found.high

    def take(self, where: str, key: str, found: Estimate | None, first: bool) -> str | None:
        """Commit a create's maximum; None to send it, else why it is not sent.

        ``first``: the job's first create of this run (a refused one leaves the job
        out; a refused resubmission leaves the job as its last task ended).
        """
        reason = self._refusal(found)
        if reason is None:
            high = found.high if found is not None else None
            self.creates += 1
            if high is None:
                self.unpriced_sent += 1
            else:
                self.committed += high
            return None
        if first:
            self.left_out.setdefault(f"{where}\0{key}", reason)
        return reason

    def give_back(self, found: Estimate | None) -> None:
        """A committed create that certainly made no task (the budget stays cut)."""
        self.creates -= 1
        if found is None or found.high is None:
            self.unpriced_sent -= 1
        else:
            self.committed -= found.high

    def counts(self) -> dict[str, int]:
        over = sum(1 for reason in self.left_out.values() if not reason.startswith(UNPRICED))
        return {OVER_BUDGET: over, UNPRICED: len(self.left_out) - over}

    def _refusal(self, found: Estimate | None) -> str | None:
        if found is None or found.high is None:
            if self.allow_unpriced:
                return None
            why = found.basis if found is not None else "no estimate"
            return f"{UNPRICED}: {why}; --allow-unpriced sends it under a budget"
        if self.closed:
            return f"{OVER_BUDGET}: an earlier job did not fit the budget of {money(self.limit)}"
        if self.committed + found.high > self.limit:
            self.closed = True
            return (
                f"{OVER_BUDGET}: could cost up to {money(found.high)}, and "
                f"{money(self.left)} of the budget of {money(self.limit)} is left"
            )
        return None

    def text(self) -> str:
        """The summary line: the limit, what was committed, what is left, who is out."""
        held = f" (of which {money(self.resumed)} held by resumed tasks)" if self.resumed else ""
        line = (
            f"budget {money(self.limit)} ({self.label}): committed up to "
            f"{money(self.committed)} in {self.creates} create(s){held}, {money(self.left)} left"
        )
        counts = self.counts()
        if counts[OVER_BUDGET]:
            line += f"; {counts[OVER_BUDGET]} job(s) over budget, not sent"
        if counts[UNPRICED]:
            line += f"; {counts[UNPRICED]} unpriced job(s) not sent (--allow-unpriced sends them)"
        unpriced = self.unpriced_sent + self.unpriced_resumed
        if unpriced:
            line += f"; {unpriced} unpriced task(s) not counted"
        return line

    def as_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "max_cost_usd": money_text(self.limit),
            "committed_usd": money_text(self.committed),
            "resumed_usd": money_text(self.resumed),
            "left_usd": money_text(self.left),
            "creates": self.creates,
            "unpriced_sent": self.unpriced_sent,
            "unpriced_resumed": self.unpriced_resumed,
            **{name.replace(" ", "_"): n for name, n in self.counts().items()},
            "left_out": sorted(k.replace("\0", ": ", 1) for k in self.left_out),
        }


@dataclass
class Costing:
    """One manifest's estimates by job key, and the budget its creates count against."""

    estimates: Mapping[str, Estimate]
    budget: Budget | None = None
    where: str = ""

    def estimate(self, key: str) -> Estimate | None:
        return self.estimates.get(key)

    def left_out(self, key: str) -> str | None:
        """``over budget`` or ``unpriced`` for a job the budget kept from being sent."""
        reason = self.budget.left_out.get(f"{self.where}\0{key}") if self.budget else None
        if reason is None:
            return None
        return UNPRICED if reason.startswith(UNPRICED) else OVER_BUDGET


def attach(
    targets: Sequence[Target],
    matrix: ModelMatrix,
    book: PriceBook,
    max_cost: Decimal | None,
    allow_unpriced: bool,
) -> list[Budget]:
    """Give each target its estimates and budget; the budgets, each once.

    ``max_cost`` (the flag) is one budget for every manifest of the run; without
    it, each manifest with ``run.max_cost`` has its own for its jobs. Tasks the
    plan resumes are held at their recorded maximum from the start.
    """
    shared = None if max_cost is None else Budget(max_cost, "--max-cost", allow_unpriced)
    budgets = [] if shared is None else [shared]
    estimator = costs.Estimator(matrix, book)
    for target in targets:
        budget = shared
        limit = target.settings.max_cost
        if budget is None and limit is not None:
            budget = Budget(limit, f"run.max_cost of {target.name}", allow_unpriced)
            budgets.append(budget)
        estimates = {
            item.key: estimator(item.job.request)
            for item in target.plan.items
            if item.job is not None and item.action in PRICED_ACTIONS
        }
        target.costing = Costing(estimates, budget, target.name)
        if budget is None:
            continue
        for item in target.plan.items:
            if item.action == "resume":
                entry = target.store.entry(item.key) or {}
                recorded = costs.from_json(entry.get("estimate"))
                known = recorded is not None and recorded.known
                budget.hold_resumed(recorded if known else estimates[item.key])
    return budgets
