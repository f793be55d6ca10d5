"""The documented operations: how one is inferred, the inputs each needs, who runs it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Each operation needs every group; a group is satisfied by any one of its fields.
# The newest reference: reference-to-video takes reference_images, image_urls or
# material ids (or reference videos); video-to-video a video_url or, on some
# models, a task_id; video-extension only model-specific inputs.
REQUIRED_INPUTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "image-to-video": (("image_url", "image"),),
    "start-end-to-video": (("start_image",), ("end_image",)),
    "video-to-video": (("video_url", "task_id"),),
    "motion-control": (("image_url",), ("video_url",)),
    "reference-to-video": (
        ("reference_images", "image_urls", "material_asset_id", "material_asset_ids", "video_urls"),
    ),
    "audio-to-video": (("audio_url", "audio_urls"),),
}
# Inputs the API reads as references when no operation is given.
REFERENCE_INPUTS = frozenset(
    {"reference_images", "image_urls", "material_asset_id", "material_asset_ids"}
)
# The inputs inference looks at.
INFERENCE_INPUTS = frozenset(
    {"start_image", "end_image", "image_url", "image", "video_url", "audio_url", *REFERENCE_INPUTS}
)
# Without one of these a job asks for nothing: a prompt is its only input.
PROMPT_REQUIRED = frozenset({"text-to-video"})


def infer_operation(request: Mapping[str, Any]) -> str:
    """The operation the API infers from the inputs present, in its documented order."""
    if request.keys().isdisjoint(INFERENCE_INPUTS):  # most jobs: a prompt only
        return "text-to-video"
    has = {name for name, value in request.items() if value not in (None, "", [])}
    if {"start_image", "end_image"} <= has:
        return "start-end-to-video"
    if {"image_url", "video_url"} <= has:
        return "motion-control"
    if has & REFERENCE_INPUTS:
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
        _either(group)
        for group in REQUIRED_INPUTS.get(operation, ())
        if not any(request.get(name) for name in group)
    ]
    return f"{operation} needs {' and '.join(missing)}" if missing else None


# Pairs the newest reference says not to combine (the API refuses them).
CONFLICTS: tuple[tuple[str, Any, str, Any], ...] = (
    ("kling_elements", None, "output_audio", True),
    ("draft", True, "draft_task_id", None),
    ("priority", None, "service_tier", "flex"),
)


def conflicts(request: Mapping[str, Any]) -> list[str]:
    """A message for each documented pair of fields that must not be combined."""
    found = []
    for first, first_value, second, second_value in CONFLICTS:
        if first not in request:  # the common case, kept cheap for large manifests
            continue
        if _given(request, first, first_value) and _given(request, second, second_value):
            found.append(
                f"{_shown(first, first_value)} cannot be combined with "
                f"{_shown(second, second_value)}"
            )
    return found


# Every field the checks here read (what an operation needs, what must not be
# combined, what decides the operation): a job's combinations that agree on these
# (and on having a prompt) are judged alike.
READ_FIELDS = frozenset(
    {
        *INFERENCE_INPUTS,
        *(name for groups in REQUIRED_INPUTS.values() for group in groups for name in group),
        *(first for first, _, _, _ in CONFLICTS),
        *(second for _, _, second, _ in CONFLICTS),
        "operation",
    }
)


def _given(request: Mapping[str, Any], name: str, value: Any) -> bool:
    if value is None:
        return request.get(name) not in (None, "", [])
    return request.get(name) == value and type(request.get(name)) is type(value)


def _shown(name: str, value: Any) -> str:
    if value is None:
        return name
    return f"{name}: {str(value).lower() if isinstance(value, bool) else value}"


def _either(names: tuple[str, ...]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
