"""What the model catalog says of one job's model, operation and selectors.

An unknown model is an error (unless unknown models are allowed): the API refuses
it. Everything else the catalog doubts is a warning, because the catalog may be
older than the API: an operation the model does not list, operations no source
documents, a duration, resolution or aspect ratio outside what the model lists
for the operation, a deprecated or retired model. ``--strict`` makes them errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runner.catalog.models import ModelInfo, ModelMatrix
from runner.manifest import checks

REFRESH = "`vidbatch models --refresh` reads the live catalog"
# field, what the limit lists (as Limits names it), how a message names it
_SELECTORS = (
    ("duration", "durations", "durations"),
    ("resolution", "resolutions", "resolutions"),
    ("aspect_ratio", "aspect_ratios", "aspect ratios"),
)


@dataclass(frozen=True)
class Finding:
    """One thing the catalog says: at ``field`` of the job (None: the job itself)."""

    field: str | None
    message: str
    warning: bool = True


class ModelCheck:
    """Judges jobs against the catalog; each distinct combination judged once."""

    def __init__(self, matrix: ModelMatrix, allow_unknown: bool) -> None:
        self.matrix = matrix
        self.allow_unknown = allow_unknown
        self._judged: dict[tuple[Any, ...], tuple[Finding, ...]] = {}
        # every field ``findings`` reads
        counted = {name for info in matrix.models.values() for name in info.max_inputs}
        self.reads = frozenset({"model", "operation", *(f for f, _, _ in _SELECTORS), *counted})

    def findings(
        self, model: str, operation: str, values: Mapping[str, Any]
    ) -> tuple[Finding, ...]:
        """What the catalog says of ``model`` running ``operation`` with ``values``."""
        get = values.get
        raw = (get("duration"), get("resolution"), get("aspect_ratio"))  # _SELECTORS order
        key: tuple[Any, ...] = (model, operation, raw, tuple(map(type, raw)))  # 5 != 5.0 here
        try:
            found = self._judged.get(key)
        except TypeError:  # a list or mapping where a selector belongs: the schema says so
            raw, key = (None, None, None), (model, operation, None, None)
            found = self._judged.get(key)
        if found is None:
            chosen = tuple(_selector(value) for value in raw)
            found = self._judged[key] = tuple(self._judge(model, operation, chosen))
        info = self.matrix.models.get(model)
        if info is not None and info.max_inputs:  # few models: no cost for the others
            found = (*found, *_counts(model, info, values))
        return found

    def _judge(self, model: str, operation: str, chosen: tuple[Any, ...]) -> list[Finding]:
        info = self.matrix.models.get(model)
        if info is None:
            return [] if self.allow_unknown else [Finding("model", self._unknown(model), False)]
        found = _lifecycle(model, info)
        if info.operations is None:
            message = f"no source documents the operations of model {model}; {REFRESH}"
            return [*found, Finding("model", message)]
        if operation not in info.operations:
            listed = ", ".join(info.operations)
            message = f"model {model} does not list {operation} (it lists: {listed}); {REFRESH}"
            return [*found, Finding("model", message)]
        limits = info.limits_for(operation)
        for (name, listed_as, shown), value in zip(_SELECTORS, chosen, strict=True):
            allowed: tuple[str, ...] = getattr(limits, listed_as)
            if value is not None and allowed and not _listed(name, value, allowed):
                message = (
                    f"model {model} takes {shown} {', '.join(allowed)} for {operation}; "
                    f"{checks.show(value)} is not among them"
                )
                found.append(Finding(name, message))
        return found

    def _unknown(self, model: str) -> str:
        hint = checks.suggest(model, self.matrix.models)
        tail = f"; did you mean {hint}?" if hint else ""
        return (
            f"unknown model {checks.clip(model)}{tail} (allow_unknown_models: true or "
            "--allow-unknown-models accepts it; "
            "`vidbatch models --refresh` reads the live list)"
        )


def _counts(model: str, info: ModelInfo, values: Mapping[str, Any]) -> list[Finding]:
    """More items in a list input than the model is documented to take."""
    found = []
    for name, cap in info.max_inputs.items():
        items = values.get(name)
        if isinstance(items, list) and len(items) > cap:
            message = f"model {model} takes at most {cap} {name}; {len(items)} given"
            found.append(Finding(name, message))
    return found


def _lifecycle(model: str, info: ModelInfo) -> list[Finding]:
    if info.stage not in ("deprecated", "retired"):
        return []
    instead = f"; use {info.replacement}" if info.replacement else ""
    return [Finding("model", f"model {model} is {info.stage}{instead}")]


def _selector(value: Any) -> Any:
    """A selector's value for the memo key: plain values only (others are not judged)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    return value


def _listed(name: str, value: Any, allowed: tuple[str, ...]) -> bool:
    if name == "duration":
        if value == -1:  # the model picks within its range
            return True
        number = float(value) if isinstance(value, (int, float)) else None
        return any(_number(a) == number for a in allowed) if number is not None else True
    text = str(value).strip().lower()
    return any(text == a.strip().lower() for a in allowed)


def _number(text: str) -> float | None:
    try:
        return float(text.rstrip("s"))
    except ValueError:
        return None
