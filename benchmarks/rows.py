"""Result rows: one measured value each, with the floor it is held to."""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Figure:
    """One measured value, with its floor: ``ratio`` = value / reference."""

    scenario: str
    runner: str
    name: str
    value: float
    unit: str
    floor: float | None = None  # the bound the ratio must meet
    reference: float = 1.0  # what value is divided by (the ideal, or the floor)
    higher_is_better: bool = False
    note: str = ""
    per: str = ""  # what the floor is a multiple of, when not the figure's own unit

    @property
    def ratio(self) -> float:
        return self.value / self.reference if self.reference else float("nan")

    @property
    def verdict(self) -> str:
        if self.floor is None:
            return ""
        if self.value != self.value:  # NaN: the figure could not be measured here
            return "NOT MEASURED"
        ok = self.ratio >= self.floor if self.higher_is_better else self.ratio <= self.floor
        return "PASS" if ok else "MISS"


@dataclass
class Rows:
    """Rows of one runner in one scenario, added one by one."""

    scenario: str
    runner: str
    items: list[Figure] = field(default_factory=list)

    def add(
        self,
        name: str,
        value: float,
        unit: str = "",
        *,
        floor: float | None = None,
        reference: float = 1.0,
        higher_is_better: bool = False,
        note: str = "",
        per: str = "",
    ) -> None:
        """A row of this runner in this scenario."""
        self.items.append(
            Figure(
                self.scenario,
                self.runner,
                name,
                value,
                unit,
                floor,
                reference,
                higher_is_better,
                note,
                per,
            )
        )


def medians(runs: list[list[Figure]]) -> list[Figure]:
    """Rows of repeated runs merged: each value and reference the median over the runs."""
    if len(runs) == 1:
        return runs[0]
    merged = []
    for same in zip(*runs, strict=True):
        first = same[0]
        values = [r.value for r in same]
        spread = f"median of {len(same)} runs ({min(values):.3g}..{max(values):.3g})"
        merged.append(
            dataclasses.replace(
                first,
                value=statistics.median(values),
                reference=statistics.median(r.reference for r in same),
                note=f"{spread}; first run: {first.note}" if first.note else spread,
            )
        )
    return merged
