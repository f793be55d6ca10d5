"""The model matrix: which operation each model supports.

The built-in matrix is the documentation page's table (``schemas/models.json``);
``vidbatch models --refresh`` writes a cache from the live API, which, when present,
is used instead so that a new model validates without a new release.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner import schema

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


@dataclass(frozen=True)
class ModelMatrix:
    """Model id to the operations it supports, and where that knowledge came from."""

    models: Mapping[str, tuple[str, ...]]
    source: str

    def supports(self, model: str, operation: str) -> bool:
        return operation in self.models.get(model, ())

    def __contains__(self, model: object) -> bool:
        return model in self.models


def builtin() -> ModelMatrix:
    """The matrix of the documentation page, shipped with the package."""
    data = json.loads(schema.read_text("models.json"))
    return _from_json(data, "built-in")


def cache_path(environ: Mapping[str, str]) -> Path:
    """Where ``models --refresh`` keeps the live list (XDG cache directory)."""
    base = environ.get("XDG_CACHE_HOME") or os.path.join(environ.get("HOME", "."), ".cache")
    return Path(base) / "vidbatch" / "models.json"


def load(cache_file: Path | None) -> ModelMatrix:
    """The refreshed matrix when ``cache_file`` holds a readable one, else the built-in."""
    if cache_file is not None and cache_file.is_file():
        try:
            data = json.loads(cache_file.read_text("utf-8"))
            return _from_json(data, str(cache_file))
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return builtin()


def to_json(matrix: ModelMatrix) -> dict[str, Any]:
    """The matrix as the JSON that ``models.json`` and the cache hold."""
    return {
        "source": matrix.source,
        "operations": list(OPERATIONS),
        "models": {m: {"operations": list(ops)} for m, ops in sorted(matrix.models.items())},
    }


def _from_json(data: Mapping[str, Any], source: str) -> ModelMatrix:
    models = {str(m): tuple(str(o) for o in v["operations"]) for m, v in data["models"].items()}
    return ModelMatrix(models=models, source=source)
