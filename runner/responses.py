"""Reading the API's answers tolerantly: old and new field names, odd shapes.

``succeeded`` means completed; a result may be in ``video_url``, ``video`` or
``videos``; ``error`` may be a string or an object; ``progress`` may be missing;
unknown fields are ignored (api/README.md, "Task status").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

_STATUS = {
    "pending": "pending",
    "queued": "pending",
    "submitted": "pending",
    "created": "pending",
    "processing": "processing",
    "running": "processing",
    "in_progress": "processing",
    "completed": "completed",
    "complete": "completed",
    "succeeded": "completed",
    "success": "completed",
    "failed": "failed",
    "failure": "failed",
    "error": "failed",
    "cancelled": "failed",
    "canceled": "failed",
}


@dataclass(frozen=True)
class Video:
    """One output of a completed task."""

    url: str
    width: int | None = None
    height: int | None = None
    duration: float | None = None


@dataclass(frozen=True)
class Created:
    """A create's answer: the task id and where to poll it."""

    task_id: str
    poll_url: str | None


@dataclass(frozen=True)
class TaskState:
    """A poll's answer, normalised: status is pending, processing, completed or failed."""

    status: str
    progress: int | None = None
    videos: tuple[Video, ...] = ()
    error: dict[str, Any] | None = None


def created(body: Any) -> Created | None:
    """The task a create made, or None when the answer does not name one."""
    body = _unwrap(body)
    if not isinstance(body, dict):
        return None
    task_id = body.get("task_id") or body.get("id")
    if not isinstance(task_id, (str, int)) or isinstance(task_id, bool) or task_id == "":
        return None
    poll_url = body.get("poll_url")
    return Created(str(task_id), poll_url if isinstance(poll_url, str) and poll_url else None)


def task_state(body: Any) -> TaskState | None:
    """The task's state, or None when the body is not a readable task."""
    body = _unwrap(body)
    if not isinstance(body, dict) or not isinstance(body.get("status"), str):
        return None
    status = _STATUS.get(body["status"].strip().lower(), "processing")
    if body.get("cancelled") is True:
        status = "failed"
    error = task_error(body) if status == "failed" else None
    return TaskState(status, _progress(body.get("progress")), videos(body), error)


def videos(body: dict[str, Any]) -> tuple[Video, ...]:
    """The outputs: from ``videos``, else ``video``, else ``video_url`` (the richest
    that is present; some servers send both ``video`` and ``video_url`` for one)."""
    for name in ("videos", "video", "video_url"):
        found: list[Video] = []
        for item in _as_list(body.get(name)):
            found.extend(v for v in _video(item) if v.url not in {f.url for f in found})
        if found:
            return tuple(found)
    return ()


def task_error(body: dict[str, Any]) -> dict[str, Any]:
    """A failed task's error as the lockfile records it."""
    raw = body.get("error")
    if isinstance(raw, dict):
        return _error_object(raw)
    if isinstance(raw, str) and raw:
        return {"message": raw}
    if body.get("cancelled") is True:
        return {"message": "the task was cancelled", "code": "cancelled"}
    return {"message": "the task failed without an error message"}


def api_error(status: int, body: Any, redact: Callable[[str], str]) -> dict[str, Any]:
    """An error answer as the lockfile records it: message, type, code, param, status."""
    raw = body.get("error") if isinstance(body, dict) else None
    error: dict[str, Any] = _error_object(raw) if isinstance(raw, dict) else {"message": ""}
    if isinstance(raw, str):
        error["message"] = raw
    if not error["message"]:
        error["message"] = f"HTTP {status}"
    error["message"] = redact(error["message"])
    error["status"] = status
    details = body.get("validation_errors") if isinstance(body, dict) else None
    if isinstance(details, list) and details:
        error["validation_errors"] = details
    return error


def retry_after(response: httpx.Response, body: Any) -> float | None:
    """Seconds to wait: ``error.retry_after`` when given (it is exact; the header is
    rounded up to whole seconds), else the Retry-After header (seconds or a date)."""
    error = body.get("error") if isinstance(body, dict) else None
    value = error.get("retry_after") if isinstance(error, dict) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return max(0.0, float(value))
    header = response.headers.get("retry-after", "").strip()
    if not header:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(header)
        now = parsedate_to_datetime(response.headers["date"])
    except (KeyError, TypeError, ValueError):
        return None
    return max(0.0, (when - now).total_seconds())


def _error_object(raw: dict[str, Any]) -> dict[str, Any]:
    message = raw.get("message") or raw.get("msg") or raw.get("code") or ""
    error: dict[str, Any] = {"message": str(message)}
    for name in ("type", "code", "param"):
        value = raw.get(name)
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            error[name] = value
    return error


def _unwrap(body: Any) -> Any:
    """Some gateways wrap the object in ``{"data": {...}}``."""
    if isinstance(body, dict) and "status" not in body and isinstance(body.get("data"), dict):
        return body["data"]
    return body


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _video(item: Any) -> list[Video]:
    if isinstance(item, str) and item:
        return [Video(item)]
    if not isinstance(item, dict) or not isinstance(item.get("url"), str):
        return []
    return [
        Video(
            item["url"],
            _integer(item.get("width")),
            _integer(item.get("height")),
            _number(item.get("duration")),
        )
    ]


def _progress(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(min(100.0, max(0.0, number)))


def _integer(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None
