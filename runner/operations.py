"""The documented operations: how one is inferred, the inputs each needs, who runs it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runner import checks
from runner.models import ModelMatrix

# Each operation needs every group; a group is satisfied by any one of its fields.
REQUIRED_INPUTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "image-to-video": (("image_url", "image"),),
    "start-end-to-video": (("start_image",), ("end_image",)),
    "video-to-video": (("video_url",),),
    "motion-control": (("image_url",), ("video_url",)),
    "reference-to-video": (("reference_images",),),
    "audio-to-video": (("audio_url",),),
}


def infer_operation(request: Mapping[str, Any]) -> str:
    """The operation the API infers from the inputs present, in its documented order."""
    has = {name for name, value in request.items() if value not in (None, "", [])}
    if {"start_image", "end_image"} <= has:
        return "start-end-to-video"
    if {"image_url", "video_url"} <= has:
        return "motion-control"
    if "reference_images" in has:
        return "reference-to-video"
    if "video_url" in has:
        return "video-to-video"
    if "audio_url" in has:
        return "audio-to-video"
    if has & {"image_url", "image"}:
        return "image-to-video"
    return "text-to-video"


def missing_inputs(request: Mapping[str, Any], operation: str) -> str | None:
    """What ``operation`` needs and ``request`` lacks, as a message; None when complete."""
    missing = [
        " or ".join(group)
        for group in REQUIRED_INPUTS.get(operation, ())
        if not any(request.get(name) for name in group)
    ]
    return f"{operation} needs {' and '.join(missing)}" if missing else None


class ModelCheck:
    """Whether a model may run an operation, by the model matrix; each pair judged once."""

    def __init__(self, matrix: ModelMatrix, allow_unknown: bool) -> None:
        self.matrix = matrix
        self.allow_unknown = allow_unknown
        self._judged: dict[tuple[str, str], str | None] = {}

    def problem(self, model: str, operation: str) -> str | None:
        """The message for ``model`` running ``operation``; None when it may."""
        key = (model, operation)
        if key not in self._judged:
            self._judged[key] = self._judge(model, operation)
        return self._judged[key]

    def _judge(self, model: str, operation: str) -> str | None:
        if model not in self.matrix:
            if self.allow_unknown:
                return None
            hint = checks.suggest(model, self.matrix.models)
            tail = f"; did you mean {hint}?" if hint else ""
            return (
                f"unknown model {checks.clip(model)}{tail} (allow_unknown_models: true or "
                "--allow-unknown-models accepts it; "
                "`vidbatch models --refresh` reads the live list)"
            )
        if not self.matrix.supports(model, operation):
            supported = ", ".join(self.matrix.models[model])
            return f"model {model} does not support {operation} (supports: {supported})"
        return None
