"""What the sandbox knows of each model beyond the catalog.

Operations and documented limits come from the built-in catalog
(``runner.catalog.models.builtin()``); the rest (owner, how long a task takes, the choices
``GET /v1/models/{model}`` lists where the catalog lists none) is per model family
and only has to be plausible: the sandbox does not refuse a duration or resolution
it does not list. Which models can cancel a queued task is the newest cancel
reference's list.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    """A model family: owner, task time range (seconds), listed choices."""

    owned_by: str
    seconds: tuple[float, float]
    durations: tuple[str, ...]
    resolutions: tuple[str, ...]
    aspect_ratios: tuple[str, ...]


_WIDE = ("16:9", "9:16", "1:1")
_FAMILIES: tuple[tuple[str, Profile], ...] = (
    (
        "sora-2-pro",
        Profile("openai", (180, 480), ("4", "8", "12"), ("720p", "1080p"), _WIDE[:2]),
    ),
    ("sora-2", Profile("openai", (90, 240), ("4", "8", "12"), ("720p",), _WIDE[:2])),
    ("kling", Profile("kuaishou", (60, 240), ("5", "10"), ("720p", "1080p"), _WIDE)),
    ("veo3", Profile("google", (45, 180), ("4", "6", "8"), ("720p", "1080p"), _WIDE[:2])),
    (
        "seedance",
        Profile("bytedance", (40, 150), ("5", "10"), ("480p", "720p", "1080p"), _WIDE),
    ),
    ("hailuo", Profile("minimax", (60, 200), ("6", "10"), ("768p", "1080p"), _WIDE)),
    ("wan", Profile("alibaba", (60, 240), ("5", "10"), ("480p", "720p", "1080p"), _WIDE)),
    ("vidu", Profile("shengshu", (30, 120), ("4", "8"), ("720p", "1080p"), _WIDE)),
    ("grok", Profile("xai", (30, 120), ("6", "10"), ("720p",), _WIDE)),
)
_OTHER = Profile("other", (120, 300), ("5", "10"), ("1080p", "4k"), _WIDE)


def profile(model: str) -> Profile:
    """The profile of ``model``'s family (by id prefix)."""
    for prefix, found in _FAMILIES:
        if model.startswith(prefix):
            return found
    return _OTHER


# The newest cancel reference: queued tasks of these models can be cancelled.
CANCELLABLE = frozenset({"seedance-1.5-pro", "seedance-2.0", "seedance-2.0-fast", "seedance-2.5"})
