"""The model catalog: each model's operations, limits and lifecycle, and their source.

The built-in catalog (``schemas/models.json``) is the union of the first
documentation page's table and the newest model pages and guides, with the source
of each entry; ``vidbatch models --refresh`` writes a cache from the live API
(``runner.catalog.refresh``), which, when present, is used instead so that a new model and
its current limits validate without a new release. Where no source documents a
model's operations they are unknown (None), and validation warns instead of refusing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.base import schema
from runner.base.files import write_atomic

OPERATIONS: tuple[str, ...] = (
    "text-to-video",
    "image-to-video",
    "reference-to-video",
    "start-end-to-video",
    "video-to-video",
    "video-extension",
    "audio-to-video",
    "motion-control",
)
DEFAULT_MODEL = "veo3.1"  # the newest create-video reference's default
LIMIT_FIELDS = ("durations", "resolutions", "aspect_ratios")
STAGES = ("active", "preview", "deprecated", "retired")


@dataclass(frozen=True)
class Limits:
    """The values a model takes, as the catalog lists them (empty: not listed)."""

    durations: tuple[str, ...] = ()
    resolutions: tuple[str, ...] = ()
    aspect_ratios: tuple[str, ...] = ()

    def over(self, base: Limits) -> Limits:
        """These limits, with ``base``'s where these list none."""
        return Limits(
            self.durations or base.durations,
            self.resolutions or base.resolutions,
            self.aspect_ratios or base.aspect_ratios,
        )


@dataclass(frozen=True)
class ModelInfo:
    """What the catalog knows of one model."""

    operations: tuple[str, ...] | None = None  # None: no source documents them
    limits: Limits = Limits()
    by_operation: Mapping[str, Limits] = field(default_factory=dict)
    stage: str | None = None
    replacement: str | None = None
    vendor: str | None = None
    sources: tuple[str, ...] = ()
    pricing: Mapping[str, Any] | None = None
    max_inputs: Mapping[str, int] = field(default_factory=dict)  # list field to its cap

    def limits_for(self, operation: str) -> Limits:
        """The limits for ``operation``: its own constraints over the model's."""
        own = self.by_operation.get(operation)
        return own.over(self.limits) if own is not None else self.limits


@dataclass(frozen=True)
class ModelMatrix:
    """Model id to what the catalog knows of it, and where that knowledge came from."""

    models: Mapping[str, ModelInfo]
    source: str
    base_url: str | None = None
    refreshed_at: str | None = None  # ISO 8601, UTC
    default_model: str = DEFAULT_MODEL

    def supports(self, model: str, operation: str) -> bool:
        """Whether ``model`` is known to run ``operation`` (unknown operations: True)."""
        info = self.models.get(model)
        if info is None:
            return False
        return info.operations is None or operation in info.operations

    def __contains__(self, model: object) -> bool:
        return model in self.models


def matrix_of(operations: Mapping[str, Iterable[str] | None], source: str) -> ModelMatrix:
    """A catalog that knows only operations (tests, and the oldest cache files)."""
    return ModelMatrix(
        {m: ModelInfo(None if ops is None else tuple(ops)) for m, ops in operations.items()},
        source,
    )


def builtin() -> ModelMatrix:
    """The catalog shipped with the package."""
    return from_json(json.loads(schema.read_text("models.json")), "built-in")


def cache_path(environ: Mapping[str, str]) -> Path:
    """Where ``models --refresh`` keeps the live catalog (XDG cache directory)."""
    base = environ.get("XDG_CACHE_HOME") or os.path.join(environ.get("HOME", "."), ".cache")
    return Path(base) / "vidbatch" / "models.json"


def load(cache_file: Path | None) -> ModelMatrix:
    """The refreshed catalog when ``cache_file`` holds a readable one, else the built-in."""
    if cache_file is not None and cache_file.is_file():
        try:
            data = json.loads(cache_file.read_text("utf-8"))
            return from_json(data, str(cache_file))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass
    return builtin()


def to_json(matrix: ModelMatrix) -> dict[str, Any]:
    """The catalog as the JSON that ``models.json`` and the cache hold."""
    data: dict[str, Any] = {"source": matrix.source}
    if matrix.base_url is not None:
        data["base_url"] = matrix.base_url
    if matrix.refreshed_at is not None:
        data["refreshed_at"] = matrix.refreshed_at
    data["default_model"] = matrix.default_model
    data["operations"] = list(OPERATIONS)
    data["models"] = {m: _info_json(info) for m, info in sorted(matrix.models.items())}
    return data


def _info_json(info: ModelInfo) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if info.vendor is not None:
        entry["vendor"] = info.vendor
    entry["operations"] = None if info.operations is None else list(info.operations)
    entry.update(_limits_json(info.limits))
    if info.by_operation:
        entry["operation_constraints"] = {
            op: _limits_json(limits) for op, limits in info.by_operation.items()
        }
    if info.stage is not None or info.replacement is not None:
        entry["lifecycle"] = {"stage": info.stage, "replacement_model": info.replacement}
    if info.max_inputs:
        entry["max_inputs"] = dict(info.max_inputs)
    if info.pricing is not None:
        entry["pricing"] = dict(info.pricing)
    if info.sources:
        entry["sources"] = list(info.sources)
    return entry


def _limits_json(limits: Limits) -> dict[str, list[str]]:
    return {name: list(getattr(limits, name)) for name in LIMIT_FIELDS if getattr(limits, name)}


def from_json(data: Mapping[str, Any], source: str) -> ModelMatrix:
    """The catalog in ``data`` (models.json, a cache of any vidbatch version)."""
    models = {str(m): _info(v) for m, v in data["models"].items()}
    default = data.get("default_model")
    return ModelMatrix(
        models=models,
        source=source,
        base_url=_text(data.get("base_url")),
        refreshed_at=_text(data.get("refreshed_at")),
        default_model=default if isinstance(default, str) and default else DEFAULT_MODEL,
    )


def _info(entry: Mapping[str, Any]) -> ModelInfo:
    operations = entry.get("operations")
    lifecycle = entry.get("lifecycle") or {}
    constraints = entry.get("operation_constraints") or {}
    pricing = entry.get("pricing")
    caps = entry.get("max_inputs") or {}
    return ModelInfo(
        operations=None if operations is None else tuple(str(o) for o in operations),
        limits=_limits(entry),
        by_operation={str(op): _limits(v) for op, v in constraints.items()},
        stage=_text(lifecycle.get("stage")),
        replacement=_text(lifecycle.get("replacement_model")),
        vendor=_text(entry.get("vendor")),
        sources=tuple(str(s) for s in entry.get("sources") or ()),
        pricing=dict(pricing) if isinstance(pricing, dict) else None,
        max_inputs={str(k): int(v) for k, v in caps.items()},
    )


def _limits(entry: Mapping[str, Any]) -> Limits:
    return Limits(*(tuple(str(v) for v in entry.get(name) or ()) for name in LIMIT_FIELDS))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def write_cache(cache_file: Path, matrix: ModelMatrix) -> None:
    """Write ``matrix`` to ``cache_file`` atomically (temp file beside it, then replace)."""
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(to_json(matrix), indent=2, sort_keys=True) + "\n"
    write_atomic(cache_file, text.encode("utf-8"))
