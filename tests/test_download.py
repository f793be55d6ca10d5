"""The downloader: streamed to a temp file, renamed, hashed; refusals and caps."""

from __future__ import annotations

import hashlib
from pathlib import Path

import anyio
import httpx
import pytest

from runner.run.download import Downloader, DownloadError, Fetched, UrlExpired
from tests.netguard import no_network  # noqa: F401

DATA = b"\x00\x00\x00\x18ftypmp42" * 1000


def fetch(handler: object, dest: Path, **kwargs: int) -> Fetched:
    async def main() -> Fetched:
        transport = httpx.MockTransport(handler)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport) as http:
            downloader = Downloader(http, allow_internal=True, **kwargs)  # no resolving
            return await downloader.fetch("https://cdn.test/v.mp4", dest)

    return anyio.run(main)


def test_streams_hashes_and_renames(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=DATA)

    dest = tmp_path / "out" / "a.mp4"
    fetched = fetch(handler, dest)
    assert fetched == Fetched(dest, hashlib.sha256(DATA).hexdigest(), len(DATA))
    assert dest.read_bytes() == DATA
    assert "authorization" not in seen[0].headers
    assert [p.name for p in dest.parent.iterdir()] == ["a.mp4"]


@pytest.mark.parametrize("status", [403, 404, 410])
def test_refused_urls_are_reported_as_expired(tmp_path: Path, status: int) -> None:
    with pytest.raises(UrlExpired):
        fetch(lambda request: httpx.Response(status), tmp_path / "a.mp4")
    assert list(tmp_path.iterdir()) == []


def test_transient_failures_are_retried(tmp_path: Path) -> None:
    answers = [httpx.Response(503), httpx.Response(200, content=DATA)]
    fetched = fetch(lambda request: answers.pop(0), tmp_path / "a.mp4")
    assert fetched.bytes == len(DATA)


def test_too_large_output_is_cut_off_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="larger than 100 bytes"):
        fetch(lambda request: httpx.Response(200, content=DATA), tmp_path / "a.mp4", max_bytes=100)
    assert list(tmp_path.iterdir()) == []


def test_only_http_urls(tmp_path: Path) -> None:
    async def main() -> None:
        async with httpx.AsyncClient() as http:
            await Downloader(http).fetch("file:///etc/passwd", tmp_path / "a.mp4")

    with pytest.raises(DownloadError, match="not http"):
        anyio.run(main)


def test_gives_up_after_attempts(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("reset")

    with pytest.raises(DownloadError, match="ReadError"):
        fetch(handler, tmp_path / "a.mp4", attempts=2)
