"""How one sandbox behaves: task timing, outputs, and the faults it injects.

A ``SandboxConfig`` is built directly or from a JSON mapping (``vidbatch sandbox
--faults FILE.json``) with :meth:`SandboxConfig.from_mapping`; both check every
value and raise ``UsageError`` with a clear message.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runner.base.errors import UsageError
from runner.sandbox.errors import CANNED

POLL_URL_STYLES = ("relative", "absolute", "legacy", "none")
_NUMBER = (int, float)
_NONE = type(None)
_STRING_OR_NULL = (str, _NONE)


@dataclass(frozen=True)
class SandboxConfig:
    """Settings of one sandbox; every fault is off by default.

    Timing: a task takes its model family's usual time (60-480 s) divided by
    ``speed``, or, when ``task_seconds`` is ``(low, high)``, a time in that range
    (seconds, not scaled by ``speed``), drawn from a digest of the request; the
    first ``queue_share`` of it is spent pending (cancellable), the rest
    processing. ``seed`` seeds every random fault draw.

    Access: any bearer key works unless ``required_key`` is set; bodies over
    ``max_body_bytes`` get 413. Outputs: ``output_base_url`` puts file URLs on
    another origin (default: the host the client asked); ``url_ttl`` seconds
    make them expire (403, a new poll gives a fresh URL); files last
    ``duration / 5`` seconds, at most ``video_max_seconds``, at ``video_fps``;
    the last ``video_cache_size`` rendered files are kept.

    Faults (shares are probabilities, 0-1; the shares of one request kind add up
    to at most 1): ``rate_limit`` requests per second over every API request
    (token bucket of ``rate_burst``, default ``max(1, rate_limit)``; 429 with
    Retry-After); ``create_errors`` / ``poll_errors`` map a status (401, 402,
    403, 429, 500, 502, 503, 504) to the share of creates / polls answered with
    it, creates before any task is made; ``create_drop_before`` /
    ``create_drop_after``: the connection closes with no answer before / after
    the task is made; ``create_timeout_after``: a 504 after the task is made;
    ``poll_drop``; ``poll_malformed``: a 200 whose body is not JSON;
    ``fail_prompt_marker``: a prompt containing it ends failed; ``fail_rate``:
    tasks that end failed; ``multi_video_rate``: tasks whose result is
    ``videos`` (two files) instead of ``video_url`` and ``video``;
    ``poll_url_style``: relative, absolute, legacy (``/v1/videos/generations/
    <id>``) or none (no poll_url); ``unavailable_retryable``: the ``retryable``
    of 503 bodies (None: left out).
    """

    speed: float = 1.0
    task_seconds: tuple[float, float] | None = None
    queue_share: float = 0.15
    seed: int = 0
    required_key: str | None = None
    max_body_bytes: int = 32 * 1024 * 1024
    output_base_url: str | None = None
    url_ttl: float | None = None
    video_max_seconds: float = 2.0
    video_fps: int = 12
    video_cache_size: int = 64
    rate_limit: float | None = None
    rate_burst: float | None = None
    create_errors: Mapping[int, float] = field(default_factory=dict)
    poll_errors: Mapping[int, float] = field(default_factory=dict)
    create_drop_before: float = 0.0
    create_drop_after: float = 0.0
    create_timeout_after: float = 0.0
    poll_drop: float = 0.0
    poll_malformed: float = 0.0
    fail_prompt_marker: str | None = None
    fail_rate: float = 0.0
    multi_video_rate: float = 0.0
    poll_url_style: str = "relative"
    unavailable_retryable: bool | None = True

    def __post_init__(self) -> None:
        for name, value in dataclasses.asdict(self).items():
            _check_type(name, value)
            check = _CHECKS.get(name)
            if check is not None and value is not None:
                check(name, value)
        object.__setattr__(self, "task_seconds", _span(self.task_seconds))
        object.__setattr__(self, "create_errors", _statuses("create_errors", self.create_errors))
        object.__setattr__(self, "poll_errors", _statuses("poll_errors", self.poll_errors))
        create = sum(self.create_errors.values()) + self.create_drop_before
        create += self.create_drop_after + self.create_timeout_after
        _share("create fault shares together", create)
        poll = sum(self.poll_errors.values()) + self.poll_drop + self.poll_malformed
        _share("poll fault shares together", poll)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> SandboxConfig:
        """A config from JSON-like data; unknown keys and wrong types are errors."""
        if not isinstance(data, Mapping):
            raise UsageError("sandbox settings must be a JSON object")
        known = [f.name for f in dataclasses.fields(cls)]
        for key in data:
            if key not in known:
                raise UsageError(_unknown(str(key), known))
        return cls(**{key: _from_json(value) for key, value in data.items()})


def _from_json(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


_KINDS: dict[str, tuple[type, ...]] = {
    "seed": (int,),
    "video_fps": (int,),
    "video_cache_size": (int,),
    "max_body_bytes": (int,),
    "required_key": _STRING_OR_NULL,
    "output_base_url": _STRING_OR_NULL,
    "fail_prompt_marker": _STRING_OR_NULL,
    "poll_url_style": (str,),
    "unavailable_retryable": (bool, _NONE),
    "task_seconds": (tuple, list, _NONE),
    "create_errors": (Mapping,),
    "poll_errors": (Mapping,),
    "rate_limit": (*_NUMBER, _NONE),
    "rate_burst": (*_NUMBER, _NONE),
    "url_ttl": (*_NUMBER, _NONE),
}
_NAMES = {int: "a number", float: "a number", str: "a string", bool: "true or false",
          tuple: "a list", list: "a list", Mapping: "an object", _NONE: "null"}  # fmt: skip


def _check_type(name: str, value: Any) -> None:
    expected = _KINDS.get(name, _NUMBER)
    if (isinstance(value, bool) and bool not in expected) or not isinstance(value, expected):
        names = " or ".join(dict.fromkeys(_NAMES[k] for k in expected))
        raise UsageError(f"sandbox setting {name} must be {names}, not {value!r}")


def _unknown(key: str, known: list[str]) -> str:
    message = f"unknown sandbox setting {key!r}"
    close = difflib.get_close_matches(key, known, n=1)
    return message + (f" (did you mean {close[0]!r}?)" if close else "")


def _positive(name: str, value: float) -> None:
    if not (value > 0 and math.isfinite(value)):
        raise UsageError(f"sandbox setting {name} must be a number > 0, not {value!r}")


def _at_least_zero(name: str, value: float) -> None:
    if value < 0:
        raise UsageError(f"sandbox setting {name} must be >= 0, not {value!r}")


def _share(name: str, value: float) -> None:
    if not 0 <= value <= 1:
        raise UsageError(f"sandbox setting {name} must be between 0 and 1, not {value!r}")


def _style(name: str, value: str) -> None:
    if value not in POLL_URL_STYLES:
        allowed = ", ".join(POLL_URL_STYLES)
        raise UsageError(f"sandbox setting {name} must be one of {allowed}, not {value!r}")


_CHECKS: dict[str, Callable[[str, Any], None]] = {
    **dict.fromkeys(("speed", "video_fps", "video_max_seconds", "max_body_bytes"), _positive),
    **dict.fromkeys(("rate_limit", "rate_burst", "url_ttl"), _positive),
    **dict.fromkeys(("queue_share", "create_drop_before", "create_drop_after"), _share),
    **dict.fromkeys(("create_timeout_after", "poll_drop", "poll_malformed"), _share),
    **dict.fromkeys(("fail_rate", "multi_video_rate"), _share),
    "video_cache_size": _at_least_zero,
    "poll_url_style": _style,
}


def _span(value: tuple[Any, ...] | None) -> tuple[float, float] | None:
    if value is None:
        return None
    numbers = [v for v in value if isinstance(v, _NUMBER) and not isinstance(v, bool)]
    if len(value) != 2 or len(numbers) != 2 or not 0 < numbers[0] <= numbers[1] < math.inf:
        raise UsageError(
            f"sandbox setting task_seconds must be [low, high] with 0 < low <= high, not {value!r}"
        )
    return (float(numbers[0]), float(numbers[1]))


def _statuses(name: str, value: Mapping[Any, Any]) -> dict[int, float]:
    result: dict[int, float] = {}
    for key, share in value.items():
        status = int(key) if isinstance(key, str) and key.isdigit() else key
        if isinstance(status, bool) or status not in CANNED:
            allowed = ", ".join(str(s) for s in CANNED)
            raise UsageError(f"sandbox setting {name} has status {key!r}; allowed: {allowed}")
        if isinstance(share, bool) or not isinstance(share, _NUMBER):
            raise UsageError(f"sandbox setting {name}[{key}] must be a number, not {share!r}")
        _share(f"{name}[{key}]", share)
        result[status] = float(share)
    return result
