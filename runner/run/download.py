"""Fetching outputs: streamed to a temp file beside the target, hashed, renamed.

Outputs live on other hosts than the API (a CDN, a bucket), so they are fetched
with a client of their own that never carries the API key. Only http(s) URLs
are followed, on hosts outside the machine's own networks (``runner.api.hosts``)
unless ``allow_internal`` (the API itself is on such a host: the sandbox, a
test server); redirects are followed here, at most ``MAX_REDIRECTS``, each hop
checked the same way. A file is cut off at ``max_bytes``, and the whole fetch,
retries included, at ``deadline`` seconds (a server may trickle a byte just
inside every read timeout). A TLS or proxy failure is not retried: its cause is
the message. A 403, 404 or 410 usually means the signed URL expired:
``UrlExpired`` tells the caller to poll the task again for a fresh one
(api/README.md: "get a fresh URL by polling the task again when a download is
refused").
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.to_thread
import httpx

from runner.api import hosts, network
from runner.base.files import fsync_dir, temp_beside

MAX_BYTES = 4 << 30
MAX_REDIRECTS = 5
DEADLINE = 3600.0  # seconds for one output, every attempt included
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
        self,
        http: httpx.AsyncClient,
        *,
        max_bytes: int = MAX_BYTES,
        attempts: int = 4,
        deadline: float = DEADLINE,
        allow_internal: bool = False,
        proxy_for: Callable[[str], str | None] = lambda url: None,
    ) -> None:
        self._http = http
        self._max_bytes = max_bytes
        self._attempts = attempts
        self._deadline = deadline
        self._allow_internal = allow_internal
        self._proxy_for = proxy_for  # the proxy a URL goes through, to name it when it fails
        self.fetched = 0

    async def fetch(self, url: str, dest: Path) -> Fetched:
        """Fetch ``url`` into ``dest``, retrying transient failures."""
        try:
            with anyio.fail_after(self._deadline):
                return await self._fetch(url, dest)
        except TimeoutError:
            limit = f"{self._deadline:g}s"
            raise DownloadError(f"download failed: not done within {limit}") from None

    async def _fetch(self, url: str, dest: Path) -> Fetched:
        for attempt in range(self._attempts):
            try:
                return await self._fetch_once(url, dest)
            except UrlExpired:
                raise
            except (httpx.HTTPError, _Transient) as err:
                problem = network.setup_problem(err, self._proxy_for(url))
                if problem:
                    raise DownloadError(f"download failed: {problem}") from None
                if attempt + 1 == self._attempts:
                    raise DownloadError(f"download failed: {_describe(err)}") from None
                await anyio.sleep(random.uniform(0.1, 0.3) * 2**attempt)
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def _open(self, url: str) -> AsyncIterator[httpx.Response]:
        """The answer to GET ``url``, streamed, after at most MAX_REDIRECTS checked hops."""
        request = self._http.build_request("GET", _checked_url(url), headers={"Accept": "*/*"})
        for _hop in range(MAX_REDIRECTS + 1):
            await self._check_host(request.url)
            response = await self._http.send(request, stream=True)
            if response.next_request is None:
                try:
                    yield response
                finally:
                    await response.aclose()
                return
            await response.aclose()
            request = response.next_request
            _checked_url(str(request.url))
        raise DownloadError(f"download failed: more than {MAX_REDIRECTS} redirects")

    async def _check_host(self, url: httpx.URL) -> None:
        if self._allow_internal:
            return
        port = url.port or (443 if url.scheme == "https" else 80)
        internal = await hosts.internal_address(url.host, port)
        if internal is not None:
            raise DownloadError(
                f"refusing to fetch an output from {url.host!r} ({internal} is an internal "
                "address: loopback, private, link-local or the like)"
            )

    async def _fetch_once(self, url: str, dest: Path) -> Fetched:
        dest.parent.mkdir(parents=True, exist_ok=True)
        async with self._open(url) as response:
            if response.status_code == 407:
                raise DownloadError(f"download failed: {network.proxy_auth_problem(None)}")
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


def _checked_url(url: str) -> str:
    try:
        scheme = httpx.URL(url).scheme
    except httpx.InvalidURL:
        scheme = ""
    if scheme not in ("http", "https"):
        raise DownloadError(f"refusing an output URL that is not http(s): {_short(url)}")
    return url


def _describe(err: Exception) -> str:
    return str(err) if isinstance(err, _Transient) else f"network error ({network.describe(err)})"


def _short(url: str) -> str:
    return url if len(url) <= 60 else url[:57] + "..."
