"""Signed, optionally expiring output URLs: ``/files/<task>/<n>.mp4?exp=&sig=``."""

from __future__ import annotations

import hashlib
import hmac
import math

from runner.sandbox.errors import ApiError

NEVER = 4102444800  # 2100-01-01: the expiry of URLs when no TTL is set


class UrlSigner:
    """Signs output paths with a per-sandbox secret; ``ttl`` None means no expiry."""

    def __init__(self, secret: bytes, ttl: float | None) -> None:
        self._secret = secret
        self._ttl = ttl

    def url(self, base: str, task_id: str, index: int, now_unix: float) -> str:
        exp = NEVER if self._ttl is None else math.ceil(now_unix + self._ttl)
        path = f"/files/{task_id}/{index}.mp4"
        return f"{base.rstrip('/')}{path}?exp={exp}&sig={self._sign(path, exp)}"

    def check(self, path: str, exp: str | None, sig: str | None, now_unix: float) -> None:
        """Raise a 403 ``ApiError`` unless the URL is genuine and unexpired."""
        if exp is None or sig is None or not exp.isdigit():
            raise _denied("invalid_signature", "Missing or malformed URL signature")
        if not hmac.compare_digest(sig, self._sign(path, int(exp))):
            raise _denied("invalid_signature", "URL signature does not match")
        if now_unix > int(exp):
            raise _denied("url_expired", "URL has expired; poll the task for a fresh one")

    def _sign(self, path: str, exp: int) -> str:
        message = f"{path}?exp={exp}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]


def _denied(code: str, message: str) -> ApiError:
    return ApiError(403, "permission_error", code, message)
