"""The documented operations: how one is inferred, and the inputs each needs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
