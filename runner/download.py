"""Fetching outputs: streamed to a temp file beside the target, hashed, renamed.

Outputs live on other hosts than the API (a CDN, a bucket), so they are fetched
with a client of their own that never carries the API key. Only http(s) URLs
are followed, and a file is cut off at ``max_bytes``. A 403, 404 or 410 usually
means the signed URL expired: ``UrlExpired`` tells the caller to poll the task
again for a fresh one (api/README.md: "get a fresh URL by polling the task
again when a download is refused").
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.to_thread
import httpx

from runner.files import fsync_dir, temp_beside

MAX_BYTES = 4 << 30
EXPIRED = frozenset({401, 403, 404, 410})
CHUNK = 1 << 16


class DownloadError(Exception):
    """An output could not be fetched; the message says why (no secrets in it)."""


class UrlExpired(DownloadError):
    """The output host refused the URL; a fresh one may work."""


@dataclass(frozen=True)
class Fetched:
    """A file written to ``path``: its sha256 and size."""

    path: Path
    sha256: str
    bytes: int


class Downloader:
    """Downloads outputs with ``http`` (a client without credentials)."""

    def __init__(
        self, http: httpx.AsyncClient, *, max_bytes: int = MAX_BYTES, attempts: int = 4
    ) -> None:
        self._http = http
        self._max_bytes = max_bytes
        self._attempts = attempts
        self.fetched = 0

    async def fetch(self, url: str, dest: Path) -> Fetched:
        """Fetch ``url`` into ``dest``, retrying transient failures."""
        if httpx.URL(url).scheme not in ("http", "https"):
            raise DownloadError(f"refusing an output URL that is not http(s): {_short(url)}")
        for attempt in range(self._attempts):
            try:
                return await self._fetch_once(url, dest)
            except UrlExpired:
                raise
            except (httpx.HTTPError, _Transient) as err:
                if attempt + 1 == self._attempts:
                    raise DownloadError(f"download failed: {_describe(err)}") from None
                await anyio.sleep(random.uniform(0.1, 0.3) * 2**attempt)
        raise AssertionError("unreachable")

    async def _fetch_once(self, url: str, dest: Path) -> Fetched:
        dest.parent.mkdir(parents=True, exist_ok=True)
        async with self._http.stream("GET", url, headers={"Accept": "*/*"}) as response:
            if response.status_code in EXPIRED:
                raise UrlExpired(f"the output host refused the URL (HTTP {response.status_code})")
            if response.status_code >= 500 or response.status_code == 429:
                raise _Transient(f"HTTP {response.status_code}")
            if not response.is_success:
                raise DownloadError(f"the output host answered HTTP {response.status_code}")
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > self._max_bytes:
                raise DownloadError(f"the output is larger than {self._max_bytes} bytes")
            fd, tmp = temp_beside(dest, ".part")  # modes from the umask, not 0600
            try:
                digest, size = await self._write(response, fd)
                await anyio.to_thread.run_sync(_commit, fd, tmp, dest)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.close(fd)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
        self.fetched += 1
        return Fetched(dest, digest, size)

    async def _write(self, response: httpx.Response, fd: int) -> tuple[str, int]:
        digest = hashlib.sha256()
        size = 0
        async for chunk in response.aiter_bytes(CHUNK):
            size += len(chunk)
            if size > self._max_bytes:
                raise DownloadError(f"the output is larger than {self._max_bytes} bytes")
            digest.update(chunk)
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
        return digest.hexdigest(), size


class _Transient(Exception):
    pass


def _commit(fd: int, tmp: str, dest: Path) -> None:
    os.fsync(fd)
    os.close(fd)
    os.replace(tmp, dest)
    fsync_dir(dest.parent)


def _describe(err: Exception) -> str:
    return str(err) if isinstance(err, _Transient) else type(err).__name__


def _short(url: str) -> str:
    return url if len(url) <= 60 else url[:57] + "..."
