"""Reading the API's answers tolerantly: old and new field names, odd shapes.

``succeeded`` means completed; a result may be in ``video_url``, ``video`` or
``videos``; ``error`` may be a string or an object; ``progress`` may be missing;
unknown fields are ignored (api/README.md, "Task status").

Bodies arrive parsed and redacted (``runner.base.apitext.parse``); what is read from
them here is checked as well, so that nothing invalid is kept: a task id must be
a short printable string, a URL one that can be requested, a number finite and
in range. A value that fails is ignored where that is harmless (a bad
``poll_url``: the fixed status path is polled; a progress of 250: no progress);
a completed task whose only output URLs are unusable fails with a clear error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from runner.base import apitext
from runner.base.apitext import number

MAX_RETRY_AFTER = 300.0  # seconds: a server asking for longer gets this, and it is reported
MAX_VALIDATION_ERRORS = 50
MAX_VIDEOS = 64  # outputs of one task taken; a server listing thousands gets these

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


# What the provider asks clients to keep, to quote when asking about a request or
# a charge: the request id (a header, or ``error.request_id``), the billing
# transaction (the task's ``billing_transaction_id``, or a header) and the task id
# the gateway put in a header. Each is recorded under its lockfile name.
RECEIPT_HEADERS = {
    "request_id": "x-request-id",
    "billing_transaction_id": "x-billing-transaction-id",
    "header_task_id": "x-task-id",
}


@dataclass(frozen=True)
class Created:
    """A create's answer: the task id and where to poll it, and its receipt."""

    task_id: str
    poll_url: str | None
    receipt: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskState:
    """A poll's answer, normalised: status is pending, processing, completed or failed."""

    status: str
    progress: int | None = None
    videos: tuple[Video, ...] = ()
    error: dict[str, Any] | None = None
    billing_transaction_id: str | None = None
    cancelled: bool = False  # the API says the task was cancelled (failed, cancelled: true)


def created(body: Any, headers: Mapping[str, str] | None = None) -> Created | None:
    """The task a create made, or None when the answer names no usable task id.

    An unusable ``poll_url`` (a line break in it, a bad host, another scheme) is
    ignored: the task is then polled at /v1/tasks/{id}.
    """
    body = _unwrap(body)
    if not isinstance(body, dict):
        return None
    task_id = apitext.task_id(body.get("task_id") or body.get("id"))
    if task_id is None:
        return None
    return Created(task_id, poll_url(body.get("poll_url")), receipt(headers or {}, body))


def receipt(headers: Mapping[str, str], body: Any) -> dict[str, str]:
    """The ids of RECEIPT_HEADERS an answer carries (the body's before a header's);
    each a short printable string, else left out."""
    found: dict[str, str] = {}
    error = body.get("error") if isinstance(body, dict) else None
    for name, header in RECEIPT_HEADERS.items():
        inner = error.get(name) if isinstance(error, dict) else None
        given = body.get(name) if isinstance(body, dict) else None
        value = apitext.task_id(given or inner or headers.get(header))
        if value is not None:
            found[name] = value
    return found


def poll_url(value: Any) -> str | None:
    """A poll_url that can be used as it is (absolute, or a path on the API's origin)."""
    return apitext.url(value, relative=True)


def task_state(body: Any, task_id: str | None = None) -> TaskState | None:
    """The task's state, or None when the body is not a readable task.

    An answer that names another task than ``task_id`` is not this task's state
    (a gateway mixing up answers): None, as for any answer that cannot be read.
    """
    body = _unwrap(body)
    if not isinstance(body, dict) or not isinstance(body.get("status"), str):
        return None
    if task_id is not None and not _names(body, task_id):
        return None
    status = _STATUS.get(body["status"].strip().lower(), "processing")
    if body.get("cancelled") is True:
        status = "failed"
    found, refused = _videos(body)
    error = task_error(body) if status == "failed" else None
    if status == "completed" and not found and refused:
        status, error = "failed", _unusable_output(refused)
    billing = apitext.task_id(body.get("billing_transaction_id"))
    cancelled = status == "failed" and (
        body.get("cancelled") is True
        or body.get("cancellation_status") == "cancelled"
        or body["status"].strip().lower() in ("cancelled", "canceled")
    )
    return TaskState(status, _progress(body.get("progress")), found, error, billing, cancelled)


def videos(body: dict[str, Any]) -> tuple[Video, ...]:
    """The outputs: from ``videos``, else ``video``, else ``video_url`` (the richest
    that is present; some servers send both ``video`` and ``video_url`` for one)."""
    return _videos(body)[0]


def _videos(body: dict[str, Any]) -> tuple[tuple[Video, ...], list[Any]]:
    """The usable outputs, and the URLs given that cannot be used."""
    refused: list[Any] = []
    for name in ("videos", "video", "video_url"):
        found: list[Video] = []
        for item in _as_list(body.get(name))[:MAX_VIDEOS]:
            video = _video(item)
            if isinstance(video, Video):
                if video.url not in {f.url for f in found}:
                    found.append(video)
            elif video is not None:
                refused.append(video)
        if found:
            return tuple(found), refused
    return (), refused


def _names(body: dict[str, Any], task_id: str) -> bool:
    """Whether ``body`` is about ``task_id`` (or names no task at all)."""
    named = [body[k] for k in ("task_id", "id") if isinstance(body.get(k), (str, int))]
    return not named or any(str(value) == task_id for value in named)


