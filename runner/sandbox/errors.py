"""Errors the sandbox answers with, in the documented envelope.

Every error body is ``{"error": {"message", "type", "code", "param", ...}}`` with a
type of the newest ``ApiError`` enum and ``param`` only when there is one; 400
answers add a top-level ``validation_errors`` list. ``DroppedConnection`` is
not an answer at all: the server (or the in-process transport) closes the
connection without a response.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# The canned answer of each status a fault may inject: (type, code, message), with
# the types of the newest ApiError enum.
CANNED: Mapping[int, tuple[str, str, str]] = {
    401: ("invalid_api_key", "invalid_api_key", "Invalid or expired API key"),
    402: ("insufficient_balance", "insufficient_balance", "Insufficient balance"),
    403: ("permission_error", "access_denied", "Access denied"),
    429: ("rate_limit_exceeded", "rate_limit_exceeded", "Rate limit exceeded"),
    500: ("server_error", "internal_error", "Internal server error"),
    502: ("upstream_error", "upstream_error", "Upstream provider error"),
    503: ("all_channels_failed", "all_channels_failed", "All channels failed"),
    504: ("timeout_error", "gateway_timeout", "Gateway timeout"),
}


@dataclass
class ApiError(Exception):
    """An error answer: HTTP status and the fields of the ``error`` object."""

    status: int
    type: str
    code: str
    message: str
    param: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    validation_errors: Sequence[Mapping[str, str]] = ()
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.type, "code": self.code}
        if self.param is not None:  # the newest spec types param as a string, never null
            error["param"] = self.param
        error.update(self.extra)
        answer: dict[str, Any] = {"error": error}
        if self.validation_errors:
            answer["validation_errors"] = [dict(v) for v in self.validation_errors]
        return answer


class DroppedConnection(Exception):
    """Close the connection without any answer (an injected fault)."""


def canned(status: int, *, retryable: bool | None = None) -> ApiError:
    """The injected error of ``status``, with ``retryable`` for 503 when set."""
    if status == 429:
        return rate_limited(1.0)
    kind, code, message = CANNED[status]
    extra: dict[str, Any] = {}
    if status == 503 and retryable is not None:
        extra["retryable"] = retryable
    return ApiError(status, kind, code, message, extra=extra)


def rate_limited(retry_after: float) -> ApiError:
    """A 429 with ``Retry-After`` (whole seconds) and the exact ``error.retry_after``."""
    kind, code, message = CANNED[429]
    return ApiError(
        429,
        kind,
        code,
        message,
        extra={"retry_after": round(retry_after, 3)},
        headers={"Retry-After": str(max(1, math.ceil(retry_after)))},
    )


def unauthorized(message: str) -> ApiError:
    return ApiError(401, "invalid_api_key", "invalid_api_key", message)


def task_not_found(task_id: str) -> ApiError:
    return ApiError(
        404, "async_task_not_found", "async_task_not_found", f"Task {task_id} not found", "id"
    )


def invalid(
    message: str, *, code: str, param: str | None = None, field: str | None = None
) -> ApiError:
    """A 400 with one problem, listed in ``validation_errors`` too."""
    problem = {"field": field or param or "", "message": message, "code": code}
    return ApiError(400, "invalid_request_error", code, message, param, validation_errors=[problem])