def _unusable_output(refused: list[Any]) -> dict[str, Any]:
    shown = apitext.shown(refused[0])
    return {
        "message": f"the task completed, but its output URL is not a usable http(s) URL: {shown}",
        "code": "invalid_output_url",
    }


def task_error(body: dict[str, Any]) -> dict[str, Any]:
    """A failed task's error as the lockfile records it."""
    raw = body.get("error")
    if isinstance(raw, dict):
        error = _error_object(raw)
        error["message"] = error["message"] or "the task failed without an error message"
        request_id = receipt({}, body).get("request_id")
        if request_id is not None:
            error["request_id"] = request_id
        return error
    if isinstance(raw, str) and raw:
        return {"message": apitext.text(raw)}
    if body.get("cancelled") is True:
        return {"message": "the task was cancelled", "code": "cancelled"}
    return {"message": "the task failed without an error message"}


def api_error(status: int, body: Any, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """An error answer as the lockfile records it: message, type, code, param, status,
    hint, request_id (the body's, else the header's), validation_errors (each
    {field, message, code, param})."""
    raw = body.get("error") if isinstance(body, dict) else None
    error: dict[str, Any] = _error_object(raw) if isinstance(raw, dict) else {"message": ""}
    if isinstance(raw, str):
        error["message"] = apitext.text(raw)
    if not error["message"]:
        error["message"] = f"HTTP {status}"
    error["status"] = status
    request_id = receipt(headers or {}, body).get("request_id")
    if request_id is not None:
        error["request_id"] = request_id
    details = body.get("validation_errors") if isinstance(body, dict) else None
    if isinstance(details, list) and details:
        error["validation_errors"] = [_detail(d) for d in details[:MAX_VALIDATION_ERRORS]]
    return error


def error_code(body: Any) -> str | None:
    """The ``error.code`` of an error body, when it is a string."""
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


def retry_after(response: httpx.Response, body: Any) -> float | None:
    """Seconds to wait: ``error.retry_after`` when given (it is exact; the header is
    rounded up to whole seconds), else the Retry-After header (seconds or a date).

    Never more than ``MAX_RETRY_AFTER``: a server asking for a day would stall
    the run for a day. Callers compare with it to report the cut."""
    wait = _retry_after(response, body)
    return None if wait is None else min(MAX_RETRY_AFTER, max(0.0, wait))


def _retry_after(response: httpx.Response, body: Any) -> float | None:
    error = body.get("error") if isinstance(body, dict) else None
    value = number(error.get("retry_after")) if isinstance(error, dict) else None
    if value is not None:
        return value
    header = response.headers.get("retry-after", "").strip()
    if not header:
        return None
    if header[:1].isdigit() or header[:1] in "+-.":
        seconds = number(header) if len(header) <= 40 else math.inf
        return MAX_RETRY_AFTER if seconds is None else seconds
    try:
        when = parsedate_to_datetime(header)
        now = parsedate_to_datetime(response.headers["date"])
        return (when - now).total_seconds()
    except (KeyError, TypeError, ValueError, OverflowError):
        return None


def _error_object(raw: dict[str, Any]) -> dict[str, Any]:
    message = raw.get("message") or raw.get("msg") or raw.get("code") or ""
    if isinstance(message, (int, float)) and not isinstance(message, bool):
        message = str(message)
    error: dict[str, Any] = {"message": apitext.text(message) or ""}
    for name in ("type", "code", "param", "hint", "did_you_mean"):
        value = _scalar(raw.get(name))
        if value is not None:
            error[name] = value
    return error


def _detail(raw: Any) -> dict[str, Any]:
    """One of ``validation_errors``: {field, message, code, param}, strings only."""
    if not isinstance(raw, dict):
        return {"message": apitext.text(raw, 500) or apitext.shown(raw)}
    kept = {name: _scalar(raw.get(name), 500) for name in ("field", "message", "code", "param")}
    return {name: value for name, value in kept.items() if value is not None}


def _scalar(value: Any, limit: int = 200) -> str | int | None:
    """A short string, or an integer that fits 64 bits; None for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if abs(value) < 2**63 else None
    return apitext.text(value, limit)


def _unwrap(body: Any) -> Any:
    """Some gateways wrap the object in ``{"data": {...}}``."""
    if isinstance(body, dict) and "status" not in body and isinstance(body.get("data"), dict):
        return body["data"]
    return body


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _video(item: Any) -> Video | Any:
    """The Video in ``item``; else the unusable URL it gives; else None (no URL at all)."""
    given = item.get("url") if isinstance(item, dict) else item
    if given is None or given == "":
        return None
    url = apitext.url(given)
    if url is None:
        return given
    if not isinstance(item, dict):
        return Video(url)
    duration = number(item.get("duration"))
    return Video(
        url,
        _size(item.get("width")),
        _size(item.get("height")),
        duration if duration is not None and 0 <= duration <= 10**7 else None,
    )


def _progress(value: Any) -> int | None:
    """0-100; anything else (250, -1, NaN) means no progress is known."""
    found = number(value)
    return int(found) if found is not None and 0 <= found <= 100 else None


def _size(value: Any) -> int | None:
    """A width or height in pixels."""
    found = number(value)
    return int(found) if found is not None and 0 < found <= 10**6 else None
